//! `secret-audit analyze`: offline analysis of exported audit logs.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Value};

use crate::audit::group::Grouping;
use crate::audit::rollup::{self, Key, RequestRow, Row, Totals, DEFAULT_KEYS};
use crate::audit::shard::{Settings, Shard, MALFORMED_SHOWN};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::error::{exit, AppError};
use crate::input::{self, Format, InputReport, ReadOptions};
use crate::output::diag::Reporter;
use crate::output::{json as jsonout, rfc3339, table::Table};
use crate::timearg::parse_window;

/// The version of the JSON document `analyze --output json` writes.
pub const SCHEMA_VERSION: u32 = 1;

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
    #[arg(long, value_name = "N", env = "SECRET_AUDIT_TOP")]
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
    #[arg(long, default_value = "64M", value_parser = parse_size, env = "SECRET_AUDIT_MAX_RECORD_SIZE")]
    pub max_record_size: usize,
    /// Threads for reading, building the rollup and writing JSON (default:
    /// every core).
    #[arg(long, env = "SECRET_AUDIT_THREADS")]
    pub threads: Option<usize>,
    /// Parse every record, not only those that mention secrets (a slow
    /// reference path for checking the fast one).
    #[arg(long, hide = true)]
    pub full_parse: bool,
    /// Bytes per range when a large plain file is split across threads (for
    /// tests: small ranges exercise the splitting on small files).
    #[arg(long, hide = true, default_value_t = input::RANGE_SIZE, value_parser = |s: &str| parse_size(s).map(|n| n as u64))]
    pub range_size: u64,
    /// Bytes of a large plain file mapped at a time; 0 reads it instead (for
    /// tests: small windows exercise the cuts between them).
    #[arg(long, hide = true, default_value_t = input::WINDOW, value_parser = |s: &str| if s == "0" { Ok(0) } else { parse_size(s) })]
    pub window_size: usize,
    /// Exit 1 when the answer is incomplete (any malformed record).
    #[arg(long, env = "SECRET_AUDIT_STRICT")]
    pub strict: bool,
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
    let (since, until) = parse_window(
        args.since.as_deref(),
        args.until.as_deref(),
        chrono::Utc::now(),
    )
    .map_err(AppError::Usage)?;
    let mut by = Vec::new();
    for k in &args.by {
        if !by.contains(k) {
            by.push(*k);
        }
    }
    let settings = Arc::new(Settings {
        filter: crate::audit::shard::Filter {
            since: since.map(|t| t.timestamp_micros()),
            until: until.map(|t| t.timestamp_micros()),
            namespaces: args.namespace.clone(),
            users: args.user.clone(),
        },
        max_record_size: args.max_record_size,
        keep_all_malformed: global.verbose > 0,
        full_parse: args.full_parse,
        probe: None,
        grouping: if args.requests {
            Grouping::Requests
        } else {
            Grouping::By(by.clone())
        },
        requests: Arc::default(),
    });
    let inputs = input::collect_inputs(&args.paths)?;
    // Large files are scanned through mapped windows; this makes a file
    // that shrinks under them a read error instead of the end of the process.
    input::install_fault_handler();
    let threads = input::threads(args.threads);
    let progress = crate::output::progress::bytes_bar(total_bytes(&inputs), global.quiet);
    let opts = ReadOptions {
        threads,
        format: args.format,
        range_size: args.range_size,
        window: args.window_size,
        progress: Arc::new(progress.clone()),
    };
    let (shard, reports) = input::read_all(&inputs, settings, &opts);
    progress.finish_and_clear();

    warn(global.reporter(), &shard, &reports);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let rows = if args.requests {
        Vec::new()
    } else {
        rollup::rollup(&shard, args.top, threads)
    };
    let totals = rollup::totals(&shard);
    let summary = summary(&shard, &reports, &totals);
    match global.output {
        OutputFormat::Json => {
            let head = Head {
                schema_version: SCHEMA_VERSION,
                summary,
            };
            if args.requests {
                let reqs = rollup::requests(&shard);
                let items: Vec<_> = reqs.iter().map(RequestJson).collect();
                jsonout::write_with_array(&mut out, &head, "requests", &items, threads > 1)?;
            } else {
                let items: Vec<_> = rows.iter().map(RowJson).collect();
                jsonout::write_with_array(&mut out, &head, "rollup", &items, threads > 1)?;
            }
        }
        fmt => {
            let table = if args.requests {
                requests_table(&rollup::requests(&shard), fmt == OutputFormat::Csv)
            } else {
                rollup_table(&rows, &by, fmt == OutputFormat::Csv)
            };
            match fmt {
                OutputFormat::Csv => table.write_csv(&mut out)?,
                OutputFormat::Markdown => {
                    writeln!(out, "{}\n", headline(&totals, reports.len()))?;
                    table.write_markdown(&mut out)?;
                    writeln!(out, "\n{}", accounting(&shard, &totals))?;
                }
                _ => {
                    writeln!(out, "{}", headline(&totals, reports.len()))?;
                    if !table.rows.is_empty() {
                        table.without_empty_columns().write_table(&mut out)?;
                    }
                    writeln!(out, "{}", accounting(&shard, &totals))?;
                }
            }
        }
    }
    out.flush().context("writing the report")?;
    let malformed = shard.counts.malformed;
    // The process ends next: the operating system takes back the rows and
    // tables at once, faster than freeing their allocations one by one.
    std::mem::forget(rows);
    std::mem::forget(shard);
    if args.strict && malformed > 0 {
        global.reporter().line(format_args!(
            "secret-audit: --strict: {malformed} malformed record(s), the answer is incomplete"
        ));
        return Ok(exit::CHECK_FAILED);
    }
    Ok(exit::OK)
}

