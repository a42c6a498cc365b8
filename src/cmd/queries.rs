//! `secret-audit queries list|show|lint`: the bundled Logs Insights
//! queries, and a lint for any query file.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::cli::{GlobalArgs, OutputFormat};
use crate::error::{exit, AppError};
use crate::insights::{self, lint};
use crate::output::json as jsonout;
use crate::output::sanitize::sanitize;
use crate::output::table::Table;

#[derive(Debug, Args)]
pub struct QueriesArgs {
    #[command(subcommand)]
    pub action: QueriesAction,
}

#[derive(Debug, Subcommand)]
pub enum QueriesAction {
    /// Name, description, columns and merge of every bundled query.
    List,
    /// Print a bundled query as it is sent to Logs Insights.
    Show {
        /// The query name (see `queries list`).
        name: String,
    },
    /// Check query files for mistakes that change the answer; exit 1 if any.
    Lint {
        /// Logs Insights query files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn run(global: &GlobalArgs, args: QueriesArgs) -> anyhow::Result<u8> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let code = match args.action {
        QueriesAction::List => list(global.output, &mut out)?,
        QueriesAction::Show { name } => {
            let q = insights::find(&name).ok_or_else(|| {
                AppError::Usage(format!(
                    "no bundled query {:?}; `secret-audit queries list` names them",
                    sanitize(&name)
                ))
            })?;
            if global.output == OutputFormat::Json {
                jsonout::write(
                    &mut out,
                    &json!({"name": q.name, "description": q.description, "columns": q.columns,
                            "merge": q.merge().as_str(), "query": q.body}),
                )?;
            } else {
                writeln!(out, "{}", q.body)?;
            }
            exit::OK
        }
        QueriesAction::Lint { files } => lint_files(global.output, &files, &mut out)?,
    };
    out.flush().context("writing output")?;
    Ok(code)
}

fn list(format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<u8> {
    let all = insights::bundled();
    if format == OutputFormat::Json {
        let v: Vec<_> = all
            .iter()
            .map(|q| {
                json!({"name": q.name, "description": q.description, "columns": q.columns,
                       "merge": q.merge().as_str(),
                       "default": insights::SUMMARY_SET.contains(&q.name.as_str())})
            })
            .collect();
        jsonout::write(out, &json!({"queries": v}))?;
        return Ok(exit::OK);
    }
    let mut t = Table::new(&[
        ("NAME", false),
        ("DEFAULT", false),
        ("MERGE", false),
        ("COLUMNS", false),
        ("DESCRIPTION", false),
    ]);
    for q in &all {
        t.push(vec![
            q.name.clone(),
            if insights::SUMMARY_SET.contains(&q.name.as_str()) {
                "yes".into()
            } else {
                String::new()
            },
            q.merge().as_str().into(),
            q.columns.join(", "),
            q.description.clone(),
        ]);
    }
    t.write(format, out)?;
    Ok(exit::OK)
}

fn lint_files(format: OutputFormat, files: &[PathBuf], out: &mut dyn Write) -> anyhow::Result<u8> {
    let mut any = false;
    let mut docs = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| AppError::Usage(format!("cannot read {}: {e}", f.display())))?;
        let found = lint::lint(&text);
        any |= !found.is_empty();
        if format == OutputFormat::Json {
            docs.push(json!({
                "file": f.display().to_string(),
                "findings": found.iter().map(|x| json!({"line": x.line, "column": x.column,
                    "rule": x.rule, "message": x.message})).collect::<Vec<_>>(),
            }));
            continue;
        }
        let name = sanitize(&f.display().to_string()).into_owned();
        if found.is_empty() {
            writeln!(out, "{name}: ok")?;
        }
        for x in found {
            writeln!(out, "{name}:{}", sanitize(&x.to_string()))?;
        }
    }
    if format == OutputFormat::Json {
        jsonout::write(out, &json!({"files": docs}))?;
    }
    Ok(if any { exit::CHECK_FAILED } else { exit::OK })
}
