//! Emulator tests of `report`, and binary tests of `queries`. moto runs
//! StartQuery over the right time window and log groups but evaluates
//! neither `filter` nor `stats` (FACTS.md): these tests check the wiring
//! (window, log groups, errors, splitting, renderers), never counts.

mod common;

use common::{audit_events, code, json, run_isolated, stderr, stdout, Emu};

const STREAM: &str = "kube-apiserver-audit-8b6f0e2d9a4c1f37";

fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Emu {
    fn report_json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["report", "--output", "json"];
        full.extend(args);
        let o = self.run(&full);
        assert_eq!(code(&o), 0, "report {args:?}: {}", stderr(&o));
        json(&o)
    }

    /// The generator's events re-stamped one every 2 s, ending 10 min ago,
    /// so that time chunks can split them.
    fn spread_group(&self, group: &str) -> Vec<i64> {
        let now = chrono::Utc::now().timestamp_millis();
        let events = audit_events();
        let n = events.len() as i64;
        let stamps: Vec<i64> = (0..n).map(|i| now - 600_000 - (n - 1 - i) * 2000).collect();
        self.group_with_events(
            group,
            STREAM,
            events
                .iter()
                .zip(&stamps)
                .map(|((_, msg), ts)| (*ts, msg.as_str())),
        );
        stamps
    }
}

fn query<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("{name} missing in {doc}"))
}

#[test]
fn events_in_the_window_are_found_and_none_outside_it() {
    let emu = Emu::start();
    emu.audit_group("prod");
    let events = audit_events();
    let doc = emu.report_json(&[
        "--cluster",
        "prod",
        "--since",
        "2h",
        "--query",
        "access-detail",
    ]);
    let q = query(&doc, "access-detail");
    assert_eq!(q["status"], "Complete");
    assert_eq!(q["truncated"], false);
    assert_eq!(
        q["log_groups"],
        serde_json::json!(["/aws/eks/prod/cluster"])
    );
    let rows = q["rows"].as_array().unwrap();
    assert_eq!(rows.len(), events.len());
    // Every event's time, as RFC 3339 (the emulator sends epoch ms).
    let mut got: Vec<String> = rows
        .iter()
        .map(|r| r["@timestamp"].as_str().unwrap().to_owned())
        .collect();
    let mut want: Vec<String> = events.iter().map(|(ts, _)| rfc3339_ms(*ts)).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);

    // The events are about an hour old: a window that ends before them,
    // or starts after them, finds none (AWS spellings of the flags).
    for window in [
        ["--start-time", "3h", "--end-time", "2h"],
        ["--start-time", "30m", "--end-time", "1m"],
    ] {
        let mut args = vec!["--cluster", "prod", "--query", "access-detail"];
        args.extend(window);
        let doc = emu.report_json(&args);
        assert_eq!(
            query(&doc, "access-detail")["rows"],
            serde_json::json!([]),
            "{window:?}"
        );
    }
}

#[test]
fn several_log_groups_are_queried_together() {
    let emu = Emu::start();
    emu.audit_group("prod");
    emu.audit_group("staging");
    let doc = emu.report_json(&[
        "--cluster",
        "prod",
        "--log-group-name",
        "/aws/eks/staging/cluster",
        "--since",
        "2h",
        "--query",
        "access-detail",
    ]);
    let q = query(&doc, "access-detail");
    assert_eq!(
        q["log_groups"],
        serde_json::json!(["/aws/eks/prod/cluster", "/aws/eks/staging/cluster"])
    );
    assert_eq!(
        q["rows"].as_array().unwrap().len(),
        2 * audit_events().len()
    );
}

