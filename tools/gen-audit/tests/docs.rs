//! The gen-audit commands the README and docs show are run as written, so
//! the docs cannot drift: each `cargo run -q -p gen-audit -- ARGS` found in
//! them runs the built binary with ARGS in an empty folder, and must write
//! its output and a truth that a recount of the output agrees with.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gen-audit");

/// The arguments of every `cargo run -q -p gen-audit -- ...` in a document
/// (a command may wrap over lines inside backticks).
fn commands(doc: &str) -> Vec<Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join(doc)).unwrap();
    let flat = text.replace('\n', " ");
    let prefix = "cargo run -q -p gen-audit --";
    flat.match_indices(prefix)
        .map(|(i, _)| {
            let rest = &flat[i + prefix.len()..];
            let end = rest.find('`').expect("the command ends its code span");
            rest[..end].split_whitespace().map(str::to_string).collect()
        })
        .collect()
}

fn value_of<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .map(|i| args[i + 1].as_str())
}

#[test]
fn the_documented_commands_run_as_written() {
    let mut ran = 0;
    for doc in ["README.md"] {
        for args in commands(doc) {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path();
            let out = Command::new(BIN)
                .args(&args)
                .current_dir(dir)
                .output()
                .expect("run gen-audit");
            assert!(
                out.status.success(),
                "{doc}: gen-audit {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let written = dir.join(value_of(&args, "--out").expect("the docs name an --out"));
            assert!(
                written.metadata().unwrap().len() > 0,
                "{doc}: {args:?} wrote nothing"
            );
            let truth: serde_json::Value = match value_of(&args, "--truth") {
                Some(t) => serde_json::from_slice(&std::fs::read(dir.join(t)).unwrap()).unwrap(),
                None => serde_json::from_slice(&out.stderr).expect("the truth on stderr"),
            };
            assert!(truth["records"].as_u64().unwrap() > 0, "{doc}: {truth}");
            ran += 1;
        }
    }
    assert_eq!(ran, 2, "the README shows two gen-audit commands");
}
