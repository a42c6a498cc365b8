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

/// Writes 1,500 requests in a format with the project's generator, every
/// stage and the exotic cases included; returns the file and the truth.
fn generate(dir: &Path, format: &str, seed: &str) -> (PathBuf, serde_json::Value) {
    let path = dir.join(format!("audit-{format}-{seed}"));
    let spec = gen_audit::Spec {
        seed: seed.parse().unwrap(),
        size: gen_audit::Size::Requests(1500),
        stages_all: true,
        exotic: true,
        ..gen_audit::Spec::new(format.parse().unwrap())
    };
    let truth = spec.write_file(&path).expect("generate an audit log");
    (path, serde_json::to_value(truth).unwrap())
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
    ("report", &["report", "--cluster", "prod", "--since", "2h"]),
    ("tail", &["tail", "--cluster", "prod", "--since", "2h"]),
    (
        "alert",
        &[
            "alert",
            "--cluster",
            "prod",
            "--since",
            "2h",
            "--send",
            "--sns-topic-arn",
            "arn:aws:sns:us-east-1:123456789012:alerts",
        ],
    ),
];

/// A topic `alert` can publish to, and a read by curl for it to publish.
fn something_to_alert_on(emu: &common::Emu) {
    emu.topic_with_queue("alerts");
    let at = chrono::Utc::now() - chrono::Duration::minutes(30);
    let t = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let event = format!(
        r#"{{"auditID":"5a0f3c1e-0000-4000-8000-000000000001","stage":"ResponseComplete","verb":"get","user":{{"username":"system:serviceaccount:ops:tool"}},"sourceIPs":["192.168.1.9"],"userAgent":"curl/8.5.0","objectRef":{{"resource":"secrets","namespace":"ops","name":"db"}},"responseStatus":{{"code":200}},"requestReceivedTimestamp":"{t}","stageTimestamp":"{t}"}}"#
    );
    emu.group_with_events_in(
        "/aws/eks/prod/cluster",
        "kube-apiserver-audit-alert",
        [(at.timestamp_millis(), event.as_str())].into_iter(),
    );
}

#[test]
fn every_action_a_command_calls_is_in_its_policy() {
    let emu = common::Emu::start();
    emu.audit_group("prod");
    something_to_alert_on(&emu);
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
        // alert exits 1: it found the read by curl.
        let expected = if *command == "alert" { 1 } else { 0 };
        assert_eq!(code(&o), expected, "{args:?}: {}", stderr(&o));
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
        if *command == "alert" {
            assert!(calls.lines().any(|c| c == "sns:Publish"), "{calls}");
        }
    }
    assert!(recorded_any >= 20, "{recorded_any}");
}

