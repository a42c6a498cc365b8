//! The analysis document: what `analyze` prints, in every format. Its JSON
//! (`schema_version` 1, DESIGN.md's contract) is the one `tail` and `alert`
//! share; the table, CSV and markdown views show the same rows. Commands
//! build the data (a finished [`Shard`], its rollup rows); this renders it.

use std::io::{self, Write};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Value};

use super::diag::Reporter;
use super::sanitize::sanitize;
use super::table::{Fit, Table};
use super::{json as jsonout, rfc3339, OutputFormat};
use crate::audit::origin::Origin;
use crate::audit::rollup::{self, Key, RequestRow, Row, Totals};
use crate::audit::shard::{Shard, MALFORMED_SHOWN};
use crate::input::InputReport;

/// The version of the JSON document `analyze --output json` writes.
pub const SCHEMA_VERSION: u32 = 1;

/// One analysis, ready to render.
pub struct Analysis<'a> {
    pub shard: &'a Shard,
    pub reports: &'a [InputReport],
    /// The rollup rows (empty with `requests`).
    pub rows: &'a [Row<'a>],
    pub by: &'a [Key],
    /// One row per request instead of the rollup.
    pub requests: bool,
    /// Threads the JSON output may use.
    pub threads: usize,
    /// The detection rules' findings, when they were asked for.
    pub findings: Option<&'a [crate::rules::Finding]>,
}

