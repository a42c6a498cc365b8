//! `alert` over files: findings in every format, exit 1 when there is one,
//! nothing on a healthy log; the rules themselves are tested one by one in
//! `src/rules/tests.rs`.

mod common;

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

/// The generator's two-day scenario for `seed`, written into `dir` as JSON
/// lines of the secret records; returns its path and its labelled attacks.
fn two_day(dir: &std::path::Path, seed: u64) -> (std::path::PathBuf, Vec<gen_audit::Attack>) {
    let path = dir.join(format!("two-day-{seed}.jsonl"));
    let spec = gen_audit::Spec {
        seed,
        ..gen_audit::Spec::two_day()
    };
    let truth = spec.write_file(&path).unwrap();
    (path, truth.attacks)
}

fn findings(o: &Output) -> Vec<serde_json::Value> {
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    doc["findings"].as_array().unwrap().clone()
}

/// The attack a finding reports: same rule, and a request in common.
fn caught<'a>(
    f: &serde_json::Value,
    attacks: &'a [gen_audit::Attack],
) -> Option<&'a gen_audit::Attack> {
    attacks.iter().find(|a| {
        f["rule"] == a.rule.as_str()
            && f["audit_ids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|id| a.audit_ids.iter().any(|x| id == x.as_str()))
    })
}

#[test]
fn the_two_day_scenario_every_attack_caught_and_nothing_else_fires() {
    let tmp = tempfile::tempdir().unwrap();
    let rules: Vec<String> = {
        let o = run(&["--list-rules", "--output", "json"]);
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rule"].as_str().unwrap().to_owned())
            .collect()
    };
    let seeds = [1, 2, 3];
    let (mut attacks_total, mut caught_total, mut false_total) = (0, 0, 0);
    for seed in seeds {
        let (path, attacks) = two_day(tmp.path(), seed);
        // One attack of every rule's kind, all on day 2.
        let mut kinds: Vec<&str> = attacks.iter().map(|a| a.rule.as_str()).collect();
        kinds.sort();
        let mut all: Vec<&str> = rules.iter().map(String::as_str).collect();
        all.sort();
        assert_eq!(kinds, all, "seed {seed}: an attack for each rule");
        assert!(attacks.iter().all(|a| a.at.as_str() >= "2026-11-02"));
        let o = run(&["--output", "json", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1));
        let found = findings(&o);
        for f in &found {
            assert!(
                f["first_seen"].as_str().unwrap() >= "2026-11-02",
                "seed {seed}: nothing fires on the benign day: {f}"
            );
        }
        let falses: Vec<_> = found
            .iter()
            .filter(|f| caught(f, &attacks).is_none())
            .collect();
        for a in &attacks {
            let by = found
                .iter()
                .filter(|f| caught(f, std::slice::from_ref(a)).is_some())
                .count();
            assert_eq!(
                by, 1,
                "seed {seed}: {} at {} is one finding, found {by}",
                a.rule, a.at
            );
        }
        assert!(
            falses.is_empty(),
            "seed {seed}: false findings: {falses:#?}"
        );
        // The secret value the payload attack logged never reaches output.
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(!text.contains("czNjcjN0LXZhbHVl") && !text.contains("s3cr3t-value"));
        attacks_total += attacks.len();
        caught_total += attacks.len();
        false_total += falses.len();
    }
    let cluster_days = 2 * seeds.len();
    eprintln!(
        "two-day scenario, {} clusters: {caught_total} of {attacks_total} attacks caught, {false_total} false findings in {cluster_days} cluster-days",
        seeds.len()
    );
    assert!(false_total <= cluster_days);
}

