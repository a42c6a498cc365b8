//! What a person sees on a terminal: the program runs on a pseudo-terminal
//! of a given width, and its default view must fit that width; pipes and
//! data formats keep every column (tests/snapshots.rs).

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_secret-audit");

/// Runs the program with stdout on a terminal `cols` wide; returns the exit
/// code, what the terminal showed (line ends as `\n`) and stderr.
fn on_terminal(cols: u16, args: &[&str]) -> (i32, String, String) {
    let (master, slave) = common::pty(cols);
    let shown = common::drain(master);
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("SECRET_AUDIT_OUTPUT")
        .env_remove("SECRET_AUDIT_WIDE")
        .env_remove("COLUMNS")
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave))
        .stderr(Stdio::piped())
        .spawn()
        .expect("run secret-audit");
    let mut stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let code = child.wait().unwrap().code().unwrap_or(-1);
    let shown = shown.join().unwrap().replace("\r\n", "\n");
    (code, shown, err.join().unwrap())
}

fn width(line: &str) -> usize {
    line.chars().count()
}

#[test]
fn the_default_view_fits_80_and_120_columns() {
    for cols in [80u16, 120] {
        let (code, shown, err) = on_terminal(cols, &["analyze", "fixtures/eks-audit.jsonl.gz"]);
        assert_eq!(code, 0, "{err}");
        for line in shown.lines() {
            assert!(width(line) <= cols as usize, "{cols}: {line}");
        }
        // Every row, one line each: the 119 rows, their table and the
        // headline and footer lines.
        assert_eq!(shown.lines().count(), 119 + 4 + 4, "{shown}");
        insta::assert_snapshot!(format!("analyze-terminal-{cols}"), shown);
    }
}

#[test]
fn the_terminal_view_keeps_names_recognisable() {
    let (_, shown, _) = on_terminal(120, &["analyze", "fixtures/eks-audit.jsonl.gz"]);
    // A service account keeps its namespace and name; a long secret name
    // keeps both ends.
    assert!(shown.contains("…nitoring:grafana"), "{shown}");
    assert!(shown.contains("sh.helm.…1.web.v3"), "{shown}");
    // The headline of totals comes first.
    let first = shown.lines().next().unwrap();
    assert_eq!(
        first,
        "132 requests (7 denied) by 47 principals in 11 namespaces, 3 cluster-wide"
    );
    assert!(shown.contains("(--wide shows every column)"), "{shown}");
}

#[test]
fn wide_shows_every_column_whole() {
    let (code, shown, err) = on_terminal(
        80,
        &[
            "analyze",
            "--wide",
            "--top",
            "3",
            "fixtures/eks-audit.jsonl.gz",
        ],
    );
    assert_eq!(code, 0, "{err}");
    for header in [
        "SCOPE",
        "FIRST SEEN",
        "SOURCE IPS",
        "USER AGENTS",
        "LAST SEEN",
    ] {
        assert!(shown.contains(header), "{header}: {shown}");
    }
    assert!(
        shown.contains("system:serviceaccount:monitoring:grafana"),
        "{shown}"
    );
    assert!(!shown.contains('…'), "{shown}");
    assert!(!shown.contains("--wide"), "{shown}");
}

#[test]
fn requests_on_a_terminal_fit_too() {
    let args = ["analyze", "--requests", "fixtures/eks-audit.jsonl.gz"];
    let (code, shown, err) = on_terminal(80, &args);
    assert_eq!(code, 0, "{err}");
    for line in shown.lines() {
        assert!(width(line) <= 80, "{line}");
    }
    assert!(shown.contains("TIME"), "{shown}");
    assert!(!shown.contains("AUDIT ID"), "{shown}");
}

#[test]
fn a_quick_run_shows_no_progress_bar() {
    let (master, slave) = common::pty(100);
    let shown = common::drain(master);
    let out = Command::new(BIN)
        .args(["analyze", "fixtures/eks-audit.jsonl.gz"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .status()
        .unwrap();
    assert!(out.success());
    assert_eq!(shown.join().unwrap(), "");
}

#[test]
fn a_long_run_shows_a_bar_and_ctrl_c_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("audit.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (master, slave) = common::pty(100);
    let shown = common::drain(master);
    let mut child = Command::new(BIN)
        .arg("analyze")
        .arg(&fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    // A writer that sends a little and then keeps the run waiting.
    let writer = std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        std::io::Write::write_all(&mut w, b"{\"kind\":\"Event\"}\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2500));
    });
    std::thread::sleep(std::time::Duration::from_millis(2000));
    // SAFETY: the child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let shown = shown.join().unwrap();
    assert_eq!(status.code(), Some(130), "{shown:?}");
    assert!(shown.contains("B/s"), "the bar was shown: {shown:?}");
    assert!(
        shown.ends_with("\r\u{1b}[2Kinterrupted: output incomplete\n")
            || shown.ends_with("\r\u{1b}[2Kinterrupted: output incomplete\r\n"),
        "{shown:?}"
    );
    writer.join().unwrap();
}

#[test]
fn every_offline_table_fits_80_columns() {
    let pattern = "{ $.objectRef.resource = \"secrets\" }";
    let runs: [&[&str]; 7] = [
        &["alert", "--list-rules"],
        &[
            "queries",
            "run",
            "access-detail",
            "fixtures/eks-audit.jsonl.gz",
        ],
        &[
            "queries",
            "run",
            "access-by-user",
            "fixtures/eks-audit.jsonl.gz",
        ],
        &["alert", "fixtures/handmade/secret-payloads.jsonl"],
        &["queries", "list"],
        &["test-pattern", pattern, "fixtures/eks-audit.jsonl.gz"],
        &[
            "analyze",
            "--by",
            "user,user_agent",
            "fixtures/eks-audit.jsonl.gz",
        ],
    ];
    for args in runs {
        let (_, shown, err) = on_terminal(80, args);
        assert!(!shown.is_empty(), "{args:?}: {err}");
        for line in shown.lines() {
            assert!(width(line) <= 80, "{args:?}: {line}");
        }
    }
}
