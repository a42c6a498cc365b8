//! Each failure a fuzzing campaign found, as a test: no panic, no hang, no
//! silent loss, no quadratic time, whatever the input.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_secret-audit");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run secret-audit")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn analyze_json(args: &[&str]) -> Value {
    let mut all = vec!["analyze", "--output", "json"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

fn generated(format: gen_audit::Format, requests: u64) -> (Vec<u8>, Value) {
    let spec = gen_audit::Spec {
        size: gen_audit::Size::Requests(requests),
        ..gen_audit::Spec::new(format)
    };
    let mut buf = Vec::new();
    let truth = spec.write(&mut buf).unwrap();
    (buf, serde_json::to_value(truth).unwrap())
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p.display().to_string()
}

#[test]
fn non_ascii_after_an_operator_is_a_pattern_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(
        dir.path(),
        "e.jsonl",
        "{\"verb\":\"é\"}\n{\"verb\":\"get\"}\n".as_bytes(),
    );
    for p in [
        "{$.verb=\"é\"}",
        "{$.verb=é}",
        "{$.x=€}",
        "{ $.verb IS é }",
        "{ $.verb NOT é }",
    ] {
        let out = run(&["test-pattern", p, &log]);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0..=2)),
            "{p}: exit {code:?}: {}",
            text(&out.stderr)
        );
        assert!(
            !text(&out.stderr).contains("panicked"),
            "{p}: {}",
            text(&out.stderr)
        );
    }
    let out = run(&["test-pattern", "--output", "json", "{$.verb=\"é\"}", &log]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["matched"], 1, "{doc}");
}

#[test]
fn non_ascii_in_stats_is_linted_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    for q in [
        "stats ß",
        "stats €",
        "stats count(*) as é",
        "filter verb = \"ré",
    ] {
        let f = write(dir.path(), "q.insights", q.as_bytes());
        let out = run(&["queries", "lint", &f]);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{q}: {}",
            text(&out.stderr)
        );
    }
}

/// Secret requests whose auditIDs are crafted so that their two halves are
/// equal (an unseeded hash of the halves then puts them all in one place).
fn crafted_ids(n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let h = format!("{:016x}", i * 7919 + 12345);
        let x = format!("{h}{h}");
        let id = format!(
            "{}-{}-{}-{}-{}",
            &x[..8],
            &x[8..12],
            &x[12..16],
            &x[16..20],
            &x[20..]
        );
        out.extend_from_slice(
            format!(
                r#"{{"auditID":"{id}","stage":"ResponseComplete","verb":"get","user":{{"username":"u"}},"objectRef":{{"resource":"secrets","namespace":"ns","name":"s"}},"responseStatus":{{"code":200}}}}"#
            )
            .as_bytes(),
        );
        out.push(b'\n');
    }
    out
}

#[test]
fn crafted_audit_ids_cost_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let time = |n: u64| {
        let f = write(dir.path(), &format!("ids-{n}.jsonl"), &crafted_ids(n));
        let start = Instant::now();
        let doc = analyze_json(&["--requests", "--threads", "1", &f]);
        assert_eq!(doc["summary"]["secret_requests"], n);
        start.elapsed()
    };
    time(1000); // warm the page cache and the binary
    let small = time(15_000);
    let large = time(60_000);
    // Linear is 4x; quadratic was 30x (0.25 s and 7.9 s).
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    assert!(ratio < 10.0, "15k: {small:?}, 60k: {large:?} ({ratio:.1}x)");
}

#[test]
fn a_blank_start_is_skipped_and_line_numbers_stay_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let (log, truth) = generated(gen_audit::Format::Jsonl, 300);
    let want = &truth["secret_records"];
    // 70 KiB of blank lines, a BOM, NUL bytes (a copytruncate hole).
    let mut blank = b"\n".repeat(70 << 10);
    blank.extend_from_slice(&log);
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(&log);
    let mut nul = vec![0u8; 100_000];
    nul.extend_from_slice(&log);
    for (name, data) in [
        ("blank.jsonl", &blank),
        ("bom.jsonl", &bom),
        ("nul.jsonl", &nul),
    ] {
        let f = write(dir.path(), name, data);
        let doc = analyze_json(&["--strict", &f]);
        assert_eq!(&doc["summary"]["secret_records"], want, "{name}: {doc}");
        assert_eq!(doc["summary"]["malformed"], 0, "{name}");
    }
    // Line numbers count the blank start.
    let first = log.split(|&b| b == b'\n').next().unwrap();
    let mut bad = b"\n\n\n".to_vec();
    bad.extend_from_slice(first);
    bad.extend_from_slice(b"\nnot json\n");
    let f = write(dir.path(), "lines.jsonl", &bad);
    let out = run(&["analyze", &f]);
    assert!(
        text(&out.stderr).contains("lines.jsonl:5"),
        "{}",
        text(&out.stderr)
    );
    // A BOM before a container.
    for format in [
        gen_audit::Format::Fle,
        gen_audit::Format::Eventlist,
        gen_audit::Format::Insights,
    ] {
        let (doc, truth) = generated(format, 300);
        let mut data = b"\xEF\xBB\xBF".to_vec();
        data.extend_from_slice(&doc);
        let f = write(dir.path(), &format!("bom.{}", format.name()), &data);
        let got = analyze_json(&["--strict", &f]);
        assert_eq!(
            got["summary"]["secret_records"],
            truth["secret_records"],
            "{}",
            format.name()
        );
    }
}

