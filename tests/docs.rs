//! Docs that cannot drift: every command shown in README.md and docs/*.md is
//! run here against the current binary, and what it prints must match what
//! the page shows.
//!
//! A page shows a session as a fenced block of `$ command` lines, each
//! followed by its output (stdout and stderr, as a terminal shows them).
//! A `...` line stands for any lines; times, ages and the emulator's port are
//! compared as placeholders, and table padding is not compared (a time that
//! is one digit longer widens a column). A ```sh block lists commands
//! without output: they must succeed.
//!
//! An HTML comment on the line before a block says what it needs:
//! `<!-- doc-test: emulator reset; audit-group prod; ... -->` runs the block
//! against the local AWS emulator (reset, then the listed set-up steps);
//! (steps: `audit-group C`, `spread-group C`, `filter C NAME`,
//! `delete-metric-filter C NAME`, `attacks C`, `sns-queue NAME`);
//! `<!-- doc-test: emulator; STEP -->` goes on from the state the page's
//! previous block left; `<!-- doc-test: generate two-day -->` writes the
//! generator's two-day scenario to `two-day.jsonl`; `<!-- doc-test: not run: REASON -->` skips a block
//! (a real AWS account only). Commands this file never runs are listed in
//! [`NOT_RUN`] with the reason.
//!
//! `DOCS_UPDATE=1 cargo test --test docs` writes what the commands print
//! into the pages (keeping their `...` cuts), to review as a diff.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Commands shown in the docs that this suite does not run, and why.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "scripts/test",
        "it runs this suite (CI runs it on every change)",
    ),
    (
        "scripts/bench",
        "minutes and 6.5 GB of data; its own targets check it",
    ),
    (
        "scripts/fuzz",
        "a long campaign; the suite runs the same targets",
    ),
    ("cargo install", "it builds the binary this suite runs"),
    ("aws ", "the AWS CLI against a real account"),
];

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One `$` command and the output the page shows for it.
#[derive(Debug)]
struct Shown {
    command: String,
    /// Lines of expected output; `None` for a ```sh command (must succeed).
    output: Option<Vec<String>>,
    /// Line range of the output in the page (for DOCS_UPDATE).
    lines: std::ops::Range<usize>,
}

#[derive(Debug)]
struct Block {
    /// The page's line number of the opening fence (1-based).
    at: usize,
    directive: Option<String>,
    commands: Vec<Shown>,
}

fn pages() -> Vec<PathBuf> {
    let mut pages = vec![Path::new(ROOT).join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The fenced blocks of a page that show commands.
fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i];
        if !fence.starts_with("```") {
            i += 1;
            continue;
        }
        let lang = fence.trim_start_matches('`').trim();
        let directive = i
            .checked_sub(1)
            .map(|p| lines[p].trim())
            .and_then(|l| l.strip_prefix("<!-- doc-test:"))
            .map(|l| l.trim_end_matches("-->").trim().to_owned());
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && !lines[end].starts_with("```") {
            end += 1;
        }
        let body = &lines[start..end];
        let mut commands = Vec::new();
        if lang == "sh" {
            for (k, l) in body.iter().enumerate() {
                let cmd = l.split("  #").next().unwrap().trim();
                if !cmd.is_empty() && !cmd.starts_with('#') {
                    commands.push(Shown {
                        command: cmd.to_owned(),
                        output: None,
                        lines: start + k..start + k,
                    });
                }
            }
        } else {
            let mut k = 0;
            while k < body.len() {
                let Some(first) = body[k].strip_prefix("$ ") else {
                    k += 1;
                    continue;
                };
                // A command may go on over lines ending in `\`.
                let mut command = first.to_owned();
                while command.ends_with('\\') && k + 1 < body.len() {
                    command.pop();
                    k += 1;
                    command.push_str(body[k].trim_start());
                }
                k += 1;
                let from = k;
                while k < body.len() && !body[k].starts_with("$ ") {
                    k += 1;
                }
                let mut to = k;
                while to > from && body[to - 1].trim().is_empty() {
                    to -= 1;
                }
                commands.push(Shown {
                    command,
                    output: Some(body[from..to].iter().map(|s| s.to_string()).collect()),
                    lines: start + from..start + to,
                });
            }
        }
        if !commands.is_empty() {
            out.push(Block {
                at: i + 1,
                directive,
                commands,
            });
        }
        i = end + 1;
    }
    out
}

