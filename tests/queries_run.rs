//! `queries run`: Logs Insights queries offline. Each bundled query, run on
//! generated logs, agrees with a count made here independently from the
//! same events; each bundled query's filter selects exactly the events the
//! classifier puts in its class; the EKS guide's two queries give exactly
//! the figures their defects predict; and the command's wiring (system
//! fields from each export, errors, every output format).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{code, json, run_isolated, stderr, stdout};
use secret_audit::audit::event::{classify, Classified, Stage};
use secret_audit::insights::offline::{Engine, Event, Output};
use secret_audit::insights::{self, lang};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Generated events with every stage and the exotic cases, and the truth;
/// then the handmade events of every stage and scope.
fn generated(seed: u64) -> (Vec<String>, gen_audit::Truth) {
    let spec = gen_audit::Spec {
        seed,
        size: gen_audit::Size::Requests(3000),
        stages_all: true,
        exotic: true,
        ..gen_audit::Spec::new(gen_audit::Format::Jsonl)
    };
    let mut buf = Vec::new();
    let truth = spec.write(&mut buf).unwrap();
    let mut lines: Vec<String> = String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let handmade =
        std::fs::read_to_string(root().join("fixtures/handmade/stages-and-scopes.jsonl")).unwrap();
    lines.extend(
        handmade
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned),
    );
    (lines, truth)
}

/// A query's text run over `events` with the library's engine.
fn run(text: &str, events: &[String]) -> Output {
    let (stages, errors) = lang::parse(text);
    assert!(errors.is_empty(), "{text}: {errors:?}");
    let engine = Engine::new(stages, "kube-apiserver-audit-1").unwrap();
    for (i, e) in events.iter().enumerate() {
        engine.feed(&Event {
            message: e.as_bytes(),
            place: (0, 0, i as u64),
            ..Event::default()
        });
    }
    engine.finish()
}

