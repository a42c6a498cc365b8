//! `secret-audit queries run NAME|FILE PATH...`: a Logs Insights query run
//! offline over exported logs, read like `analyze` reads them, printed like
//! `report` prints a query's answer. No AWS call: a query can be tried on
//! an export before a scan is paid for.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audit::origin::Origin;
use crate::audit::scan;
use crate::audit::shard::{Settings, Stamp};
use crate::cli::GlobalArgs;
use crate::cmd::analyze::read_probed;
use crate::cmd::report::reads_bodies;
use crate::error::{exit, AppError};
use crate::input::Format;
use crate::insights::lang;
use crate::insights::offline::{Engine, Event, Output};
use crate::insights::runner::{self, Statistics, TaskResult};
use crate::insights::{self, Query};
use crate::output::report as report_out;
use crate::output::sanitize::sanitize;
use clap::Args;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A bundled query's name (see `queries list`) or a query file.
    #[arg(value_name = "NAME|FILE")]
    pub query: String,
    /// Exported logs: files or directories (read recursively); `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// `@logStream` of events whose export names no log stream (a JSON-lines
    /// file, an S3 export's lines).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_STREAM)]
    pub log_stream: String,
    /// Read every input as this format instead of detecting it.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Worker threads (default: every core).
    #[arg(long, env = "SECRET_AUDIT_THREADS")]
    pub threads: Option<usize>,
    /// Logs Insights' price per GB scanned, for what the scan would cost.
    #[arg(long, value_name = "USD", default_value_t = 0.005)]
    pub price_per_gb: f64,
}

/// The log streams EKS writes audit events to are `kube-apiserver-audit-<id>`.
pub const DEFAULT_STREAM: &str = "kube-apiserver-audit";

/// A bundled query by name, or a query file.
fn query(name: &str) -> anyhow::Result<Query> {
    if let Some(q) = insights::find(name) {
        return Ok(q);
    }
    let path = Path::new(name);
    if !path.exists() {
        return Err(AppError::Usage(format!(
            "no bundled query or query file {:?}; `secret-audit queries list` names the bundled ones",
            sanitize(name)
        ))
        .into());
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| AppError::Usage(format!("cannot read query file {}: {e}", path.display())))?;
    let stem = path
        .file_stem()
        .map_or_else(|| "query".into(), |s| s.to_string_lossy().into_owned());
    Ok(Query::parse(&stem, &text))
}

/// The query's commands, ready to run, or the first thing in the way.
fn engine(q: &Query, log_stream: &str) -> anyhow::Result<Engine> {
    if let Some(field) = reads_bodies(q) {
        return Err(AppError::Usage(format!(
            "query {} {}: request and response bodies may hold secret values, \
             which secret-audit never prints",
            sanitize(&q.name),
            sanitize(&field)
        ))
        .into());
    }
    let (stages, errors) = lang::parse(&q.body);
    if let Some(e) = errors.first() {
        let (line, column) = insights::syntax::position(&q.body, e.offset);
        return Err(AppError::Usage(format!(
            "query {}:{line}:{column}: {}: {} (`secret-audit queries lint` names every mistake)",
            sanitize(&q.name),
            e.rule,
            sanitize(&e.message)
        ))
        .into());
    }
    Engine::new(stages, log_stream).map_err(|e| {
        let (line, column) = insights::syntax::position(&q.body, e.offset);
        AppError::Usage(format!(
            "query {}:{line}:{column}: {}; `secret-audit report --query-file` runs it in Logs Insights",
            sanitize(&q.name),
            sanitize(&e.to_string())
        ))
        .into()
    })
}

pub fn run(global: &GlobalArgs, args: &RunArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let q = query(&args.query)?;
    let engine = Arc::new(engine(&q, &args.log_stream)?);
    // The reader already looked for analyze's needle: its answer is used.
    let (known, needles): (Vec<_>, Vec<_>) = engine
        .needles()
        .into_iter()
        .partition(|n| n.as_bytes() == scan::NEEDLE);
    let needles: Vec<memchr::memmem::Finder<'static>> = needles
        .iter()
        .map(|n| memchr::memmem::Finder::new(n.as_bytes()).into_owned())
        .collect();
    let feeder = Arc::clone(&engine);
    let probe = move |rec: &[u8], at: &Origin, stamp: &Stamp<'_>| {
        let has_known = || stamp.needle.unwrap_or_else(|| scan::has_needle(rec));
        if (!known.is_empty() && !has_known()) || needles.iter().any(|n| n.find(rec).is_none()) {
            feeder.skip(rec.len());
            return false;
        }
        let (stream, ingestion) = match at {
            Origin::Event(e) => (Some(&*e.log_stream), Some(e.ingestion_time)),
            Origin::File(_) => (stamp.stream, stamp.ingestion),
        };
        let place = at
            .position()
            .map_or((0, 0, 0), |p| (p.input, p.block, p.line));
        feeder.feed(&Event {
            message: rec,
            time: stamp.time.map(|us| us.div_euclid(1000)),
            stream,
            ingestion,
            place,
        });
        false
    };
    let settings = Arc::new(Settings {
        probe: Some(Arc::new(probe)),
        classify: false,
        ..Default::default()
    });
    let (shard, reports) = read_probed(
        global,
        &args.paths,
        args.format,
        args.threads,
        settings,
        "read",
    )?;
    drop(shard);
    let engine = Arc::try_unwrap(engine)
        .map_err(|_| anyhow::anyhow!("the query engine is still shared after reading"))?;
    let result = task_result(&q, engine.finish());
    let label = match reports.as_slice() {
        [one] => one.path.clone(),
        many => format!("{} inputs", many.len()),
    };
    report_out::write_offline(global.output(), &result, &label, args.price_per_gb, out)?;
    Ok(exit::OK)
}

/// The answer in the shape `report` prints, with request and response
/// bodies removed from `@message`.
fn task_result(q: &Query, o: Output) -> TaskResult {
    let mut payloads_removed = 0;
    let rows = o
        .rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .zip(&o.columns)
                .map(|(cell, column)| {
                    let (cell, removed) = runner::redact(column, &cell);
                    payloads_removed += usize::from(removed);
                    cell
                })
                .collect()
        })
        .collect();
    TaskResult {
        name: q.name.clone(),
        log_groups: Vec::new(),
        start: 0,
        end: 0,
        status: "Complete".into(),
        statistics: Statistics {
            records_matched: o.matched as f64,
            records_scanned: o.scanned as f64,
            bytes_scanned: o.bytes as f64,
            bytes_skipped: 0.0,
        },
        truncated: o.truncated,
        chunks: 1,
        payloads_removed,
        columns: o.columns,
        rows,
    }
}
