//! `tail` against the local AWS emulator: a replay prints each secret
//! request of the window once and ends with the rollup; a follow prints
//! events put while it runs exactly once, ends at `--until` or on Ctrl-C
//! (with the rollup, exit 130); a missing log group is a clear error. The
//! exactly-once logic itself is tested against a scripted fake in
//! `src/tail/tests.rs`.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The secret requests of some audit events, by auditID, as `analyze`
/// counts them.
fn secret_requests(messages: &[&str]) -> BTreeMap<String, Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    std::fs::write(&path, messages.join("\n") + "\n").unwrap();
    let o = common::run_isolated(
        &[
            "analyze",
            "--requests",
            "--output",
            "json",
            path.to_str().unwrap(),
        ],
        &[],
    );
    common::json(&o)["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["audit_id"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

/// The JSON Lines a tail printed: requests, and the rollup line.
fn lines(stdout: &str) -> (Vec<Value>, Vec<Value>) {
    let all: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let (requests, rest): (Vec<Value>, Vec<Value>) =
        all.into_iter().partition(|v| v["type"] == "request");
    (requests, rest)
}

fn tail_command(emu: &common::Emu, args: &[&str]) -> Command {
    let url = emu.url();
    let mut cmd = common::isolated_command();
    cmd.arg("tail")
        .args(args)
        .args(["--endpoint-url", &url, "--region", common::REGION])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    cmd
}

#[test]
fn a_replay_prints_each_secret_request_once_and_ends_with_the_rollup() {
    let emu = common::Emu::start();
    emu.audit_group("prod");
    // An audit event CloudWatch cut short, in a stream of its own.
    let cut = &common::audit_events()
        .iter()
        .find(|(_, m)| m.contains("\"secrets\""))
        .unwrap()
        .1[..300];
    let now = chrono::Utc::now().timestamp_millis();
    emu.group_with_events_in(
        "/aws/eks/prod/cluster",
        "kube-apiserver-audit-cut",
        [(now - 60_000, cut)].into_iter(),
    );
    let messages: Vec<&str> = common::audit_events()
        .iter()
        .map(|(_, m)| m.as_str())
        .collect();
    let expected = secret_requests(&messages);
    assert!(expected.len() >= 3, "{}", expected.len());
    let o = tail_command(
        &emu,
        &["--cluster", "prod", "--since", "2h", "--output", "json"],
    )
    .output()
    .unwrap();
    assert_eq!(common::code(&o), 0, "{}", common::stderr(&o));
    let (requests, rest) = lines(&common::stdout(&o));
    let printed: Vec<&str> = requests
        .iter()
        .map(|r| r["audit_id"].as_str().unwrap())
        .collect();
    let mut unique = printed.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), printed.len(), "a request printed twice");
    assert_eq!(
        unique,
        expected.keys().map(String::as_str).collect::<Vec<_>>(),
        "the requests analyze finds in the same events"
    );
    // Each line names where it was read.
    let first = &requests[0];
    assert_eq!(first["cluster"], "prod");
    assert_eq!(first["log_group"], "/aws/eks/prod/cluster");
    assert!(first["log_stream"]
        .as_str()
        .unwrap()
        .starts_with("kube-apiserver-audit-"));
    assert!(!first["event_id"].as_str().unwrap().is_empty());
    // The rollup: analyze's document on one line.
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["type"], "rollup");
    assert_eq!(rest[0]["summary"]["secret_requests"], expected.len() as u64);
    // The cut event: counted as malformed and named by stream and event id.
    assert_eq!(rest[0]["summary"]["malformed"], 1);
    let err = common::stderr(&o);
    assert!(
        err.contains("/aws/eks/prod/cluster kube-apiserver-audit-cut event "),
        "{err}"
    );
}