fn bundled(name: &str) -> String {
    insights::find(name).unwrap().body
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// The events a bundled query's filter keeps, by this test's own reading
/// of the JSON, each with its group key.
fn independent(name: &str, events: &[String]) -> BTreeMap<Vec<String>, u64> {
    let mut counts = BTreeMap::new();
    for line in events {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let s = |p: &[&str]| str_at(&e, p).unwrap_or("").to_owned();
        let code = e["responseStatus"]["code"].as_f64();
        let complete = s(&["stage"]) == "ResponseComplete";
        if s(&["objectRef", "resource"]) != "secrets" {
            continue;
        }
        let verb = s(&["verb"]);
        let read = complete
            && ["get", "list", "watch"].contains(&verb.as_str())
            && code.is_some_and(|c| c < 400.0);
        let list_watch = complete && (verb == "list" || verb == "watch");
        let ns = str_at(&e, &["objectRef", "namespace"]);
        let has_name = str_at(&e, &["objectRef", "name"]).is_some();
        let user = s(&["user", "username"]);
        let code_text = code.map(|c| format!("{c}")).unwrap_or_default();
        let key = match name {
            "reads-by-secret" if read => {
                vec![s(&["objectRef", "namespace"]), s(&["objectRef", "name"])]
            }
            "access-by-user" if complete => vec![user, verb],
            "denied-attempts"
                if (complete || code == Some(401.0))
                    && matches!(code, Some(c) if c == 401.0 || c == 403.0) =>
            {
                vec![
                    user,
                    s(&["objectRef", "namespace"]),
                    s(&["objectRef", "name"]),
                    verb,
                    code_text,
                ]
            }
            "list-watch-cluster-wide" if list_watch && ns.is_none() => vec![user, verb, code_text],
            "list-watch-namespace-wide" if list_watch && ns.is_some() && !has_name => {
                vec![s(&["objectRef", "namespace"]), user, verb, code_text]
            }
            "reads-over-time" if read => {
                let t = chrono::DateTime::parse_from_rfc3339(&s(&["stageTimestamp"])).unwrap();
                let hour = t.timestamp_millis().div_euclid(3_600_000) * 3_600_000;
                vec![chrono::DateTime::from_timestamp_millis(hour)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)]
            }
            "access-detail" if complete => vec![s(&["auditID"])],
            _ => continue,
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// The bundled query's rows as counts per key (its `by` columns, in order).
fn counted(name: &str, out: &Output) -> BTreeMap<Vec<String>, u64> {
    let (keys, count): (&[&str], &str) = match name {
        "reads-by-secret" => (&["namespace", "secret"], "reads"),
        "access-by-user" => (&["user", "verb"], "requests"),
        "denied-attempts" => (&["user", "namespace", "secret", "verb", "code"], "denied"),
        "list-watch-cluster-wide" => (&["user", "verb", "code"], "requests"),
        "list-watch-namespace-wide" => (&["namespace", "user", "verb", "code"], "requests"),
        "reads-over-time" => (&["hour"], "reads"),
        _ => (&["auditID"], ""),
    };
    let col = |c: &str| {
        out.columns
            .iter()
            .position(|x| x == c)
            .unwrap_or_else(|| panic!("{name}: no {c}"))
    };
    let mut m = BTreeMap::new();
    for row in &out.rows {
        let key = keys.iter().map(|k| row[col(k)].clone()).collect();
        let n = if count.is_empty() {
            1
        } else {
            row[col(count)].parse().unwrap()
        };
        *m.entry(key).or_insert(0) += n;
    }
    m
}

#[test]
fn every_bundled_query_agrees_with_an_independent_count_of_the_same_events() {
    for seed in [2, 3] {
        let (events, truth) = generated(seed);
        for q in insights::bundled() {
            let out = run(&q.body, &events);
            let want = independent(&q.name, &events);
            assert!(!want.is_empty(), "seed {seed}: {} selects nothing", q.name);
            assert_eq!(counted(&q.name, &out), want, "seed {seed}: {}", q.name);
        }
        // And with the generator's own figures (its events only).
        let generated = &events[..truth.records as usize];
        let reads: u64 = counted(
            "reads-by-secret",
            &run(&bundled("reads-by-secret"), generated),
        )
        .values()
        .sum();
        assert_eq!(reads, truth.metric_read_events, "seed {seed}");
    }
}

/// Long: one table of the classes, then a loop over every event.
#[test]
fn each_bundled_querys_filter_selects_exactly_the_events_of_its_class() {
    use secret_audit::audit::event::SecretAccess;
    type Class = fn(&SecretAccess) -> bool;
    fn complete(a: &SecretAccess) -> bool {
        a.stage == Stage::ResponseComplete
    }
    fn list_watch(a: &SecretAccess) -> bool {
        complete(a) && (a.verb == "list" || a.verb == "watch")
    }
    let classes: [(&str, Class); 7] = [
        ("reads-by-secret", |a| a.metric_classes().completed_read),
        ("reads-over-time", |a| a.metric_classes().completed_read),
        ("denied-attempts", |a| a.metric_classes().denied),
        ("access-by-user", complete),
        ("access-detail", complete),
        ("list-watch-cluster-wide", |a| {
            list_watch(a) && a.namespace.is_none()
        }),
        ("list-watch-namespace-wide", |a| {
            list_watch(a) && a.namespace.is_some() && a.name.is_none()
        }),
    ];
    let (mut events, _) = generated(3);
    for f in ["hostile-strings.jsonl", "v1beta1.jsonl"] {
        let text = std::fs::read_to_string(root().join("fixtures/handmade").join(f)).unwrap();
        events.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_owned));
    }
    for (name, class) in classes {
        // The query's filters alone, every event they keep.
        let filters: Vec<String> = insights::syntax::parse(&bundled(name))
            .into_iter()
            .filter(|c| c.name == "filter")
            .map(|c| format!("filter {}", c.args))
            .collect();
        let text = format!("{} | fields @message | limit 100000", filters.join(" | "));
        let out = run(&text, &events);
        let mut kept: Vec<&str> = out.rows.iter().map(|r| r[0].as_str()).collect();
        kept.sort_unstable();
        let mut want: Vec<&str> = events
            .iter()
            .filter(|e| matches!(classify(e.as_bytes()), Ok(Classified::Secret(a)) if class(&a)))
            .map(String::as_str)
            .collect();
        want.sort_unstable();
        assert!(!want.is_empty(), "{name}: the class is exercised");
        assert_eq!(kept.len(), want.len(), "{name}");
        assert!(
            kept == want,
            "{name}: the filter and the classifier disagree"
        );
    }
}

/// The fixture's events, newest first by `stageTimestamp`, as JSON.
fn fixture_events() -> Vec<Value> {
    let text = std::fs::read(root().join("fixtures/eks-audit.jsonl.gz")).unwrap();
    let mut gz = flate2::read::GzDecoder::new(&text[..]);
    let mut s = String::new();
    std::io::Read::read_to_string(&mut gz, &mut s).unwrap();
    let mut events: Vec<Value> = s
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    events.sort_by_key(|e| std::cmp::Reverse(str_at(e, &["stageTimestamp"]).unwrap().to_owned()));
    events
}

#[test]
fn the_guides_queries_give_exactly_what_their_defects_predict() {
    // `sort @timestamp desc | limit 100` before `filter`: only the secret
    // gets among the 100 newest events of any kind.
    let events = fixture_events();
    let predicted = events
        .iter()
        .take(100)
        .filter(|e| {
            str_at(e, &["verb"]) == Some("get")
                && str_at(e, &["objectRef", "resource"]) == Some("secrets")
        })
        .count();
    let o = run_isolated(
        &[
            "queries",
            "run",
            "fixtures/insights/guide-secret-access.insights",
            "fixtures/eks-audit.jsonl.gz",
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc = json(&o);
    let rows = doc["queries"][0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), predicted);
    assert_eq!(
        predicted, 1,
        "the 100 newest of 3,000 events hold one secret get"
    );
    // The whole log holds many more.
    let all = events
        .iter()
        .filter(|e| {
            str_at(e, &["verb"]) == Some("get")
                && str_at(e, &["objectRef", "resource"]) == Some("secrets")
        })
        .count();
    assert_eq!(all, 84);

    // `stats` then `filter` on fields `stats` did not keep: nothing.
    let o = run_isolated(
        &[
            "queries",
            "run",
            "fixtures/insights/guide-secret-reads.insights",
            "fixtures/eks-audit.jsonl.gz",
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let q = &json(&o)["queries"][0];
    assert_eq!(q["rows"].as_array().unwrap().len(), 0);
    assert_eq!(q["statistics"]["records_scanned"], 3000.0);
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn system_fields_come_from_the_export_where_it_carries_them() {
    let dir = tempfile::tempdir().unwrap();
    let fle = dir.path().join("fle.json");
    let spec = gen_audit::Spec {
        size: gen_audit::Size::Requests(50),
        ..gen_audit::Spec::new(gen_audit::Format::Fle)
    };
    spec.write_file(&fle).unwrap();
    let query = write(
        dir.path(),
        "streams.insights",
        "fields @logStream, @timestamp, @ingestionTime, sourceIPs.0 as ip, `annotations.authorization.k8s.io/decision` as decision\n| limit 3",
    );
    let o = run_isolated(
        &[
            "queries",
            "run",
            &query,
            fle.to_str().unwrap(),
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let rows = json(&o)["queries"][0]["rows"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    for r in rows.as_array().unwrap() {
        assert!(
            r["@logStream"]
                .as_str()
                .unwrap()
                .starts_with("kube-apiserver-audit-"),
            "{r}"
        );
        assert!(
            r["@ingestionTime"]
                .as_str()
                .unwrap()
                .starts_with("2026-11-01T"),
            "{r}"
        );
        assert!(
            r["@timestamp"].as_str().unwrap().starts_with("2026-11-01T"),
            "{r}"
        );
        assert!(r["ip"].as_str().unwrap().contains('.'), "{r}");
        assert!(
            ["allow", "forbid"].contains(&r["decision"].as_str().unwrap()),
            "{r}"
        );
    }
    // A JSON-lines file names no stream: --log-stream does, and nothing
    // gives an ingestion time.
    let o = run_isolated(
        &[
            "queries",
            "run",
            &query,
            "fixtures/eks-audit.jsonl.gz",
            "--log-stream",
            "mine",
            "--output",
            "csv",
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("@logStream,@timestamp,@ingestionTime,ip,decision")
    );
    assert!(
        lines.all(|l| l.starts_with("mine,2026-11-01T") && l.contains(",,")),
        "{text}"
    );
}

#[test]
fn a_query_that_cannot_run_offline_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "fields verb | unmask @message",
            "query q:1:15: the `unmask` command is not supported offline",
        ),
        (
            "fields jsonparse(verb) as j",
            "query q:1:8: the function jsonparse is not supported offline",
        ),
        (
            "fields requestObject.data as d",
            "query q reads `requestObject.data`: request and response bodies",
        ),
        // Bodies are removed from the column `@message` only: any other
        // way of showing it is refused.
        (
            "fields @message as m",
            "query q shows `@message` through `fields`: request and response bodies",
        ),
        (
            "fields concat(@message, \"\") as m",
            "query q shows `@message` through `fields`",
        ),
        (
            "stats latest(@message) as m",
            "query q shows `@message` through `stats`",
        ),
        (
            "parse @message /\"data\":(?<d>.*)/",
            "query q shows `@message` through `parse`",
        ),
        (
            "parse \"*\" as x",
            "query q shows `@message` through `parse`",
        ),
        (
            "stats count(*) as n by verb | summarize n",
            "query q:1:31: unknown-command: `summarize` is not a Logs Insights command",
        ),
        (
            "filter verb in \"get\"",
            "query q:1:16: syntax: `in` takes a list",
        ),
    ];
    for (text, want) in cases {
        let q = write(dir.path(), "q.insights", text);
        let o = run_isolated(&["queries", "run", &q, "fixtures/eks-audit.jsonl.gz"], &[]);
        assert_eq!(code(&o), 2, "{text}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{text}: {}", stderr(&o));
    }
    let o = run_isolated(
        &[
            "queries",
            "run",
            "reads-by-secrets",
            "fixtures/eks-audit.jsonl.gz",
        ],
        &[],
    );
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("no bundled query or query file \"reads-by-secrets\"; `secret-audit queries list` names the bundled ones"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn message_cells_never_carry_a_secret_value() {
    let dir = tempfile::tempdir().unwrap();
    let event = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"6a1e0a8e-0000-4000-8000-000000000001","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/secrets/db","verb":"get","user":{"username":"alice"},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"secrets","namespace":"prod","name":"db","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"responseObject":{"kind":"Secret","data":{"password":"aHVudGVyMg=="}},"requestReceivedTimestamp":"2026-11-01T00:00:00.000000Z","stageTimestamp":"2026-11-01T00:00:00.001000Z"}"#;
    let log = write(dir.path(), "audit.jsonl", &format!("{event}\n"));
    for format in ["json", "csv", "markdown", "table"] {
        let o = run_isolated(
            &["queries", "run", "access-detail", &log, "--output", format],
            &[],
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let o2 = run_isolated(
            &[
                "queries",
                "run",
                &write(dir.path(), "m.insights", "fields @message"),
                &log,
                "--output",
                format,
            ],
            &[],
        );
        assert_eq!(code(&o2), 0, "{}", stderr(&o2));
        for out in [stdout(&o), stdout(&o2)] {
            assert!(!out.contains("aHVudGVyMg"), "{format}: {out}");
        }
        assert!(stdout(&o2).contains("alice"), "{format}: {}", stdout(&o2));
        assert!(
            stdout(&o).contains("6a1e0a8e-0000-4000-8000-000000000001"),
            "{format}"
        );
    }
}