/// Where the commands of a page run: the repository, an empty home, no
/// AWS set-up of the developer's, and `secret-audit` on the PATH.
struct Shell {
    env: Vec<(String, String)>,
    last: Vec<i32>,
    /// The working directory: empty but for links to the fixtures and the
    /// scripts, so what a command writes stays out of the repository.
    dir: tempfile::TempDir,
}

impl Shell {
    fn new() -> Shell {
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_secret-audit"))
            .parent()
            .unwrap();
        let path = format!(
            "{}:{}:{}",
            bin_dir.display(),
            Path::new(ROOT).join(".venv/bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let dir = tempfile::tempdir().unwrap();
        for linked in ["fixtures", "scripts"] {
            std::os::unix::fs::symlink(Path::new(ROOT).join(linked), dir.path().join(linked))
                .unwrap();
        }
        Shell {
            dir,
            env: vec![
                ("PATH".into(), path),
                ("NO_COLOR".into(), "1".into()),
                ("AWS_CONFIG_FILE".into(), "/nonexistent/config".into()),
                (
                    "AWS_SHARED_CREDENTIALS_FILE".into(),
                    "/nonexistent/credentials".into(),
                ),
                ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ],
            last: vec![0],
        }
    }

    fn aws(&mut self, url: &str) {
        for (k, v) in [
            ("AWS_ENDPOINT_URL", url),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ] {
            self.env.retain(|(name, _)| name != k);
            self.env.push((k.into(), v.into()));
        }
    }

    /// Runs one command line in bash; returns what it printed (stdout and
    /// stderr as one stream, as on a terminal).
    fn run(&mut self, command: &str) -> String {
        // `echo $?` and `echo ${PIPESTATUS[0]}` ask about the last command.
        let status = |i: usize| self.last.get(i).copied().unwrap_or(-1);
        match command {
            "echo $?" => return format!("{}\n", self.last.last().copied().unwrap_or(-1)),
            "echo ${PIPESTATUS[0]}" => return format!("{}\n", status(0)),
            _ => {}
        }
        let script = format!("{command}\nprintf '\\n\\x1e%s' \"${{PIPESTATUS[*]}}\"");
        let out = Command::new("bash")
            .args(["-c", &format!("exec 2>&1\n{script}")])
            .current_dir(self.dir.path())
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("HOME", self.dir.path())
            .output()
            .expect("run bash");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (printed, codes) = text.rsplit_once("\n\x1e").expect("status marker");
        self.last = codes
            .split_whitespace()
            .map(|c| c.parse().unwrap_or(-1))
            .collect();
        let mut printed = printed.to_owned();
        if !printed.is_empty() && !printed.ends_with('\n') {
            printed.push('\n');
        }
        printed
    }
}

/// The text with what differs from run to run replaced, and table padding
/// squeezed.
fn normalise(line: &str) -> String {
    use regex::Regex;
    use std::sync::OnceLock;
    static RULES: OnceLock<Vec<(Regex, &str)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            (
                r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})",
                "<TIME>",
            ),
            (r"\(([0-9]+[smhd])+ ago\)", "(<AGE> ago)"),
            (r#""newest_event_age_seconds": [0-9]+"#, r#""newest_event_age_seconds": <AGE>"#),
            (r"http://127\.0\.0\.1:[0-9]+", "<ENDPOINT>"),
            (r"(─|═|-){2,}", "-"),
            (r" {2,}", " "),
        ]
        .into_iter()
        .map(|(p, r)| (Regex::new(p).unwrap(), r))
        .collect()
    });
    let mut s = line.trim_end().to_owned();
    for (re, with) in rules {
        s = re.replace_all(&s, *with).into_owned();
    }
    s
}

/// Whether `actual` is what `expected` shows (`...` for any lines).
fn matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e.trim() == "..." => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| normalise(e) == normalise(a) && matches(rest, more)),
    }
}

