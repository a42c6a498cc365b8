//! `secret-audit analyze`: offline analysis of exported audit logs.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::audit::group::Grouping;
use crate::audit::rollup::{self, Key, DEFAULT_KEYS};
use crate::audit::shard::Settings;
use crate::cli::GlobalArgs;
use crate::error::{exit, AppError};
use crate::input::{self, Format, ReadOptions};
use crate::output::analysis::{self, Analysis};
use crate::output::sanitize::sanitize;
use crate::output::OutputFormat;
use crate::timearg::parse_window;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Files or directories (read recursively) to analyze; `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Read every input as this format instead of detecting it.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Rollup keys, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = DEFAULT_KEYS, env = "SECRET_AUDIT_BY")]
    pub by: Vec<Key>,
    /// Show only the N rows with the most requests (totals still cover all).
    #[arg(long, value_name = "N", env = "SECRET_AUDIT_TOP", value_parser = |s: &str| at_least_one(s, "omit --top for every row"))]
    pub top: Option<usize>,
    /// List individual requests instead of the rollup.
    #[arg(long)]
    pub requests: bool,
    /// Only requests at or after this time: an age (90m, 2h, 7d) or RFC 3339.
    #[arg(long, visible_alias = "start-time", value_name = "TIME")]
    pub since: Option<String>,
    /// Only requests before this time: an age (90m, 2h, 7d) or RFC 3339.
    #[arg(long, visible_alias = "end-time", value_name = "TIME")]
    pub until: Option<String>,
    /// Only requests on secrets of this namespace (repeatable); collection-wide
    /// requests without a namespace cover every namespace and stay in.
    #[arg(long, value_name = "NAME")]
    pub namespace: Vec<String>,
    /// Only requests by this (effective) user (repeatable).
    #[arg(long, value_name = "NAME")]
    pub user: Vec<String>,
    /// Records larger than this are malformed and skipped unread (bytes; K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size, env = "SECRET_AUDIT_MAX_RECORD_SIZE")]
    pub max_record_size: usize,
    /// Threads for reading, building the rollup and writing JSON (default:
    /// every core).
    #[arg(long, value_name = "N", env = "SECRET_AUDIT_THREADS", value_parser = |s: &str| at_least_one(s, "omit --threads for every core"))]
    pub threads: Option<usize>,
    /// Parse every record, not only those that mention secrets (a slow
    /// reference path for checking the fast one).
    #[arg(long, hide = true)]
    pub full_parse: bool,
    /// Bytes per range when a large plain file is split across threads (for
    /// tests: small ranges exercise the splitting on small files).
    #[arg(long, value_name = "SIZE", hide = true, default_value_t = input::RANGE_SIZE, value_parser = |s: &str| parse_size(s).map(|n| n as u64))]
    pub range_size: u64,
    /// Bytes of a large plain file mapped at a time; 0 reads it instead (for
    /// tests: small windows exercise the cuts between them).
    #[arg(long, value_name = "SIZE", hide = true, default_value_t = input::WINDOW, value_parser = |s: &str| if s == "0" { Ok(0) } else { parse_size(s) })]
    pub window_size: usize,
    /// Also run the detection rules (the defaults changed by this TOML file;
    /// `alert --list-rules` shows them) and add their findings.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Exit 1 when the answer is incomplete (any malformed record).
    #[arg(long, env = "SECRET_AUDIT_STRICT")]
    pub strict: bool,
}

/// What every shard of the run shares: the filters, the limits, and the
/// ledger (fed to the rollup and, for the rules, to `tap`).
fn settings(
    args: &AnalyzeArgs,
    (since, until): crate::timearg::Window,
    by: &[Key],
    tap: crate::audit::tap::Tap,
    verbose: bool,
) -> Arc<Settings> {
    Arc::new(Settings {
        filter: crate::audit::shard::Filter {
            since: since.map(|t| t.timestamp_micros()),
            until: until.map(|t| t.timestamp_micros()),
            namespaces: args.namespace.clone(),
            users: args.user.clone(),
        },
        max_record_size: args.max_record_size,
        keep_all_malformed: verbose,
        full_parse: args.full_parse,
        probe: None,
        classify: true,
        ledger: crate::audit::shard::tapped_ledger(
            if args.requests {
                Grouping::Requests
            } else {
                Grouping::By(by.to_vec())
            },
            tap,
        ),
    })
}

/// The rules a `--rules` file makes of the defaults (none: the defaults),
/// its warnings said; shared by every command that takes `--rules`.
pub fn load_rules(
    path: Option<&std::path::Path>,
    say: crate::output::diag::Reporter,
) -> Result<Vec<crate::rules::Rule>, AppError> {
    let (rules, warnings) = crate::rules::config::load(path).map_err(AppError::Usage)?;
    for w in warnings {
        say.line(w);
    }
    Ok(rules)
}

/// With rules, a tap that hands on what they look at, and the backlog it
/// fills while the inputs are read; without, a tap that does nothing.
pub fn rules_tap(
    rules: Option<&[crate::rules::Rule]>,
) -> (
    crate::audit::tap::Tap,
    Option<crate::rules::backlog::Collecting>,
) {
    let Some(rules) = rules else {
        return (crate::audit::tap::Tap::default(), None);
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    let tap = crate::audit::tap::Tap::to(tx).keeping(crate::rules::wanted(rules));
    (tap, Some(crate::rules::backlog::Collecting::start(rx)))
}

/// The findings of the rules over the requests the tap handed on (the
/// inputs' paths name where they were found), starting from what earlier
/// runs learnt; also what the learning rules know after this run.
pub fn learned_findings_of(
    rules: &[crate::rules::Rule],
    backlog: crate::rules::backlog::Backlog,
    reports: &[input::InputReport],
    learned: crate::rules::Learned,
) -> (Vec<crate::rules::Finding>, crate::rules::Learned) {
    let inputs: Vec<&str> = reports.iter().map(|r| r.path.as_str()).collect();
    let mut engine = crate::rules::Engine::learned(rules.to_vec(), &inputs.join(", "), learned);
    for s in backlog.into_sorted() {
        engine.push(&s);
    }
    let history = engine.history();
    (engine.finish(), history)
}

/// The analysis; with findings, a text format gets them after it (JSON
/// holds them already).
fn write_out(format: OutputFormat, doc: &Analysis, out: &mut dyn Write) -> anyhow::Result<()> {
    analysis::write(format, doc, out)?;
    if let Some(f) = doc.findings {
        if format != OutputFormat::Json {
            writeln!(out)?;
            crate::output::findings::write(format, f, serde_json::Value::Null, None, out)?;
        }
    }
    Ok(())
}

/// A count of at least one; `otherwise` says how to get the default.
pub fn at_least_one(s: &str, otherwise: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err(format!("must be 1 or more ({otherwise})")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}

/// Reads `paths` as `analyze` does (every core, or `threads`; no progress
/// bar) for a command that puts each record to the probe of `settings`;
/// says each input's problem, and how many records were malformed and not
/// `not_done` (e.g. "tested"), as warnings.
pub fn read_probed(
    global: &GlobalArgs,
    paths: &[PathBuf],
    format: Option<Format>,
    threads: Option<usize>,
    settings: Arc<Settings>,
    not_done: &str,
) -> anyhow::Result<(crate::audit::shard::Shard, Vec<input::InputReport>)> {
    let inputs = input::collect_inputs(paths)?;
    // Large files are scanned through mapped windows; this makes a file
    // that shrinks under them a read error instead of the end of the process.
    input::install_fault_handler();
    crate::output::diag::install_interrupt_message();
    let opts = ReadOptions {
        threads: input::threads(threads),
        format,
        range_size: input::RANGE_SIZE,
        window: input::WINDOW,
        progress: Arc::new(input::NoProgress),
    };
    let (shard, reports) = input::read_all(&inputs, settings, &opts);
    let say = global.reporter();
    for r in &reports {
        if let Some(p) = &r.problem {
            say.line(format_args!(
                "warning: {}: {}",
                sanitize(&r.path),
                sanitize(p)
            ));
        }
    }
    if shard.counts.malformed > 0 {
        say.line(format_args!(
            "warning: {} malformed record(s) not {not_done} (secret-audit analyze -v names them)",
            shard.counts.malformed
        ));
    }
    Ok((shard, reports))
}

/// A byte size: a number with an optional K, M or G (binary) suffix.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim().trim_end_matches(['B', 'b']).trim_end_matches('i');
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1usize << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("invalid size {s:?}: use bytes, or a number with K, M or G"))
}

pub fn run(global: &GlobalArgs, args: AnalyzeArgs) -> anyhow::Result<u8> {
    let say = global.reporter();
    let (since, until) = parse_window(
        args.since.as_deref(),
        args.until.as_deref(),
        chrono::Utc::now(),
    )
    .map_err(AppError::Usage)?;
    let rules = args
        .rules
        .as_deref()
        .map(|path| load_rules(Some(path), say))
        .transpose()?;
    let mut by = Vec::new();
    for k in &args.by {
        if !by.contains(k) {
            by.push(*k);
        }
    }
    let (ledger_tap, collecting) = rules_tap(rules.as_deref());
    let settings = settings(&args, (since, until), &by, ledger_tap, say.is_verbose());
    let inputs = input::collect_inputs(&args.paths)?;
    // Large files are scanned through mapped windows; this makes a file
    // that shrinks under them a read error instead of the end of the process.
    input::install_fault_handler();
    crate::output::diag::install_interrupt_message();
    let threads = input::threads(args.threads);
    let progress = crate::output::progress::bytes_bar(total_bytes(&inputs), say.is_quiet());
    let opts = ReadOptions {
        threads,
        format: args.format,
        range_size: args.range_size,
        window: args.window_size,
        progress: Arc::new(progress.clone()),
    };
    let (shard, reports) = input::read_all(&inputs, settings, &opts);
    progress.finish_and_clear();

    analysis::warn(say, &shard, &reports);
    let findings = rules
        .as_deref()
        .zip(collecting)
        .map(|(rules, c)| learned_findings_of(rules, c.finish(), &reports, Default::default()).0);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let rows = if args.requests {
        Vec::new()
    } else {
        rollup::rollup(&shard.grouped, args.top, threads)
    };
    let doc = Analysis {
        shard: &shard,
        reports: &reports,
        rows: &rows,
        by: &by,
        requests: args.requests,
        threads,
        findings: findings.as_deref(),
    };
    write_out(global.output(), &doc, &mut out)?;
    out.flush().context("writing the report")?;
    let malformed = shard.counts.malformed;
    // The process ends next: the operating system takes back the rows and
    // tables at once, faster than freeing their allocations one by one.
    std::mem::forget(rows);
    std::mem::forget(shard);
    if args.strict && malformed > 0 {
        say.line(format_args!(
            "secret-audit: --strict: {malformed} malformed record(s), the answer is incomplete"
        ));
        return Ok(exit::CHECK_FAILED);
    }
    Ok(exit::OK)
}

/// The bytes of every input that has a size (stdin has none).
pub fn total_bytes(inputs: &[input::Input]) -> u64 {
    inputs
        .iter()
        .filter(|i| !i.is_stdin())
        .filter_map(|i| std::fs::metadata(&i.path).ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
    }
}
