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
        self.block_on(async {
            self.logs
                .create_log_group()
                .log_group_name(group)
                .send()
                .await
                .unwrap();
            self.logs
                .create_log_stream()
                .log_group_name(group)
                .log_stream_name(STREAM)
                .send()
                .await
                .unwrap();
            let batch: Vec<_> = events
                .iter()
                .zip(&stamps)
                .map(|((_, msg), ts)| {
                    aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                        .timestamp(*ts)
                        .message(msg)
                        .build()
                        .unwrap()
                })
                .collect();
            self.logs
                .put_log_events()
                .log_group_name(group)
                .log_stream_name(STREAM)
                .set_log_events(Some(batch))
                .send()
                .await
                .unwrap();
        });
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