/// The new text of a shown output: the actual lines, cut where the page
/// cuts (`...` between a head and a tail).
fn updated(expected: &[String], actual: &[&str]) -> Vec<String> {
    match expected.iter().position(|l| l.trim() == "...") {
        None => actual.iter().map(|s| s.to_string()).collect(),
        Some(cut) => {
            let tail = expected.len() - cut - 1;
            let head = cut.min(actual.len());
            let tail = tail.min(actual.len() - head);
            let mut out: Vec<String> = actual[..head].iter().map(|s| s.to_string()).collect();
            out.push("...".into());
            out.extend(actual[actual.len() - tail..].iter().map(|s| s.to_string()));
            out
        }
    }
}

/// Sets up the emulator as a block's directive says.
fn set_up(emu: &common::Emu, steps: &[&str]) {
    for step in steps {
        let words: Vec<&str> = step.split_whitespace().collect();
        match words.as_slice() {
            ["audit-group", cluster] => {
                emu.audit_group(cluster);
            }
            // The same events, one every 2 s, ending 10 minutes ago.
            ["spread-group", cluster] => {
                let events = common::audit_events();
                let end = chrono::Utc::now().timestamp_millis() - 600_000;
                let n = events.len() as i64;
                let spread: Vec<(i64, &str)> = events
                    .iter()
                    .enumerate()
                    .map(|(i, (_, m))| (end - (n - 1 - i as i64) * 2000, m.as_str()))
                    .collect();
                emu.group_with_events(
                    &format!("/aws/eks/{cluster}/cluster"),
                    "kube-apiserver-audit-5d2e4c1b0a9f8e7d",
                    spread.into_iter(),
                );
            }
            // Two attacks in another stream, a minute ago: a secret read
            // with curl, and a developer listing every namespace's secrets.
            ["attacks", cluster] => {
                let at = chrono::Utc::now() - chrono::Duration::minutes(1);
                let t = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                let event = |id: u32, user: &str, ns: Option<&str>, verb: &str, ua: &str| {
                    let (uri, obj) = match ns {
                        Some(ns) => (
                            format!("/api/v1/namespaces/{ns}/secrets/db"),
                            format!(
                                r#"{{"resource":"secrets","namespace":"{ns}","name":"db","apiVersion":"v1"}}"#
                            ),
                        ),
                        None => (
                            "/api/v1/secrets".to_owned(),
                            r#"{"resource":"secrets","apiVersion":"v1"}"#.to_owned(),
                        ),
                    };
                    format!(
                        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"7e3c1a52-0000-4000-8000-{id:012}","stage":"ResponseComplete","requestURI":"{uri}","verb":"{verb}","user":{{"username":"{user}","groups":["system:authenticated"]}},"sourceIPs":["203.0.113.50"],"userAgent":"{ua}","objectRef":{obj},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"{t}","stageTimestamp":"{t}"}}"#
                    )
                };
                let events = [
                    event(
                        1,
                        "system:serviceaccount:payments:billing",
                        Some("payments"),
                        "get",
                        "curl/8.5.0",
                    ),
                    event(
                        2,
                        "arn:aws:sts::123456789012:assumed-role/Developer/dave",
                        None,
                        "list",
                        "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625",
                    ),
                ];
                emu.group_with_events_in(
                    &format!("/aws/eks/{cluster}/cluster"),
                    "kube-apiserver-audit-attacks",
                    events.iter().map(|e| (at.timestamp_millis(), e.as_str())),
                );
            }
            // GIB gibibytes of IncomingBytes into the cluster's log group,
            // HOURS ago.
            ["incoming-bytes", cluster, gib, hours] => emu.incoming_bytes(
                &format!("/aws/eks/{cluster}/cluster"),
                gib.parse::<f64>().unwrap() * (1u64 << 30) as f64,
                chrono::Utc::now().timestamp() - hours.parse::<i64>().unwrap() * 3600,
            ),
            // An SNS topic with an SQS queue of the same name subscribed.
            ["sns-queue", name] => {
                emu.topic_with_queue(name);
            }
            ["filter", cluster, name] => emu.block_on(async {
                emu.logs
                    .put_metric_filter()
                    .log_group_name(format!("/aws/eks/{cluster}/cluster"))
                    .filter_name(*name)
                    .filter_pattern("ERROR")
                    .metric_transformations(
                        aws_sdk_cloudwatchlogs::types::MetricTransformation::builder()
                            .metric_name("TeamErrors")
                            .metric_namespace("Team")
                            .metric_value("1")
                            .build()
                            .unwrap(),
                    )
                    .send()
                    .await
                    .unwrap();
            }),
            ["delete-metric-filter", cluster, name] => emu.block_on(async {
                emu.logs
                    .delete_metric_filter()
                    .log_group_name(format!("/aws/eks/{cluster}/cluster"))
                    .filter_name(*name)
                    .send()
                    .await
                    .unwrap();
            }),
            other => panic!("unknown doc-test step {other:?}"),
        }
    }
}

