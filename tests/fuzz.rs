//! The project fuzzes itself: every parser gets mutated inputs, and each
//! case must end (no panic, no hang), keep the record accounting, and keep
//! control characters out of every output.
//!
//! A small mutator of our own (stable Rust, no fuzzing engine): seeds are
//! real inputs (setup's patterns, the bundled queries, generated logs in
//! every format), each case applies one to four mutations (flip, overwrite,
//! insert bytes or tokens such as a BOM, NUL, non-ASCII or escape
//! characters, delete, duplicate, truncate). `FUZZ_CASES` sets the cases per
//! target (default 300, run by `scripts/test`); `scripts/fuzz` runs a long
//! campaign. A failing case prints its seed and input.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secret_audit::audit::event;
use secret_audit::audit::shard::Settings;
use secret_audit::input::{self, Format, NoProgress, ReadOptions};
use secret_audit::insights::{self, lint};
use secret_audit::output::analysis::{self, Analysis};
use secret_audit::output::OutputFormat;
use secret_audit::pattern::Pattern;
use secret_audit::timearg;

/// A case taking this long is a hang (generous: debug builds, a busy CI).
const CASE_DEADLINE: Duration = Duration::from_secs(5);

fn cases() -> u64 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// xorshift64*: deterministic, seeded per target and case.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens worth inserting: framing, escapes, multi-byte characters, and the
/// bytes that broke readers before (BOM, NUL, ESC, CSI).
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b",",
    b":",
    b"\n",
    b"\r\n",
    b" ",
    b"\t",
    b"\0",
    b"\x1b[2J",
    "\u{9b}".as_bytes(),
    "\u{feff}".as_bytes(),
    "é".as_bytes(),
    "€".as_bytes(),
    "ß".as_bytes(),
    "😀".as_bytes(),
    b"\xff",
    b"\xc3",
    b"\\u0000",
    b"\\ud800",
    b"secrets",
    b"\"verb\":\"get\"",
    b"ResponseComplete",
    b"%",
    b"$.",
    b"=",
    b"!=",
    b"&&",
    b"||",
    b"(",
    b")",
    b"*",
    b"IS",
    b"NOT",
    b"stats",
    b"|",
    b"filter",
    b"count(*)",
    b"as",
    b"by",
    b"1e999",
    b"-",
    b"9999999999999999999",
];

fn mutate(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        let at = rng.below(len + 1);
        match rng.below(7) {
            0 if len > 0 => data[at.min(len - 1)] ^= 1 << rng.below(8),
            1 if len > 0 => data[at.min(len - 1)] = rng.next() as u8,
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, t.iter().copied());
            }
            3 if len > 0 => {
                let end = (at + 1 + rng.below(16)).min(len);
                data.drain(at.min(end)..end);
            }
            4 if len > 0 => {
                let start = at.min(len - 1);
                let end = (start + 1 + rng.below(64)).min(len);
                let copy = data[start..end].to_vec();
                let to = rng.below(data.len() + 1);
                data.splice(to..to, copy);
            }
            5 => data.truncate(at),
            _ => {
                let byte = rng.next() as u8;
                data.insert(at, byte);
            }
        }
    }
}

