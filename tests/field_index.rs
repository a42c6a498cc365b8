//! Field indexes: setup merges the bundled queries' fields into each audit
//! log group's index policy, status reports drift, teardown takes back
//! exactly what setup added, and report uses `filterIndex` only where every
//! log group has the index and shows what the index saved; `report
//! --estimate` prices a scan from IncomingBytes before running anything.
//!
//! The emulator has no index-policy API, so those calls go to a scripted
//! endpoint in front of it: it answers DescribeIndexPolicies,
//! PutIndexPolicy and DeleteIndexPolicy from its own store (seeded with
//! someone else's policy), records each StartQuery, can add statistics to
//! GetQueryResults, and passes everything else to the emulator, where the
//! log groups, their tags and the rest live (and are read back
//! independently). Against the emulator alone, the "unsupported by
//! endpoint" path.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use common::{code, json, run_isolated, stderr, stdout, Emu, REGION};
use serde_json::{json, Value};

const WANTED: [&str; 4] = ["objectRef.resource", "stage", "verb", "responseStatus.code"];

/// What the scripted endpoint holds and saw.
#[derive(Default)]
struct Fake {
    /// Each log group's own policy document.
    own: HashMap<String, String>,
    /// When a log group's own policy was last put (epoch ms; 0 if seeded).
    updated: HashMap<String, i64>,
    /// An account-level policy document that applies to every log group.
    account: Option<String>,
    /// StartQuery query strings, in order.
    queries: Vec<String>,
    /// Statistics added to every complete GetQueryResults.
    statistics: Option<Value>,
}

type Shared = Arc<Mutex<Fake>>;

/// One HTTP request: head lines and body.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<(Vec<String>, Vec<u8>)> {
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        head.push(line);
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).ok()?;
    Some((head, body))
}

fn target(head: &[String]) -> String {
    head.iter()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-amz-target")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default()
}

/// Sends the request to the emulator and returns its status line, its
/// content type and its body.
fn forward(upstream: u16, head: &[String], body: &[u8]) -> (String, String, Vec<u8>) {
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
    let mut req = String::new();
    for l in head {
        if !l.to_ascii_lowercase().starts_with("connection:") {
            req.push_str(l);
        }
    }
    req.push_str("connection: close\r\n\r\n");
    up.write_all(req.as_bytes()).unwrap();
    up.write_all(body).unwrap();
    let mut resp = Vec::new();
    up.read_to_end(&mut resp).unwrap();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let status = head.lines().next().unwrap().to_owned();
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, resp[split + 4..].to_vec())
}

/// The scripted endpoint's answer to the index-policy calls, or `None` to
/// pass the request on.
fn answer(fake: &Shared, target: &str, body: &Value) -> Option<Value> {
    let mut f = fake.lock().unwrap();
    let policy = |lg: &str, doc: &str, source: &str, updated: i64| {
        let mut p = json!({"logGroupIdentifier": lg, "policyDocument": doc, "source": source,
                           "lastUpdateTime": updated});
        if source == "ACCOUNT" {
            p["policyName"] = json!("someone-elses-account-policy");
        }
        p
    };
    Some(match target {
        "Logs_20140328.DescribeIndexPolicies" => {
            let lg = body["logGroupIdentifiers"][0].as_str().unwrap().to_owned();
            let updated = f.updated.get(&lg).copied().unwrap_or(0);
            let found = match (f.own.get(&lg), &f.account) {
                (Some(doc), _) => vec![policy(&lg, doc, "LOG_GROUP", updated)],
                (None, Some(doc)) => vec![policy(&lg, doc, "ACCOUNT", 0)],
                (None, None) => vec![],
            };
            json!({ "indexPolicies": found })
        }
        "Logs_20140328.PutIndexPolicy" => {
            let lg = body["logGroupIdentifier"].as_str().unwrap().to_owned();
            let doc = body["policyDocument"].as_str().unwrap().to_owned();
            f.own.insert(lg.clone(), doc.clone());
            let now = chrono::Utc::now().timestamp_millis();
            f.updated.insert(lg.clone(), now);
            json!({ "indexPolicy": policy(&lg, &doc, "LOG_GROUP", now) })
        }
        "Logs_20140328.DeleteIndexPolicy" => {
            f.own.remove(body["logGroupIdentifier"].as_str().unwrap());
            json!({})
        }
        "Logs_20140328.StartQuery" => {
            f.queries
                .push(body["queryString"].as_str().unwrap().to_owned());
            return None;
        }
        _ => return None,
    })
}