fn emit(args: &[&str]) -> serde_json::Value {
    let mut full = vec!["setup", "--emit", "cloudformation"];
    full.extend(args);
    // No credentials, no region: run_isolated gives none.
    let o = run_isolated(&full, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    json(&o)
}

#[test]
fn the_cloudformation_template_passes_cfn_lint() {
    let cfn_lint = common::python_tool("cfn-lint");
    let dir = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &["--cluster", "prod"],
        &[
            "--cluster",
            "prod",
            "--cluster",
            "dev-eu",
            "--by-namespace",
            "--sns-topic-arn",
            "arn:aws:sns:us-east-1:123456789012:sec",
        ],
        &[
            "--log-group-name",
            "/custom/audit",
            "--reads-threshold",
            "10",
            "--period",
            "10m",
            "--evaluation-periods",
            "3",
        ],
    ];
    for (i, args) in cases.iter().enumerate() {
        let path = dir.path().join(format!("template-{i}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&emit(args)).unwrap()).unwrap();
        let o = Command::new(&cfn_lint)
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", cfn_lint.display()));
        assert!(
            o.status.success(),
            "cfn-lint on {args:?}:\n{}{}",
            stdout(&o),
            stderr(&o)
        );
    }
}

/// The template describes exactly what setup creates with the same options:
/// setup runs against the emulator, its resources are read back with the
/// SDK and compared, field by field, with the template's.
#[test]
fn the_cloudformation_template_matches_what_setup_creates() {
    let emu = common::Emu::start();
    let group = emu.audit_group("prod");
    for opts in [
        &[
            "--reads-threshold",
            "500",
            "--sns-topic-arn",
            "arn:aws:sns:us-east-1:123456789012:sec",
        ][..],
        &[
            "--by-namespace",
            "--denied-threshold",
            "2",
            "--period",
            "10m",
        ][..],
    ] {
        let mut args = vec!["--cluster", "prod"];
        args.extend(opts);
        let template = emit(&args);
        let mut setup = vec!["setup", "--output", "json"];
        setup.extend(&args);
        let o = emu.run(&setup);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let plan = json(&o);
        let params = &template["Parameters"];
        let resources = template["Resources"].as_object().unwrap();
        let of_type = |t: &str| -> Vec<&serde_json::Value> {
            resources
                .values()
                .filter(|r| r["Type"] == t)
                .map(|r| &r["Properties"])
                .collect()
        };
        // Every planned resource is in the template, and nothing else.
        let mut planned: Vec<(String, String)> = plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["resource"].as_str().unwrap().to_owned(),
                    c["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        planned.sort();
        let mut in_template: Vec<(String, String)> = Vec::new();
        for f in of_type("AWS::Logs::MetricFilter") {
            in_template.push((
                "metric-filter".into(),
                f["FilterName"].as_str().unwrap().into(),
            ));
        }
        for a in of_type("AWS::CloudWatch::Alarm") {
            in_template.push(("alarm".into(), a["AlarmName"].as_str().unwrap().into()));
        }
        for q in of_type("AWS::Logs::QueryDefinition") {
            in_template.push((
                "query-definition".into(),
                q["Name"].as_str().unwrap().into(),
            ));
        }
        // The field index policy, scoped to the log group.
        for p in of_type("AWS::Logs::AccountPolicy") {
            let criteria = p["SelectionCriteria"].as_str().unwrap();
            let group = criteria
                .strip_prefix("LogGroupNamePrefix IN [\"")
                .and_then(|c| c.strip_suffix("\"]"))
                .unwrap();
            in_template.push(("field-index-policy".into(), group.into()));
        }
        in_template.sort();
        assert_eq!(in_template, planned);

        // Metric filters, field by field, against an independent read.
        let filters = emu.block_on(async {
            emu.logs
                .describe_metric_filters()
                .log_group_name(&group)
                .send()
                .await
                .unwrap()
                .metric_filters()
                .to_vec()
        });
        for want in of_type("AWS::Logs::MetricFilter") {
            let name = want["FilterName"].as_str().unwrap();
            // moto stores a re-put as a duplicate: the newest is last.
            let have = filters
                .iter()
                .rev()
                .find(|f| f.filter_name() == Some(name))
                .unwrap_or_else(|| panic!("{name} not created"));
            assert_eq!(want["LogGroupName"], group);
            assert_eq!(
                want["FilterPattern"].as_str(),
                have.filter_pattern(),
                "{name}"
            );
            let t = &have.metric_transformations()[0];
            let wt = &want["MetricTransformations"][0];
            assert_eq!(wt["MetricName"].as_str(), Some(t.metric_name()), "{name}");
            assert_eq!(
                wt["MetricNamespace"].as_str(),
                Some(t.metric_namespace()),
                "{name}"
            );
            assert_eq!(wt["MetricValue"].as_str(), Some(t.metric_value()), "{name}");
            assert_eq!(wt["DefaultValue"].as_f64(), t.default_value(), "{name}");
            let dims: std::collections::BTreeMap<String, String> = t
                .dimensions()
                .map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            let want_dims: std::collections::BTreeMap<String, String> = wt["Dimensions"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|d| {
                            (
                                d["Key"].as_str().unwrap().into(),
                                d["Value"].as_str().unwrap().into(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(want_dims, dims, "{name}");
        }

        // Alarms, field by field (thresholds through their parameters).
        let alarms = emu.block_on(async {
            emu.cw
                .describe_alarms()
                .send()
                .await
                .unwrap()
                .metric_alarms()
                .to_vec()
        });
        for want in of_type("AWS::CloudWatch::Alarm") {
            let name = want["AlarmName"].as_str().unwrap();
            let have = alarms
                .iter()
                .find(|a| a.alarm_name() == Some(name))
                .unwrap_or_else(|| panic!("{name} not created"));
            let threshold = match &want["Threshold"] {
                serde_json::Value::Object(r) => {
                    params[r["Ref"].as_str().unwrap()]["Default"].as_f64()
                }
                v => v.as_f64(),
            };
            assert_eq!(threshold, have.threshold(), "{name}");
            assert_eq!(
                want["ComparisonOperator"].as_str(),
                have.comparison_operator().map(|c| c.as_str())
            );
            assert_eq!(
                want["EvaluationPeriods"].as_i64(),
                have.evaluation_periods().map(i64::from)
            );
            assert_eq!(want["TreatMissingData"].as_str(), have.treat_missing_data());
            match want.get("Metrics") {
                Some(m) => {
                    let have_expr = have.metrics().iter().find_map(|m| m.expression());
                    assert_eq!(m[0]["Expression"].as_str(), have_expr, "{name}");
                    assert_eq!(
                        m[0]["Period"].as_i64(),
                        have.metrics()[0].period().map(i64::from)
                    );
                }
                None => {
                    assert_eq!(want["MetricName"].as_str(), have.metric_name(), "{name}");
                    assert_eq!(want["Namespace"].as_str(), have.namespace(), "{name}");
                    assert_eq!(
                        want["Period"].as_i64(),
                        have.period().map(i64::from),
                        "{name}"
                    );
                }
            }
            let topics: Vec<String> = params["SnsTopicArns"]["Default"]
                .as_str()
                .unwrap()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            assert_eq!(topics, have.alarm_actions(), "{name}");
        }
    }
}

/// One classifier: what counts as a completed read, a denial and a completed
/// write is stated once (`SecretAccess::metric_classes`). Each pattern setup
/// writes, run through secret-audit's evaluator, must match exactly the log
/// events the classifier puts in that pattern's class, on every bundled
/// event (the setup samples, the handmade and real fixtures) and on
/// generated logs with every stage and the exotic cases; the samples' own
/// expectations must say the same.
#[test]
fn each_setup_pattern_matches_exactly_the_log_events_of_its_class() {
    use secret_audit::audit::event::{classify, Classified, MetricClasses};
    use secret_audit::pattern::Pattern;
    use secret_audit::provision::samples::SAMPLES;
    use secret_audit::provision::spec::WRITES_PATTERN;

    type Class = fn(&MetricClasses) -> bool;
    let patterns: [(&str, &str, Class); 3] = [
        ("secret-reads", READS_PATTERN, |c| c.completed_read),
        ("secret-denied", DENIED_PATTERN, |c| c.denied),
        ("secret-writes", WRITES_PATTERN, |c| c.completed_write),
    ];
    let patterns = patterns.map(|(name, p, class)| (name, Pattern::parse(p).unwrap(), class));

    let mut events: Vec<(String, Vec<u8>)> = SAMPLES
        .iter()
        .map(|s| (format!("sample {:?}", s.what), s.event.as_bytes().to_vec()))
        .collect();
    let fixtures = root().join("fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures.join("handmade"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.push(fixtures.join("audit2rbac-demo.log"));
    for f in [
        "create_secret",
        "delete_secret",
        "create_kube_system_secret",
        "create_service_account_token_secret",
    ] {
        files.push(fixtures.join(format!("falco-{f}.json")));
    }
    for path in &files {
        let text = std::fs::read(path).unwrap();
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            if !line.is_empty() {
                events.push((format!("{}:{}", path.display(), i + 1), line.to_vec()));
            }
        }
    }
    for seed in [1, 2, 3] {
        let spec = gen_audit::Spec {
            seed,
            size: gen_audit::Size::Requests(4000),
            stages_all: true,
            exotic: true,
            ..gen_audit::Spec::new(gen_audit::Format::Jsonl)
        };
        for (i, ev) in spec.records().iter().enumerate() {
            events.push((
                format!("generated seed {seed} #{i}"),
                ev.to_json().into_bytes(),
            ));
        }
    }

    let mut counted = [0; 3];
    let mut malformed = 0;
    for (at, record) in &events {
        let classes = match classify(record) {
            Ok(Classified::Secret(s)) => s.metric_classes(),
            Ok(Classified::NotSecret) => MetricClasses::default(),
            Err(_) => {
                malformed += 1;
                continue;
            }
        };
        for (k, (name, pattern, class)) in patterns.iter().enumerate() {
            let want = class(&classes);
            assert_eq!(
                pattern.matches(record),
                want,
                "{at}: the {name} pattern and the classifier ({classes:?}) disagree on {}",
                String::from_utf8_lossy(record)
            );
            counted[k] += want as usize;
        }
    }
    assert!(
        counted.iter().all(|&n| n > 20),
        "every class is exercised: {counted:?}"
    );
    assert!(
        malformed > 0 && malformed < 10,
        "malformed fixtures are skipped: {malformed}"
    );

    for s in SAMPLES {
        let Ok(Classified::Secret(a)) = classify(s.event.as_bytes()) else {
            assert!(
                s.matches.is_empty(),
                "sample {:?}: not secret access, yet expected to match",
                s.what
            );
            continue;
        };
        let classes = a.metric_classes();
        let expected: Vec<&str> = patterns
            .iter()
            .filter(|(_, _, class)| class(&classes))
            .map(|(name, _, _)| *name)
            .collect();
        assert_eq!(s.matches, expected.as_slice(), "sample {:?}", s.what);
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn tails_server_side_filter_lets_through_every_event_the_classifier_counts() {
    use secret_audit::audit::event::{classify, Classified};
    use secret_audit::pattern::Pattern;
    use secret_audit::tail::SERVER_FILTER;

    let pattern = Pattern::parse(SERVER_FILTER).unwrap();
    let mut records: Vec<(String, Vec<u8>)> = Vec::new();
    let fixtures = root().join("fixtures");
    for dir in ["handmade", "generated"] {
        for e in std::fs::read_dir(fixtures.join(dir)).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "jsonl") {
                let text = std::fs::read(&path).unwrap();
                for (i, line) in text.split(|&b| b == b'\n').enumerate() {
                    records.push((format!("{}:{}", path.display(), i + 1), line.to_vec()));
                }
            }
        }
    }
    for f in ["audit2rbac-demo.log"] {
        let text = std::fs::read(fixtures.join(f)).unwrap();
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            records.push((format!("{f}:{}", i + 1), line.to_vec()));
        }
    }
    let spec = gen_audit::Spec {
        seed: 9,
        size: gen_audit::Size::Requests(4000),
        stages_all: true,
        exotic: true,
        ..gen_audit::Spec::new(gen_audit::Format::Jsonl)
    };
    for (i, ev) in spec.records().iter().enumerate() {
        records.push((format!("generated #{i}"), ev.to_json().into_bytes()));
    }
    let (mut secret, mut truncated) = (0, 0);
    for (at, record) in &records {
        if !matches!(classify(record), Ok(Classified::Secret(_))) {
            continue;
        }
        secret += 1;
        assert!(
            pattern.matches(record),
            "{at}: the server filter would drop a secret event"
        );
        // CloudWatch cuts an event past its size limit and keeps hundreds of
        // kilobytes: what is left must still pass, so tail counts and names
        // it. Cut far shorter here: the first 600 bytes, and 1 KB.
        for keep in [600, 1024] {
            if record.len() > keep {
                truncated += 1;
                assert!(
                    pattern.matches(&record[..keep]),
                    "{at}: cut to {keep} bytes, the server filter would drop it"
                );
            }
        }
    }
    assert!(secret > 200 && truncated > 100, "{secret} {truncated}");
}

/// Every log event is text: term and regular-expression patterns apply to
/// events that are not JSON (which are counted, not called malformed), and
/// a JSON pattern matches only the JSON ones.
#[test]
fn test_pattern_evaluates_events_that_are_not_json() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(
        &log,
        "127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] \"GET /index.html HTTP/1.0\" 404 1534\n\
         127.0.0.1 - alice [10/Oct/2000:13:35:22 -0700] \"GET /images/a.gif HTTP/1.0\" 200 2326\n\
         {\"verb\":\"get\",\"objectRef\":{\"resource\":\"secrets\"}}\n\
         127.0.0.1 - bob [10/Oct/2000:13:50:35 -0700] \"GET /x.html HTTP/1.0\" 500 5\n",
    )
    .unwrap();
    let matched = |pattern: &str| {
        let o = run_isolated(
            &[
                "test-pattern",
                "--output",
                "json",
                pattern,
                log.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(code(&o), 0, "{pattern}: {}", stderr(&o));
        let doc = json(&o);
        assert_eq!(doc["malformed"], 0, "{pattern}: {doc}");
        assert_eq!(doc["records"], 4, "{pattern}: {doc}");
        doc["matched"].as_u64().unwrap()
    };
    assert_eq!(matched("404"), 1);
    assert_eq!(matched("?404 ?500"), 2);
    assert_eq!(matched("GET -frank"), 2, "an exclusion");
    assert_eq!(matched("\"GET /index.html\""), 1, "a quoted phrase");
    assert_eq!(matched("%[45]0[04]%"), 2, "a regular expression");
    assert_eq!(
        matched("{ $.verb = \"get\" }"),
        1,
        "a JSON pattern, on the JSON event only"
    );
}