/// Runs `check` on `cases()` mutations of the seeds; a panic or a slow case
/// fails with the case's number and input.
fn fuzz(target: &str, seeds: &[Vec<u8>], check: impl Fn(&[u8])) -> u64 {
    assert!(!seeds.is_empty(), "{target}: no seeds");
    let n = cases();
    // A watchdog ends the whole run, naming the case, if one never returns
    // (a deadline checked after the case could not see a hang).
    let current: Arc<Mutex<Option<(u64, Instant, String)>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (current, done, target) = (current.clone(), done.clone(), target.to_string());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let guard = current.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((case, started, shown)) = &*guard {
                    if started.elapsed() > 4 * CASE_DEADLINE {
                        eprintln!("{target} case {case} hangs\ninput: \"{shown}\"");
                        std::process::exit(101);
                    }
                }
            }
        })
    };
    for case in 0..n {
        let mut rng = Rng::new(case ^ (target.len() as u64) << 40);
        let mut data = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &mut data);
        let shown = String::from_utf8_lossy(&data[..data.len().min(400)])
            .escape_debug()
            .to_string();
        let started = Instant::now();
        *current.lock().unwrap() = Some((case, started, shown.clone()));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data)));
        let took = started.elapsed();
        *current.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Err(panic) = outcome {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{target} case {case} failed: {msg}\ninput: \"{shown}\"");
        }
        assert!(
            took < CASE_DEADLINE,
            "{target} case {case} took {took:?}\ninput: \"{shown}\""
        );
    }
    done.store(true, Ordering::Relaxed);
    watchdog.join().unwrap();
    eprintln!("fuzz {target}: {n} cases, no failure");
    n
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Log lines to match patterns against and to mutate as events.
fn sample_lines() -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for f in [
        "stages-and-scopes.jsonl",
        "hostile-strings.jsonl",
        "v1beta1.jsonl",
        "wrong-types.jsonl",
    ] {
        let text = std::fs::read(root().join("fixtures/handmade").join(f)).unwrap();
        lines.extend(
            text.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| l.to_vec()),
        );
    }
    let spec = gen_audit::Spec {
        size: gen_audit::Size::Requests(40),
        stages_all: true,
        exotic: true,
        ..gen_audit::Spec::new(gen_audit::Format::Jsonl)
    };
    let mut buf = Vec::new();
    spec.write(&mut buf).unwrap();
    lines.extend(
        buf.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| l.to_vec()),
    );
    lines
}

/// No raw control character (C0 but newline and tab, DEL, C1) in `text`.
fn assert_clean(what: &str, text: &str) {
    if let Some(c) = text
        .chars()
        .find(|&c| (c.is_control() && c != '\n' && c != '\t') || ('\u{80}'..='\u{9f}').contains(&c))
    {
        panic!("{what}: raw control character {c:?} in output");
    }
}

