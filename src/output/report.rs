//! The document of `report`: scan statistics and estimated cost, then one
//! table per query (or one JSON document), from the runner's results.

use std::io::{self, Write};

use serde_json::{json, Map, Value};

use super::diag::Reporter;
use super::sanitize::sanitize;
use super::{json as jsonout, table::Table, OutputFormat};
use crate::insights::runner::TaskResult;

/// Version of the `--output json` document.
pub const SCHEMA_VERSION: u32 = 1;

/// Logs Insights bills per GB scanned (GiB, 2^30 bytes).
pub fn cost(bytes: f64, price_per_gb: f64) -> f64 {
    bytes / (1u64 << 30) as f64 * price_per_gb
}

fn time(secs: i64) -> String {
    crate::output::rfc3339(secs * 1_000_000, false)
}

/// The `--output json` document.
pub fn document(results: &[TaskResult], price_per_gb: f64) -> Value {
    let queries: Vec<Value> = results
        .iter()
        .map(|r| {
            let rows: Vec<Value> = r
                .rows
                .iter()
                .map(|row| {
                    let mut m = Map::new();
                    for (c, v) in r.columns.iter().zip(row) {
                        m.insert(c.clone(), Value::String(v.clone()));
                    }
                    Value::Object(m)
                })
                .collect();
            json!({
                "name": r.name,
                "log_groups": r.log_groups,
                "start": time(r.start),
                "end": time(r.end),
                "status": r.status,
                "statistics": {
                    "records_matched": r.statistics.records_matched,
                    "records_scanned": r.statistics.records_scanned,
                    "bytes_scanned": r.statistics.bytes_scanned,
                    "bytes_skipped": r.statistics.bytes_skipped,
                    "queries_run": r.chunks,
                },
                "estimated_cost_usd": cost(r.statistics.bytes_scanned, price_per_gb),
                "estimated_cost_without_index_usd": cost(
                    r.statistics.bytes_scanned + r.statistics.bytes_skipped,
                    price_per_gb
                ),
                "truncated": r.truncated,
                "columns": r.columns,
                "rows": rows,
            })
        })
        .collect();
    json!({"schema_version": SCHEMA_VERSION, "queries": queries})
}

/// Statistics first, then one table per query.
pub fn write(
    format: OutputFormat,
    results: &[TaskResult],
    price_per_gb: f64,
    say: Reporter,
    out: &mut dyn Write,
) -> io::Result<()> {
    if format == OutputFormat::Json {
        // Rendered in memory first: a closed pipe then surfaces as a plain
        // broken-pipe error (exit 0), not one wrapped by the serializer.
        let mut buf = Vec::new();
        jsonout::write(&mut buf, &document(results, price_per_gb))?;
        return out.write_all(&buf);
    }
    let (summary, heading) = statistics(results, price_per_gb);
    match format {
        OutputFormat::Csv => {
            // CSV carries only the query tables, each after a blank line;
            // the statistics go to stderr.
            say.line(format_args!("{heading}"));
            for (i, r) in results.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                table_of(r).write_csv(out)?;
            }
            Ok(())
        }
        OutputFormat::Markdown => {
            writeln!(out, "{heading}\n")?;
            summary.write_markdown(out)?;
            for r in results {
                writeln!(out, "\n## {}\n", sanitize(&r.name).replace('|', "\\|"))?;
                table_of(r).write_markdown(out)?;
            }
            Ok(())
        }
        _ => {
            writeln!(out, "{heading}")?;
            summary.write_table(out)?;
            for r in results {
                writeln!(
                    out,
                    "\n{} ({}, {} rows{})",
                    sanitize(&r.name),
                    sanitize(&groups_label(&r.log_groups)),
                    r.rows.len(),
                    if r.truncated {
                        ", possibly truncated"
                    } else {
                        ""
                    }
                )?;
                table_of(r).write_table(out)?;
            }
            Ok(())
        }
    }
}

