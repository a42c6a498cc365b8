//! Golden files of every document the offline commands print, in every
//! format: the exit code, stdout and stderr of each run, held in
//! `tests/snapshots/` (insta). A change to any output shows here as a diff
//! to review; `cargo insta review` (or INSTA_UPDATE=always) accepts it.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_secret-audit");
const FORMATS: [&str; 4] = ["table", "json", "csv", "markdown"];

/// Runs the program from the repository root (so paths print relative)
/// and returns what it printed, labelled.
fn run(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("SECRET_AUDIT_OUTPUT")
        .output()
        .expect("run secret-audit");
    format!(
        "$ secret-audit {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn each_format(name: &str, args: &[&str]) {
    for format in FORMATS {
        let mut all = args.to_vec();
        all.extend(["--output", format]);
        insta::assert_snapshot!(format!("{name}-{format}"), run(&all));
    }
}

#[test]
fn analyze_rollup() {
    each_format(
        "analyze-rollup",
        &["analyze", "--top", "5", "fixtures/eks-audit.jsonl.gz"],
    );
}

#[test]
fn analyze_requests() {
    each_format(
        "analyze-requests",
        &[
            "analyze",
            "--requests",
            "--namespace",
            "payments",
            "fixtures/eks-audit.jsonl.gz",
        ],
    );
}

#[test]
fn analyze_bad_input_and_hostile_strings() {
    each_format(
        "analyze-bad-input",
        &[
            "analyze",
            "--by",
            "user",
            "fixtures/handmade/malformed.jsonl",
            "fixtures/handmade/secret-payloads.jsonl",
            "fixtures/handmade/hostile-strings.jsonl",
        ],
    );
}

#[test]
fn test_pattern() {
    each_format(
        "test-pattern",
        &[
            "test-pattern",
            secret_audit::provision::spec::READS_PATTERN,
            "fixtures/generated/sample.jsonl.gz",
        ],
    );
}

#[test]
fn queries() {
    each_format("queries-list", &["queries", "list"]);
    for format in ["table", "json"] {
        insta::assert_snapshot!(
            format!("queries-show-{format}"),
            run(&["queries", "show", "reads-by-secret", "--output", format])
        );
    }
    insta::assert_snapshot!(
        "queries-lint-guide-json",
        run(&[
            "queries",
            "lint",
            "--output",
            "json",
            "fixtures/insights/guide-secret-access.insights"
        ])
    );
    insta::assert_snapshot!(
        "queries-lint-guide",
        run(&[
            "queries",
            "lint",
            "fixtures/insights/guide-secret-access.insights"
        ])
    );
}

#[test]
fn iam_policy_and_cloudformation() {
    insta::assert_snapshot!(
        "iam-policy",
        run(&[
            "iam-policy",
            "--command",
            "setup",
            "--cluster",
            "prod",
            "--region",
            "eu-west-1",
            "--account-id",
            "123456789012"
        ])
    );
    insta::assert_snapshot!(
        "setup-emit-cloudformation",
        run(&["setup", "--cluster", "prod", "--emit", "cloudformation"])
    );
}