#[test]
fn filter_patterns_parse_and_evaluate_any_input() {
    let events = sample_lines();
    let mut seeds: Vec<Vec<u8>> = [
        secret_audit::provision::spec::READS_PATTERN,
        secret_audit::provision::spec::DENIED_PATTERN,
        secret_audit::provision::spec::WRITES_PATTERN,
        r#"{ ($.verb = "get" || $.verb = "list") && $.objectRef.resource = "secrets" }"#,
        r#"{ $.responseStatus.code >= 400 && $.sourceIPs[0] != "10.*" }"#,
        r#"{ $.user.username IS NULL || $.annotations NOT EXISTS || $.x IS TRUE }"#,
        r#"{ $.requestURI = %^/api/v1/namespaces/[a-z]+/secrets% }"#,
        "%secrets/[a-z-]+%",
        "secrets ?get ?list -watch",
        "\"ResponseComplete\" secrets",
        "",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    seeds.push(b"{$.verb=\"\xc3\xa9\"}".to_vec());
    fuzz("pattern", &seeds, |data| {
        let text = String::from_utf8_lossy(data);
        match Pattern::parse(&text) {
            Ok(p) => {
                for e in events.iter().take(20) {
                    p.matches(e);
                }
            }
            Err(e) => assert_clean("pattern error", &e.to_string()),
        }
    });
}

#[test]
fn the_query_lint_takes_any_query_in_linear_output() {
    let mut seeds: Vec<Vec<u8>> = insights::bundled()
        .into_iter()
        .map(|q| q.body.into_bytes())
        .collect();
    for f in std::fs::read_dir(root().join("fixtures/insights")).unwrap() {
        seeds.push(std::fs::read(f.unwrap().path()).unwrap());
    }
    seeds.push(b"stats count(*) as n by bin(5m)".to_vec());
    seeds.push(
        b"parse @message \"* * *\" as a, b, c | filter a like /x/ | dedup b | limit 3".to_vec(),
    );
    seeds.push(b"fields substr(verb, 1, 2) as v, concat(a, b) as c | sort v asc | stats pct(c, 50) as p, stddev(c) as s".to_vec());
    let events = sample_lines();
    fuzz("lint", &seeds, |data| {
        let text = String::from_utf8_lossy(data);
        let found = lint::lint(&text);
        let out: usize = found.iter().map(|f| f.to_string().len()).sum();
        assert!(
            out <= 8 * text.len() + 2000,
            "{} findings in {out} bytes for a {}-byte query",
            found.len(),
            text.len()
        );
        let linted = [("q.insights".to_string(), found)];
        for f in OutputFormat::ALL {
            let mut out = Vec::new();
            secret_audit::output::queries::write_lint(f, &linted, &mut out).unwrap();
            assert_clean("lint output", &String::from_utf8_lossy(&out));
        }
        // A query the grammar takes runs offline to its end, or is refused.
        let (stages, errors) = insights::lang::parse(&text);
        if errors.is_empty() {
            if let Ok(engine) = insights::offline::Engine::new(stages, "s") {
                for (i, e) in events.iter().take(30).enumerate() {
                    engine.feed(&insights::offline::Event {
                        message: e,
                        place: (0, 0, i as u64),
                        ..Default::default()
                    });
                }
                engine.finish();
            }
        }
    });
}

#[test]
fn the_time_grammar_takes_any_text() {
    let seeds: Vec<Vec<u8>> = [
        "15m",
        "2h",
        "1w",
        "90",
        "now-1h",
        "now+2d",
        "2026-11-01T00:00:00Z",
        "2026-11-01T00:00:00.123+02:00",
        "-5m",
        "0s",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let now = chrono::Utc::now();
    fuzz("time", &seeds, |data| {
        let text = String::from_utf8_lossy(data);
        if let Err(e) = timearg::parse_duration(&text) {
            assert_clean("duration error", &e);
        }
        if let Err(e) = timearg::parse_time(&text, now) {
            assert_clean("time error", &e);
        }
    });
}

#[test]
fn the_event_reader_takes_any_record() {
    let seeds = sample_lines();
    fuzz("event", &seeds, |data| {
        if let Ok(event::Classified::Secret(s)) = event::classify(data) {
            let _ = (s.access(), s.is_denied(), s.metric_classes());
        }
        let _ = event::describe(data);
    });
}

/// Reads `data` as one input of `format` (or sniffed), then renders every
/// output format; checks the accounting and the outputs.
fn read_and_render(
    dir: &Path,
    name: &str,
    data: &[u8],
    format: Option<Format>,
    threads: usize,
) -> u64 {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    let inputs = input::collect_inputs(&[path]).unwrap();
    let settings = Arc::new(Settings {
        max_record_size: 1 << 20,
        ..Default::default()
    });
    let opts = ReadOptions {
        range_size: 4096,
        window: 0,
        threads,
        format,
        progress: Arc::new(NoProgress),
    };
    let (shard, reports) = input::read_all(&inputs, settings, &opts);
    let c = shard.counts;
    assert_eq!(
        c.records,
        c.malformed + c.skipped + c.filtered + c.secret_records,
        "accounting: {c:?}"
    );
    let rows = secret_audit::audit::rollup::rollup(&shard.grouped, None, 1);
    for f in OutputFormat::ALL {
        let mut out = Vec::new();
        let a = Analysis {
            findings: None,
            shard: &shard,
            reports: &reports,
            rows: &rows,
            by: &secret_audit::audit::key::DEFAULT_KEYS,
            requests: false,
            threads: 1,
        };
        analysis::write(f, &a, &mut out).unwrap();
        assert_clean(&format!("{f:?} output"), &String::from_utf8_lossy(&out));
    }
    c.secret_records
}

fn generated(format: gen_audit::Format, gzip: bool) -> Vec<u8> {
    let spec = gen_audit::Spec {
        size: gen_audit::Size::Requests(150),
        exotic: true,
        gzip,
        ..gen_audit::Spec::new(format)
    };
    let mut buf = Vec::new();
    spec.write(&mut buf).unwrap();
    buf
}

#[test]
fn every_input_format_frames_any_bytes_and_keeps_the_accounting() {
    let dir = tempfile::tempdir().unwrap();
    for format in gen_audit::Format::ALL {
        let seeds = vec![generated(format, false)];
        let name = format!("in.{}", format.name());
        // The reader's own name for it (or an alias), to force it.
        let forced = Format::ALL
            .into_iter()
            .find(|f| f.name() == format.name() || f.aliases().contains(&format.name()));
        fuzz(&format!("framing {}", format.name()), &seeds, |data| {
            read_and_render(dir.path(), &name, data, None, 1);
            if forced.is_some() {
                read_and_render(dir.path(), &name, data, forced, 2);
            }
        });
    }
    let seeds = vec![generated(gen_audit::Format::Jsonl, true)];
    fuzz("framing gzip", &seeds, |data| {
        read_and_render(dir.path(), "in.gz", data, None, 1);
    });
}

#[test]
fn mutating_only_non_secret_records_never_changes_the_secret_counts() {
    let dir = tempfile::tempdir().unwrap();
    let seed = generated(gen_audit::Format::Jsonl, false);
    let want = read_and_render(dir.path(), "base.jsonl", &seed, None, 1);
    assert!(want > 0);
    let lines: Vec<&[u8]> = seed.split_inclusive(|&b| b == b'\n').collect();
    let plain: Vec<usize> = (0..lines.len())
        .filter(|&i| memchr::memmem::find(lines[i], b"secrets").is_none())
        .collect();
    let mut rng = Rng::new(99);
    for case in 0..cases() {
        // Any bytes in one line without "secrets" (the line stays a line).
        let mut out = Vec::with_capacity(seed.len());
        let victim = plain[rng.below(plain.len())];
        for (i, l) in lines.iter().enumerate() {
            if i != victim {
                out.extend_from_slice(l);
                continue;
            }
            let mut m = l.to_vec();
            m.pop();
            mutate(&mut rng, &mut m);
            m.retain(|&b| b != b'\n');
            if memchr::memmem::find(&m, b"secrets").is_some() {
                m.clear();
            }
            out.extend_from_slice(&m);
            out.push(b'\n');
        }
        let got = read_and_render(
            dir.path(),
            "m.jsonl",
            &out,
            Some(Format::Jsonl),
            1 + (case % 2) as usize,
        );
        assert_eq!(
            got,
            want,
            "case {case}: mutating line {} changed the secret records",
            victim + 1
        );
    }
}

#[test]
fn reading_every_format_grows_linearly_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    for format in gen_audit::Format::ALL {
        let time = |requests: u64| {
            let spec = gen_audit::Spec {
                size: gen_audit::Size::Requests(requests),
                ..gen_audit::Spec::new(format)
            };
            let mut buf = Vec::new();
            spec.write(&mut buf).unwrap();
            let name = format!("lin.{}", format.name());
            // The faster of two runs, to damp a busy machine.
            (0..2)
                .map(|_| {
                    let start = Instant::now();
                    read_and_render(dir.path(), &name, &buf, None, 1);
                    start.elapsed()
                })
                .min()
                .unwrap()
        };
        let small = time(2_000);
        let large = time(8_000);
        let ratio = large.as_secs_f64() / small.as_secs_f64();
        assert!(
            ratio < 8.0,
            "{}: 2,000 requests {small:?}, 8,000 {large:?} ({ratio:.1}x; linear is 4x)",
            format.name()
        );
    }
}

/// A boolean tree of pattern conditions, generated from the grammar: the
/// composite's result must be the tree's combination of each leaf's result
/// when the leaf is a pattern by itself.
enum Tree {
    Leaf(usize),
    And(Box<Tree>, Box<Tree>),
    Or(Box<Tree>, Box<Tree>),
}

impl Tree {
    fn grow(rng: &mut Rng, leaves: usize, depth: u32) -> Tree {
        if depth == 0 || rng.below(3) == 0 {
            return Tree::Leaf(rng.below(leaves));
        }
        let (a, b) = (
            Box::new(Tree::grow(rng, leaves, depth - 1)),
            Box::new(Tree::grow(rng, leaves, depth - 1)),
        );
        if rng.below(2) == 0 {
            Tree::And(a, b)
        } else {
            Tree::Or(a, b)
        }
    }

    fn eval(&self, leaf: &dyn Fn(usize) -> bool) -> bool {
        match self {
            Tree::Leaf(i) => leaf(*i),
            Tree::And(a, b) => a.eval(leaf) && b.eval(leaf),
            Tree::Or(a, b) => a.eval(leaf) || b.eval(leaf),
        }
    }

    fn leaves(&self, out: &mut Vec<usize>) {
        match self {
            Tree::Leaf(i) => out.push(*i),
            Tree::And(a, b) | Tree::Or(a, b) => {
                a.leaves(out);
                b.leaves(out);
            }
        }
    }

    /// JSON syntax: parentheses where precedence needs them (an `||` under
    /// an `&&`), and at random elsewhere; spacing at random.
    fn json(&self, rng: &mut Rng, leaves: &[&str], parent_and: bool) -> String {
        let sp = |rng: &mut Rng| [" ", "", "  "][rng.below(3)];
        let (text, is_or) = match self {
            Tree::Leaf(i) => (leaves[*i].to_string(), false),
            Tree::And(a, b) => {
                let (l, s1, s2) = (a.json(rng, leaves, true), sp(rng), sp(rng));
                (format!("{l}{s1}&&{s2}{}", b.json(rng, leaves, true)), false)
            }
            Tree::Or(a, b) => {
                let (l, s1, s2) = (a.json(rng, leaves, false), sp(rng), sp(rng));
                (format!("{l}{s1}||{s2}{}", b.json(rng, leaves, false)), true)
            }
        };
        if (parent_and && is_or) || rng.below(4) == 0 {
            format!("({}{text}{})", sp(rng), sp(rng))
        } else {
            text
        }
    }
}

/// JSON conditions covering the grammar: every operator, strings quoted and
/// bare, wildcards, presence, `IS`/`NOT EXISTS`, numbers, regexes, `[n]`,
/// `[*]`, `.*` and bracketed keys. Those holding a regex are marked.
const JSON_LEAVES: &[(&str, bool)] = &[
    (r#"$.verb = "get""#, false),
    (r#"$.verb="list""#, false),
    (r#"$.verb != watch"#, false),
    (r#"$.objectRef.resource = secret*"#, false),
    (r#"$.objectRef.resource = "*s""#, false),
    (r#"$.objectRef.namespace = *"#, false),
    (r#"$.['stage'] = "ResponseComplete""#, false),
    (r#"$.objectRef.['name'] != "db-*""#, false),
    (r#"$.responseStatus.code >= 400"#, false),
    (r#"$.responseStatus.code < 300"#, false),
    (r#"$.responseStatus.code = 200"#, false),
    (r#"$.responseStatus.code != 201.0"#, false),
    (r#"$.responseStatus.code <= 403"#, false),
    (r#"$.responseStatus.code > 0"#, false),
    (r#"$.sourceIPs[0] = "10.*""#, false),
    (r#"$.sourceIPs[*] = 192.168.*"#, false),
    (r#"$.user.groups[*] = "system:authenticated""#, false),
    (r#"$.annotations.* = "allow""#, false),
    (r#"$.user.username IS NULL"#, false),
    (r#"$.impersonatedUser NOT EXISTS"#, false),
    (r#"$.user.extra.* NOT EXISTS"#, false),
    (r#"$.requestObject.x IS TRUE"#, false),
    (r#"$.requestObject.x IS FALSE"#, false),
    (
        r#"$.requestURI = %^/api/v1/namespaces/[a-z-]+/secrets%"#,
        true,
    ),
    (r#"$.userAgent != %kubectl%"#, true),
];

#[test]
fn json_patterns_generated_from_the_grammar_combine_as_written() {
    let events = sample_lines();
    let texts: Vec<&str> = JSON_LEAVES.iter().map(|l| l.0).collect();
    let alone: Vec<Pattern> = texts
        .iter()
        .map(|t| Pattern::parse(&format!("{{ {t} }}")).unwrap())
        .collect();
    let (mut matched, mut checked) = (0, 0);
    for case in 0..cases() {
        let mut rng = Rng::new(case ^ 0x6a50_4e00);
        let tree = Tree::grow(&mut rng, texts.len(), 3);
        let mut used = Vec::new();
        tree.leaves(&mut used);
        let wildcards = used
            .iter()
            .filter(|&&i| texts[i].contains("[*]") || texts[i].contains(".*"))
            .count();
        if used.iter().filter(|&&i| JSON_LEAVES[i].1).count() > 2 || wildcards > 3 {
            continue; // the guide's quotas: two regexes, three wildcard selectors
        }
        let text = format!("{{{}}}", tree.json(&mut rng, &texts, false));
        let pattern = Pattern::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        for e in &events {
            let want = tree.eval(&|i| alone[i].matches(e));
            assert_eq!(
                pattern.matches(e),
                want,
                "case {case}: {text}\nevent: {}",
                String::from_utf8_lossy(e)
            );
            matched += usize::from(want);
            checked += 1;
        }
    }
    // The cases say something only if both outcomes occur often.
    assert!(
        matched > checked / 10 && matched < checked * 9 / 10,
        "{matched} of {checked}"
    );
}

/// Conditions on one space-delimited field of an access log, with and
/// without naming the field again.
const FIELD_LEAVES: &[(&str, &str)] = &[
    ("= 200", "status_code = 200"),
    ("= 4*", "status_code = 4*"),
    ("!= 500", "status_code != 500"),
    (">= 400", "status_code >= 400"),
    ("< 404", "status_code < 404"),
    ("= %^5%", "status_code = %^5%"),
    ("!= \"403\"", "status_code != \"403\""),
    ("<= 200.0", "status_code <= 200.0"),
];

#[test]
fn space_delimited_conditions_generated_from_the_grammar_combine_as_written() {
    let mut events: Vec<String> =
        std::fs::read_to_string(root().join("fixtures/handmade/access.log"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
    for code in ["201", "301", "400", "401", "502", "2xx", "-"] {
        events.push(format!(
            r#"10.0.0.1 - bob [10/Oct/2000:15:00:00 -0700] "GET / HTTP/1.1" {code} 10"#
        ));
    }
    let shapes = [
        ("[ip, id, user, timestamp, request, ", ", bytes]"),
        ("[..., ", ", bytes]"),
        ("[ip, ..., ", ", bytes]"),
        ("[ip, id, user, timestamp, request, ", ", ...]"),
    ];
    let alone = |shape: (&str, &str), i: usize| {
        Pattern::parse(&format!("{}{}{}", shape.0, FIELD_LEAVES[i].1, shape.1)).unwrap()
    };
    let (mut matched, mut checked) = (0, 0);
    for case in 0..cases() {
        let mut rng = Rng::new(case ^ 0x5b5d_0000);
        let shape = shapes[rng.below(shapes.len())];
        // No parentheses in a field: a disjunction of conjunctions.
        let groups: Vec<Vec<usize>> = (0..1 + rng.below(3))
            .map(|_| {
                (0..1 + rng.below(3))
                    .map(|_| rng.below(FIELD_LEAVES.len()))
                    .collect()
            })
            .collect();
        if groups
            .iter()
            .flatten()
            .filter(|&&i| FIELD_LEAVES[i].0.contains('%'))
            .count()
            > 2
        {
            continue;
        }
        let mut cond = String::new();
        for (g, group) in groups.iter().enumerate() {
            for (k, &i) in group.iter().enumerate() {
                if g + k > 0 {
                    cond.push_str(if k == 0 { " || " } else { " && " });
                }
                let named = g + k == 0 || rng.below(2) == 0;
                cond.push_str(if named {
                    FIELD_LEAVES[i].1
                } else {
                    FIELD_LEAVES[i].0
                });
            }
        }
        let text = format!("{}{cond}{}", shape.0, shape.1);
        let pattern = Pattern::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        for e in &events {
            let want = groups
                .iter()
                .any(|g| g.iter().all(|&i| alone(shape, i).matches_str(e)));
            assert_eq!(
                pattern.matches_str(e),
                want,
                "case {case}: {text}\nevent: {e}"
            );
            matched += usize::from(want);
            checked += 1;
        }
    }
    assert!(
        matched > checked / 10 && matched < checked * 9 / 10,
        "{matched} of {checked}"
    );
}
