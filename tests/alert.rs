//! `alert` over files: findings in every format, exit 1 when there is one,
//! nothing on a healthy log; the rules themselves are tested one by one in
//! `src/rules/tests.rs`.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_secret-audit");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("alert")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("SECRET_AUDIT_OUTPUT")
        .output()
        .expect("run secret-audit")
}

#[test]
fn secret_payloads_in_the_log_are_findings_that_never_show_the_value() {
    let o = run(&[
        "--output",
        "json",
        "--rollup",
        "fixtures/handmade/secret-payloads.jsonl",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["schema_version"], 1);
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2);
    for f in findings {
        assert_eq!(f["rule"], "secret-payload-in-log");
        assert_eq!(f["severity"], "high");
        assert_eq!(f["dedup_key"].as_str().unwrap().len(), 32);
        assert!(!f["audit_ids"].as_array().unwrap().is_empty());
        for key in [
            "principal",
            "namespaces",
            "secrets",
            "first_seen",
            "last_seen",
            "requests",
            "summary",
            "cluster",
        ] {
            assert!(!f[key].is_null(), "{key}");
        }
    }
    assert!(doc["rollup"].is_array());
    assert!(doc["summary"]["secret_requests"].as_u64().unwrap() > 0);
    // The fixture's secret values never reach the output.
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/handmade/secret-payloads.jsonl"),
    )
    .unwrap();
    for value in ["cGFzc3dvcmQ", "hunter2"] {
        if fixture.contains(value) {
            assert!(!text.contains(value), "{value} leaked");
        }
    }
    // The same events give the same keys.
    let again: serde_json::Value = serde_json::from_slice(
        &run(&[
            "--output",
            "json",
            "fixtures/handmade/secret-payloads.jsonl",
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(again["findings"][0]["dedup_key"], findings[0]["dedup_key"]);
}

#[test]
fn a_healthy_log_has_no_findings_and_exits_0() {
    let o = run(&["fixtures/eks-audit.jsonl.gz"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "No findings\n");
}

#[test]
fn findings_render_in_every_format() {
    for format in ["table", "csv", "markdown"] {
        let o = run(&[
            "--output",
            format,
            "fixtures/handmade/secret-payloads.jsonl",
        ]);
        assert_eq!(o.status.code(), Some(1));
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(text.contains("secret-payload-in-log"), "{format}: {text}");
        assert!(
            text.contains("alice") && text.contains("bob"),
            "{format}: {text}"
        );
    }
}

#[test]
fn a_rules_file_changes_the_rules_and_list_rules_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[secret-payload-in-log]\nallow = [\"alice\"]\nseverity = \"critical\"\n",
    )
    .unwrap();
    let rules = rules.to_str().unwrap();
    let o = run(&[
        "--rules",
        rules,
        "--output",
        "json",
        "fixtures/handmade/secret-payloads.jsonl",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "alice is allowlisted");
    assert_eq!(findings[0]["principal"], "bob");
    assert_eq!(findings[0]["severity"], "critical");
    let listed = run(&["--rules", rules, "--list-rules", "--output", "json"]);
    assert_eq!(listed.status.code(), Some(0));
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let payload = &list["rules"][0];
    assert_eq!(payload["rule"], "secret-payload-in-log");
    assert_eq!(payload["severity"], "critical");
    assert_eq!(payload["allow"], serde_json::json!(["alice"]));
    assert!(!payload["reason"].as_str().unwrap().is_empty());
    // A mistake in the file is a usage error naming it.
    std::fs::write(rules, "[nope]\n").unwrap();
    let bad = run(&["--rules", rules, "fixtures/handmade/secret-payloads.jsonl"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no rule named \"nope\""));
}

#[test]
fn analyze_with_rules_gains_the_same_findings() {
    let alert: serde_json::Value = serde_json::from_slice(
        &run(&[
            "--output",
            "json",
            "fixtures/handmade/secret-payloads.jsonl",
        ])
        .stdout,
    )
    .unwrap();
    let o = Command::new(BIN)
        .args([
            "analyze",
            "--rules",
            "/dev/null",
            "--output",
            "json",
            "fixtures/handmade/secret-payloads.jsonl",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let analyze: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(analyze["findings"], alert["findings"]);
    assert!(analyze["rollup"].is_array());
}
