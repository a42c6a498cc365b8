//! Emulator tests of `setup`, `status` and `teardown`: the program runs
//! against a real `moto_server`; AWS state is checked with an independent
//! SDK read, never by trusting the program's output.

mod common;

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::MetricAlarm;
use aws_sdk_cloudwatchlogs::types::{MetricFilter, MetricTransformation};
use common::{code, json, stderr, stdout, Emu};

const READS: &str = r#"{ ($.objectRef.resource = "secrets") && ($.stage = "ResponseComplete") && (($.verb = "get") || ($.verb = "list") || ($.verb = "watch")) && ($.responseStatus.code < 400) }"#;
const DENIED: &str = r#"{ ($.objectRef.resource = "secrets") && (($.responseStatus.code = 401) || ($.responseStatus.code = 403)) }"#;
const WRITES: &str = r#"{ ($.objectRef.resource = "secrets") && ($.stage = "ResponseComplete") && (($.verb = "create") || ($.verb = "update") || ($.verb = "patch") || ($.verb = "delete") || ($.verb = "deletecollection")) && ($.responseStatus.code < 400) }"#;
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:secret-alerts";

impl Emu {
    fn filters(&self, group: &str) -> Vec<MetricFilter> {
        self.block_on(async {
            let out = self
                .logs
                .describe_metric_filters()
                .log_group_name(group)
                .send()
                .await
                .unwrap();
            out.metric_filters().to_vec()
        })
    }

    fn alarms(&self) -> Vec<MetricAlarm> {
        self.block_on(async {
            self.cw
                .describe_alarms()
                .send()
                .await
                .unwrap()
                .metric_alarms()
                .to_vec()
        })
    }

    fn alarm(&self, name: &str) -> MetricAlarm {
        self.alarms()
            .into_iter()
            .find(|a| a.alarm_name() == Some(name))
            .unwrap_or_else(|| panic!("alarm {name} missing"))
    }

    fn tags(&self, arn: &str) -> BTreeMap<String, String> {
        self.block_on(async {
            let out = self
                .cw
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .unwrap();
            out.tags()
                .iter()
                .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
                .collect()
        })
    }

    fn put_filter(&self, group: &str, name: &str, pattern: &str) {
        self.block_on(async {
            let t = MetricTransformation::builder()
                .metric_name("Errors")
                .metric_namespace("Team")
                .metric_value("1")
                .build()
                .unwrap();
            self.logs
                .put_metric_filter()
                .log_group_name(group)
                .filter_name(name)
                .filter_pattern(pattern)
                .metric_transformations(t)
                .send()
                .await
                .unwrap();
        })
    }

    fn delete_filter(&self, group: &str, name: &str) {
        self.block_on(async {
            self.logs
                .delete_metric_filter()
                .log_group_name(group)
                .filter_name(name)
                .send()
                .await
                .unwrap();
        })
    }

    fn setup_ok(&self, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["setup", "--output", "json"];
        full.extend(args);
        let o = self.run(&full);
        assert_eq!(code(&o), 0, "setup {args:?}: {}", stderr(&o));
        json(&o)
    }
}

