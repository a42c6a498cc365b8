//! Binary tests of `secret-audit analyze`: every input format against the
//! generator's ground truth, the counting rules, every output format, and
//! every kind of bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_secret-audit");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    root().join("fixtures").join(name).display().to_string()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run secret-audit")
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run secret-audit");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `analyze --output json` and returns the document; fails on a bad exit.
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
    serde_json::from_slice(&out.stdout).expect("analyze writes one JSON document")
}

/// Generates 1,500 requests of audit log with the project's generator
/// (seed 5); returns the truth.
fn generate(out: &Path, format: &str, extra: &[&str]) -> Value {
    generate_events(out, format, 1500, extra)
}

/// `extra`: `--stages-all`, `--exotic`, `--gzip`, as gen-audit takes them.
fn generate_events(out: &Path, format: &str, events: u64, extra: &[&str]) -> Value {
    let spec = gen_audit::Spec {
        seed: 5,
        size: gen_audit::Size::Requests(events),
        stages_all: extra.contains(&"--stages-all"),
        exotic: extra.contains(&"--exotic"),
        gzip: extra.contains(&"--gzip"),
        ..gen_audit::Spec::new(format.parse().unwrap())
    };
    let truth = spec
        .write_file(out)
        .unwrap_or_else(|e| panic!("generate {}: {e}", out.display()));
    serde_json::to_value(truth).unwrap()
}

fn verb_totals(doc: &Value) -> Value {
    let mut verbs = serde_json::Map::new();
    for row in doc["rollup"].as_array().unwrap() {
        for (v, n) in row["verbs"].as_object().unwrap() {
            let cur = verbs.get(v).and_then(Value::as_u64).unwrap_or(0);
            verbs.insert(v.clone(), (cur + n.as_u64().unwrap()).into());
        }
    }
    Value::Object(verbs)
}

fn assert_matches_truth(doc: &Value, truth: &Value, what: &str) {
    let s = &doc["summary"];
    assert_eq!(s["records"], truth["records"], "{what}: records");
    assert_eq!(s["malformed"], 0, "{what}: malformed");
    assert_eq!(
        s["secret_records"], truth["secret_records"],
        "{what}: secret records"
    );
    assert_eq!(
        s["secret_requests"], truth["secret_requests"],
        "{what}: secret requests"
    );
    assert_eq!(s["denied"], truth["secret_denied"], "{what}: denied");
    assert_eq!(
        verb_totals(doc),
        truth["secret_requests_by_verb"],
        "{what}: verbs"
    );
    let denied: u64 = doc["rollup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["denied"].as_u64().unwrap())
        .sum();
    assert_eq!(
        denied,
        truth["secret_denied"].as_u64().unwrap(),
        "{what}: denied over rows"
    );
    assert_eq!(
        doc["rollup"].as_array().unwrap().len() as u64,
        truth["distinct_namespace_secret_user"].as_u64().unwrap(),
        "{what}: namespace/secret/user rows"
    );
    let n = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(
        n("records"),
        n("malformed") + n("skipped") + n("filtered") + n("secret_records"),
        "{what}: accounting"
    );
}

#[test]
fn every_format_plain_and_gzip_matches_the_generator_truth() {
    let dir = tempfile::tempdir().unwrap();
    let formats = [
        "jsonl",
        "cwexport",
        "fle",
        "eventlist",
        "insights",
        "insights-csv",
        "firehose",
        "firehose-cwl",
        "lambda-event",
    ];
    let variants: [&[&str]; 4] = [
        &[],
        &["--stages-all"],
        &["--exotic"],
        &["--stages-all", "--exotic"],
    ];
    fn expected_format(f: &str) -> &str {
        if f == "firehose" {
            "json-stream"
        } else {
            f
        }
    }
    for format in formats {
        for (vi, variant) in variants.iter().enumerate() {
            for gzip in [false, true] {
                if gzip && format == "firehose-cwl" {
                    continue; // gzip already
                }
                let path = dir.path().join(format!("{format}-{vi}-{gzip}"));
                let mut args = variant.to_vec();
                if gzip {
                    args.push("--gzip");
                }
                let truth = generate(&path, format, &args);
                let what = format!("{format} {variant:?} gzip={gzip}");
                let doc = analyze_json(&[path.to_str().unwrap()]);
                assert_matches_truth(&doc, &truth, &what);
                let input = &doc["summary"]["inputs"][0];
                assert_eq!(
                    input["format"],
                    expected_format(format),
                    "{what}: detected format"
                );
                assert_eq!(
                    input["gzip"],
                    gzip || format == "firehose-cwl",
                    "{what}: gzip"
                );
            }
        }
    }
}

#[test]
fn committed_samples_match_their_truth() {
    let dir = root().join("fixtures/generated");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.ends_with(".truth.json") {
            continue;
        }
        let truth: Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.truth.json"))).unwrap())
                .unwrap();
        assert_matches_truth(&analyze_json(&[path.to_str().unwrap()]), &truth, &name);
        seen += 1;
    }
    assert_eq!(seen, 9, "a committed sample per format");
}