/// The scripted endpoint in front of the emulator on `upstream`; its URL.
fn serve(upstream: u16, fake: Shared) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let fake = fake.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                while let Some((head, body)) = read_request(&mut reader) {
                    let t = target(&head);
                    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let json_type = "application/x-amz-json-1.1".to_owned();
                    let (status, content_type, out) = match answer(&fake, &t, &parsed) {
                        Some(v) => (
                            "HTTP/1.1 200 OK".to_owned(),
                            json_type,
                            v.to_string().into_bytes(),
                        ),
                        None => {
                            let (status, content_type, mut out) = forward(upstream, &head, &body);
                            let stats = fake.lock().unwrap().statistics.clone();
                            if let (true, Some(stats)) = (t.ends_with(".GetQueryResults"), stats) {
                                let mut v: Value = serde_json::from_slice(&out).unwrap();
                                v["statistics"] = stats;
                                out = v.to_string().into_bytes();
                            }
                            (status, content_type, out)
                        }
                    };
                    let head = format!(
                        "{status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
                        out.len()
                    );
                    if conn.write_all(head.as_bytes()).is_err() || conn.write_all(&out).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn run_via(url: &str, args: &[&str]) -> std::process::Output {
    let mut full = args.to_vec();
    full.extend(["--endpoint-url", url, "--region", REGION]);
    run_isolated(
        &full,
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    )
}

/// The log group's tags, read from the emulator itself.
fn tags(e: &Emu, group: &str) -> HashMap<String, String> {
    e.block_on(async {
        let g = e
            .logs
            .describe_log_groups()
            .log_group_name_prefix(group)
            .send()
            .await
            .unwrap();
        let arn = g.log_groups()[0].log_group_arn().unwrap().to_owned();
        e.logs
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap()
            .tags
            .unwrap_or_default()
    })
}

/// The three ledger tags: added, carried, created ("" when missing).
fn ledger(e: &Emu, group: &str) -> [String; 3] {
    let t = tags(e, group);
    ["added", "carried", "created"].map(|k| {
        t.get(&format!("secret-audit:field-index-{k}"))
            .cloned()
            .unwrap_or_default()
    })
}

fn fields(doc: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(doc).unwrap();
    v["Fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect()
}

/// Long: one life cycle, setup to teardown, each step checked.
#[test]
fn setup_merges_into_someone_elses_policy_and_teardown_takes_back_only_its_own() {
    let e = Emu::start();
    let group = e.audit_group("prod");
    let theirs = r#"{"Fields":["requestURI","verb"],"FieldsV2":{"userAgent":{"type":"FACET"}}}"#;
    let fake: Shared = Arc::default();
    fake.lock()
        .unwrap()
        .own
        .insert(group.clone(), theirs.into());
    let url = serve(e.port, fake.clone());
    let own = || fake.lock().unwrap().own.get(&group).cloned();

    let o = run_via(&url, &["setup", "--cluster", "prod", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("field-index-policy"), "{}", stdout(&o));
    assert_eq!(own().as_deref(), Some(theirs), "a dry run writes nothing");

    let o = run_via(&url, &["setup", "--cluster", "prod"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let merged = own().unwrap();
    assert_eq!(
        fields(&merged),
        [
            "requestURI",
            "verb",
            "objectRef.resource",
            "stage",
            "responseStatus.code"
        ]
    );
    let v: Value = serde_json::from_str(&merged).unwrap();
    assert_eq!(
        v["FieldsV2"]["userAgent"]["type"], "FACET",
        "their facet stays"
    );
    assert_eq!(
        ledger(&e, &group),
        ["objectRef.resource stage responseStatus.code", "", "no"]
    );

    let o = run_via(
        &url,
        &["status", "--cluster", "prod", "--check", "--output", "json"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let rows = json(&o)["resources"].clone();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "field-index-policy")
        .unwrap();
    assert_eq!(row["state"], "present", "{row}");

    // Someone takes `stage` out: drift, named; setup puts it back.
    fake.lock()
        .unwrap()
        .own
        .insert(group.clone(), merged.replace("\"stage\",", ""));
    let o = run_via(&url, &["status", "--cluster", "prod", "--check"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o)
            .contains("field-index-policy /aws/eks/prod/cluster is drifted (not indexed: stage)"),
        "{}",
        stderr(&o)
    );
    let o = run_via(&url, &["setup", "--cluster", "prod"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(fields(&own().unwrap()).contains(&"stage".to_string()));

    let o = run_via(&url, &["teardown", "--cluster", "prod"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let back: Value = serde_json::from_str(&own().unwrap()).unwrap();
    assert_eq!(
        back,
        serde_json::from_str::<Value>(theirs).unwrap(),
        "theirs, exactly"
    );
    assert_eq!(ledger(&e, &group), ["", "", ""], "the tags are gone");
}

#[test]
fn account_level_fields_are_carried_in_and_the_log_group_given_back() {
    let e = Emu::start();
    let group = e.audit_group("prod");
    let fake: Shared = Arc::default();
    fake.lock().unwrap().account = Some(r#"{"Fields":["user.username"]}"#.into());
    let url = serve(e.port, fake.clone());

    let o = run_via(&url, &["setup", "--cluster", "prod"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let own = fake.lock().unwrap().own.get(&group).cloned().unwrap();
    let mut want = vec!["user.username".to_string()];
    want.extend(WANTED.map(String::from));
    assert_eq!(fields(&own), want);
    assert!(ledger(&e, &group)[1..] == ["user.username", "yes"]);

    let o = run_via(&url, &["teardown", "--cluster", "prod"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        !fake.lock().unwrap().own.contains_key(&group),
        "the account policy applies again"
    );
    assert_eq!(ledger(&e, &group), ["", "", ""], "the tags are gone");
}

#[test]
fn a_policy_that_cannot_take_our_fields_stops_setup_before_any_write() {
    let e = Emu::start();
    let group = e.audit_group("prod");
    let many: Vec<String> = (0..18).map(|i| format!("\"f{i}\"")).collect();
    let fake: Shared = Arc::default();
    fake.lock().unwrap().own.insert(
        group.clone(),
        format!("{{\"Fields\":[{}]}}", many.join(",")),
    );
    let url = serve(e.port, fake.clone());
    let o = run_via(&url, &["setup", "--cluster", "prod"]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("would hold 22 fields"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--no-field-index"), "{}", stderr(&o));
    // Nothing was written: no metric filter either.
    let filters = e.block_on(async {
        e.logs
            .describe_metric_filters()
            .log_group_name(&group)
            .send()
            .await
            .unwrap()
    });
    assert!(filters.metric_filters().is_empty());
    // status says so too, rather than "present".
    let o = run_via(&url, &["status", "--cluster", "prod", "--check"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("field-index-policy /aws/eks/prod/cluster is drifted (not indexed: objectRef.resource, stage, verb, responseStatus.code)"),
        "{}",
        stderr(&o)
    );
    // And with --no-field-index, setup leaves the policy alone.
    let o = run_via(&url, &["setup", "--cluster", "prod", "--no-field-index"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fields(&fake.lock().unwrap().own[&group]).len(), 18);
}

#[test]
fn report_uses_filter_index_only_where_every_log_group_has_the_index() {
    let e = Emu::start();
    let (prod, staging) = (e.audit_group("prod"), e.audit_group("staging"));
    let fake: Shared = Arc::default();
    let indexed = r#"{"Fields":["objectRef.resource"]}"#;
    fake.lock()
        .unwrap()
        .own
        .insert(prod.clone(), indexed.into());
    let url = serve(e.port, fake.clone());
    let args = [
        "report",
        "--cluster",
        "prod",
        "--cluster",
        "staging",
        "--query",
        "reads-by-secret",
        "--since",
        "2h",
    ];

    let o = run_via(&url, &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let q = fake.lock().unwrap().queries.clone();
    assert!(
        !q.is_empty() && q.iter().all(|s| s.starts_with("filter @logStream")),
        "{q:?}"
    );

    fake.lock()
        .unwrap()
        .own
        .insert(staging.clone(), indexed.into());
    fake.lock().unwrap().queries.clear();
    let o = run_via(&url, &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let q = fake.lock().unwrap().queries.clone();
    assert!(
        !q.is_empty()
            && q.iter().all(|s| s
                .starts_with("filterIndex objectRef.resource = \"secrets\"\n| filter @logStream")),
        "{q:?}"
    );

    // An index made after the window began: filterIndex would hide the
    // events before it, so the plain filter stays.
    let now = chrono::Utc::now().timestamp_millis();
    fake.lock()
        .unwrap()
        .updated
        .insert(staging.clone(), now - 3_600_000);
    fake.lock().unwrap().queries.clear();
    let o = run_via(&url, &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let q = fake.lock().unwrap().queries.clone();
    assert!(
        !q.is_empty() && q.iter().all(|s| s.starts_with("filter @logStream")),
        "{q:?}"
    );
}

#[test]
fn report_shows_the_bytes_the_index_skipped_and_both_costs() {
    let e = Emu::start();
    e.audit_group("prod");
    let fake: Shared = Arc::default();
    let gib = (1u64 << 30) as f64;
    fake.lock().unwrap().statistics = Some(json!({
        "recordsMatched": 10.0, "recordsScanned": 1000.0, "bytesScanned": gib,
        "estimatedRecordsSkipped": 9000.0, "estimatedBytesSkipped": 9.0 * gib,
    }));
    let url = serve(e.port, fake.clone());
    let o = run_via(
        &url,
        &[
            "report",
            "--cluster",
            "prod",
            "--query",
            "reads-by-secret",
            "--since",
            "2h",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let q = &json(&o)["queries"][0];
    assert_eq!(q["statistics"]["bytes_skipped"], 9.0 * gib);
    assert_eq!(q["estimated_cost_usd"], 0.005);
    assert_eq!(q["estimated_cost_without_index_usd"], 0.05);
    let o = run_via(
        &url,
        &[
            "report",
            "--cluster",
            "prod",
            "--query",
            "reads-by-secret",
            "--since",
            "2h",
        ],
    );
    assert!(
        stdout(&o).contains(
            "field indexes skipped 9663676416 bytes, which would have cost $0.045000 more"
        ),
        "{}",
        stdout(&o)
    );
}

#[test]
fn against_an_endpoint_without_the_api_the_policy_is_unsupported_and_the_rest_done() {
    let e = Emu::start();
    e.audit_group("prod");
    let o = e.run(&["setup", "--cluster", "prod", "--output", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc = json(&o);
    let text = doc.to_string();
    assert!(
        text.contains("field-index-policy") && text.contains("unsupported by endpoint"),
        "{doc}"
    );
    let o = e.run(&["status", "--cluster", "prod", "--check", "--output", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let rows = json(&o)["resources"].clone();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "field-index-policy")
        .unwrap();
    assert_eq!(row["state"], "unsupported by endpoint");
    let o = e.run(&["teardown", "--cluster", "prod"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn the_estimate_prices_the_window_from_incoming_bytes_and_runs_nothing() {
    let e = Emu::start();
    let (prod, _) = (e.audit_group("prod"), e.audit_group("staging"));
    let gib = (1u64 << 30) as f64;
    let now = chrono::Utc::now().timestamp();
    for (ago, bytes) in [(3600, gib), (1800, 2.0 * gib), (5 * 3600, 50.0 * gib)] {
        e.incoming_bytes(&prod, bytes, now - ago);
    }
    let o = e.run(&[
        "report",
        "--cluster",
        "prod",
        "--cluster",
        "staging",
        "--since",
        "2h",
        "--estimate",
        "--output",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc = json(&o);
    // The 50 GiB five hours ago are outside the window.
    assert_eq!(doc["log_groups"][0]["incoming_bytes"], 3.0 * gib, "{doc}");
    assert_eq!(doc["log_groups"][1]["incoming_bytes"], Value::Null);
    let queries = doc["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 4, "the default queries");
    for q in queries {
        assert_eq!(q["estimated_bytes_scanned"], 3.0 * gib);
        assert_eq!(q["estimated_cost_usd"], 0.015);
    }
    assert_eq!(doc["estimated_cost_usd"], 0.06);
    assert!(
        stderr(&o).contains("no IncomingBytes data in the window for /aws/eks/staging/cluster"),
        "{}",
        stderr(&o)
    );
    // Nothing was run: the emulator has no query.
    let ran = e.block_on(async { e.logs.describe_queries().send().await.unwrap() });
    assert!(ran.queries().is_empty());
}