/// (resource, name, action) of a plan document.
fn plan(doc: &serde_json::Value) -> Vec<(String, String, String)> {
    doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["resource"].as_str().unwrap().to_owned(),
                c["name"].as_str().unwrap().to_owned(),
                c["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn writes(doc: &serde_json::Value) -> Vec<(String, String, String)> {
    plan(doc)
        .into_iter()
        .filter(|(_, _, a)| matches!(a.as_str(), "create" | "update" | "delete"))
        .collect()
}

fn names(filters: &[MetricFilter]) -> Vec<String> {
    let mut v: Vec<String> = filters
        .iter()
        .map(|f| f.filter_name().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn dry_run_plans_everything_and_writes_nothing() {
    let emu = Emu::start();
    let group = emu.audit_group("prod");
    let doc = emu.setup_ok(&["--cluster", "prod", "--dry-run", "--sns-topic-arn", TOPIC]);
    assert_eq!(doc["dry_run"], true);
    let p = plan(&doc);
    assert_eq!(p.iter().filter(|c| c.2 == "create").count(), 6, "{p:?}");
    // The saved queries and the field index policy: the emulator has
    // neither API.
    assert_eq!(
        p.iter()
            .filter(|c| c.2 == "unsupported by endpoint")
            .count(),
        8,
        "{p:?}"
    );
    // Every bundled query is saved (the emulator lacks query definitions).
    let saved: Vec<&str> = p
        .iter()
        .filter(|c| c.0 == "query-definition")
        .map(|c| c.1.as_str())
        .collect();
    assert_eq!(
        saved,
        [
            "secret-audit/prod/reads-by-secret",
            "secret-audit/prod/access-detail",
            "secret-audit/prod/access-by-user",
            "secret-audit/prod/denied-attempts",
            "secret-audit/prod/list-watch-cluster-wide",
            "secret-audit/prod/list-watch-namespace-wide",
            "secret-audit/prod/reads-over-time",
        ]
    );
    assert!(emu.filters(&group).is_empty());
    assert!(emu.alarms().is_empty());
}

#[test]
fn setup_creates_what_the_plan_said() {
    let emu = Emu::start();
    let group = emu.audit_group("prod");
    let doc = emu.setup_ok(&["--cluster", "prod", "--sns-topic-arn", TOPIC]);
    let created: Vec<_> = plan(&doc).into_iter().filter(|c| c.2 == "create").collect();

    let filters = emu.filters(&group);
    let mut planned: Vec<_> = created
        .iter()
        .filter(|c| c.0 == "metric-filter")
        .map(|c| c.1.clone())
        .collect();
    planned.sort();
    assert_eq!(names(&filters), planned);
    let expect = [
        ("secret-audit-prod-secret-reads", READS, "SecretReads"),
        (
            "secret-audit-prod-secret-denied",
            DENIED,
            "SecretAccessDenied",
        ),
        ("secret-audit-prod-secret-writes", WRITES, "SecretWrites"),
    ];
    for (name, pattern, metric) in expect {
        let f = filters
            .iter()
            .find(|f| f.filter_name() == Some(name))
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(f.filter_pattern(), Some(pattern), "{name}");
        let [t] = f.metric_transformations() else {
            panic!("{name}: one transformation")
        };
        assert_eq!(t.metric_namespace(), "SecretAudit/prod");
        assert_eq!(t.metric_name(), metric);
        assert_eq!(t.metric_value(), "1");
        assert_eq!(t.default_value(), Some(0.0));
        assert!(
            t.dimensions().is_none_or(|d| d.is_empty()),
            "{name}: no dimension"
        );
    }

    let alarms = emu.alarms();
    let mut planned: Vec<_> = created
        .iter()
        .filter(|c| c.0 == "alarm")
        .map(|c| c.1.clone())
        .collect();
    planned.sort();
    let mut got: Vec<_> = alarms
        .iter()
        .map(|a| a.alarm_name().unwrap().to_owned())
        .collect();
    got.sort();
    assert_eq!(got, planned);
    for (name, threshold, metric) in [
        ("secret-audit-prod-secret-reads", 1000.0, "SecretReads"),
        ("secret-audit-prod-secret-denied", 5.0, "SecretAccessDenied"),
        ("secret-audit-prod-secret-writes", 50.0, "SecretWrites"),
    ] {
        let a = emu.alarm(name);
        assert_eq!(a.namespace(), Some("SecretAudit/prod"), "{name}");
        assert_eq!(a.metric_name(), Some(metric));
        assert_eq!(a.statistic().map(|s| s.as_str()), Some("Sum"));
        assert_eq!(a.period(), Some(300));
        assert_eq!(a.evaluation_periods(), Some(1));
        assert_eq!(a.threshold(), Some(threshold));
        assert_eq!(
            a.comparison_operator().map(|c| c.as_str()),
            Some("GreaterThanOrEqualToThreshold")
        );
        assert_eq!(a.treat_missing_data(), Some("notBreaching"));
        assert_eq!(a.alarm_actions(), [TOPIC]);
        assert_eq!(a.ok_actions(), [TOPIC]);
        let d = a.alarm_description().unwrap();
        assert!(d.contains("secret-audit report --cluster prod"), "{d}");
        assert!(d.contains("secret-audit analyze"), "{d}");
        let tags = emu.tags(a.alarm_arn().unwrap());
        assert_eq!(
            tags.get("managed-by").map(String::as_str),
            Some("secret-audit"),
            "{name}"
        );
        assert_eq!(
            tags.get("cluster").map(String::as_str),
            Some("prod"),
            "{name}"
        );
    }
}

#[test]
fn by_namespace_adds_the_dimension_and_alarms_sum_every_namespace() {
    let emu = Emu::start();
    let group = emu.audit_group("prod");
    emu.setup_ok(&["--cluster", "prod", "--by-namespace"]);
    let filters = emu.filters(&group);
    assert_eq!(filters.len(), 3);
    for f in &filters {
        let t = &f.metric_transformations()[0];
        let dims = t.dimensions().expect("dimensions");
        assert_eq!(dims.len(), 1);
        assert_eq!(
            dims.get("namespace").map(String::as_str),
            Some("$.objectRef.namespace")
        );
        assert_eq!(t.default_value(), None, "no default value with dimensions");
    }
    let a = emu.alarm("secret-audit-prod-secret-reads");
    let expr = a
        .metrics()
        .iter()
        .find_map(|m| m.expression())
        .expect("a Metrics Insights query");
    assert_eq!(
        expr,
        r#"SELECT SUM("SecretReads") FROM SCHEMA("SecretAudit/prod", namespace)"#
    );
    // And it is stable: a second run changes nothing.
    let doc = emu.setup_ok(&["--cluster", "prod", "--by-namespace"]);
    assert!(writes(&doc).is_empty(), "{doc}");
}

#[test]
fn second_setup_reports_unchanged_and_writes_nothing() {
    let emu = Emu::start();
    let group = emu.audit_group("prod");
    emu.setup_ok(&["--cluster", "prod", "--sns-topic-arn", TOPIC]);
    let doc = emu.setup_ok(&["--cluster", "prod", "--sns-topic-arn", TOPIC]);
    let p = plan(&doc);
    assert_eq!(p.iter().filter(|c| c.2 == "unchanged").count(), 6, "{p:?}");
    assert!(writes(&doc).is_empty(), "{p:?}");
    // The emulator keeps a duplicate on every re-put: still exactly three.
    assert_eq!(emu.filters(&group).len(), 3);
    assert_eq!(emu.alarms().len(), 3);
}

#[test]
fn changing_a_threshold_updates_that_alarm_only() {
    let emu = Emu::start();
    let group = emu.audit_group("prod");
    emu.setup_ok(&["--cluster", "prod"]);
    let before = emu.alarm("secret-audit-prod-secret-reads");
    let doc = emu.setup_ok(&["--cluster", "prod", "--denied-threshold", "2"]);
    assert_eq!(
        writes(&doc),
        [(
            "alarm".into(),
            "secret-audit-prod-secret-denied".into(),
            "update".into()
        )]
    );
    let fields = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"] == "update")
        .unwrap()["fields"]
        .clone();
    assert!(
        fields.as_array().unwrap().iter().any(|f| f == "threshold"),
        "{fields}"
    );
    assert_eq!(
        emu.alarm("secret-audit-prod-secret-denied").threshold(),
        Some(2.0)
    );
    assert_eq!(emu.alarm("secret-audit-prod-secret-reads"), before);
    assert_eq!(
        emu.alarm("secret-audit-prod-secret-writes").threshold(),
        Some(50.0)
    );
    assert_eq!(emu.filters(&group).len(), 3, "no filter re-put");
    // The tags survive the update.
    let tags = emu.tags(
        emu.alarm("secret-audit-prod-secret-denied")
            .alarm_arn()
            .unwrap(),
    );
    assert_eq!(
        tags.get("managed-by").map(String::as_str),
        Some("secret-audit")
    );
}

#[test]
fn status_check_passes_then_fails_naming_what_drifted() {
    let emu = Emu::start();
    let group = emu.audit_group("prod");
    emu.setup_ok(&["--cluster", "prod"]);
    let ok = emu.run(&["status", "--cluster", "prod", "--check", "--output", "json"]);
    assert_eq!(code(&ok), 0, "{}{}", stdout(&ok), stderr(&ok));
    let doc = json(&ok);
    assert_eq!(doc["ok"], true);
    let lg = &doc["log_groups"][0];
    assert_eq!(lg["audit_streams"], 1);
    assert!(
        lg["newest_event_age_seconds"].as_i64().unwrap() < 3600,
        "{lg}"
    );
    let states: Vec<_> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "present").count(),
        6,
        "{states:?}"
    );
    let alarm_states: Vec<_> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["resource"] == "alarm")
        .map(|r| r["alarm_state"].clone())
        .collect();
    assert!(
        alarm_states.iter().all(|s| s.is_string()),
        "{alarm_states:?}"
    );

    // Behind its back: delete a filter and lower an alarm's threshold.
    emu.delete_filter(&group, "secret-audit-prod-secret-writes");
    emu.block_on(async {
        emu.cw
            .set_alarm_state()
            .alarm_name("secret-audit-prod-secret-denied")
            .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
            .state_reason("test")
            .send()
            .await
            .unwrap();
    });
    let a = emu.alarm("secret-audit-prod-secret-reads");
    emu.block_on(async {
        emu.cw
            .put_metric_alarm()
            .alarm_name(a.alarm_name().unwrap())
            .alarm_description(a.alarm_description().unwrap())
            .namespace(a.namespace().unwrap())
            .metric_name(a.metric_name().unwrap())
            .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
            .period(300)
            .evaluation_periods(1)
            .datapoints_to_alarm(1)
            .threshold(1.0)
            .comparison_operator(
                aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
            )
            .treat_missing_data("notBreaching")
            .send()
            .await
            .unwrap();
    });
    let bad = emu.run(&["status", "--cluster", "prod", "--check"]);
    assert_eq!(code(&bad), 1, "{}{}", stdout(&bad), stderr(&bad));
    let err = stderr(&bad);
    assert!(
        err.contains("secret-audit-prod-secret-writes is missing"),
        "{err}"
    );
    assert!(
        err.contains("secret-audit-prod-secret-reads is drifted (differs: threshold)"),
        "{err}"
    );
    let doc = json(&emu.run(&["status", "--cluster", "prod", "--output", "json"]));
    assert_eq!(doc["ok"], false);
    let row = |name: &str, kind: &str| {
        doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name && r["resource"] == kind)
            .unwrap()
            .clone()
    };
    assert_eq!(
        row("secret-audit-prod-secret-denied", "alarm")["alarm_state"],
        "ALARM"
    );
    assert_eq!(
        row("secret-audit-prod-secret-writes", "metric-filter")["state"],
        "missing"
    );
    assert_eq!(
        row("secret-audit-prod-secret-reads", "alarm")["fields"],
        serde_json::json!(["threshold"])
    );
    // Without --check the same findings exit 0.
    assert_eq!(code(&emu.run(&["status", "--cluster", "prod"])), 0);

    // A run after a partial failure (or drift) converges: setup repairs exactly that.
    let doc = emu.setup_ok(&["--cluster", "prod"]);
    let mut w = writes(&doc);
    w.sort();
    assert_eq!(
        w,
        [
            (
                "alarm".into(),
                "secret-audit-prod-secret-reads".into(),
                "update".into()
            ),
            (
                "metric-filter".into(),
                "secret-audit-prod-secret-writes".into(),
                "create".into()
            ),
        ]
    );
    assert_eq!(
        code(&emu.run(&["status", "--cluster", "prod", "--check"])),
        0
    );
}