/// The answer of `queries run`: a line saying what was read and matched,
/// then the rows; CSV is the rows alone; JSON carries the same and the
/// statistics (`bytes_scanned`: what Logs Insights would bill for).
pub fn write_offline(
    format: OutputFormat,
    r: &TaskResult,
    inputs: &str,
    price_per_gb: f64,
    out: &mut dyn Write,
) -> io::Result<()> {
    // A narrow terminal leaves out the last columns first, keeping two.
    let later: Vec<&str> = r.columns.iter().skip(2).rev().map(String::as_str).collect();
    let table = table_of(r).optional(&later);
    let s = &r.statistics;
    match format {
        OutputFormat::Json => {
            let mut doc = document(std::slice::from_ref(r), price_per_gb);
            let q = &mut doc["queries"][0];
            if let Some(m) = q.as_object_mut() {
                for k in [
                    "log_groups",
                    "start",
                    "end",
                    "status",
                    "estimated_cost_without_index_usd",
                ] {
                    m.remove(k);
                }
                m.insert("inputs".into(), json!(inputs));
            }
            let mut buf = Vec::new();
            jsonout::write(&mut buf, &doc)?;
            out.write_all(&buf)
        }
        OutputFormat::Csv => table.write_csv(out),
        _ => {
            let line = format!(
                "{}: {} row{} from {} of {} events{}\nread {}: {} bytes (${:.6} in Logs Insights)",
                sanitize(&r.name),
                r.rows.len(),
                if r.rows.len() == 1 { "" } else { "s" },
                s.records_matched as u64,
                s.records_scanned as u64,
                if r.truncated {
                    ", cut at 10000 (add a limit)"
                } else {
                    ""
                },
                sanitize(inputs),
                s.bytes_scanned as u64,
                cost(s.bytes_scanned, price_per_gb),
            );
            if format == OutputFormat::Markdown {
                writeln!(out, "{}\n", line.replace('\n', "  \n"))?;
                return table.write_markdown(out);
            }
            writeln!(out, "{line}")?;
            if table.write_table(out)? {
                writeln!(out, "(--wide shows every column)")?;
            }
            Ok(())
        }
    }
}

/// What `report --estimate` shows: the window, each log group's incoming
/// bytes (`None`: no metric data), each query's log groups.
#[derive(Debug, Clone)]
pub struct Estimate {
    pub start: i64,
    pub end: i64,
    pub price_per_gb: f64,
    pub groups: Vec<(String, Option<f64>)>,
    pub queries: Vec<(String, Vec<String>)>,
}

impl Estimate {
    /// The bytes a query over these log groups scans at most.
    pub fn bytes(&self, groups: &[String]) -> f64 {
        groups
            .iter()
            .filter_map(|g| self.groups.iter().find(|(n, _)| n == g))
            .filter_map(|(_, b)| *b)
            .sum()
    }
}

