//! What `alert` prints: its findings, in every format. JSON is DESIGN.md's
//! document (`schema_version`, `summary`, `findings`, and with `--rollup`
//! the rollup as `analyze` prints it).

use std::io::{self, Write};

use serde_json::{json, Value};

use super::table::{Fit, Table};
use super::{json as jsonout, OutputFormat};
use crate::rules::{Finding, Keyed, Rule};

/// The version of the JSON document `alert --output json` writes.
pub const SCHEMA_VERSION: u32 = 1;

fn table(findings: &[Finding]) -> Table {
    let mut t = Table::new(&[
        ("SEVERITY", false),
        ("RULE", false),
        ("PRINCIPAL", false),
        ("SOURCE IP", false),
        ("REQUESTS", true),
        ("NAMESPACES", false),
        ("SECRETS", false),
        ("FIRST SEEN", false),
        ("LAST SEEN", false),
        ("DEDUP KEY", false),
        ("SUMMARY", false),
    ]);
    for f in findings {
        t.push(vec![
            f.severity.name().into(),
            f.rule.into(),
            f.principal.clone(),
            f.source_ip.clone().unwrap_or_default(),
            f.requests.to_string(),
            f.namespaces.join(" "),
            f.secrets.join(" "),
            f.first_seen.clone(),
            f.last_seen.clone(),
            f.dedup_key.clone(),
            f.summary.clone(),
        ]);
    }
    t.wide_only(&["LAST SEEN", "DEDUP KEY", "SUMMARY", "SOURCE IP"])
        .fit(&["PRINCIPAL"], Fit::Principal)
        .fit(&["NAMESPACES", "SECRETS"], Fit::Head)
        .fit(&["FIRST SEEN", "LAST SEEN", "SEVERITY"], Fit::Keep)
        .optional(&["FIRST SEEN", "SECRETS"])
}

/// Writes the findings; `summary` and `rollup` are the analysis's JSON
/// parts (the rollup only when asked for).
pub fn write(
    format: OutputFormat,
    findings: &[Finding],
    summary: Value,
    rollup: Option<Value>,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        OutputFormat::Json => {
            let mut doc = json!({
                "schema_version": SCHEMA_VERSION,
                "summary": summary,
                "findings": findings,
            });
            if let Some(r) = rollup {
                doc["rollup"] = r;
            }
            jsonout::write(out, &doc)
        }
        OutputFormat::Csv => table(findings).write_csv(out),
        OutputFormat::Markdown => {
            writeln!(out, "{} finding(s)\n", findings.len())?;
            table(findings).write_markdown(out)
        }
        OutputFormat::Table => {
            if findings.is_empty() {
                return writeln!(out, "No findings");
            }
            writeln!(out, "{} finding(s)", findings.len())?;
            if table(findings).write_table(out)? {
                writeln!(out, "(--wide shows every column)")?;
            }
            Ok(())
        }
    }
}

/// The effective rule set, for `alert --list-rules`.
pub fn write_rules(format: OutputFormat, rules: &[Rule], out: &mut dyn Write) -> io::Result<()> {
    if format == OutputFormat::Json {
        let items: Vec<Value> = rules
            .iter()
            .map(|r| {
                json!({
                    "rule": r.name,
                    "enabled": r.enabled,
                    "severity": r.severity,
                    "keyed_on": match r.keyed { Keyed::Principal => "principal", Keyed::Source => "source_ip" },
                    "threshold": r.threshold,
                    "window_seconds": r.window / 1000,
                    "allow": r.allow,
                    "reason": r.reason,
                })
            })
            .collect();
        return jsonout::write(out, &json!({ "rules": items }));
    }
    let mut t = Table::new(&[
        ("RULE", false),
        ("ON", false),
        ("SEVERITY", false),
        ("KEYED ON", false),
        ("THRESHOLD", true),
        ("WINDOW", false),
        ("ALLOWLIST", false),
        ("REASON", false),
    ]);
    for r in rules {
        t.push(vec![
            r.name.into(),
            if r.enabled { "yes" } else { "no" }.into(),
            r.severity.name().into(),
            match r.keyed {
                Keyed::Principal => "principal",
                Keyed::Source => "source IP",
            }
            .into(),
            r.threshold.to_string(),
            format!("{}m", r.window / 60_000),
            r.allow
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            r.reason.into(),
        ]);
    }
    let t = t
        .fit(&["ALLOWLIST", "REASON"], Fit::Head)
        .wide_only(&["KEYED ON", "ALLOWLIST"])
        .optional(&["ON", "WINDOW"]);
    t.write(format, out)
}