#[test]
fn teardown_removes_exactly_what_setup_made() {
    let emu = Emu::start();
    let group = emu.audit_group("prod");
    let hand = r#"{ $.responseStatus.code >= 500 }"#;
    emu.put_filter(&group, "team-apiserver-errors", hand);
    emu.put_filter(&group, "secretaudit-lookalike", hand);
    emu.setup_ok(&["--cluster", "prod"]);
    // Another cluster's resources share the name prefix "secret-audit-prod".
    emu.audit_group("prod-eu");
    emu.setup_ok(&["--cluster", "prod-eu"]);
    assert_eq!(emu.filters(&group).len(), 5);
    assert_eq!(emu.alarms().len(), 6);

    let dry = emu.run(&[
        "teardown",
        "--cluster",
        "prod",
        "--dry-run",
        "--output",
        "json",
    ]);
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    let p = plan(&json(&dry));
    assert_eq!(p.iter().filter(|c| c.2 == "delete").count(), 6, "{p:?}");
    assert_eq!(emu.filters(&group).len(), 5, "dry run deleted something");
    assert_eq!(emu.alarms().len(), 6, "dry run deleted something");

    let o = emu.run(&["teardown", "--cluster", "prod"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let left = emu.filters(&group);
    assert_eq!(
        names(&left),
        ["secretaudit-lookalike", "team-apiserver-errors"]
    );
    assert!(left.iter().all(|f| f.filter_pattern() == Some(hand)));
    let mut alarms: Vec<_> = emu
        .alarms()
        .iter()
        .map(|a| a.alarm_name().unwrap().to_owned())
        .collect();
    alarms.sort();
    assert_eq!(
        alarms,
        [
            "secret-audit-prod-eu-secret-denied",
            "secret-audit-prod-eu-secret-reads",
            "secret-audit-prod-eu-secret-writes"
        ]
    );
    assert_eq!(emu.filters("/aws/eks/prod-eu/cluster").len(), 3);

    // Nothing left to remove.
    let again = emu.run(&["teardown", "--cluster", "prod", "--output", "json"]);
    assert!(writes(&json(&again)).is_empty());
}

#[test]
fn a_hand_made_alarm_under_the_prefix_is_never_overwritten() {
    let emu = Emu::start();
    emu.audit_group("prod");
    emu.block_on(async {
        emu.cw
            .put_metric_alarm()
            .alarm_name("secret-audit-prod-secret-reads")
            .namespace("Team")
            .metric_name("Mine")
            .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(7.0)
            .comparison_operator(
                aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold,
            )
            .send()
            .await
            .unwrap();
    });
    let o = emu.run(&["setup", "--cluster", "prod"]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "alarm secret-audit-prod-secret-reads exists but is not managed by secret-audit"
        ),
        "{}",
        stderr(&o)
    );
    assert!(
        emu.filters("/aws/eks/prod/cluster").is_empty(),
        "half-created"
    );
    assert_eq!(
        emu.alarm("secret-audit-prod-secret-reads").threshold(),
        Some(7.0)
    );
    // Teardown leaves it too.
    assert_eq!(code(&emu.run(&["teardown", "--cluster", "prod"])), 0);
    assert_eq!(emu.alarms().len(), 1);
}

#[test]
fn unknown_cluster_is_named_with_the_command_that_enables_audit_logs() {
    let emu = Emu::start();
    emu.audit_group("prod");
    let o = emu.run(&["setup", "--cluster", "nosuch"]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("log group /aws/eks/nosuch/cluster does not exist in us-east-1"),
        "{err}"
    );
    assert!(
        err.contains(r#"aws eks update-cluster-config --name nosuch --logging '{"clusterLogging":[{"types":["audit"],"enabled":true}]}'"#),
        "{err}"
    );
    assert!(stdout(&o).is_empty());
    assert!(emu.alarms().is_empty());
}

#[test]
fn a_log_group_without_audit_streams_is_refused() {
    let emu = Emu::start();
    emu.group_with_stream("/aws/eks/quiet/cluster", "authenticator-5f2a9c");
    let o = emu.run(&["setup", "--cluster", "quiet"]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("log group /aws/eks/quiet/cluster has no kube-apiserver-audit-* log streams"),
        "{err}"
    );
    assert!(
        err.contains("aws eks update-cluster-config --name quiet"),
        "{err}"
    );
    assert!(emu.filters("/aws/eks/quiet/cluster").is_empty());
    assert!(emu.alarms().is_empty());
    // --skip-preflight is for groups filled later.
    let o = emu.run(&["setup", "--cluster", "quiet", "--skip-preflight"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(emu.filters("/aws/eks/quiet/cluster").len(), 3);
}

#[test]
fn an_invalid_sns_topic_arn_is_a_usage_error() {
    let emu = Emu::start();
    emu.audit_group("prod");
    for bad in [
        "secret-alerts",
        "arn:aws:sqs:us-east-1:123456789012:q",
        "arn:aws:sns:us-east-1:12345:t",
    ] {
        let o = emu.run(&["setup", "--cluster", "prod", "--sns-topic-arn", bad]);
        assert_eq!(code(&o), 2, "{bad}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("invalid SNS topic ARN \"{bad}\"")),
            "{}",
            stderr(&o)
        );
    }
    assert!(emu.filters("/aws/eks/prod/cluster").is_empty());
    assert!(emu.alarms().is_empty());
}

#[test]
fn the_100_filters_limit_is_checked_before_any_write() {
    let emu = Emu::start();
    let group = emu.audit_group("prod");
    for i in 0..98 {
        emu.put_filter(&group, &format!("team-filter-{i:03}"), "ERROR");
    }
    let o = emu.run(&["setup", "--cluster", "prod"]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(
            "log group /aws/eks/prod/cluster has 98 metric filters and setup needs 3 more"
        ),
        "{err}"
    );
    assert!(err.contains("100 per log group"), "{err}");
    assert_eq!(emu.filters(&group).len(), 98, "half-created");
    assert!(emu.alarms().is_empty(), "half-created");
    // With room for all three it goes through.
    emu.delete_filter(&group, "team-filter-000");
    emu.setup_ok(&["--cluster", "prod"]);
    assert_eq!(emu.filters(&group).len(), 100);
}

#[test]
fn no_region_or_no_credentials_exit_253() {
    let emu = Emu::start();
    let url = emu.url();
    let o = common::run_isolated(
        &["status", "--cluster", "prod", "--endpoint-url", &url],
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    );
    assert_eq!(code(&o), 253, "{}", stderr(&o));
    assert!(stderr(&o).contains("no AWS region"), "{}", stderr(&o));
    let o = common::run_isolated(
        &[
            "status",
            "--cluster",
            "prod",
            "--endpoint-url",
            &url,
            "--region",
            "us-east-1",
        ],
        &[],
    );
    assert_eq!(code(&o), 253, "{}", stderr(&o));
    assert!(stderr(&o).contains("no AWS credentials"), "{}", stderr(&o));
    for region in ["", "Not A Region"] {
        let o = common::run_isolated(
            &[
                "status",
                "--cluster",
                "prod",
                "--endpoint-url",
                &url,
                "--region",
                region,
            ],
            &[
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
            ],
        );
        assert_eq!(code(&o), 253, "{region:?}: {}", stderr(&o));
    }
    // The region also comes from the standard environment.
    let o = common::run_isolated(
        &["status", "--cluster", "prod", "--endpoint-url", &url],
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn no_answer_is_a_transport_error_not_a_hang() {
    // A port nobody listens on: fails fast, exit 255, naming the call.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let start = std::time::Instant::now();
    let o = common::run_isolated(
        &[
            "status",
            "--cluster",
            "prod",
            "--endpoint-url",
            &url,
            "--region",
            "us-east-1",
            "--max-attempts",
            "1",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    );
    assert_eq!(code(&o), 255, "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "error: cannot connect to {url}: connection refused; is it running? \
             check --endpoint-url (DescribeLogStreams)\n"
        )
    );
    assert!(start.elapsed().as_secs() < 10);
}

/// The alerting stack's subscription path, wired in the emulator as the
/// stack wires it (a function, its filter on the audit log group with the
/// stack's name and pattern): `status` reports it. The emulator runs
/// functions only through Docker, but creates them and their filters
/// without.
#[test]
fn status_reports_the_alerting_stacks_subscription_filter() {
    let emu = common::Emu::start();
    emu.audit_group("prod");
    let script = format!(
        r#"
import boto3, io, zipfile
kw = dict(endpoint_url="{url}", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
role = boto3.client("iam", **kw).create_role(RoleName="secret-audit-fn", AssumeRolePolicyDocument="{{}}")["Role"]["Arn"]
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("bootstrap", "")
fn = boto3.client("lambda", **kw).create_function(FunctionName="secret-audit-subscription", Runtime="provided.al2023",
    Role=role, Handler="bootstrap", Code={{"ZipFile": buf.getvalue()}})["FunctionArn"]
boto3.client("logs", **kw).put_subscription_filter(logGroupName="/aws/eks/prod/cluster",
    filterName="secret-audit-prod-secrets", filterPattern="secrets", destinationArn=fn)
"#,
        url = emu.url()
    );
    let o = std::process::Command::new(common::python_tool("python"))
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = emu.run(&["status", "--cluster", "prod", "--output", "csv"]);
    assert_eq!(common::code(&o), 0, "{}", common::stderr(&o));
    let out = common::stdout(&o);
    let row = out
        .lines()
        .find(|l| l.contains(",subscription-filter,"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.starts_with("prod,subscription-filter,secret-audit-prod-secrets,present,,to arn:aws:lambda:us-east-1:123456789012:function:secret-audit-subscription"),
        "{row}"
    );
}