/// `report --estimate`, before anything is spent.
pub fn write_estimate(format: OutputFormat, e: &Estimate, out: &mut dyn Write) -> io::Result<()> {
    let queries: Vec<(String, &Vec<String>, f64)> = e
        .queries
        .iter()
        .map(|(name, groups)| (name.clone(), groups, e.bytes(groups)))
        .collect();
    let total: f64 = queries.iter().map(|q| q.2).sum();
    if format == OutputFormat::Json {
        let doc = json!({
            "schema_version": SCHEMA_VERSION,
            "estimate": true,
            "start": time(e.start),
            "end": time(e.end),
            "price_per_gb": e.price_per_gb,
            "log_groups": e.groups.iter().map(|(g, b)| json!({"name": g, "incoming_bytes": b})).collect::<Vec<_>>(),
            "queries": queries.iter().map(|(n, g, b)| json!({
                "name": n, "log_groups": g, "estimated_bytes_scanned": b,
                "estimated_cost_usd": cost(*b, e.price_per_gb),
            })).collect::<Vec<_>>(),
            "estimated_cost_usd": cost(total, e.price_per_gb),
        });
        let mut buf = Vec::new();
        jsonout::write(&mut buf, &doc)?;
        return out.write_all(&buf);
    }
    let mut t = Table::new(&[
        ("QUERY", false),
        ("LOG GROUPS", false),
        ("BYTES TO SCAN", true),
        ("EST. COST USD", true),
    ]);
    for (n, g, b) in &queries {
        t.push(vec![
            n.clone(),
            groups_label(g),
            format!("{}", *b as u64),
            format!("{:.6}", cost(*b, e.price_per_gb)),
        ]);
    }
    if format == OutputFormat::Csv {
        return t.write_csv(out);
    }
    let heading = format!(
        "Estimate, {} to {}: nothing was run. {} bytes came into {} log group{} \
         (IncomingBytes); {} queries would scan up to {} bytes: ${:.6} at ${}/GB.",
        time(e.start),
        time(e.end),
        e.groups.iter().filter_map(|(_, b)| *b).sum::<f64>() as u64,
        e.groups.len(),
        if e.groups.len() == 1 { "" } else { "s" },
        queries.len(),
        total as u64,
        cost(total, e.price_per_gb),
        e.price_per_gb,
    );
    let note = "With a field index on objectRef.resource (setup adds one), a query skips \
                the events that cannot match; only CloudWatch can say how much, and report \
                prints it after each run (BYTES SKIPPED).";
    if format == OutputFormat::Markdown {
        writeln!(out, "{heading}\n")?;
        t.write_markdown(out)?;
        return writeln!(out, "\n{note}");
    }
    writeln!(out, "{heading}")?;
    t.write_table(out)?;
    writeln!(out, "{note}")
}

fn groups_label(groups: &[String]) -> String {
    match groups {
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} and {} more", rest.len()),
        [] => String::new(),
    }
}

fn table_of(r: &TaskResult) -> Table {
    let numeric: Vec<bool> = (0..r.columns.len())
        .map(|c| {
            r.rows.iter().any(|row| !row[c].is_empty())
                && r.rows
                    .iter()
                    .all(|row| row[c].is_empty() || row[c].parse::<f64>().is_ok())
        })
        .collect();
    Table {
        // Column names can come from result fields: sanitize them too.
        headers: r.columns.iter().map(|c| sanitize(c).into_owned()).collect(),
        numeric,
        rows: r.rows.clone(),
        ..Table::default()
    }
}

