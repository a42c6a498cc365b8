//! `secret-audit test-pattern PATTERN FILES...`: how many log events a
//! CloudWatch filter pattern matches in exported audit logs, read like
//! `analyze` reads them. It counts log events, as a metric filter does (a
//! watch logged at two stages is two events), not deduplicated requests.
//! Examples are a short summary of fields, never the raw message: a matched
//! event may carry a secret payload.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::audit::shard::Settings;
use crate::cli::GlobalArgs;
use crate::cmd::analyze::read_probed;
use crate::error::{exit, AppError};
use crate::input::Format;
use crate::output::pattern_test::{self, Example, PatternTest};
use crate::pattern::Pattern;

#[derive(Debug, Args)]
pub struct TestPatternArgs {
    /// The filter pattern, as given to a metric filter (quote it for the shell).
    #[arg(value_name = "PATTERN", allow_hyphen_values = true)]
    pub pattern: String,
    /// Files or directories (read recursively) to test it on; `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Read every input as this format instead of detecting it.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Worker threads (default: every core).
    #[arg(long, env = "SECRET_AUDIT_THREADS")]
    pub threads: Option<usize>,
    /// Exit 1 when the answer is incomplete (any malformed record).
    #[arg(long, env = "SECRET_AUDIT_STRICT")]
    pub strict: bool,
    /// Records larger than this are malformed and skipped unread (bytes; K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = crate::cmd::analyze::parse_size, env = "SECRET_AUDIT_MAX_RECORD_SIZE")]
    pub max_record_size: usize,
}

pub fn run(global: &GlobalArgs, args: TestPatternArgs) -> anyhow::Result<u8> {
    let pattern = Pattern::parse(&args.pattern).map_err(|e| AppError::Usage(e.to_string()))?;
    let pattern = Arc::new(pattern);
    let probe = Arc::clone(&pattern);
    let say = global.reporter();
    let settings = Arc::new(Settings {
        max_record_size: args.max_record_size,
        keep_all_malformed: say.is_verbose(),
        probe: Some(Arc::new(move |rec: &[u8], _: &_, _: &_| probe.matches(rec))),
        ..Default::default()
    });
    let (shard, reports) = read_probed(
        global,
        &args.paths,
        args.format,
        args.threads,
        settings,
        "tested",
    )?;
    let c = &shard.counts;
    let examples: Vec<Example> = shard
        .probe_examples
        .iter()
        .map(|(at, raw)| Example::of(at, raw, &reports))
        .collect();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let assumptions = pattern.assumptions();
    let doc = PatternTest {
        pattern: pattern.as_str(),
        assumptions: &assumptions,
        matched: shard.probe_matched,
        records: c.records,
        malformed: c.malformed,
        reports: &reports,
        examples: &examples,
    };
    pattern_test::write(global.output(), &doc, &mut out)?;
    out.flush().context("writing the result")?;
    if args.strict && c.malformed > 0 {
        return Ok(exit::CHECK_FAILED);
    }
    Ok(exit::OK)
}
