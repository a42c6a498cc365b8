//! The function's own logic, in-process: what an invocation is, its
//! configuration, a subscription batch through the classifier and the
//! window-free rules, the metric lines. Against the emulator:
//! tests/lambda.rs.

use super::*;

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/lambda/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_schedule_or_a_subscription_is_told_from_its_payload() {
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-02T10:05:00Z")
        .unwrap()
        .timestamp_millis();
    for name in ["scheduler.json", "eventbridge-rule.json"] {
        match invocation(fixture(name)).unwrap() {
            Invocation::Scheduled { at: t } => assert_eq!(t, at, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    match invocation(fixture("subscription.json")).unwrap() {
        Invocation::Subscription(data) => {
            assert_eq!(data.log_group, "/aws/eks/prod/cluster");
            assert_eq!(data.log_events.len(), 4);
        }
        other => panic!("{other:?}"),
    }
    assert!(invocation(json!({"hello": 1}))
        .unwrap_err()
        .starts_with("neither a schedule's event"));
    assert!(invocation(json!({"scheduled_time": "soon"}))
        .unwrap_err()
        .contains("scheduled time \"soon\""));
}

#[test]
fn a_subscription_batch_makes_the_window_free_findings() {
    let Invocation::Subscription(data) = invocation(fixture("subscription.json")).unwrap() else {
        unreachable!()
    };
    let mut requests = requests_of(&data, 1_793_613_700_000);
    assert_eq!(requests.len(), 4, "each secret request once");
    let rules = windowless(&crate::rules::defaults());
    let names: Vec<&str> = rules.iter().map(|r| r.name).collect();
    assert_eq!(
        names,
        [
            "secret-payload-in-log",
            "anonymous-access-allowed",
            "cluster-wide-secret-list",
            "cross-namespace-service-account",
            "scripting-client",
        ]
    );
    let findings = crate::rules::evaluate(&rules, &mut requests, "prod");
    let mut got: Vec<(&str, &str, u64)> = findings
        .iter()
        .map(|f| (f.rule, f.principal.as_str(), f.requests))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "cluster-wide-secret-list",
                "arn:aws:sts::123456789012:assumed-role/Developer/dave",
                1
            ),
            (
                "scripting-client",
                "system:serviceaccount:payments:billing",
                2
            ),
        ]
    );
}

#[test]
fn the_configuration_comes_from_variables_named_like_the_flags() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let f = Function::from_env(env(&[
        ("SECRET_AUDIT_CLUSTER", "prod, staging"),
        ("SECRET_AUDIT_STATE_TABLE", "secret-audit-state"),
        ("SECRET_AUDIT_EVERY", "10m"),
        (
            "SECRET_AUDIT_SNS_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:a",
        ),
        (
            "SECRET_AUDIT_RULES_TOML",
            "[bulk-secret-reads]\nthreshold = 25\n",
        ),
    ]))
    .unwrap();
    assert_eq!(
        f.plan.groups,
        ["/aws/eks/prod/cluster", "/aws/eks/staging/cluster"]
    );
    assert_eq!(f.plan.schedule.every, 600_000);
    assert_eq!(
        f.plan.topic.as_deref(),
        Some("arn:aws:sns:us-east-1:123456789012:a")
    );
    assert_eq!(
        f.plan
            .rules
            .iter()
            .find(|r| r.name == "bulk-secret-reads")
            .unwrap()
            .threshold,
        25
    );
    let missing = Function::from_env(env(&[("SECRET_AUDIT_CLUSTER", "prod")]))
        .err()
        .unwrap();
    assert!(missing.starts_with("SECRET_AUDIT_STATE_TABLE"), "{missing}");
    let none = Function::from_env(env(&[("SECRET_AUDIT_STATE_TABLE", "t")]))
        .err()
        .unwrap();
    assert!(
        none.contains("SECRET_AUDIT_CLUSTER or SECRET_AUDIT_LOG_GROUP_NAME"),
        "{none}"
    );
    let bad = Function::from_env(env(&[
        ("SECRET_AUDIT_CLUSTER", "prod"),
        ("SECRET_AUDIT_STATE_TABLE", "t"),
        ("SECRET_AUDIT_MAX_RPS", "9"),
    ]))
    .err()
    .unwrap();
    assert!(bad.contains("is not above 0 and at most 5"), "{bad}");
}

#[test]
fn metrics_are_embedded_metric_format_lines() {
    let Invocation::Subscription(data) = invocation(fixture("subscription.json")).unwrap() else {
        unreachable!()
    };
    let now = 1_793_613_700_000;
    let mut requests = requests_of(&data, now);
    let findings = crate::rules::evaluate(
        &windowless(&crate::rules::defaults()),
        &mut requests,
        "prod",
    );
    let lines = metrics("subscription", &findings, 4, now);
    assert_eq!(lines.len(), 3, "events read, and one a rule");
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap();
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(v["_aws"]["Timestamp"], now);
        assert_eq!(m["Namespace"], "SecretAudit");
        for metric in m["Metrics"].as_array().unwrap() {
            assert!(v.get(metric["Name"].as_str().unwrap()).is_some(), "{line}");
        }
        for dim in m["Dimensions"][0].as_array().unwrap() {
            assert!(v.get(dim.as_str().unwrap()).is_some(), "{line}");
        }
    }
    let scripting: Value = serde_json::from_str(&lines[2]).unwrap();
    assert_eq!(
        (scripting["Rule"].as_str(), scripting["Findings"].as_u64()),
        (Some("scripting-client"), Some(1))
    );
}