/// The statistics table (a row per query) and the heading of a report.
fn statistics(results: &[TaskResult], price_per_gb: f64) -> (Table, String) {
    let mut summary = Table::new(&[
        ("QUERY", false),
        ("LOG GROUPS", false),
        ("ROWS", true),
        ("QUERIES RUN", true),
        ("RECORDS SCANNED", true),
        ("BYTES SCANNED", true),
        ("BYTES SKIPPED", true),
        ("EST. COST USD", true),
        ("TRUNCATED", false),
    ]);
    let mut total_bytes = 0.0;
    let mut total_skipped = 0.0;
    let mut total_records = 0.0;
    for r in results {
        total_bytes += r.statistics.bytes_scanned;
        total_skipped += r.statistics.bytes_skipped;
        total_records += r.statistics.records_scanned;
        summary.push(vec![
            r.name.clone(),
            groups_label(&r.log_groups),
            r.rows.len().to_string(),
            r.chunks.to_string(),
            format!("{}", r.statistics.records_scanned as u64),
            format!("{}", r.statistics.bytes_scanned as u64),
            format!("{}", r.statistics.bytes_skipped as u64),
            format!("{:.6}", cost(r.statistics.bytes_scanned, price_per_gb)),
            if r.truncated {
                "possibly truncated".into()
            } else {
                "no".into()
            },
        ]);
    }
    let window = results
        .first()
        .map(|r| format!("{} to {}", time(r.start), time(r.end)))
        .unwrap_or_default();
    let mut heading = format!(
        "Logs Insights, {window}: {} records and {} bytes scanned, estimated cost ${:.6} at ${price_per_gb}/GB",
        total_records as u64,
        total_bytes as u64,
        cost(total_bytes, price_per_gb)
    );
    if total_skipped > 0.0 {
        heading.push_str(&format!(
            "; field indexes skipped {} bytes, which would have cost ${:.6} more",
            total_skipped as u64,
            cost(total_skipped, price_per_gb)
        ));
    }
    (summary, heading)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insights::runner;

    fn result() -> TaskResult {
        TaskResult {
            name: "reads-by-secret".into(),
            log_groups: vec!["/aws/eks/prod/cluster".into()],
            start: 1_795_863_600,
            end: 1_795_867_200,
            status: "Complete".into(),
            statistics: runner::Statistics {
                records_matched: 3.0,
                records_scanned: 300.0,
                bytes_scanned: 2.0 * (1u64 << 30) as f64,
                bytes_skipped: 6.0 * (1u64 << 30) as f64,
            },
            truncated: false,
            chunks: 1,
            payloads_removed: 0,
            columns: vec!["namespace".into(), "reads\u{9b}".into()],
            rows: vec![vec!["kube-system\u{1b}[2J".into(), "7".into()]],
        }
    }

    #[test]
    fn json_document_has_every_field_and_rows_keyed_by_column() {
        let doc = document(&[result()], 0.005);
        assert_eq!(doc["schema_version"], 1);
        let q = &doc["queries"][0];
        for k in [
            "name",
            "log_groups",
            "start",
            "end",
            "status",
            "statistics",
            "estimated_cost_usd",
            "truncated",
            "columns",
            "rows",
        ] {
            assert!(!q[k].is_null(), "{k}");
        }
        assert_eq!(q["start"], "2026-11-28T11:00:00Z");
        // $0.005 per GB (GiB) scanned: 2 GiB scanned, 6 more skipped by
        // the field indexes.
        assert_eq!(q["estimated_cost_usd"], 0.01);
        assert_eq!(q["estimated_cost_without_index_usd"], 0.04);
        assert_eq!(q["statistics"]["bytes_skipped"], 6.0 * (1u64 << 30) as f64);
        assert_eq!(q["rows"][0]["reads\u{9b}"], "7");
    }

    #[test]
    fn every_renderer_sanitizes_result_strings() {
        for f in [
            OutputFormat::Table,
            OutputFormat::Markdown,
            OutputFormat::Csv,
            OutputFormat::Json,
        ] {
            let mut out = Vec::new();
            write(f, &[result()], 0.005, Reporter::new(true, 0), &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(!text.contains('\u{1b}'), "{f:?}: {text}");
            assert!(!text.contains('\u{9b}'), "{f:?}: {text}");
            assert!(text.contains("kube-system"), "{f:?}");
        }
    }

    #[test]
    fn the_heading_says_what_the_indexes_saved() {
        let (_, heading) = statistics(&[result()], 0.005);
        assert!(
            heading.ends_with(
                "2147483648 bytes scanned, estimated cost $0.010000 at $0.005/GB; field indexes \
                 skipped 6442450944 bytes, which would have cost $0.030000 more"
            ),
            "{heading}"
        );
    }

    #[test]
    fn every_format_matches_its_golden_file() {
        let mut second = result();
        second.name = "denied".into();
        second.truncated = true;
        second.chunks = 4;
        second.rows.push(vec!["payments".into(), "2".into()]);
        for f in OutputFormat::ALL {
            let mut out = Vec::new();
            write(
                f,
                &[result(), second.clone()],
                0.005,
                Reporter::new(true, 0),
                &mut out,
            )
            .unwrap();
            insta::assert_snapshot!(format!("report-{f:?}"), String::from_utf8(out).unwrap());
        }
    }
}