#[test]
fn a_state_file_carries_what_was_learnt_from_one_days_export_to_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, attacks) = two_day(tmp.path(), 7);
    // Split the export at midnight, as daily exports come.
    let text = std::fs::read_to_string(&path).unwrap();
    let (mut day1, mut day2) = (String::new(), String::new());
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let day = if v["requestReceivedTimestamp"].as_str().unwrap() < "2026-11-02" {
            &mut day1
        } else {
            &mut day2
        };
        day.push_str(line);
        day.push('\n');
    }
    let (d1, d2) = (tmp.path().join("day1.jsonl"), tmp.path().join("day2.jsonl"));
    std::fs::write(&d1, day1).unwrap();
    std::fs::write(&d2, day2).unwrap();
    let state = tmp.path().join("state.json");
    let s = state.to_str().unwrap();
    let new_source = |o: &Output| {
        findings(o)
            .iter()
            .filter(|f| f["rule"] == "new-source-for-principal")
            .count()
    };
    // Day 2 alone has no history: the learning rule may not fire.
    let alone = run(&["--output", "json", d2.to_str().unwrap()]);
    assert_eq!(new_source(&alone), 0);
    // Day 1 with a state learns and says nothing; day 2 then compares.
    let first = run(&["--output", "json", "--state", s, d1.to_str().unwrap()]);
    assert_eq!((first.status.code(), findings(&first).len()), (Some(0), 0));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["schema_version"], 1);
    let bob = "arn:aws:sts::123456789012:assumed-role/Developer/bob";
    assert_eq!(
        saved["history"]["new-source-for-principal"]["principals"][bob]["addresses"],
        serde_json::json!(["198.51.100.23"])
    );
    let second = run(&["--output", "json", "--state", s, d2.to_str().unwrap()]);
    let found = findings(&second);
    assert_eq!(new_source(&second), 1);
    let attack = attacks
        .iter()
        .find(|a| a.rule == "new-source-for-principal")
        .unwrap();
    let f = found
        .iter()
        .find(|f| f["rule"] == "new-source-for-principal")
        .unwrap();
    assert!(caught(f, std::slice::from_ref(attack)).is_some());
    assert_eq!(found.len(), attacks.len(), "every attack, nothing else");
    // A shorter --learn lets day 2 alone learn from its own first hours.
    let short = run(&["--output", "json", "--learn", "6h", d2.to_str().unwrap()]);
    assert_eq!(new_source(&short), 1);
    // A file that is not a state is refused, and left alone.
    std::fs::write(&state, "[]").unwrap();
    let bad = run(&["--state", s, d2.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("is not a secret-audit state file"), "{err}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), "[]");
}

#[test]
fn the_alerting_stack_passes_cfn_lint_and_owns_what_it_says() {
    let cfn_lint = common::python_tool("cfn-lint");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[bulk-secret-reads]\nthreshold = 25\n").unwrap();
    let cases: &[&[&str]] = &[
        &["--cluster", "prod"],
        &[
            "--cluster",
            "prod",
            "--log-group-name",
            "/custom/audit",
            "--every",
            "10m",
            "--sns-topic-arn",
            "arn:aws:sns:us-east-1:123456789012:sec",
            "--rules",
            rules.to_str().unwrap(),
        ],
    ];
    for (i, args) in cases.iter().enumerate() {
        let mut full = vec!["--emit", "cloudformation"];
        full.extend(args.iter());
        let o = run(&full);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let path = dir.path().join(format!("stack-{i}.json"));
        std::fs::write(&path, &o.stdout).unwrap();
        let lint = Command::new(&cfn_lint).arg(&path).output().unwrap();
        assert!(
            lint.status.success(),
            "cfn-lint on {args:?}:\n{}{}",
            String::from_utf8_lossy(&lint.stdout),
            String::from_utf8_lossy(&lint.stderr)
        );
    }
    let stack: serde_json::Value =
        serde_json::from_slice(&run(&["--emit", "cloudformation", "--cluster", "prod"]).stdout)
            .unwrap();
    let r = &stack["Resources"];
    let scheduled = &r["ScheduledFunction"]["Properties"];
    assert_eq!(scheduled["Runtime"], "provided.al2023");
    assert_eq!(scheduled["ReservedConcurrentExecutions"], 1);
    assert_eq!(
        scheduled["Environment"]["Variables"]["SECRET_AUDIT_CLUSTER"],
        "prod"
    );
    assert_eq!(
        r["Schedule"]["Properties"]["Target"]["Input"],
        "{\"scheduled_time\": \"<aws.scheduler.scheduled-time>\"}"
    );
    // The role grants exactly what `iam-policy --command alert` lists.
    let policy = run_isolated_policy();
    let mut granted: Vec<String> = r["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        ["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Action"].as_str().unwrap().to_owned())
        .filter(|a| a != "sqs:SendMessage")
        .collect();
    granted.sort();
    assert_eq!(granted, policy);
    // The subscription path is behind its parameter, with the superset
    // pattern `tail` reads with.
    let filter = &r["ProdSubscriptionFilter"];
    assert_eq!(filter["Condition"], "Subscribe");
    assert_eq!(filter["Properties"]["FilterPattern"], "secrets");
    assert_eq!(r["SubscriptionFunction"]["Condition"], "Subscribe");
    assert!(r["ScheduledFunction"]["Properties"]
        .get("Condition")
        .is_none());
    assert_eq!(stack["Parameters"]["BulkReadsThreshold"]["Default"], 10);
    for alarm in ["ErrorsAlarm", "NoEventsAlarm"] {
        assert_eq!(r[alarm]["Type"], "AWS::CloudWatch::Alarm");
    }
    assert_eq!(
        r["ScheduledFailures"]["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
            ["Fn::GetAtt"][0],
        "FailureQueue"
    );
}

/// The actions of `iam-policy --command alert`, sorted.
fn run_isolated_policy() -> Vec<String> {
    let o = Command::new(BIN)
        .args(["iam-policy", "--command", "alert"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut actions: Vec<String> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    actions.sort();
    actions
}