#[test]
fn a_named_pipe_is_read_once_without_losing_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("audit.fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let (log, truth) = generated(gen_audit::Format::Jsonl, 300);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, log))
    };
    let mut child = Command::new(BIN)
        .args(["analyze", "--output", "json"])
        .arg(&fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("analyze hung on a named pipe");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    writer.join().unwrap().unwrap();
    let out = child.wait_with_output().unwrap();
    let doc: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out.stderr)));
    assert_eq!(doc["summary"]["secret_records"], truth["secret_records"]);
}

#[test]
fn a_broken_directory_entry_is_warned_about_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (log, truth) = generated(gen_audit::Format::Jsonl, 300);
    write(dir.path(), "a.jsonl", &log);
    std::os::unix::fs::symlink(dir.path().join("missing"), dir.path().join("dangling")).unwrap();
    std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).unwrap();
    let d = dir.path().display().to_string();
    let out = run(&["analyze", "--output", "json", &d]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["secret_records"], truth["secret_records"]);
    let err = text(&out.stderr);
    assert!(err.contains("dangling"), "{err}");
    let strict = run(&["analyze", "--strict", "--output", "json", &d]);
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict.stderr));
}

#[test]
fn csv_into_a_closed_pipe_exits_zero() {
    let (log, _) = generated(gen_audit::Format::Jsonl, 60_000);
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "a.jsonl", &log);
    for format in ["csv", "json", "table", "markdown"] {
        let mut child = Command::new(BIN)
            .args(["analyze", "--requests", "--output", format, &f])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read one line, then close the pipe (what `| head -n 1` does).
        let mut stdout = child.stdout.take().unwrap();
        let mut byte = [0u8; 1];
        let _ = std::io::Read::read(&mut stdout, &mut byte);
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn ctrl_c_says_the_output_is_incomplete_and_exits_130() {
    let (log, _) = generated(gen_audit::Format::Jsonl, 60_000);
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "a.jsonl", &log);
    let mut child = Command::new(BIN)
        .args(["analyze", "--requests", "--output", "json", &f])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stop reading after the first bytes: the output blocks on the pipe,
    // mid-document, and Ctrl-C arrives then.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{:?}", out.status);
    assert!(
        text(&out.stderr).contains("interrupted: output incomplete"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_counted_repetition_in_a_regex_pattern_scans_in_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let line = format!("{{\"x\":\"{}\"}}\n", "a".repeat(1200));
    let time = |n: usize| {
        let f = write(
            dir.path(),
            &format!("re-{n}.jsonl"),
            line.repeat(n).as_bytes(),
        );
        let start = Instant::now();
        let out = run(&["test-pattern", "--output", "json", "%.{1000}%", &f]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["matched"], n);
        start.elapsed()
    };
    let small = time(2000);
    let large = time(8000);
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    assert!(ratio < 10.0, "{small:?} then {large:?} ({ratio:.1}x)");
    // And fast: the NFA alone took seconds per megabyte (this is 9.6 MB).
    assert!(large < Duration::from_secs(20), "{large:?}");
}

/// A query whose `stats` makes `n` fields, and `n` fields used after it
/// that `stats` did not make (one finding each).
fn wide_query(n: usize) -> String {
    let outs: Vec<String> = (0..n).map(|i| format!("count(*) as a{i}")).collect();
    let refs: Vec<String> = (0..n).map(|i| format!("x{i} = 1")).collect();
    format!(
        "filter verb = \"get\" | stats {} by verb | filter {}",
        outs.join(", "),
        refs.join(" and ")
    )
}

#[test]
fn the_lint_of_a_huge_query_is_linear_in_time_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let lint = |n: usize| {
        let f = write(
            dir.path(),
            &format!("q{n}.insights"),
            wide_query(n).as_bytes(),
        );
        let start = Instant::now();
        let out = run(&["queries", "lint", &f]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        (start.elapsed(), out.stdout.len())
    };
    lint(100);
    let (t1, out1) = lint(3000);
    let (t4, out4) = lint(12_000);
    // Each finding names a few of stats's fields, not all of them (a
    // 160 KB query printed 400 MB).
    assert!(out4 < 5 * out1, "output {out1} then {out4} bytes");
    assert!(out4 < 300 * 12_000, "{out4} bytes for 12,000 findings");
    let ratio = t4.as_secs_f64() / t1.as_secs_f64();
    assert!(ratio < 10.0, "{t1:?} then {t4:?} ({ratio:.1}x)");
}

/// Replaces the `n`th `key:` of `doc` with `key @:` (invalid JSON there).
fn corrupt_nth(doc: &[u8], key: &str, n: usize) -> Vec<u8> {
    let text = String::from_utf8(doc.to_vec()).unwrap();
    let needle = format!("{key}:");
    let (at, _) = text.match_indices(&needle).nth(n).expect("enough elements");
    let mut out = text[..at].to_string();
    out.push_str(&format!("{key} @:"));
    out.push_str(&text[at + needle.len()..]);
    out.into_bytes()
}

#[test]
fn one_invalid_element_of_a_container_costs_that_element_only() {
    let dir = tempfile::tempdir().unwrap();
    for (format, key) in [
        (gen_audit::Format::Fle, "\"logStreamName\""),
        (gen_audit::Format::Eventlist, "\"auditID\""),
        (gen_audit::Format::Insights, "\"field\""),
    ] {
        let (doc, truth) = generated(format, 400);
        let bad = corrupt_nth(&doc, key, 40);
        let f = write(dir.path(), &format!("bad.{}", format.name()), &bad);
        let got = analyze_json(&[&f]);
        let s = &got["summary"];
        let name = format.name();
        assert_eq!(s["malformed"], 1, "{name}: {s}");
        assert_eq!(
            s["records"], truth["records"],
            "{name}: every element counted"
        );
        let secret = s["secret_records"].as_u64().unwrap();
        let want = truth["secret_records"].as_u64().unwrap();
        assert!(
            secret + 1 >= want && secret <= want,
            "{name}: {secret} of {want}"
        );
    }
}

#[test]
fn an_element_past_the_record_limit_is_skipped_in_bounded_memory() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    // One 300 MB element in a gzip of about 300 KB, then a good one.
    let path = dir.path().join("big.json.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(b"{\"events\": [{\"message\": \"").unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..300 {
        gz.write_all(&chunk).unwrap();
    }
    gz.write_all(b"\"}, {\"message\": \"{\\\"kind\\\":\\\"Event\\\"}\"}]}")
        .unwrap();
    gz.finish().unwrap();
    let path = path.display().to_string();
    let (out, peak) = run_measured(&[
        "analyze",
        "--output",
        "json",
        "--max-record-size",
        "1000000",
        &path,
    ]);
    let doc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["summary"]["records"], 2, "{doc}");
    assert_eq!(doc["summary"]["malformed"], 1, "{doc}");
    // Held whole, the element took over 300 MB.
    assert!(peak < 100 << 10, "peak: {peak} KiB");
}

#[test]
fn a_lambda_event_line_without_end_is_skipped_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = vec![b'{'; 200 << 20];
    data.extend_from_slice(b"\n");
    let f = write(dir.path(), "zero.lambda", &data);
    let (out, peak) = run_measured(&[
        "analyze",
        "--format",
        "lambda-event",
        "--max-record-size",
        "1000000",
        "--output",
        "json",
        &f,
    ]);
    let doc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["summary"]["malformed"], 1, "{doc}");
    // Held whole, the line took 200 MB.
    assert!(peak < 100 << 10, "peak: {peak} KiB");
}

/// Runs the binary, returning its stdout and its own peak resident memory.
fn run_measured(args: &[&str]) -> (Vec<u8>, i64) {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    let (out, peak) = common::measured(cmd);
    (out.stdout, peak)
}

#[test]
fn an_insights_csv_field_past_the_record_limit_is_not_held() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = b"@timestamp,@message\n2026-11-01 00:00:00.000,\"".to_vec();
    data.extend(std::iter::repeat_n(b'x', 200 << 20));
    data.extend_from_slice(b"\"\n");
    let f = write(dir.path(), "big.csv", &data);
    drop(data);
    let (out, peak) = run_measured(&[
        "analyze",
        "--max-record-size",
        "1000000",
        "--output",
        "json",
        &f,
    ]);
    let doc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["summary"]["malformed"], 1, "{doc}");
    // Held whole, the field took over 200 MB (520 MB in the campaign).
    assert!(peak < 100 << 10, "peak: {peak} KiB");
}