/// The bytes of every input that has a size (stdin has none).
fn total_bytes(inputs: &[input::Input]) -> u64 {
    inputs
        .iter()
        .filter(|i| !i.is_stdin())
        .filter_map(|i| std::fs::metadata(&i.path).ok())
        .map(|m| m.len())
        .sum()
}

/// Malformed records, unreadable inputs and secret payloads, on stderr.
fn warn(say: Reporter, shard: &Shard, reports: &[InputReport]) {
    let verbose = say.is_verbose();
    let name = |i: u32| reports.get(i as usize).map_or("?", |r| r.path.as_str());
    if shard.counts.malformed > 0 {
        let shown = if verbose {
            shard.malformed.len()
        } else {
            MALFORMED_SHOWN.min(shard.malformed.len())
        };
        say.line(format_args!(
            "warning: {} malformed record(s) not counted:",
            shard.counts.malformed
        ));
        for m in &shard.malformed[..shown] {
            let place = match &m.at.label {
                Some(l) => format!("{}: {l}", name(m.at.input)),
                None => format!("{}:{}", name(m.at.input), m.at.line),
            };
            say.line(format_args!(
                "  {}: {}",
                crate::output::sanitize::sanitize(&place),
                m.reason
            ));
        }
        if (shown as u64) < shard.counts.malformed {
            say.line(format_args!(
                "  ... and {} more (-v lists them all)",
                shard.counts.malformed - shown as u64
            ));
        }
    }
    if shard.counts.payload_records > 0 {
        say.line(format_args!(
            "warning: this audit log contains secret payloads: {} secret event(s) carry request or response bodies \
             (secret-audit never prints them; consider the Metadata audit level for secrets)",
            shard.counts.payload_records
        ));
    }
}

fn time_json(t: Option<i64>) -> Option<String> {
    t.map(|t| rfc3339(t, true))
}

fn summary(shard: &Shard, reports: &[InputReport], totals: &Totals) -> Value {
    let c = &shard.counts;
    let inputs: Vec<Value> = reports
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (records, malformed) = shard
                .per_input
                .get(&(i as u32))
                .copied()
                .unwrap_or_default();
            json!({
                "path": r.path,
                "format": r.format.map(|f| f.name()),
                "gzip": r.gzip,
                "records": records,
                "malformed": malformed,
                "problem": r.problem,
            })
        })
        .collect();
    json!({
        "records": c.records,
        "malformed": c.malformed,
        "skipped": c.skipped,
        "filtered": c.filtered,
        "secret_records": c.secret_records,
        "secret_requests": totals.requests,
        "denied": totals.denied,
        "payload_records": c.payload_records,
        "first_seen": time_json(totals.first_seen),
        "last_seen": time_json(totals.last_seen),
        "inputs": inputs,
    })
}

/// A rollup row as JSON, written straight to the output.
struct RowJson<'r, 'a>(&'r Row<'a>);

impl Serialize for RowJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        for (k, v) in &r.keys {
            m.serialize_entry(k.name(), v)?;
        }
        if let Some(scope) = r.scope {
            m.serialize_entry("scope", &scope)?;
        }
        m.serialize_entry("verbs", &r.verbs)?;
        m.serialize_entry("requests", &r.requests)?;
        m.serialize_entry("denied", &r.denied)?;
        m.serialize_entry("first_seen", &time_json(r.first_seen))?;
        m.serialize_entry("last_seen", &time_json(r.last_seen))?;
        m.serialize_entry("source_ips", &r.source_ips)?;
        m.serialize_entry("source_ip_count", &r.source_ip_count)?;
        m.serialize_entry("user_agents", &r.user_agents)?;
        m.serialize_entry("user_agent_count", &r.user_agent_count)?;
        m.serialize_entry("impersonated_by", &r.impersonated_by)?;
        m.end()
    }
}

/// A request as JSON, written straight to the output.
struct RequestJson<'r, 'a>(&'r RequestRow<'a>);