#[test]
fn a_follow_prints_new_events_exactly_once_and_ctrl_c_prints_the_rollup() {
    let emu = common::Emu::start();
    let group = "/aws/eks/prod/cluster";
    let stream = "kube-apiserver-audit-0123456789abcdef";
    // An empty audit stream to start from.
    emu.group_with_events(group, stream, std::iter::empty());
    let mut child = tail_command(
        &emu,
        &[
            "--cluster",
            "prod",
            "--since",
            "1m",
            "--follow",
            "--poll-interval",
            "1s",
            "--max-rps",
            "5",
            "--output",
            "json",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // New events, stamped now: secret and not.
    let now = chrono::Utc::now().timestamp_millis();
    let events: Vec<(i64, String)> = common::audit_events()
        .iter()
        .take(60)
        .enumerate()
        .map(|(i, (_, m))| (now - 2000 + i as i64, m.clone()))
        .collect();
    emu.put_events(
        group,
        stream,
        events.iter().map(|(ts, m)| (*ts, m.as_str())),
    );
    // Several polls read the same window again: nothing twice.
    std::thread::sleep(Duration::from_millis(4000));
    // SAFETY: the child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait_with_output().unwrap();
    assert_eq!(
        status.status.code(),
        Some(130),
        "{}",
        common::stderr(&status)
    );
    let messages: Vec<&str> = events.iter().map(|(_, m)| m.as_str()).collect();
    let expected = secret_requests(&messages);
    assert!(!expected.is_empty());
    let (requests, rest) = lines(&stdout);
    let mut printed: Vec<&str> = requests
        .iter()
        .map(|r| r["audit_id"].as_str().unwrap())
        .collect();
    printed.sort_unstable();
    assert_eq!(
        printed,
        expected.keys().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(rest.len(), 1, "the rollup after Ctrl-C");
    assert_eq!(rest[0]["type"], "rollup");
}

#[test]
fn until_ends_a_follow_with_the_rollup() {
    let emu = common::Emu::start();
    emu.audit_group("prod");
    let until = (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
    let started = std::time::Instant::now();
    let o = tail_command(
        &emu,
        &[
            "--cluster",
            "prod",
            "--since",
            "2h",
            "--follow",
            "--until",
            &until,
            "--poll-interval",
            "1s",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(common::code(&o), 0, "{}", common::stderr(&o));
    assert!(started.elapsed() < Duration::from_secs(30));
    let out = common::stdout(&o);
    assert!(out.contains("requests ("), "the rollup's headline: {out}");
    assert!(out.contains("records:"), "{out}");
}

#[test]
fn a_missing_log_group_is_a_clear_error() {
    let emu = common::Emu::start();
    let o = tail_command(&emu, &["--cluster", "nope", "--since", "5m"])
        .output()
        .unwrap();
    assert_eq!(common::code(&o), 254, "{}", common::stderr(&o));
    assert!(
        common::stderr(&o).contains("log group /aws/eks/nope/cluster does not exist"),
        "{}",
        common::stderr(&o)
    );
}

#[test]
fn a_restart_from_its_checkpoint_prints_nothing_twice() {
    let emu = common::Emu::start();
    emu.audit_group("prod");
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("tail.json");
    let cp = cp.to_str().unwrap();
    let args = [
        "--cluster",
        "prod",
        "--since",
        "2h",
        "--output",
        "json",
        "--checkpoint",
        cp,
    ];
    let first = tail_command(&emu, &args).output().unwrap();
    assert_eq!(common::code(&first), 0, "{}", common::stderr(&first));
    let (printed, _) = lines(&common::stdout(&first));
    assert!(!printed.is_empty());
    let saved: Value = serde_json::from_slice(&std::fs::read(cp).unwrap()).unwrap();
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["groups"][0]["log_group"], "/aws/eks/prod/cluster");
    let second = tail_command(&emu, &args).output().unwrap();
    assert_eq!(common::code(&second), 0, "{}", common::stderr(&second));
    let (again, _) = lines(&common::stdout(&second));
    assert!(again.is_empty(), "printed again after a restart: {again:?}");
    // A checkpoint that is not one is refused with the fix.
    std::fs::write(cp, "not json").unwrap();
    let bad = tail_command(&emu, &args).output().unwrap();
    assert_eq!(common::code(&bad), 2);
    assert!(
        common::stderr(&bad).contains("remove it to start afresh"),
        "{}",
        common::stderr(&bad)
    );
}

#[test]
fn a_status_line_shows_on_a_terminal_and_is_cleared() {
    let emu = common::Emu::start();
    emu.audit_group("prod");
    let (master, slave) = common::pty(100);
    let reader = common::drain(master);
    let status = tail_command(&emu, &["--cluster", "prod", "--since", "2h"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .status()
        .unwrap();
    assert!(status.success());
    let shown = reader.join().unwrap();
    assert!(
        shown.contains(" events read, 9 secret requests, "),
        "{shown:?}"
    );
    assert!(shown.contains("newest event "), "{shown:?}");
    assert!(
        shown.ends_with("\r\u{1b}[2K"),
        "cleared at the end: {shown:?}"
    );
    // Not on a pipe.
    let piped = tail_command(&emu, &["--cluster", "prod", "--since", "2h"])
        .output()
        .unwrap();
    assert_eq!(common::stderr(&piped), "");
}

#[test]
fn summary_every_prints_the_rollup_so_far_while_following() {
    let emu = common::Emu::start();
    emu.audit_group("prod");
    let child = tail_command(
        &emu,
        &[
            "--cluster",
            "prod",
            "--since",
            "2h",
            "--follow",
            "--poll-interval",
            "1s",
            "--summary-every",
            "1s",
            "--output",
            "json",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    // SAFETY: the child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let (requests, rollups) = lines(&common::stdout(&out));
    assert!(
        rollups.len() >= 2,
        "summaries and the final rollup: {}",
        rollups.len()
    );
    // Each summary counts every request printed before it.
    let last = rollups.last().unwrap();
    assert_eq!(last["summary"]["secret_requests"], requests.len() as u64);
    assert_eq!(
        rollups[0]["summary"]["secret_requests"],
        requests.len() as u64
    );
}

#[test]
fn with_rules_a_finding_line_comes_once_when_its_episode_qualifies() {
    let emu = common::Emu::start();
    let now = chrono::Utc::now();
    let stamp =
        (now - chrono::Duration::seconds(30)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let curl = format!(
        r#"{{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "0a0a0a0a-0000-4000-8000-000000000001", "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/web/secrets/tls", "verb": "get", "user": {{"username": "system:serviceaccount:web:frontend"}}, "sourceIPs": ["10.0.0.9"], "userAgent": "curl/8.5.0", "objectRef": {{"resource": "secrets", "namespace": "web", "name": "tls", "apiVersion": "v1"}}, "responseStatus": {{"code": 200}}, "stageTimestamp": "{stamp}"}}"#
    );
    emu.group_with_events(
        "/aws/eks/prod/cluster",
        "kube-apiserver-audit-0001",
        [(now.timestamp_millis() - 30_000, curl.as_str())].into_iter(),
    );
    let o = tail_command(
        &emu,
        &[
            "--cluster",
            "prod",
            "--since",
            "5m",
            "--rules",
            "/dev/null",
            "--output",
            "json",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(common::code(&o), 0, "{}", common::stderr(&o));
    let findings: Vec<Value> = common::stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "finding")
        .collect();
    assert_eq!(findings.len(), 1, "{}", common::stdout(&o));
    assert_eq!(findings[0]["rule"], "scripting-client");
    assert_eq!(
        findings[0]["principal"],
        "system:serviceaccount:web:frontend"
    );
}
