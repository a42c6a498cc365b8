//! Binary tests of `test-pattern`: on generated audit logs whose ground
//! truth the generator prints, setup's read pattern counts exactly the log
//! events a correct read metric filter counts, and the EKS guide's pattern
//! counts none.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{code, json, run_isolated, stderr, stdout};
use secret_audit::provision::spec::{DENIED_PATTERN, READS_PATTERN};

const GUIDE: &str = r#"{($.verb="get") && ($.objectRef.resource="secret")}"#;

/// Writes gen_audit.py output in a format; returns the file and the truth.
fn generate(dir: &Path, format: &str, seed: &str) -> (PathBuf, serde_json::Value) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/gen_audit.py");
    let path = dir.join(format!("audit-{format}-{seed}"));
    let out = Command::new("python3")
        .args([
            script,
            "--events",
            "1500",
            "--format",
            format,
            "--stages-all",
            "--exotic",
        ])
        .args(["--seed", seed, "--out"])
        .arg(&path)
        .output()
        .expect("run gen_audit.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth = serde_json::from_slice(&out.stderr).expect("truth on stderr");
    (path, truth)
}

fn test_pattern(pattern: &str, path: &Path) -> serde_json::Value {
    let o = run_isolated(
        &[
            "test-pattern",
            pattern,
            path.to_str().unwrap(),
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    json(&o)
}

#[test]
fn setup_read_pattern_counts_exactly_the_metric_read_events() {
    let dir = tempfile::tempdir().unwrap();
    for (format, seed) in [("jsonl", "11"), ("fle", "12"), ("cwexport", "13")] {
        let (path, truth) = generate(dir.path(), format, seed);
        let doc = test_pattern(READS_PATTERN, &path);
        assert_eq!(
            doc["matched"], truth["metric_read_events"],
            "{format}: {doc}"
        );
        assert!(
            truth["metric_read_events"].as_u64().unwrap() > 20,
            "{truth}"
        );
        assert_eq!(doc["records"], truth["records"], "{format}");
        assert_eq!(doc["malformed"], 0, "{format}");
        let guide = test_pattern(GUIDE, &path);
        assert_eq!(guide["matched"], 0, "{format}: {guide}");
        assert_eq!(guide["records"], truth["records"], "{format}");
    }
}

#[test]
fn examples_are_sanitized_summaries_never_messages() {
    let dir = tempfile::tempdir().unwrap();
    let (path, truth) = generate(dir.path(), "jsonl", "21");
    let doc = test_pattern(DENIED_PATTERN, &path);
    assert!(doc["matched"].as_u64().unwrap() >= truth["secret_denied"].as_u64().unwrap());
    let examples = doc["examples"].as_array().unwrap();
    assert!(!examples.is_empty() && examples.len() <= 5);
    for e in examples {
        assert!(e["code"] == 401 || e["code"] == 403, "{e}");
        assert_eq!(e["resource"], "secrets");
        assert!(e["at"].as_str().unwrap().contains(":"), "{e}");
        assert!(e.get("message").is_none() && e.get("requestObject").is_none());
    }
    // A body in a matched event never reaches stdout.
    let file = dir.path().join("payload.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"kind":"Event","stage":"ResponseComplete","verb":"get","objectRef":{"resource":"secrets","namespace":"a","name":"b\u001b[31m"},"#,
            r#""user":{"username":"u"},"responseStatus":{"code":200},"responseObject":{"data":{"password":"aHVudGVyMg=="}}}"#,
            "\n"
        ),
    )
    .unwrap();
    for output in ["table", "json", "csv"] {
        let o = run_isolated(
            &[
                "test-pattern",
                "aHVudGVyMg",
                file.to_str().unwrap(),
                "--output",
                output,
            ],
            &[],
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let out = stdout(&o);
        assert!(!out.contains("aHVudGVyMg=="), "{out}");
        assert!(!out.contains('\u{1b}'), "{out}");
        assert!(out.contains("secrets"), "{out}");
    }
}

#[test]
fn an_invalid_pattern_is_a_usage_error_naming_its_position() {
    let o = run_isolated(&["test-pattern", r#"{ $.verb = "get" "#, "-"], &[]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("at character 18"), "{}", stderr(&o));
}

#[test]
fn setup_checks_patterns_and_goes_on_when_the_endpoint_lacks_test_metric_filter() {
    let emu = common::Emu::start();
    let group = emu.audit_group("prod");
    let o = emu.run(&["setup", "--cluster", "prod", "--output", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("TestMetricFilter: unsupported by endpoint"),
        "{}",
        stderr(&o)
    );
    let filters = emu.block_on(async {
        emu.logs
            .describe_metric_filters()
            .log_group_name(&group)
            .send()
            .await
            .unwrap()
            .metric_filters()
            .len()
    });
    assert_eq!(filters, 3);
}

/// The AWS commands run against the emulator, each with its arguments;
/// every operation a run calls must be an action of that command's policy.
/// Adding a command (report, tail, alert) is one line.
const CALLS: &[(&str, &[&str])] = &[
    (
        "setup",
        &[
            "setup",
            "--cluster",
            "prod",
            "--sns-topic-arn",
            "arn:aws:sns:us-east-1:123456789012:sec",
        ],
    ),
    (
        "setup",
        &[
            "setup",
            "--cluster",
            "prod",
            "--denied-threshold",
            "2",
            "--by-namespace",
        ],
    ),
    ("status", &["status", "--cluster", "prod"]),
    ("teardown", &["teardown", "--cluster", "prod"]),
];

#[test]
fn every_action_a_command_calls_is_in_its_policy() {
    let emu = common::Emu::start();
    emu.audit_group("prod");
    let dir = tempfile::tempdir().unwrap();
    let url = emu.url();
    let mut recorded_any = 0;
    for (i, (command, args)) in CALLS.iter().enumerate() {
        let record = dir.path().join(format!("calls-{i}"));
        let mut full = args.to_vec();
        full.extend(["--endpoint-url", &url, "--region", common::REGION]);
        let o = run_isolated(
            &full,
            &[
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("SECRET_AUDIT_RECORD_CALLS", record.to_str().unwrap()),
            ],
        );
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        let calls = std::fs::read_to_string(&record).unwrap_or_default();
        let policy = run_isolated(
            &[
                "iam-policy",
                "--command",
                command,
                "--cluster",
                "prod",
                "--region",
                common::REGION,
            ],
            &[],
        );
        assert_eq!(code(&policy), 0, "{}", stderr(&policy));
        let policy = json(&policy);
        let allowed: Vec<String> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap().iter())
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        for call in calls.lines() {
            assert!(
                allowed.iter().any(|a| a == call),
                "{command} called {call}, which its policy lacks: {allowed:?}"
            );
            recorded_any += 1;
        }
        assert!(!calls.is_empty(), "{command}: no call recorded");
    }
    assert!(recorded_any >= 20, "{recorded_any}");
}
