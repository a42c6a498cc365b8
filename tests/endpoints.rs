//! Endpoints that misbehave, served by a scripted HTTP server on a loopback
//! port (the emulator cannot be made to): errors are said truly and nothing
//! waits forever.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Output;
use std::time::{Duration, Instant};

/// Serves every request with the same answer; returns its URL.
fn serve(status: &'static str, content_type: &'static str, body: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    // Headers, then the body by its length.
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut request = vec![0u8; length];
                    if reader.read_exact(&mut request).is_err() {
                        return;
                    }
                    let head = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    if conn.write_all(head.as_bytes()).is_err() || conn.write_all(body).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn run(args: &[&str], url: &str) -> (Output, Duration) {
    let mut all = args.to_vec();
    all.extend(["--endpoint-url", url, "--region", "us-east-1"]);
    let started = Instant::now();
    let out = common::run_isolated(
        &all,
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    );
    (out, started.elapsed())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn an_html_500_page_is_a_service_error_that_names_what_came_back() {
    let url = serve(
        "500 Internal Server Error",
        "text/html",
        b"<!doctype html>\n<html><title>500 Internal Server Error</title></html>",
    );
    let (out, _) = run(&["status", "--cluster", "prod"], &url);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(254), "{err}");
    assert!(
        err.contains("DescribeLogStreams failed: service error (HTTP 500: <!doctype html>)"),
        "{err}"
    );
    assert!(!err.contains("not implemented"), "{err}");
}

#[test]
fn a_garbage_answer_names_its_status_and_first_line_sanitized() {
    let url = serve(
        "200 OK",
        "application/x-amz-json-1.1",
        b"garbage \x1b[2J here\nsecond line",
    );
    let (out, _) = run(&["status", "--cluster", "prod"], &url);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(254), "{err}");
    assert!(err.contains("HTTP 200: garbage"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(!err.contains("second line"), "{err}");
}

#[test]
fn report_gives_up_on_an_endpoint_that_only_throttles() {
    let url = serve(
        "400 Bad Request",
        "application/x-amz-json-1.1",
        br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
    );
    let (out, took) = run(
        &[
            "report",
            "--cluster",
            "prod",
            "--since",
            "1h",
            "--operation-timeout",
            "3s",
            // The SDK's own retries could outlast the operation timeout on
            // a busy machine; the runner's give-up is what is tested.
            "--max-attempts",
            "1",
        ],
        &url,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(254), "{err}");
    assert!(err.contains("throttled"), "{err}");
    assert!(err.contains("Rate exceeded"), "{err}");
    // It stops soon after --operation-timeout, not at --timeout.
    assert!(took < Duration::from_secs(30), "{took:?}");
}

/// Answers every request with a 200 whose chunked body never ends.
fn serve_endless() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\n\
                            transfer-encoding: chunked\r\n\r\n";
                let mut chunk = format!("{:x}\r\n", 1 << 20).into_bytes();
                chunk.extend(std::iter::repeat_n(b' ', 1 << 20));
                chunk.extend(b"\r\n");
                if conn.write_all(head.as_bytes()).is_err()
                    || conn.write_all(b"1\r\n{\r\n").is_err()
                {
                    return;
                }
                while conn.write_all(&chunk).is_ok() {}
            });
        }
    });
    url
}

#[test]
fn an_answer_that_never_ends_is_cut_off_at_the_response_limit() {
    let url = serve_endless();
    let mut cmd = common::isolated_command();
    cmd.args(["status", "--cluster", "prod", "--endpoint-url", &url])
        .args(["--region", "us-east-1", "--operation-timeout", "60s"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    let started = Instant::now();
    let (out, peak) = common::measured(cmd);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(255), "{err}");
    assert!(err.contains("the answer passed 64 MiB"), "{err}");
    // Read once, not once per attempt, and not held past the limit (it
    // reached 1.2 GB before the limit).
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "{:?}",
        started.elapsed()
    );
    assert!(peak < 200 << 10, "peak: {peak} KiB");
}

/// Accepts connections and never answers.
fn serve_silence() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    url
}

fn run_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--region", "us-east-1"]);
    common::run_isolated(&all, env)
}

const KEYS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
];

#[test]
fn access_denied_names_the_action_and_points_at_iam_policy() {
    let url = serve(
        "400 Bad Request",
        "application/x-amz-json-1.1",
        br#"{"__type":"AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/ro/me is not authorized to perform: logs:DescribeLogStreams"}"#,
    );
    let (out, _) = run(&["status", "--cluster", "prod"], &url);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(254), "{err}");
    assert_eq!(
        err,
        "error: access denied: these credentials may not call logs:DescribeLogStreams; \
         `secret-audit iam-policy` prints the policy the commands need\n"
    );
    // The service's own words, with -v.
    let (out, _) = run(&["status", "--cluster", "prod", "-v"], &url);
    assert!(stderr(&out).contains("  cause: "), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not authorized"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_silent_endpoint_times_out_with_the_fix() {
    let url = serve_silence();
    let (out, took) = run(
        &[
            "status",
            "--cluster",
            "prod",
            "--operation-timeout",
            "2s",
            "--attempt-timeout",
            "1s",
        ],
        &url,
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(255), "{err}");
    assert_eq!(
        err,
        format!(
            "error: no answer from {url} in time: raise --operation-timeout or \
             --attempt-timeout, or check --endpoint-url (DescribeLogStreams)\n"
        )
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn credentials_and_profiles_fail_in_one_line_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, "[profile dev]\nregion = us-east-1\n").unwrap();
    let config = config.to_str().unwrap();

    // No credentials anywhere.
    let out = run_with(&["status", "--cluster", "prod"], &[]);
    assert_eq!(out.status.code(), Some(253));
    assert_eq!(
        stderr(&out),
        "error: no AWS credentials found: log in (aws sso login, aws configure), set AWS_PROFILE, \
         or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n"
    );

    // An unknown profile, although keys are in the environment.
    let mut env = KEYS.to_vec();
    env.push(("AWS_CONFIG_FILE", config));
    let out = run_with(&["status", "--cluster", "prod", "--profile", "prd"], &env);
    assert_eq!(out.status.code(), Some(253));
    assert_eq!(
        stderr(&out),
        "error: profile prd not found in the AWS config and credentials files; defined: dev\n"
    );
    // AWS_PROFILE is held to the same rule.
    env.push(("AWS_PROFILE", "prd"));
    let out = run_with(&["status", "--cluster", "prod"], &env);
    assert!(
        stderr(&out).contains("profile prd not found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_endpoint_url_without_a_scheme_is_refused_before_any_call() {
    for (url, said) in [
        (
            "localhost:5000",
            "error: endpoint URL localhost:5000 has no scheme: write http://localhost:5000 (or https://)\n",
        ),
        (
            "http://",
            "error: endpoint URL http:// has no host: write it as http://HOST:PORT\n",
        ),
    ] {
        let record = tempfile::NamedTempFile::new().unwrap();
        let mut env = KEYS.to_vec();
        let path = record.path().to_str().unwrap().to_owned();
        env.push(("SECRET_AUDIT_RECORD_CALLS", &path));
        let out = run_with(&["status", "--cluster", "prod", "--endpoint-url", url], &env);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert_eq!(stderr(&out), said);
        assert_eq!(std::fs::read_to_string(record.path()).unwrap(), "", "no call was made");
    }
}