#[test]
fn a_missing_log_group_is_a_clear_error_naming_it() {
    let emu = Emu::start();
    emu.audit_group("prod");
    let o = emu.run(&[
        "report",
        "--cluster",
        "prod",
        "--cluster",
        "nope",
        "--since",
        "2h",
    ]);
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("log group not found: /aws/eks/nope/cluster"),
        "{err}"
    );
    assert!(!err.contains("/aws/eks/prod/cluster"), "{err}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn the_default_report_runs_the_summary_set_and_json_parses() {
    let emu = Emu::start();
    emu.audit_group("prod");
    let doc = emu.report_json(&["--cluster", "prod", "--since", "2h"]);
    assert_eq!(doc["schema_version"], 1);
    let names: Vec<&str> = doc["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "reads-by-secret",
            "access-by-user",
            "denied-attempts",
            "list-watch-cluster-wide"
        ]
    );
    for q in doc["queries"].as_array().unwrap() {
        for k in [
            "start",
            "end",
            "status",
            "statistics",
            "estimated_cost_usd",
            "truncated",
            "columns",
            "rows",
        ] {
            assert!(!q[k].is_null(), "{k} in {q}");
        }
        assert_eq!(q["statistics"]["queries_run"], 1);
        // Rows are objects keyed by the query's columns.
        let cols: Vec<&str> = q["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let first = q["rows"][0].as_object().expect("a row object");
        assert_eq!(first.keys().map(String::as_str).collect::<Vec<_>>(), cols);
    }
}

#[test]
fn rows_reach_every_renderer() {
    let emu = Emu::start();
    emu.audit_group("prod");
    let newest = rfc3339_ms(audit_events().last().unwrap().0);
    for (format, marker) in [
        ("table", "┆"),
        ("markdown", "| --- |"),
        ("csv", "@timestamp,namespace,secret"),
    ] {
        let o = emu.run(&[
            "report",
            "--cluster",
            "prod",
            "--since",
            "2h",
            "--query",
            "access-detail",
            "--output",
            format,
        ]);
        assert_eq!(code(&o), 0, "{format}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains(&newest),
            "{format}: {newest} missing in {out:.400}"
        );
        assert!(out.contains(marker), "{format}: {out:.400}");
        if format != "csv" {
            assert!(out.contains("access-detail"), "{format}");
            assert!(out.contains("bytes scanned, estimated cost $"), "{format}");
        } else {
            assert!(stderr(&o).contains("bytes scanned, estimated cost $"));
        }
    }
}