/// Writes the analysis in `format`.
pub fn write(format: OutputFormat, a: &Analysis, out: &mut dyn Write) -> io::Result<()> {
    let shard = a.shard;
    let totals = rollup::totals(&shard.grouped);
    let summary = summary(shard, a.reports, &totals);
    match format {
        OutputFormat::Json => {
            let head = Head {
                schema_version: SCHEMA_VERSION,
                summary,
                findings: a.findings,
            };
            if a.requests {
                let reqs = rollup::requests(&shard.grouped);
                let items: Vec<_> = reqs
                    .iter()
                    .map(|r| RequestJson(r, source(r, a.reports)))
                    .collect();
                jsonout::write_with_array(out, &head, "requests", &items, a.threads > 1)?;
            } else {
                let items: Vec<_> = a.rows.iter().map(RowJson).collect();
                jsonout::write_with_array(out, &head, "rollup", &items, a.threads > 1)?;
            }
        }
        fmt => {
            let table = if a.requests {
                requests_table(
                    &rollup::requests(&shard.grouped),
                    a.reports,
                    fmt == OutputFormat::Csv,
                )
            } else {
                rollup_table(a.rows, a.by, fmt == OutputFormat::Csv)
            };
            match fmt {
                OutputFormat::Csv => table.write_csv(out)?,
                OutputFormat::Markdown => {
                    writeln!(out, "{}\n", headline(&totals, a.reports.len()))?;
                    table.write_markdown(out)?;
                    writeln!(out, "\n{}", accounting(shard))?;
                }
                _ => {
                    writeln!(out, "{}", headline(&totals, a.reports.len()))?;
                    let hidden =
                        !table.rows.is_empty() && table.without_empty_columns().write_table(out)?;
                    writeln!(out, "{}", accounting(shard))?;
                    if hidden {
                        writeln!(out, "(--wide shows every column)")?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Malformed records, unreadable inputs and secret payloads, on stderr.
pub fn warn(say: Reporter, shard: &Shard, reports: &[InputReport]) {
    let verbose = say.is_verbose();
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
            say.line(format_args!("  {}: {}", place(&m.at, reports), m.reason));
        }
        if (shown as u64) < shard.counts.malformed {
            say.line(format_args!(
                "  ... and {} more (-v lists them all)",
                shard.counts.malformed - shown as u64
            ));
        }
    }
    let c = &shard.counts;
    if c.secret_records == 0 && c.filtered > 0 {
        let span = match (c.secret_first, c.secret_last) {
            (Some(a), Some(b)) => format!(
                "; the secret records span {} to {}",
                rfc3339(a, false),
                rfc3339(b, false)
            ),
            _ => String::new(),
        };
        say.line(format_args!(
            "warning: the filters (--since, --until, --namespace, --user) excluded all {} secret \
             record(s){span}",
            c.filtered
        ));
    }
    for (i, r) in reports.iter().enumerate() {
        let records = shard.per_input.get(&(i as u32)).map_or(0, |p| p.0);
        if r.not_audit && records > 0 {
            say.line(format_args!(
                "warning: {}: no Kubernetes audit event in its first 64 KiB (no auditID); \
                 is it an audit log?",
                sanitize(&r.path)
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

pub fn summary(shard: &Shard, reports: &[InputReport], totals: &Totals) -> Value {
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
        "principals": totals.principals,
        "namespaces": totals.namespaces,
        "cluster_wide_requests": totals.cluster_wide,
        "payload_records": c.payload_records,
        "first_seen": time_json(totals.first_seen),
        "last_seen": time_json(totals.last_seen),
        "inputs": inputs,
    })
}

/// The rollup rows as the JSON document has them, as a value (for a
/// document that holds them beside other parts).
pub fn rollup_value(rows: &[Row]) -> serde_json::Result<Value> {
    serde_json::to_value(rows.iter().map(RowJson).collect::<Vec<_>>())
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

/// Where a record came from, named with the paths of the inputs and
/// sanitized.
pub fn place(at: &Origin, reports: &[InputReport]) -> String {
    let name = |i: u32| {
        reports
            .get(i as usize)
            .map_or("?", |r| r.path.as_str())
            .to_string()
    };
    sanitize(&at.describe(name)).into_owned()
}

/// Where a request's first record came from.
fn source(r: &RequestRow, reports: &[InputReport]) -> String {
    r.origin.map(|o| place(o, reports)).unwrap_or_default()
}

/// A request as JSON, written straight to the output, with its source.
struct RequestJson<'r, 'a>(&'r RequestRow<'a>, String);

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
        m.serialize_entry("source", &self.1)?;
        m.end()
    }
}

/// The `--output json` document before its last field, `rollup` (or
/// `requests` with `--requests`).
#[derive(serde::Serialize)]
struct Head<'a> {
    schema_version: u32,
    summary: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    findings: Option<&'a [crate::rules::Finding]>,
}

/// `n thing` or `n things`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The totals first, in two short lines: who did how much, then when and
/// from what.
fn headline(t: &Totals, inputs: usize) -> String {
    let inputs = count(inputs as u64, "input", "inputs");
    if t.requests == 0 {
        return format!("No secret access found in {inputs}");
    }
    let span = match (t.first_seen, t.last_seen) {
        (Some(a), Some(b)) => format!("from {} to {}", rfc3339(a, false), rfc3339(b, false)),
        _ => "at unknown times".into(),
    };
    format!(
        "{} ({} denied) by {} in {}, {} cluster-wide\n{span}, {} from {inputs}",
        count(t.requests, "request", "requests"),
        t.denied,
        count(t.principals, "principal", "principals"),
        count(t.namespaces, "namespace", "namespaces"),
        t.cluster_wide,
        count(t.rows, "row", "rows"),
    )
}

fn accounting(shard: &Shard) -> String {
    let c = &shard.counts;
    format!(
        "{}: {} secret, {} skipped, {} filtered, {} malformed",
        count(c.records, "record", "records"),
        c.secret_records,
        c.skipped,
        c.filtered,
        c.malformed
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
    t.wide_only(&[
        "SCOPE",
        "FIRST SEEN",
        "SOURCE IPS",
        "USER AGENTS",
        "IMPERSONATED BY",
    ])
    .fit(&["USER", "IMPERSONATED BY"], Fit::Principal)
    .fit(
        &["USER AGENT", "USER AGENTS", "VERBS", "SOURCE IPS"],
        Fit::Head,
    )
    .fit(&["FIRST SEEN", "LAST SEEN"], Fit::Keep)
    .optional(&["LAST SEEN", "VERBS"])
}

fn requests_table(reqs: &[RequestRow], reports: &[InputReport], full: bool) -> Table {
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
        ("SOURCE", false),
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
            source(r, reports),
        ]);
    }
    t.wide_only(&[
        "IMPERSONATED BY",
        "SOURCE IP",
        "USER AGENT",
        "AUDIT ID",
        "SOURCE",
    ])
    .fit(&["USER", "IMPERSONATED BY"], Fit::Principal)
    .fit(&["USER AGENT"], Fit::Head)
    .fit(&["TIME", "AUDIT ID"], Fit::Keep)
    .fit(&["VERB"], Fit::Head)
    .optional(&["CODE"])
}