impl Serialize for RequestJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("time", &time_json(r.time))?;
        m.serialize_entry("verb", r.verb)?;
        m.serialize_entry("namespace", r.namespace)?;
        m.serialize_entry("secret", r.secret)?;
        m.serialize_entry("subresource", &r.subresource)?;
        m.serialize_entry("scope", &r.scope)?;
        m.serialize_entry("user", r.user)?;
        m.serialize_entry("impersonated_by", &r.impersonated_by)?;
        m.serialize_entry("code", &r.code)?;
        m.serialize_entry("source_ip", r.source_ip)?;
        m.serialize_entry("user_agent", r.user_agent)?;
        m.serialize_entry("audit_id", &r.audit_id)?;
        m.end()
    }
}

/// The `--output json` document before its last field, `rollup` (or
/// `requests` with `--requests`).
#[derive(serde::Serialize)]
struct Head {
    schema_version: u32,
    summary: Value,
}

fn headline(t: &Totals, inputs: usize) -> String {
    if t.requests == 0 {
        return format!("No secret access found in {inputs} input(s)");
    }
    let span = match (t.first_seen, t.last_seen) {
        (Some(a), Some(b)) => format!("from {} to {}", rfc3339(a, false), rfc3339(b, false)),
        _ => "at unknown times".into(),
    };
    format!(
        "Secret access {span}: {} request(s), {} denied, in {} row(s) from {inputs} input(s)",
        t.requests, t.denied, t.rows
    )
}

fn accounting(shard: &Shard, t: &Totals) -> String {
    let c = &shard.counts;
    format!(
        "records {}: secret records {} ({} requests), skipped {}, filtered {}, malformed {}",
        c.records, c.secret_records, t.requests, c.skipped, c.filtered, c.malformed
    )
}

fn list(items: &[&str], total: u64, shown: usize, full: bool) -> String {
    let take = if full {
        items.len()
    } else {
        shown.min(items.len())
    };
    let mut s = items[..take].join(if full { " " } else { ", " });
    if !full && total > take as u64 {
        s.push_str(&format!(" (+{})", total - take as u64));
    }
    s
}

fn rollup_table(rows: &[Row], by: &[Key], full: bool) -> Table {
    let with_scope = by.iter().any(|k| matches!(k, Key::Namespace | Key::Secret));
    let mut headers: Vec<(String, bool)> = by
        .iter()
        .map(|k| (k.name().to_uppercase().replace('_', " "), false))
        .collect();
    if with_scope {
        headers.push(("SCOPE".into(), false));
    }
    for (h, n) in [
        ("REQUESTS", true),
        ("VERBS", false),
        ("DENIED", true),
        ("FIRST SEEN", false),
        ("LAST SEEN", false),
        ("SOURCE IPS", false),
        ("USER AGENTS", false),
        ("IMPERSONATED BY", false),
    ] {
        headers.push((h.into(), n));
    }
    let hdr: Vec<(&str, bool)> = headers.iter().map(|(h, n)| (h.as_str(), *n)).collect();
    let mut t = Table::new(&hdr);
    for r in rows {
        let mut cells: Vec<String> = r.keys.iter().map(|(_, v)| v.to_string()).collect();
        if with_scope {
            cells.push(r.scope.map_or("", |s| s.name()).into());
        }
        let verbs: Vec<String> = r.verbs.iter().map(|(v, n)| format!("{v}={n}")).collect();
        cells.extend([
            r.requests.to_string(),
            verbs.join(" "),
            r.denied.to_string(),
            r.first_seen.map(|t| rfc3339(t, full)).unwrap_or_default(),
            r.last_seen.map(|t| rfc3339(t, full)).unwrap_or_default(),
            list(&r.source_ips, r.source_ip_count, 2, full),
            list(&r.user_agents, r.user_agent_count, 2, full),
            r.impersonated_by.join(if full { " " } else { ", " }),
        ]);
        t.push(cells);
    }
    t
}

fn requests_table(reqs: &[RequestRow], full: bool) -> Table {
    let mut t = Table::new(&[
        ("TIME", false),
        ("VERB", false),
        ("NAMESPACE", false),
        ("SECRET", false),
        ("USER", false),
        ("IMPERSONATED BY", false),
        ("CODE", true),
        ("SOURCE IP", false),
        ("USER AGENT", false),
        ("AUDIT ID", false),
    ]);
    for r in reqs {
        let secret = match r.subresource {
            Some(sub) => format!("{}/{sub}", r.secret),
            None => r.secret.to_string(),
        };
        t.push(vec![
            r.time.map(|t| rfc3339(t, full)).unwrap_or_default(),
            r.verb.to_string(),
            r.namespace.to_string(),
            secret,
            r.user.to_string(),
            r.impersonated_by.unwrap_or_default().to_string(),
            r.code.map(|c| c.to_string()).unwrap_or_default(),
            r.source_ip.to_string(),
            r.user_agent.to_string(),
            r.audit_id.clone(),
        ]);
    }
    t
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