#[test]
fn a_result_at_the_row_cap_is_split_and_every_row_comes_back_once() {
    let emu = Emu::start();
    let stamps = emu.spread_group("/aws/eks/prod/cluster");
    let doc = emu.report_json(&[
        "--cluster",
        "prod",
        "--since",
        "1h",
        "--query",
        "access-detail",
        "--max-rows",
        "40",
    ]);
    let q = query(&doc, "access-detail");
    assert_eq!(q["truncated"], false);
    assert!(
        q["statistics"]["queries_run"].as_u64().unwrap() > 8,
        "{}",
        q["statistics"]
    );
    let mut got: Vec<String> = q["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["@timestamp"].as_str().unwrap().to_owned())
        .collect();
    // Merged chunks come back newest first, as the query sorts.
    let mut sorted = got.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(got, sorted);
    got.sort();
    let mut want: Vec<String> = stamps.iter().map(|t| rfc3339_ms(*t)).collect();
    want.sort();
    assert_eq!(got, want, "every event once");
}

#[test]
fn a_full_result_that_cannot_be_merged_is_possibly_truncated_and_strict_exits_1() {
    let emu = Emu::start();
    emu.audit_group("prod");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("distinct-users.insights");
    std::fs::write(
        &file,
        "filter objectRef.resource = \"secrets\" and stage = \"ResponseComplete\"\n| stats count_distinct(user.username) as users by objectRef.namespace as namespace\n| sort users desc\n| limit 10000\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let args = [
        "report",
        "--cluster",
        "prod",
        "--since",
        "2h",
        "--query-file",
        path,
        "--max-rows",
        "5",
        "--output",
        "json",
    ];
    let o = emu.run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc = json(&o);
    let q = query(&doc, "distinct-users");
    assert_eq!(q["truncated"], true);
    assert_eq!(q["statistics"]["queries_run"], 1);
    assert!(stderr(&o).contains("possibly truncated"), "{}", stderr(&o));
    let mut strict = args.to_vec();
    strict.push("--strict");
    let o = emu.run(&strict);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(json(&o)["queries"][0]["truncated"] == true);
}

#[test]
fn bad_windows_and_unknown_queries_are_usage_errors() {
    let emu = Emu::start();
    let o = emu.run(&[
        "report",
        "--cluster",
        "prod",
        "--since",
        "1h",
        "--until",
        "2h",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("must be before"));
    let o = emu.run(&["report", "--cluster", "prod", "--query", "nope"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("reads-by-secret, access-detail"),
        "{}",
        stderr(&o)
    );
    let o = emu.run(&["report", "--since", "1h"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--cluster NAME"));
}

fn root(p: &str) -> String {
    format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn queries_lint_fails_the_guides_queries_and_passes_the_bundled_ones() {
    let first = root("fixtures/insights/guide-secret-reads.insights");
    let second = root("fixtures/insights/guide-secret-access.insights");
    let o = run_isolated(&["queries", "lint", &first, &second], &[]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("{first}:1:54: order: `limit` runs before `stats`")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{first}:1:118: field-after-stats: `verb`")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{second}:3:3: order: `limit` runs before `filter` at 4:3"
        )),
        "{out}"
    );
    assert!(
        out.contains("secret-scope: no `filter stage = \"ResponseComplete\"`"),
        "{out}"
    );

    let o = run_isolated(&["queries", "lint", &first, "--output", "json"], &[]);
    assert_eq!(code(&o), 1);
    let doc = json(&o);
    let f = &doc["files"][0]["findings"];
    // The `sort` before `stats` changes nothing and is not a finding.
    assert_eq!(f.as_array().unwrap().len(), 5, "{doc}");
    assert_eq!(f[0]["line"], 1);
    assert_eq!(f[0]["column"], 54);
    assert_eq!(f[0]["rule"], "order");

    let bundled: Vec<String> = std::fs::read_dir(root("queries"))
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .collect();
    assert_eq!(bundled.len(), 7);
    let mut args = vec!["queries", "lint"];
    args.extend(bundled.iter().map(String::as_str));
    let o = run_isolated(&args, &[]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert_eq!(stdout(&o).matches(": ok\n").count(), 7);
}

#[test]
fn queries_list_and_show_print_the_library() {
    let o = run_isolated(&["queries", "list", "--output", "json"], &[]);
    assert_eq!(code(&o), 0);
    let doc = json(&o);
    let qs = doc["queries"].as_array().unwrap();
    assert_eq!(qs.len(), 7);
    let reads = qs.iter().find(|q| q["name"] == "reads-by-secret").unwrap();
    assert_eq!(reads["merge"], "sum");
    assert_eq!(reads["default"], true);
    let o = run_isolated(&["queries", "show", "reads-over-time"], &[]);
    assert_eq!(code(&o), 0);
    let text = stdout(&o);
    assert!(
        text.starts_with("filter @logStream like /kube-apiserver-audit/\n"),
        "{text}"
    );
    assert!(text.contains("bin(1h)"));
    assert!(!text.contains("# name"));
    let o = run_isolated(&["queries", "show", "nope"], &[]);
    assert_eq!(code(&o), 2);
}

/// A scripted Logs Insights endpoint for what moto cannot do (queries that
/// stay Running, fail, or hit the concurrency limit; StopQuery): it answers
/// the awsJson protocol on a loopback port and records every call.
mod scripted {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Copy)]
    pub struct Script {
        /// StartQuery answers LimitExceededException this many times first.
        pub limit_exceeded: usize,
        /// What GetQueryResults says: "Running" forever, "Failed", "Complete".
        pub status: &'static str,
        /// StopQuery answers an error instead of success.
        pub refuse_stop: bool,
    }

    pub struct Endpoint {
        pub url: String,
        pub calls: Arc<Mutex<Vec<String>>>,
    }

    impl Endpoint {
        pub fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    pub fn start(script: Script) -> Endpoint {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let c = calls.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let c = c.clone();
                std::thread::spawn(move || serve(s, script, c));
            }
        });
        Endpoint { url, calls }
    }

    fn serve(s: TcpStream, script: Script, calls: Arc<Mutex<Vec<String>>>) {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        loop {
            let mut target = String::new();
            let mut len = 0usize;
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                let (k, v) = l.split_once(':').unwrap_or((l, ""));
                match k.to_ascii_lowercase().as_str() {
                    "x-amz-target" => target = v.trim().to_owned(),
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_err() {
                return;
            }
            let op = target.rsplit('.').next().unwrap_or("").to_owned();
            let (status, reply) = {
                let mut calls = calls.lock().unwrap();
                calls.push(op.clone());
                let starts = calls.iter().filter(|c| *c == "StartQuery").count();
                match op.as_str() {
                    "StartQuery" if starts <= script.limit_exceeded => (
                        400,
                        r#"{"__type":"LimitExceededException","message":"too many concurrent queries"}"#
                            .to_owned(),
                    ),
                    "StartQuery" => (200, format!(r#"{{"queryId":"q-{starts}"}}"#)),
                    "GetQueryResults" => (
                        200,
                        format!(
                            r#"{{"status":"{}","results":[[{{"field":"@timestamp","value":"2026-11-28 12:00:00.000"}},{{"field":"user","value":"partial"}}]],"statistics":{{"recordsMatched":1,"recordsScanned":2000,"bytesScanned":1073741824}}}}"#,
                            script.status
                        ),
                    ),
                    "StopQuery" if script.refuse_stop => (
                        400,
                        r#"{"__type":"InvalidParameterException","message":"query already stopped"}"#
                            .to_owned(),
                    ),
                    "StopQuery" => (200, r#"{"success":true}"#.to_owned()),
                    _ => (400, r#"{"__type":"UnknownOperationException"}"#.to_owned()),
                }
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n",
                reply.len()
            );
            if w.write_all(head.as_bytes()).is_err() || w.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }
}

fn report_against(url: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = common::isolated_command();
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args([
            "report",
            "--cluster",
            "prod",
            "--since",
            "1h",
            "--query",
            "access-detail",
        ])
        .args([
            "--endpoint-url",
            url,
            "--region",
            "us-east-1",
            "--max-attempts",
            "1",
        ])
        .args(extra);
    cmd
}

#[test]
fn the_deadline_stops_the_running_query_and_a_refused_stop_is_tolerated() {
    let ep = scripted::start(scripted::Script {
        limit_exceeded: 0,
        status: "Running",
        refuse_stop: true,
    });
    let t0 = std::time::Instant::now();
    let o = report_against(&ep.url, &["--timeout", "2s"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    assert!(t0.elapsed() < std::time::Duration::from_secs(20));
    let err = stderr(&o);
    assert!(
        err.contains("the deadline (--timeout) passed with 1 queries still running"),
        "{err}"
    );
    assert!(err.contains("warning: StopQuery q-1 refused"), "{err}");
    // Partial rows of the Running query were never printed.
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    let calls = ep.calls();
    assert_eq!(
        calls.iter().filter(|c| *c == "StopQuery").count(),
        1,
        "{calls:?}"
    );
    assert!(
        calls.iter().filter(|c| *c == "GetQueryResults").count() >= 2,
        "{calls:?}"
    );
}

#[test]
fn ctrl_c_stops_the_running_query_and_exits_130() {
    let ep = scripted::start(scripted::Script {
        limit_exceeded: 0,
        status: "Running",
        refuse_stop: false,
    });
    let child = report_against(&ep.url, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ep.calls().iter().any(|c| c == "GetQueryResults") {
        assert!(
            std::time::Instant::now() < deadline,
            "no poll: {:?}",
            ep.calls()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 130, "{}", stderr(&o));
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
    assert_eq!(ep.calls().last().map(String::as_str), Some("StopQuery"));
}

#[test]
fn a_failed_query_is_an_error_naming_it_and_its_status() {
    let ep = scripted::start(scripted::Script {
        limit_exceeded: 0,
        status: "Failed",
        refuse_stop: false,
    });
    let o = report_against(&ep.url, &[]).output().unwrap();
    assert_eq!(code(&o), 254, "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("query access-detail on /aws/eks/prod/cluster ended with status Failed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn limit_exceeded_on_start_waits_and_the_report_completes_with_its_cost() {
    let ep = scripted::start(scripted::Script {
        limit_exceeded: 2,
        status: "Complete",
        refuse_stop: false,
    });
    // The price comes from the environment, as every tunable may.
    let o = report_against(&ep.url, &["--output", "json"])
        .env("SECRET_AUDIT_PRICE_PER_GB", "0.01")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let calls = ep.calls();
    assert_eq!(
        calls.iter().filter(|c| *c == "StartQuery").count(),
        3,
        "{calls:?}"
    );
    let doc = json(&o);
    let q = &doc["queries"][0];
    assert_eq!(q["statistics"]["bytes_scanned"], 1073741824.0);
    assert_eq!(q["estimated_cost_usd"], 0.01);
    assert_eq!(q["rows"][0]["@timestamp"], "2026-11-28T12:00:00.000Z");
    assert_eq!(q["rows"][0]["user"], "partial");
}

#[test]
fn a_query_file_with_mistakes_runs_with_lint_warnings() {
    let emu = Emu::start();
    emu.audit_group("prod");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("guide.insights");
    std::fs::copy(
        root("fixtures/insights/guide-secret-access.insights"),
        &file,
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let o = emu.run(&[
        "report",
        "--cluster",
        "prod",
        "--since",
        "2h",
        "--query-file",
        path,
        "--output",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "report: warning: {path}:3:3: order: `limit` runs before `filter`"
        )),
        "{err}"
    );
    let doc = json(&o);
    // The query's own `limit 100` caps it; `display` names the first
    // columns, and fields the endpoint returned beyond them follow (moto
    // ignores `display` and returns the `fields` ones).
    let q = query(&doc, "guide");
    assert_eq!(q["rows"].as_array().unwrap().len(), 100);
    assert_eq!(
        q["columns"],
        serde_json::json!([
            "objectRef.namespace",
            "objectRef.name",
            "user.username",
            "responseStatus.code",
            "@timestamp",
            "@message"
        ])
    );
}

#[test]
fn secret_payloads_never_reach_the_output() {
    let emu = Emu::start();
    let group = "/aws/eks/prod/cluster";
    let now = chrono::Utc::now().timestamp_millis() - 60_000;
    let event = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"6a1e","stage":"ResponseComplete","verb":"create","user":{"username":"kubernetes-admin\u001b[2J"},"objectRef":{"resource":"secrets","namespace":"prod","name":"db"},"responseStatus":{"code":201},"requestObject":{"kind":"Secret","data":{"password":"aHVudGVyMg=="}},"responseObject":{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}}"#;
    emu.block_on(async {
        emu.logs
            .create_log_group()
            .log_group_name(group)
            .send()
            .await
            .unwrap();
        emu.logs
            .create_log_stream()
            .log_group_name(group)
            .log_stream_name(STREAM)
            .send()
            .await
            .unwrap();
        let e = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
            .timestamp(now)
            .message(event)
            .build()
            .unwrap();
        emu.logs
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(STREAM)
            .log_events(e)
            .send()
            .await
            .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("messages.insights");
    std::fs::write(
        &file,
        "filter objectRef.resource = \"secrets\" and stage = \"ResponseComplete\"\n| fields @timestamp, @message\n| sort @timestamp desc\n| limit 100\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    for format in ["table", "json", "csv", "markdown"] {
        let o = emu.run(&[
            "report",
            "--cluster",
            "prod",
            "--since",
            "1h",
            "--query-file",
            path,
            "--output",
            format,
        ]);
        assert_eq!(code(&o), 0, "{format}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains("6a1e"), "{format}: the event is shown: {out}");
        assert!(!out.contains("aHVudGVyMg=="), "{format}: {out}");
        assert!(!out.contains('\u{1b}'), "{format}: {out}");
        assert!(
            stderr(&o).contains("this audit log contains secret payloads"),
            "{format}: {}",
            stderr(&o)
        );
    }
    // A query that selects a body is refused before anything runs.
    std::fs::write(&file, "filter objectRef.resource = \"secrets\" and stage = \"ResponseComplete\"\n| fields responseObject.data.password as p\n").unwrap();
    let o = emu.run(&[
        "report",
        "--cluster",
        "prod",
        "--since",
        "1h",
        "--query-file",
        path,
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("reads `responseObject.data.password`"),
        "{}",
        stderr(&o)
    );
}
