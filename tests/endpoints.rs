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