#[test]
fn an_s3_export_tree_is_read_recursively_without_the_write_test_object() {
    let doc = analyze_json(&[&fixture("s3-export")]);
    let truths: Vec<Value> = [21, 22]
        .iter()
        .map(|s| {
            serde_json::from_slice(
                &std::fs::read(fixture(&format!("s3-export.truth.{s}.json"))).unwrap(),
            )
            .unwrap()
        })
        .collect();
    let sum = |k: &str| truths.iter().map(|t| t[k].as_u64().unwrap()).sum::<u64>();
    let s = &doc["summary"];
    assert_eq!(s["records"], sum("records"));
    assert_eq!(s["secret_requests"], sum("secret_requests"));
    assert_eq!(s["malformed"], 0);
    let inputs = s["inputs"].as_array().unwrap();
    assert_eq!(
        inputs.len(),
        2,
        "aws-logs-write-test is not an input: {inputs:?}"
    );
    assert!(inputs
        .iter()
        .all(|i| i["format"] == "cwexport" && i["gzip"] == true));
}

#[test]
fn stdin_reads_like_a_file() {
    let path = fixture("generated/sample.fle.gz");
    let bytes = std::fs::read(&path).unwrap();
    let out = run_stdin(&["analyze", "--output", "json", "-"], &bytes);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let from_stdin: Value = serde_json::from_slice(&out.stdout).unwrap();
    let from_file = analyze_json(&[&path]);
    assert_eq!(from_stdin["rollup"], from_file["rollup"]);
    assert_eq!(from_stdin["summary"]["inputs"][0]["path"], "<stdin>");
}

#[test]
fn overlapping_exports_count_each_request_once() {
    let f = fixture("generated/sample.jsonl.gz");
    let once = analyze_json(&[&f]);
    let twice = analyze_json(&[&f, &fixture("generated/sample.cwexport.gz")]);
    assert_eq!(
        twice["summary"]["secret_requests"],
        once["summary"]["secret_requests"]
    );
    assert_eq!(
        twice["summary"]["secret_records"].as_u64().unwrap(),
        2 * once["summary"]["secret_records"].as_u64().unwrap()
    );
    assert_eq!(twice["rollup"], once["rollup"]);
}

#[test]
fn threads_never_change_the_answer() {
    let path = fixture("eks-audit.jsonl.gz");
    let one = analyze_json(&["--threads", "1", &path]);
    let many = analyze_json(&["--threads", "4", &path, &fixture("s3-export")]);
    let many_one = analyze_json(&["--threads", "1", &path, &fixture("s3-export")]);
    assert_eq!(many["rollup"], many_one["rollup"]);
    assert_eq!(many["summary"], many_one["summary"]);
    let truth: Value =
        serde_json::from_slice(&std::fs::read(fixture("eks-audit.jsonl.gz.truth.json")).unwrap())
            .unwrap();
    assert_matches_truth(&one, &truth, "eks-audit one thread");
}

fn row<'a>(doc: &'a Value, ns: &str, secret: &str, user: &str) -> &'a Value {
    doc["rollup"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["namespace"] == ns && r["secret"] == secret && r["user"] == user)
        .unwrap_or_else(|| panic!("no row {ns}/{secret}/{user} in {:#}", doc["rollup"]))
}

