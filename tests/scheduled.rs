//! Scheduled `alert` against the local AWS emulator: consecutive runs over
//! events put between them, some backdated (stamped before the previous
//! run's interval, ingested now), report each finding exactly once;
//! delivery is read back from an SQS queue subscribed to the SNS topic;
//! after a failed publish the next run sends exactly what was not sent.
//! The window arithmetic itself is tested on our own types in
//! `src/rules/schedule/tests.rs`. The emulator stamps an event's ingestion
//! time when it is put, so runs use a one-second `--every` and no settle
//! delay, and wait for the next second instead of minutes.

mod common;

use serde_json::Value;

const GROUP: &str = "/aws/eks/prod/cluster";
const STREAM: &str = "kube-apiserver-audit-0d2c9e";

/// A secret read by a service account in its own namespace, with curl: a
/// scripting-client finding and nothing else.
fn curl_read(sa: &str, id: u32, at_ms: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(at_ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-{id:012}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/{sa}/secrets/db","verb":"get","user":{{"username":"system:serviceaccount:{sa}:tool","groups":["system:serviceaccounts","system:authenticated"]}},"sourceIPs":["192.168.7.{id}"],"userAgent":"curl/8.5.0","objectRef":{{"resource":"secrets","namespace":"{sa}","name":"db","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"{t}","stageTimestamp":"{t}"}}"#
    )
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Waits until the second after `ms` has begun: a run then owns what was
/// put at `ms`.
fn past_the_second_of(ms: i64) {
    let next = (ms / 1000 + 1) * 1000 + 50;
    let wait = next - now_ms();
    if wait > 0 {
        std::thread::sleep(std::time::Duration::from_millis(wait as u64));
    }
}

/// The principal of each notification, sorted.
fn principals(notes: &[Value]) -> Vec<String> {
    let mut p: Vec<String> = notes
        .iter()
        .map(|n| {
            let body = n["Message"].as_str().unwrap();
            let json: Value = serde_json::from_str(&body[body.find("\n{").unwrap() + 1..]).unwrap();
            json["principal"].as_str().unwrap().to_owned()
        })
        .collect();
    p.sort();
    p
}

fn sa(name: &str) -> String {
    format!("system:serviceaccount:{name}:tool")
}

#[test]
fn consecutive_runs_deliver_each_finding_once_backdated_and_after_a_failure_too() {
    let emu = common::Emu::start();
    let topic = emu.topic_with_queue("secret-alerts");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap().to_owned();
    let run = |topic: &str| {
        emu.run(&[
            "alert",
            "--cluster",
            "prod",
            "--every",
            "1s",
            "--settle",
            "0s",
            "--state",
            &state_arg,
            "--sns-topic-arn",
            topic,
            "--output",
            "json",
        ])
    };
    emu.group_with_events(GROUP, STREAM, std::iter::empty());

    // The first run marks where the schedule begins: nothing yet.
    let o = run(&topic);
    assert_eq!(common::code(&o), 0, "{}", common::stderr(&o));

    // Run 1 owns what was put before it.
    let put = now_ms();
    let e1 = curl_read("ops1", 1, put - 5_000);
    emu.put_events(GROUP, STREAM, [(put - 5_000, e1.as_str())].into_iter());
    past_the_second_of(now_ms());
    let o = run(&topic);
    assert_eq!(common::code(&o), 1, "{}", common::stderr(&o));
    let notes = emu.read_queue("secret-alerts");
    assert_eq!(principals(&notes), [sa("ops1")]);
    let attrs = &notes[0]["MessageAttributes"];
    assert_eq!(attrs["rule"]["Value"], "scripting-client");
    assert_eq!(attrs["severity"]["Value"], "medium");
    assert_eq!(attrs["cluster"]["Value"], "prod");
    assert!(notes[0]["Subject"]
        .as_str()
        .unwrap()
        .starts_with("[medium] scripting-client: "));

    // Run 2: a new attack, one backdated before run 1's interval (stamped
    // two minutes ago, ingested now), and a late request of ops1's episode,
    // which extends it and is no new finding.
    let put = now_ms();
    let e2 = curl_read("ops2", 2, put);
    let e3 = curl_read("ops3", 3, put - 120_000);
    let e1b = curl_read("ops1", 4, put - 6_000);
    emu.put_events(
        GROUP,
        STREAM,
        [
            (put - 120_000, e3.as_str()),
            (put - 6_000, e1b.as_str()),
            (put, e2.as_str()),
        ]
        .into_iter(),
    );
    past_the_second_of(now_ms());
    let o = run(&topic);
    assert_eq!(common::code(&o), 1, "{}", common::stderr(&o));
    assert_eq!(
        principals(&emu.read_queue("secret-alerts")),
        [sa("ops2"), sa("ops3")]
    );
    let doc = common::json(&o);
    assert_eq!(doc["findings"].as_array().unwrap().len(), 2);
    assert_eq!(doc["summary"]["published"], 2);

    // A run with nothing new sends nothing.
    past_the_second_of(now_ms());
    let o = run(&topic);
    assert_eq!(common::code(&o), 0, "{}", common::stderr(&o));
    assert!(emu.read_queue("secret-alerts").is_empty());

    // Run 3 cannot publish (the topic is gone): exit 254, nothing lost.
    emu.delete_topic(&topic);
    let put = now_ms();
    let e4 = curl_read("ops4", 5, put);
    emu.put_events(GROUP, STREAM, [(put, e4.as_str())].into_iter());
    past_the_second_of(now_ms());
    let o = run(&topic);
    assert_eq!(common::code(&o), 254, "{}", common::stderr(&o));
    let err = common::stderr(&o);
    assert!(
        err.contains("publishing to arn:aws:sns:us-east-1:123456789012:secret-alerts failed after 0 of 1 finding(s)")
            && err.contains("the state keeps them for the next run"),
        "{err}"
    );
    // Run 4, the topic back: exactly the unsent finding.
    let topic = emu.topic_with_queue("secret-alerts");
    past_the_second_of(now_ms());
    let o = run(&topic);
    assert_eq!(common::code(&o), 1, "{}", common::stderr(&o));
    assert_eq!(principals(&emu.read_queue("secret-alerts")), [sa("ops4")]);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["log_groups"], serde_json::json!([GROUP]));
    assert_eq!(saved["sent"].as_array().unwrap().len(), 4);
}

