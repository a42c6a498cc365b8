//! The command line as a person meets it: help with examples, grouped
//! options, the version, completions and a manual page, options before or
//! after the subcommand, and `--output` honoured or refused with a reason.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_secret-audit");
const COMMANDS: [&str; 12] = [
    "analyze",
    "setup",
    "status",
    "teardown",
    "test-pattern",
    "iam-policy",
    "report",
    "queries",
    "tail",
    "alert",
    "completions",
    "manpage",
];

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("SECRET_AUDIT_OUTPUT")
        .output()
        .expect("run secret-audit")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The example lines of a subcommand's help.
fn examples(command: &str) -> Vec<String> {
    let help = out(&run(&[command, "--help"]));
    let (_, tail) = help
        .split_once("Examples:\n")
        .unwrap_or_else(|| panic!("{command} --help has no examples:\n{help}"));
    tail.lines()
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().to_owned())
        .collect()
}

#[test]
fn every_subcommand_has_examples_and_grouped_options() {
    for c in COMMANDS {
        let ex = examples(c);
        assert!(ex.len() >= 2, "{c}: {ex:?}");
        assert!(
            ex.iter().all(|e| e.contains(&format!("secret-audit {c}"))),
            "{c}: {ex:?}"
        );
        let help = out(&run(&[c, "--help"]));
        assert!(help.contains("Global options:\n"), "{c}: {help}");
        // Placeholders are words, not field names.
        assert!(!help.contains("<MAX_"), "{c}: {help}");
        assert!(!help.contains("_TIMEOUT>"), "{c}: {help}");
    }
    for c in ["setup", "status", "teardown", "report", "tail"] {
        assert!(out(&run(&[c, "--help"])).contains("AWS options:\n"), "{c}");
    }
}

/// Runs an example as a shell would split it (quotes kept together).
fn split(example: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    for ch in example.chars() {
        match (quote, ch) {
            (None, '\'' | '"') => quote = Some(ch),
            (Some(q), _) if ch == q => quote = None,
            (None, ' ') => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            (Some('"'), '\\') => {}
            _ => word.push(ch),
        }
    }
    words.push(word);
    words
}

#[test]
fn the_offline_examples_run_as_written() {
    let mut ran = 0;
    for c in [
        "analyze",
        "test-pattern",
        "queries",
        "iam-policy",
        "completions",
    ] {
        for e in examples(c) {
            // Those on files of the repository, without pipes or redirects.
            let words = split(&e);
            let local = words
                .iter()
                .all(|w| !w.starts_with('>') && w != "|" && !w.ends_with(".log"))
                && !e.contains("./")
                && !e.contains("*");
            if !local {
                continue;
            }
            let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
            let o = run(&args);
            assert_eq!(o.status.code(), Some(0), "{e}: {}", err(&o));
            assert!(!out(&o).is_empty(), "{e}");
            ran += 1;
        }
    }
    assert!(ran >= 7, "{ran} examples ran");
}

#[test]
fn version_names_the_commit() {
    let v = out(&run(&["--version"]));
    assert!(v.starts_with("secret-audit 0.1.0 (commit "), "{v}");
    let commit = v.trim().trim_end_matches(')').rsplit(' ').next().unwrap();
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{v}"
    );
}

#[test]
fn completions_and_manpage_are_generated() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef secret-audit"),
        ("fish", "complete -c secret-audit"),
    ] {
        let o = run(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0));
        let script = out(&o);
        assert!(script.contains(marker), "{shell}");
        assert!(
            script.contains("analyze") && script.contains("endpoint-url"),
            "{shell}"
        );
    }
    // A reader that goes away early is no error (as with `| head`).
    for args in [["completions", "bash"], ["manpage", "-q"]] {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", err(&o));
        assert_eq!(err(&o), "", "{args:?}");
    }
    let man = out(&run(&["manpage"]));
    assert!(man.contains(".TH secret-audit 1"), "{man}");
    assert!(man.contains("analyze") && man.contains("report"), "{man}");
}

#[test]
fn global_options_work_before_or_after_the_subcommand() {
    let sample = "fixtures/eks-audit.jsonl.gz";
    let after = run(&["analyze", sample, "--output", "csv", "-q"]);
    let before = run(&["--output", "csv", "-q", "analyze", sample]);
    assert_eq!(out(&after), out(&before));
    assert!(out(&after).starts_with("NAMESPACE,SECRET,USER"));
}

#[test]
fn an_output_a_command_cannot_print_is_refused_with_the_reason() {
    let o = run(&["iam-policy", "--output", "csv"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        err(&o),
        "error: an IAM policy is a JSON document: --output csv does not apply \
         (leave it out, or --output json)\n"
    );
    assert_eq!(
        run(&["iam-policy", "--output", "json"]).status.code(),
        Some(0)
    );
    let o = run(&[
        "setup",
        "--cluster",
        "prod",
        "--emit",
        "cloudformation",
        "--output",
        "table",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("a CloudFormation template is a JSON document"),
        "{}",
        err(&o)
    );
    let o = run(&["queries", "show", "reads-by-secret", "--output", "markdown"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("--output markdown does not apply"),
        "{}",
        err(&o)
    );
}

#[test]
fn iam_policy_offers_only_commands_that_exist() {
    let refused = err(&run(&["iam-policy", "--command", "nope"]));
    let values = refused
        .lines()
        .find(|l| l.contains("[possible values:"))
        .unwrap_or_else(|| panic!("{refused}"));
    for listed in values
        .split("[possible values:")
        .nth(1)
        .unwrap()
        .trim_end_matches(']')
        .split(',')
        .map(str::trim)
        .filter(|v| *v != "all")
    {
        let o = run(&[listed, "--help"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "iam-policy offers {listed}, which does not exist"
        );
    }
    assert_eq!(
        run(&["iam-policy", "--command", "lambda"]).status.code(),
        Some(2)
    );
}

#[test]
fn the_licence_file_matches_the_manifest() {
    let root = env!("CARGO_MANIFEST_DIR");
    let manifest = std::fs::read_to_string(format!("{root}/Cargo.toml")).unwrap();
    assert!(manifest.contains("license = \"Apache-2.0\""));
    let licence = std::fs::read_to_string(format!("{root}/LICENSE")).unwrap();
    assert!(licence.contains("Apache License") && licence.contains("Version 2.0, January 2004"));
    let changelog = std::fs::read_to_string(format!("{root}/CHANGELOG.md")).unwrap();
    assert!(changelog.contains("## [Unreleased]"));
}