#[test]
fn every_command_in_the_docs_prints_what_the_docs_show() {
    let update = std::env::var_os("DOCS_UPDATE").is_some();
    let mut failures = Vec::new();
    let mut ran = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(ROOT).unwrap().display().to_string();
        let mut shell = Shell::new();
        let mut emu: Option<common::Emu> = None;
        let mut new_lines: Vec<String> = text.lines().map(str::to_owned).collect();
        // Replacements from the bottom up keep line numbers valid.
        let mut edits: Vec<(std::ops::Range<usize>, Vec<String>)> = Vec::new();
        for block in blocks(&text) {
            let directive = block.directive.clone().unwrap_or_default();
            if let Some(reason) = directive.strip_prefix("not run:") {
                assert!(!reason.trim().is_empty(), "{name}:{}: say why", block.at);
                continue;
            }
            let mut steps: Vec<&str> = directive.split(';').map(str::trim).collect();
            match steps.first().copied() {
                Some("emulator reset") => {
                    drop(emu.take());
                    let e = common::Emu::start();
                    shell.aws(&e.url());
                    set_up(&e, &steps[1..]);
                    emu = Some(e);
                }
                Some("emulator") => {
                    let e = emu
                        .as_ref()
                        .unwrap_or_else(|| panic!("{name}:{}: no emulator yet", block.at));
                    set_up(e, &steps[1..]);
                }
                // The generator's two-day scenario, as the README's
                // gen-audit command writes it.
                Some("generate two-day") => {
                    gen_audit::Spec::two_day()
                        .write_file(&shell.dir.path().join("two-day.jsonl"))
                        .unwrap();
                }
                Some("") | None => steps.clear(),
                Some(other) => panic!("{name}:{}: unknown directive {other:?}", block.at),
            }
            for shown in &block.commands {
                let command = shown.command.replace("cargo run -- ", "secret-audit ");
                if let Some((_, why)) = NOT_RUN.iter().find(|(p, _)| command.starts_with(p)) {
                    assert!(!why.is_empty());
                    continue;
                }
                let printed = shell.run(&command);
                ran += 1;
                let mut actual: Vec<&str> = printed.lines().collect();
                // A page cannot show trailing blank lines.
                while actual.last().is_some_and(|l| l.trim().is_empty()) {
                    actual.pop();
                }
                match &shown.output {
                    None => {
                        if shell.last.iter().any(|&c| c != 0) {
                            failures.push(format!(
                                "{name}:{}: `{command}` failed ({:?}):\n{printed}",
                                block.at, shell.last
                            ));
                        }
                    }
                    Some(expected) if !matches(expected, &actual) => {
                        if update {
                            edits.push((shown.lines.clone(), updated(expected, &actual)));
                        } else {
                            failures.push(format!(
                                "{name}:{}: `{command}`\n--- the page shows\n{}\n--- it printed\n{printed}",
                                block.at,
                                expected.join("\n")
                            ));
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        if update && !edits.is_empty() {
            edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
            for (range, lines) in edits {
                new_lines.splice(range, lines);
            }
            std::fs::write(&page, new_lines.join("\n") + "\n").unwrap();
        }
    }
    assert!(ran >= 40, "only {ran} commands ran");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_docs_point_only_inside_the_repository() {
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for (i, line) in text.lines().enumerate() {
            for bad in ["../shared", "/tmp/", "/work/"] {
                assert!(!line.contains(bad), "{}:{}: {line}", page.display(), i + 1);
            }
        }
    }
}
