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
use serde_json::{json, Value};

use crate::audit::shard::{Position, Settings};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::error::{exit, AppError};
use crate::input::{self, Format, InputReport, ReadOptions};
use crate::output::sanitize::sanitize;
use crate::output::{json as jsonout, table::Table};
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
    #[arg(long, default_value = "64M", value_parser = crate::cmd::analyze::parse_size, env = "SECRET_AUDIT_MAX_RECORD_SIZE")]
    pub max_record_size: usize,
}

pub fn run(global: &GlobalArgs, args: TestPatternArgs) -> anyhow::Result<u8> {
    let pattern = Pattern::parse(&args.pattern).map_err(|e| AppError::Usage(e.to_string()))?;
    let pattern = Arc::new(pattern);
    let probe = Arc::clone(&pattern);
    let settings = Arc::new(Settings {
        max_record_size: args.max_record_size,
        keep_all_malformed: global.verbose > 0,
        probe: Some(Arc::new(move |rec: &[u8]| probe.matches(rec))),
        ..Default::default()
    });
    let inputs = input::collect_inputs(&args.paths)?;
    // Large files are scanned through mapped windows; this makes a file
    // that shrinks under them a read error instead of the end of the process.
    input::install_fault_handler();
    let opts = ReadOptions {
        threads: input::threads(args.threads),
        format: args.format,
        range_size: input::RANGE_SIZE,
        window: input::WINDOW,
        progress: Arc::new(input::NoProgress),
    };
    let (shard, reports) = input::read_all(&inputs, settings, &opts);
    let c = &shard.counts;
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
    if c.malformed > 0 {
        say.line(format_args!(
            "warning: {} malformed record(s) not tested (secret-audit analyze -v names them)",
            c.malformed
        ));
    }
    let examples: Vec<Example> = shard
        .probe_examples
        .iter()
        .map(|(at, raw)| Example::of(at, raw, &reports))
        .collect();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if global.output == OutputFormat::Json {
        jsonout::write(
            &mut out,
            &json!({
                "pattern": pattern.as_str(),
                "matched": shard.probe_matched,
                "records": c.records,
                "malformed": c.malformed,
                "inputs": reports.iter().map(|r| json!({
                    "path": r.path,
                    "format": r.format.map(|f| f.name()),
                })).collect::<Vec<_>>(),
                "examples": examples.iter().map(Example::json).collect::<Vec<_>>(),
            }),
        )?;
    } else {
        let mut table = Table::new(&[
            ("AT", false),
            ("TIME", false),
            ("STAGE", false),
            ("VERB", false),
            ("RESOURCE", false),
            ("NAMESPACE", false),
            ("NAME", false),
            ("USER", false),
            ("CODE", true),
        ]);
        for e in &examples {
            table.push(e.row());
        }
        let headline = format!(
            "{} of {} log events match{} (malformed: {})",
            shard.probe_matched,
            c.records,
            if shard.probe_matched == 1 { "es" } else { "" },
            c.malformed
        );
        match global.output {
            OutputFormat::Csv => table.write_csv(&mut out)?,
            OutputFormat::Markdown => {
                writeln!(out, "{headline}\n")?;
                if !table.rows.is_empty() {
                    table.write_markdown(&mut out)?;
                }
            }
            _ => {
                writeln!(out, "{headline}")?;
                if !table.rows.is_empty() {
                    writeln!(out, "first matches:")?;
                    table.without_empty_columns().write_table(&mut out)?;
                }
            }
        }
    }
    out.flush().context("writing the result")?;
    if args.strict && c.malformed > 0 {
        return Ok(exit::CHECK_FAILED);
    }
    Ok(exit::OK)
}

/// A matched event as a few sanitized fields; never its body.
struct Example {
    at: String,
    fields: [(&'static str, String); 8],
}

impl Example {
    fn of(at: &Position, raw: &[u8], reports: &[InputReport]) -> Example {
        let path = reports
            .get(at.input as usize)
            .map_or("?", |r| r.path.as_str());
        let at = match &at.label {
            Some(l) => format!("{path}: {l}"),
            None => format!("{path}:{}", at.line),
        };
        let v = crate::audit::event::describe(raw).unwrap_or_default();
        let s = |t: &Option<std::borrow::Cow<str>>| {
            t.as_deref()
                .map_or(String::new(), |t| sanitize(t).into_owned())
        };
        Example {
            at: sanitize(&at).into_owned(),
            fields: [
                ("time", s(&v.time)),
                ("stage", s(&v.stage)),
                ("verb", s(&v.verb)),
                ("resource", s(&v.resource)),
                ("namespace", s(&v.namespace)),
                ("name", s(&v.name)),
                ("user", s(&v.user)),
                ("code", v.code.map_or(String::new(), |c| c.to_string())),
            ],
        }
    }

    fn row(&self) -> Vec<String> {
        std::iter::once(self.at.clone())
            .chain(self.fields.iter().map(|(_, v)| v.clone()))
            .collect()
    }

    fn json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("at".into(), json!(self.at));
        for (k, v) in &self.fields {
            let value = match *k {
                "code" => v.parse::<i64>().map_or(Value::Null, |n| json!(n)),
                _ if v.is_empty() => Value::Null,
                _ => json!(v),
            };
            m.insert((*k).into(), value);
        }
        Value::Object(m)
    }
}