#[test]
fn stages_scopes_and_impersonation_follow_the_counting_rules() {
    let doc = analyze_json(&[&fixture("handmade/stages-and-scopes.jsonl")]);
    assert_eq!(doc["summary"]["secret_records"], 5);
    assert_eq!(doc["summary"]["secret_requests"], 4);
    // A watch still open when the log ends counts as a read, cluster-wide.
    let open = row(
        &doc,
        "*",
        "*",
        "system:serviceaccount:kube-system:external-secrets",
    );
    assert_eq!(open["scope"], "cluster");
    assert_eq!(open["verbs"]["watch"], 1);
    // A list logged at two stages is one request; its outcome is the later stage's.
    let list = row(&doc, "staging", "*", "ci-deployer");
    assert_eq!(
        (list["requests"].as_u64(), list["denied"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(list["scope"], "namespace");
    // Impersonation: the impersonated user is the user, the admin is kept.
    let imp = row(
        &doc,
        "payments",
        "stripe-key",
        "system:serviceaccount:payments:billing",
    );
    assert_eq!(
        imp["impersonated_by"],
        serde_json::json!(["kubernetes-admin"])
    );
    // Seen only at RequestReceived: counted, outcome unknown.
    let reqs = analyze_json(&["--requests", &fixture("handmade/stages-and-scopes.jsonl")]);
    let rr = reqs["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["secret"] == "db")
        .unwrap();
    assert_eq!(rr["code"], Value::Null);
    assert_eq!(rr["audit_id"], "00000000-0000-4000-8000-000000000022");
}

#[test]
fn v1beta1_events_and_envelopes_are_read() {
    let doc = analyze_json(&[&fixture("handmade/v1beta1.jsonl")]);
    assert_eq!(doc["summary"]["first_seen"], "2019-06-26T07:05:51Z");
    let doc = analyze_json(&[&fixture(
        "sumologic-docs-eks-control-plane-audit-sample-envelope-pretty.json",
    )]);
    row(
        &doc,
        "kube-system",
        "kube-proxy-token-w7wkr",
        "system:apiserver",
    );
    let doc = analyze_json(&[&fixture("audit2rbac-demo.log")]);
    let r = row(&doc, "ns1", "*", "alice");
    assert_eq!(
        (r["denied"].as_u64(), r["impersonated_by"][0].as_str()),
        (Some(1), Some("system:admin"))
    );
    assert_eq!(doc["summary"]["records"], 37);
}

#[test]
fn wrongly_typed_fields_are_counted_not_crashed_on() {
    let doc = analyze_json(&[&fixture("handmade/wrong-types.jsonl")]);
    let s = &doc["summary"];
    assert_eq!(
        (
            s["records"].as_u64(),
            s["secret_requests"].as_u64(),
            s["denied"].as_u64(),
            s["skipped"].as_u64()
        ),
        (Some(8), Some(2), Some(1), Some(5))
    );
    // `objectRef.resource` given as a list, on a record about secrets; the
    // wrong types of records that are not about secrets are never parsed.
    assert_eq!(s["malformed"], 1);
}

#[test]
fn cut_off_insights_documents_from_the_docs_are_named_malformed() {
    for excerpt in [
        "aws-eks-best-practices-logs-insights-get-query-results-EXCERPT.txt",
        "aws-samples-eks-security-immersion-day-logs-insights-get-query-results-EXCERPT.txt",
    ] {
        let out = run(&["analyze", "--output", "json", &fixture(excerpt)]);
        assert!(out.status.success());
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            doc["summary"]["malformed"], 1,
            "{excerpt}: the cut-off document"
        );
        assert!(
            text(&out.stderr).contains("cut off"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn quiet_leaves_only_errors_on_stderr_and_verbose_names_every_malformed_record() {
    let path = fixture("handmade/malformed.jsonl");
    let quiet = run(&["analyze", "-q", "--output", "json", &path]);
    assert_eq!(quiet.status.code(), Some(0));
    assert!(quiet.stderr.is_empty(), "{}", text(&quiet.stderr));
    let strict = run(&["analyze", "-q", "--strict", "--output", "json", &path]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(strict.stderr.is_empty(), "{}", text(&strict.stderr));
    let err = text(&run(&["analyze", "--output", "json", &path]).stderr);
    assert!(
        err.contains("4 malformed record(s)") && err.contains("malformed.jsonl:2"),
        "{err}"
    );
    let usage = run(&["analyze", "-q", "--since", "1h", "--until", "2h", &path]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(
        text(&usage.stderr).starts_with("error: "),
        "errors still show with -q"
    );
}

#[test]
fn malformed_records_are_counted_named_and_fail_strict() {
    let path = fixture("handmade/malformed.jsonl");
    let out = run(&["analyze", "--output", "json", &path]);
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &doc["summary"];
    assert_eq!(
        (
            s["records"].as_u64(),
            s["malformed"].as_u64(),
            s["secret_requests"].as_u64()
        ),
        (Some(6), Some(4), Some(2))
    );
    let err = text(&out.stderr);
    for line in [
        ":2: not a JSON object",
        ":3: cut off",
        ":4: not an audit event",
        ":5: not a JSON object",
    ] {
        assert!(err.contains(line), "stderr lacks {line:?}: {err}");
    }
    assert_eq!(run(&["analyze", "--strict", &path]).status.code(), Some(1));
}

#[test]
fn only_the_first_malformed_are_named_unless_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.jsonl");
    let mut body = String::from("{\"kind\":\"Event\"}\n");
    for i in 0..50 {
        body.push_str(&format!("junk {i}\n"));
    }
    std::fs::write(&path, body).unwrap();
    let p = path.to_str().unwrap();
    let quiet = text(&run(&["analyze", p]).stderr);
    assert!(
        quiet.contains("junk.jsonl:2:") && quiet.contains("... and 45 more"),
        "{quiet}"
    );
    let verbose = text(&run(&["analyze", "-v", p]).stderr);
    assert!(verbose.contains("junk.jsonl:51:"), "{verbose}");
}

#[test]
fn invalid_utf8_and_deep_nesting_in_secret_records_are_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    let mut body = Vec::new();
    body.extend_from_slice(b"{\"verb\":\"get\",\"user\":{\"username\":\"bo\xff\xfeb\"},\"objectRef\":{\"resource\":\"secrets\"}}\n");
    body.extend_from_slice(
        format!(
            "{{\"objectRef\":{{\"resource\":\"secrets\",\"name\":{}1{}}}}}\n",
            "[".repeat(5000),
            "]".repeat(5000)
        )
        .as_bytes(),
    );
    body.extend_from_slice(
        b"{\"verb\":\"get\",\"objectRef\":{\"resource\":\"secrets\",\"name\":\"ok\"}}\n",
    );
    std::fs::write(&path, body).unwrap();
    let doc = analyze_json(&[path.to_str().unwrap()]);
    assert_eq!(doc["summary"]["malformed"], 2);
    assert_eq!(doc["summary"]["secret_requests"], 1);
}

#[test]
fn oversized_records_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let good = "{\"verb\":\"get\",\"auditID\":\"a\",\"objectRef\":{\"resource\":\"secrets\",\"name\":\"s\"}}";
    let big = format!("{{\"x\":\"{}\"}}", "y".repeat(3 << 20));
    std::fs::write(
        &path,
        format!("{good}\n{big}\n{}\n{big}", good.replace("\"a\"", "\"b\"")),
    )
    .unwrap();
    let doc = analyze_json(&["--max-record-size", "1M", path.to_str().unwrap()]);
    let s = &doc["summary"];
    assert_eq!(
        (
            s["records"].as_u64(),
            s["malformed"].as_u64(),
            s["secret_requests"].as_u64()
        ),
        (Some(4), Some(2), Some(2))
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn a_truncated_gzip_keeps_what_came_before_and_reports_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(fixture("handmade/stages-and-scopes.jsonl")).unwrap();
    let mut body = plain.repeat(200);
    body.extend_from_slice(&std::fs::read(fixture("handmade/malformed.jsonl")).unwrap()[..0]);
    let gz = gzip(&body);
    let path = dir.path().join("cut.jsonl.gz");
    std::fs::write(&path, &gz[..gz.len() * 2 / 3]).unwrap();
    let out = run(&["analyze", "--output", "json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &doc["summary"];
    assert!(
        s["records"].as_u64().unwrap() > 100,
        "records before the cut are counted: {s}"
    );
    assert_eq!(s["malformed"], 1);
    assert!(
        text(&out.stderr).contains("gzip stream cut off or corrupt"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        run(&["analyze", "--strict", path.to_str().unwrap()])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn a_gzip_bomb_is_one_malformed_record_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.gz");
    // 256 MiB of one byte, a few hundred KB compressed; no newline.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![b'{'; 1 << 20];
    for _ in 0..256 {
        enc.write_all(&chunk).unwrap();
    }
    std::fs::write(&path, enc.finish().unwrap()).unwrap();
    let doc = analyze_json(&["--max-record-size", "8M", path.to_str().unwrap()]);
    assert_eq!(doc["summary"]["records"], 1);
    assert_eq!(doc["summary"]["malformed"], 1);
}

#[test]
fn a_missing_path_is_a_clear_error() {
    let out = run(&["analyze", "/nonexistent/audit.log"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read /nonexistent/audit.log: no such file"),
        "{}",
        text(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", dir.path().join("dangling.gz")).unwrap();
    // Inside a directory, a dangling link is a warning about that input, and
    // the walk goes on (tests/robustness.rs has the rest).
    let out = run(&["analyze", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("dangling.gz: the whole input: cannot read"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn secret_payloads_never_reach_any_output_and_are_warned_about() {
    let path = fixture("handmade/secret-payloads.jsonl");
    for output in ["table", "json", "csv", "markdown"] {
        for extra in [&[][..], &["--requests"], &["-vv"]] {
            let mut args = vec!["analyze", "--output", output, &path];
            args.extend_from_slice(extra);
            let out = run(&args);
            assert!(out.status.success());
            let all = text(&out.stdout) + &text(&out.stderr);
            for secret in [
                "c3VwZXJzZWNyZXQtMQ==",
                "hunter2-plaintext",
                "last-applied-configuration",
                "password",
            ] {
                assert!(!all.contains(secret), "{output} {extra:?} leaked {secret}");
            }
            assert!(
                text(&out.stderr)
                    .contains("this audit log contains secret payloads: 2 secret event(s)"),
                "{}",
                text(&out.stderr)
            );
        }
    }
}

#[test]
fn hostile_strings_are_escaped_in_every_output() {
    let path = fixture("handmade/hostile-strings.jsonl");
    let raw = [
        '\u{1b}', '\u{7}', '\u{9b}', '\u{85}', '\u{202e}', '\u{2066}', '\u{200b}', '\r',
    ];
    for output in ["table", "json", "csv", "markdown"] {
        for extra in [&[][..], &["--requests"]] {
            let mut args = vec!["analyze", "--output", output, &path];
            args.extend_from_slice(extra);
            let out = run(&args);
            let stdout = text(&out.stdout);
            for c in raw {
                assert!(
                    !stdout.contains(c),
                    "{output} {extra:?}: raw U+{:04X} in output",
                    c as u32
                );
            }
        }
    }
    let json = text(&run(&["analyze", "--output", "json", "--requests", &path]).stdout);
    assert!(
        json.contains(r"\u001b]0;pwned\u0007")
            && json.contains(r"\u202e")
            && json.contains(r"\u009b"),
        "{json}"
    );
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert!(doc["requests"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["user_agent"] == "kubectl\u{1b}]0;pwned\u{7}\u{1b}[2J"));
    let csv = text(&run(&["analyze", "--output", "csv", "--requests", &path]).stdout);
    assert!(
        csv.contains("'=HYPERLINK")
            && csv.contains("'-1+1")
            && csv.contains("'+10.0.0.9")
            && csv.contains("'@SUM"),
        "{csv}"
    );
    let table = text(&run(&["analyze", &path]).stdout);
    assert!(
        table.contains(r"kubectl\u{1b}]0;pwned\u{7}\u{1b}[2J"),
        "{table}"
    );
}

#[test]
fn a_window_that_ends_before_it_starts_is_a_usage_error() {
    let out = run(&[
        "analyze",
        "--since",
        "1h",
        "--until",
        "2h",
        &fixture("eks-audit.jsonl.gz"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("must be before --until"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn grouping_top_and_filters() {
    let path = fixture("eks-audit.jsonl.gz");
    let all = analyze_json(&[&path]);
    let total = all["summary"]["secret_requests"].as_u64().unwrap();
    let by = analyze_json(&["--by", "namespace,user", "--top", "5", &path]);
    let rows = by["rollup"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert!(rows
        .iter()
        .all(|r| r.get("secret").is_none() && r["namespace"].is_string() && r["user"].is_string()));
    assert!(rows
        .windows(2)
        .all(|w| w[0]["requests"].as_u64() >= w[1]["requests"].as_u64()));
    assert_eq!(
        by["summary"]["secret_requests"].as_u64(),
        Some(total),
        "totals cover every row"
    );
    // The key names of the JSON output (and the README), and the kebab-case
    // spellings too.
    for by in ["source_ip,user_agent", "source-ip,user-agent"] {
        let doc = analyze_json(&["--by", by, "--top", "3", &path]);
        let rows = doc["rollup"].as_array().unwrap();
        assert!(
            rows.len() == 3
                && rows
                    .iter()
                    .all(|r| r["source_ip"].is_string() && r["user_agent"].is_string()),
            "--by {by}: {rows:?}"
        );
    }
    let by_verb = analyze_json(&["--by", "verb", &path]);
    assert!(by_verb["rollup"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r.get("scope").is_none() && r["verb"].is_string()));

    let prod = analyze_json(&["--namespace", "prod", &path]);
    let rows = prod["rollup"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r["namespace"] == "prod" || r["namespace"] == "*"));
    assert!(
        rows.iter().any(|r| r["namespace"] == "*"),
        "cluster-wide requests cover prod too"
    );
    let s = &prod["summary"];
    assert!(s["filtered"].as_u64().unwrap() > 0);
    let n = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(
        n("records"),
        n("malformed") + n("skipped") + n("filtered") + n("secret_records")
    );

    let bob = "arn:aws:sts::123456789012:assumed-role/Developer/bob";
    let doc = analyze_json(&["--requests", "--user", bob, &path]);
    let reqs = doc["requests"].as_array().unwrap();
    assert!(!reqs.is_empty() && reqs.iter().all(|r| r["user"] == bob));

    // The generator starts at 2026-11-01T00:00:00Z, a few ms per event.
    let first = analyze_json(&["--requests", "--until", "2026-11-01T00:00:02Z", &path]);
    let later = analyze_json(&["--requests", "--start-time", "2026-11-01T00:00:02Z", &path]);
    let (a, b) = (
        first["requests"].as_array().unwrap(),
        later["requests"].as_array().unwrap(),
    );
    assert!(!a.is_empty() && !b.is_empty());
    assert_eq!((a.len() + b.len()) as u64, total);
    // RFC 3339 with fractions: compare without the zone letter.
    assert!(a
        .iter()
        .all(|r| r["time"].as_str().unwrap() < "2026-11-01T00:00:02"));
    assert!(b
        .iter()
        .all(|r| r["time"].as_str().unwrap() >= "2026-11-01T00:00:02"));
    let times: Vec<&str> = b.iter().map(|r| r["time"].as_str().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "requests are listed oldest first"
    );
}

#[test]
fn table_csv_and_markdown_render_the_same_rows() {
    let path = fixture("handmade/stages-and-scopes.jsonl");
    let table = text(&run(&["analyze", &path]).stdout);
    assert!(
        table.starts_with(
            "4 requests (1 denied) by 4 principals in 3 namespaces, 1 cluster-wide\n\
             from 2026-11-02T10:00:00Z to 2026-11-02T10:00:00Z, 4 rows from 1 input\n"
        ),
        "{table}"
    );
    assert!(
        table.contains("5 records: 5 secret, 0 skipped, 0 filtered, 0 malformed"),
        "{table}"
    );
    assert!(table.contains("stripe-key") && table.contains("kubernetes-admin"));
    let csv = text(&run(&["analyze", "--output", "csv", &path]).stdout);
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("NAMESPACE,SECRET,USER,SCOPE,REQUESTS,VERBS,DENIED"));
    assert_eq!(lines.count(), 4);
    let md = text(&run(&["analyze", "--output", "markdown", "--requests", &path]).stdout);
    assert!(
        md.contains("| TIME | VERB | NAMESPACE |") && md.contains("| ---: |"),
        "{md}"
    );
    // Options may come before the subcommand.
    let before = run(&["--output", "csv", "analyze", &path]);
    assert_eq!(text(&before.stdout), csv);
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    // Every format of every offline command that prints data, as with `| head`.
    let sample = fixture("eks-audit.jsonl.gz");
    let pattern = "{ $.objectRef.resource = \"secrets\" }";
    let commands: [&[&str]; 5] = [
        &["analyze", "--requests", &sample],
        &["analyze", &sample],
        &["test-pattern", pattern, &sample],
        &["queries", "list"],
        &["iam-policy"],
    ];
    for args in commands {
        for format in ["table", "json", "csv", "markdown"] {
            if args[0] == "iam-policy" && format != "json" {
                continue;
            }
            let mut child = Command::new(BIN)
                .args(args)
                .args(["--output", format])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            drop(child.stdout.take());
            let out = child.wait_with_output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{args:?} {format}: {}",
                text(&out.stderr)
            );
            assert_eq!(text(&out.stderr), "", "{args:?} {format}");
        }
    }
}

#[test]
fn the_prefilter_agrees_with_a_full_parse_of_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("gen.jsonl");
    generate(&generated, "jsonl", &["--stages-all", "--exotic"]);
    let cw = dir.path().join("gen.cwexport");
    generate(&cw, "cwexport", &["--exotic"]);
    let adversarial = fixture("handmade/prefilter-adversarial.jsonl");
    for path in [
        adversarial.as_str(),
        generated.to_str().unwrap(),
        cw.to_str().unwrap(),
    ] {
        for threads in ["1", "2"] {
            let fast = analyze_json(&["--requests", "--threads", threads, path]);
            let full = analyze_json(&["--requests", "--threads", threads, "--full-parse", path]);
            assert_eq!(fast, full, "{path}: fast path and full parse disagree");
        }
    }
    let doc = analyze_json(&[&adversarial]);
    assert_eq!(doc["summary"]["records"], 9);
    assert_eq!(
        doc["summary"]["secret_requests"], 3,
        "only objectRef.resource == secrets counts"
    );
}

#[test]
fn a_plain_file_split_across_threads_and_windows_counts_and_numbers_lines_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("split.jsonl");
    // About 7 MB: read whole, it fills more than one 4 MiB buffer, in
    // 512 KiB steps.
    let truth = generate_events(&path, "jsonl", 6000, &["--stages-all", "--exotic"]);
    // Malformed lines near the start, the middle and the end.
    let mut body = std::fs::read_to_string(&path).unwrap();
    let lines = body.lines().count();
    let mut out: Vec<String> = body.lines().map(str::to_string).collect();
    for at in [3, lines / 2, lines - 2] {
        out[at] = "not json".into();
    }
    body = out.join("\n") + "\n";
    std::fs::write(&path, &body).unwrap();
    let p = path.to_str().unwrap();
    let run_with = |extra: &[&str]| {
        let mut args = vec!["analyze", "--output", "json", "-v"];
        args.extend_from_slice(extra);
        args.push(p);
        run(&args)
    };
    let one = run_with(&["--threads", "1"]);
    assert!(one.status.success(), "{}", text(&one.stderr));
    // Split into ranges across two threads. Ranges are scanned through
    // mapped windows cut at line ends; a line longer than a window is read
    // instead, and so is every range with windows off. None of it changes
    // the answer or the line numbers.
    let ways: [&[&str]; 4] = [
        &["--threads", "2", "--range-size", "256K"],
        &["--range-size", "2M", "--window-size", "16K"],
        &["--range-size", "2M", "--window-size", "1K"],
        &["--range-size", "256K", "--window-size", "0"],
    ];
    let outputs: Vec<_> = ways.iter().map(|way| run_with(way)).collect();
    for (way, other) in ways.iter().zip(&outputs) {
        assert!(other.status.success(), "{}", text(&other.stderr));
        assert_eq!(
            text(&one.stdout),
            text(&other.stdout),
            "{way:?} changes the answer"
        );
        assert_eq!(
            text(&one.stderr),
            text(&other.stderr),
            "{way:?} changes the malformed list"
        );
    }
    let split = &outputs[0];
    for at in [4, lines / 2 + 1, lines - 1] {
        assert!(
            text(&split.stderr).contains(&format!("split.jsonl:{at}: not a JSON object")),
            "{}",
            text(&split.stderr)
        );
    }
    let doc: Value = serde_json::from_slice(&split.stdout).unwrap();
    assert_eq!(doc["summary"]["records"], truth["records"]);
    assert_eq!(doc["summary"]["malformed"], 3);
}

#[test]
fn progress_shows_on_a_terminal_and_nowhere_else() {
    // `script` (util-linux) gives the program a terminal for stderr. A
    // quick run shows no bar, so a named pipe that stays open for a while
    // makes this one last (it adds nothing to the total).
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("slow.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let _w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1500));
        })
    };
    let cmd = format!(
        "{BIN} analyze --output json {} {} {} > /dev/null",
        fixture("s3-export"),
        fixture("eks-audit.jsonl.gz"),
        fifo.display()
    );
    let tty = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("the `script` command (util-linux) runs the program on a terminal; apt-get install bsdutils");
    assert!(tty.status.success(), "{}", text(&tty.stderr));
    let screen = text(&tty.stdout);
    // The bar counts the bytes of every input (the write-test object is none).
    let size = |p: &str| std::fs::metadata(p).unwrap().len();
    let streams = root().join("fixtures/s3-export/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    let total = size(&fixture("eks-audit.jsonl.gz"))
        + ["15", "16"]
            .iter()
            .map(|s| {
                let p = streams.join(format!("kube-apiserver-audit-{s:0>32}/000000.gz"));
                size(p.to_str().unwrap())
            })
            .sum::<u64>();
    let bar = format!("KiB/{:.2} KiB", total as f64 / 1024.0);
    assert!(
        screen.contains(&bar),
        "no progress bar ({bar}) on the terminal: {screen:?}"
    );
    writer.join().unwrap();
    let piped = run(&[
        "analyze",
        "--output",
        "json",
        &fixture("s3-export"),
        &fixture("eks-audit.jsonl.gz"),
    ]);
    assert!(
        text(&piped.stderr).is_empty(),
        "progress leaked into a pipe: {}",
        text(&piped.stderr)
    );
}

#[test]
fn colour_follows_the_color_option_and_never_reaches_data_formats() {
    let path = fixture("handmade/stages-and-scopes.jsonl");
    let always = text(&run(&["analyze", "--color", "always", &path]).stdout);
    assert!(
        always.contains("\u{1b}["),
        "--color always colours the table header"
    );
    let never = text(&run(&["analyze", "--color", "never", &path]).stdout);
    assert!(!never.contains('\u{1b}'));
    // auto: stdout is a pipe here, so no colour.
    assert!(!text(&run(&["analyze", &path]).stdout).contains('\u{1b}'));
    for output in ["json", "csv", "markdown"] {
        let out = text(&run(&["analyze", "--color", "always", "--output", output, &path]).stdout);
        assert!(!out.contains('\u{1b}'), "{output} carries colour");
    }
}

#[test]
fn every_request_row_names_the_line_or_element_its_first_record_came_from() {
    let dir = tempfile::tempdir().unwrap();
    // About 12 MB of lines: several 4 MiB blocks, scanned on two threads.
    let lines = dir.path().join("big.jsonl");
    generate_events(&lines, "jsonl", 40_000, &[]);
    let text = std::fs::read_to_string(&lines).unwrap();
    let by_line: Vec<&str> = text.lines().collect();
    let doc = analyze_json(&["--requests", "--threads", "2", lines.to_str().unwrap()]);
    let reqs = doc["requests"].as_array().unwrap();
    assert!(reqs.len() > 1000, "{} requests", reqs.len());
    let prefix = format!("{}:", lines.display());
    for r in reqs {
        let source = r["source"].as_str().unwrap();
        let n: usize = source
            .strip_prefix(&prefix)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("source {source:?} is not {prefix}<line>"));
        let id = r["audit_id"].as_str().unwrap();
        assert!(
            by_line[n - 1].contains(id),
            "{source} does not hold request {id}"
        );
    }

    // A container names the element.
    let list = dir.path().join("list.json");
    generate(&list, "eventlist", &[]);
    let doc = analyze_json(&["--requests", list.to_str().unwrap()]);
    let first = doc["requests"][0]["source"].as_str().unwrap();
    assert!(
        first.starts_with(&format!("{}: items[", list.display())),
        "{first}"
    );
}

#[test]
fn input_that_is_not_what_the_user_thinks_is_said_not_silently_empty() {
    let dir = tempfile::tempdir().unwrap();
    let sample = fixture("eks-audit.jsonl.gz");

    // An empty directory: a warning naming it; --strict fails.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let empty = empty.to_str().unwrap();
    let o = run(&["analyze", empty]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        text(&o.stderr).contains("an empty directory: no file to read in it"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(run(&["analyze", "--strict", empty]).status.code(), Some(1));

    // JSON lines of something else.
    let other = dir.path().join("app.log");
    std::fs::write(&other, "{\"level\":\"info\",\"msg\":\"hello\"}\n").unwrap();
    let o = run(&["analyze", other.to_str().unwrap()]);
    assert!(
        text(&o.stderr).contains("app.log: no Kubernetes audit event in its first 64 KiB"),
        "{}",
        text(&o.stderr)
    );
    // A real audit log gets no such warning.
    assert!(!text(&run(&["analyze", &sample]).stderr).contains("audit event"));

    // A window that excludes every record says where the data is.
    let o = run(&[
        "analyze",
        "--since",
        "2020-01-01T00:00:00Z",
        "--until",
        "2020-01-02T00:00:00Z",
        &sample,
    ]);
    assert_eq!(
        text(&o.stderr),
        "warning: the filters (--since, --until, --namespace, --user) excluded all 132 secret \
         record(s); the secret records span 2026-11-01T00:00:00Z to 2026-11-01T00:00:06Z\n"
    );

    // Counts of zero are usage errors with the fix.
    for (flag, fix) in [
        ("--top", "omit --top for every row"),
        ("--threads", "omit --threads for every core"),
    ] {
        let o = run(&["analyze", flag, "0", &sample]);
        assert_eq!(o.status.code(), Some(2));
        assert!(
            text(&o.stderr).contains(&format!("must be 1 or more ({fix})")),
            "{}",
            text(&o.stderr)
        );
    }

    // A window that ends before it starts, and a time without a zone.
    let o = run(&[
        "analyze",
        "--since",
        "2026-11-02T00:00:00Z",
        "--until",
        "2026-11-01T00:00:00Z",
        &sample,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--since (2026-11-02T00:00:00+00:00) must be before --until"));
    let o = run(&["analyze", "--since", "2026-11-01T00:00:00", &sample]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("has no time zone: add Z or an offset"),
        "{}",
        text(&o.stderr)
    );
}
