//! The documents of `queries`: the bundled queries' list, one query, and
//! lint findings, as text, a table, CSV, markdown or JSON.

use std::io::{self, Write};

use serde_json::json;

use super::sanitize::sanitize;
use super::{json as jsonout, table::Table, OutputFormat};
use crate::insights::{self, lint::Finding, Query};

fn is_default(q: &Query) -> bool {
    insights::SUMMARY_SET.contains(&q.name.as_str())
}

/// Name, default, merge, columns and description of every query.
pub fn write_list(format: OutputFormat, all: &[Query], out: &mut dyn Write) -> io::Result<()> {
    if format == OutputFormat::Json {
        let v: Vec<_> = all
            .iter()
            .map(|q| {
                json!({"name": q.name, "description": q.description, "columns": q.columns,
                       "merge": q.merge().as_str(), "default": is_default(q)})
            })
            .collect();
        return jsonout::write(out, &json!({"queries": v}));
    }
    let mut t = Table::new(&[
        ("NAME", false),
        ("DEFAULT", false),
        ("MERGE", false),
        ("COLUMNS", false),
        ("DESCRIPTION", false),
    ]);
    for q in all {
        t.push(vec![
            q.name.clone(),
            if is_default(q) {
                "yes".into()
            } else {
                String::new()
            },
            q.merge().as_str().into(),
            q.columns.join(", "),
            q.description.clone(),
        ]);
    }
    t.write(format, out)
}

/// One query as it is sent to Logs Insights (JSON: with its description).
pub fn write_show(format: OutputFormat, q: &Query, out: &mut dyn Write) -> io::Result<()> {
    if format == OutputFormat::Json {
        return jsonout::write(
            out,
            &json!({"name": q.name, "description": q.description, "columns": q.columns,
                    "merge": q.merge().as_str(), "query": q.body}),
        );
    }
    writeln!(out, "{}", q.body)
}

/// Each file's findings (`file:line:column: rule: message`), or `file: ok`.
pub fn write_lint(
    format: OutputFormat,
    linted: &[(String, Vec<Finding>)],
    out: &mut dyn Write,
) -> io::Result<()> {
    if format == OutputFormat::Json {
        let docs: Vec<_> = linted
            .iter()
            .map(|(file, found)| {
                json!({
                    "file": file,
                    "findings": found.iter().map(|x| json!({"line": x.line, "column": x.column,
                        "rule": x.rule, "message": x.message})).collect::<Vec<_>>(),
                })
            })
            .collect();
        return jsonout::write(out, &json!({"files": docs}));
    }
    for (file, found) in linted {
        let name = sanitize(file);
        if found.is_empty() {
            writeln!(out, "{name}: ok")?;
        }
        for x in found {
            writeln!(out, "{name}:{}", sanitize(&x.to_string()))?;
        }
    }
    Ok(())
}