#[test]
fn without_a_state_the_schedule_alone_decides_and_a_replay_is_the_same() {
    let emu = common::Emu::start();
    emu.group_with_events(GROUP, STREAM, std::iter::empty());
    let put = now_ms();
    let e = curl_read("ops9", 9, put - 1_000);
    emu.put_events(GROUP, STREAM, [(put - 1_000, e.as_str())].into_iter());
    past_the_second_of(now_ms());
    // The run of the second after the put owns it; so does its replay.
    let at = chrono::DateTime::from_timestamp_millis((put / 1000 + 1) * 1000 + 10)
        .unwrap()
        .to_rfc3339();
    let args = [
        "alert",
        "--cluster",
        "prod",
        "--every",
        "1s",
        "--settle",
        "0s",
        "--at",
        &at,
        "--output",
        "json",
    ];
    let first = emu.run(&args);
    assert_eq!(common::code(&first), 1, "{}", common::stderr(&first));
    let again = emu.run(&args);
    assert_eq!(
        common::json(&first)["findings"],
        common::json(&again)["findings"]
    );
    // The next interval's run does not report it again.
    let next = chrono::DateTime::from_timestamp_millis((put / 1000 + 2) * 1000 + 10)
        .unwrap()
        .to_rfc3339();
    let o = emu.run(&[
        "alert",
        "--cluster",
        "prod",
        "--every",
        "1s",
        "--settle",
        "0s",
        "--at",
        &next,
        "--output",
        "json",
    ]);
    assert_eq!(common::code(&o), 0, "{}", common::stderr(&o));
}

#[test]
fn a_backfill_evaluates_a_past_range_and_sends_nothing_unless_asked() {
    let emu = common::Emu::start();
    let topic = emu.topic_with_queue("secret-alerts");
    emu.group_with_events(GROUP, STREAM, std::iter::empty());
    let put = now_ms();
    let a = curl_read("ops5", 5, put - 30_000);
    let b = curl_read("ops6", 6, put - 20_000);
    emu.put_events(
        GROUP,
        STREAM,
        [(put - 30_000, a.as_str()), (put - 20_000, b.as_str())].into_iter(),
    );
    past_the_second_of(now_ms());
    let args = [
        "alert",
        "--cluster",
        "prod",
        "--every",
        "1s",
        "--settle",
        "0s",
        "--since",
        "2m",
        "--sns-topic-arn",
        &topic,
        "--output",
        "json",
    ];
    let o = emu.run(&args);
    assert_eq!(common::code(&o), 1, "{}", common::stderr(&o));
    assert_eq!(common::json(&o)["findings"].as_array().unwrap().len(), 2);
    assert!(common::stderr(&o).contains("(not sent: --send publishes them)"));
    assert!(emu.read_queue("secret-alerts").is_empty());
    let mut with_send = args.to_vec();
    with_send.push("--send");
    let o = emu.run(&with_send);
    assert_eq!(common::code(&o), 1, "{}", common::stderr(&o));
    assert_eq!(
        principals(&emu.read_queue("secret-alerts")),
        [sa("ops5"), sa("ops6")]
    );
}

#[test]
fn two_runs_at_once_cannot_share_a_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .unwrap();
    held.lock().unwrap();
    let o = common::run_isolated(
        &[
            "alert",
            "--cluster",
            "prod",
            "--state",
            state.to_str().unwrap(),
            "--region",
            "us-east-1",
        ],
        &[],
    );
    assert_eq!(common::code(&o), 2, "{}", common::stderr(&o));
    assert!(common::stderr(&o).contains("another alert run is using state"));
}
