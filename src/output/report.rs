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
                    "queries_run": r.chunks,
                },
                "estimated_cost_usd": cost(r.statistics.bytes_scanned, price_per_gb),
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
                for k in ["log_groups", "start", "end", "status"] {
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
        ("EST. COST USD", true),
        ("TRUNCATED", false),
    ]);
    let mut total_bytes = 0.0;
    let mut total_records = 0.0;
    for r in results {
        total_bytes += r.statistics.bytes_scanned;
        total_records += r.statistics.records_scanned;
        summary.push(vec![
            r.name.clone(),
            groups_label(&r.log_groups),
            r.rows.len().to_string(),
            r.chunks.to_string(),
            format!("{}", r.statistics.records_scanned as u64),
            format!("{}", r.statistics.bytes_scanned as u64),
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
    let heading = format!(
        "Logs Insights, {window}: {} records and {} bytes scanned, estimated cost ${:.6} at ${price_per_gb}/GB",
        total_records as u64,
        total_bytes as u64,
        cost(total_bytes, price_per_gb)
    );
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
        assert_eq!(q["estimated_cost_usd"], 0.01);
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
