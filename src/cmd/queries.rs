//! `secret-audit queries list|show|lint|run`: the bundled Logs Insights
//! queries, a lint for any query file, and any query run offline over
//! exported logs.

use std::io::{self, Write};
use std::path::PathBuf;

use crate::cli::{GlobalArgs, OutputFormat};
use crate::cmd::queries_run::RunArgs;
use crate::error::{exit, AppError};
use crate::insights::{self, lint};
use crate::output::queries as queries_out;
use crate::output::sanitize::sanitize;
use anyhow::Context;
use clap::{Args, Subcommand};

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
    /// Run a query offline over exported logs, with no AWS call.
    Run(RunArgs),
}

pub fn run(global: &GlobalArgs, args: QueriesArgs) -> anyhow::Result<u8> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let code = match args.action {
        QueriesAction::List => {
            queries_out::write_list(global.output(), &insights::bundled(), &mut out)?;
            exit::OK
        }
        QueriesAction::Show { name } => {
            if let Some(f @ (OutputFormat::Csv | OutputFormat::Markdown)) = global.output_format {
                return Err(AppError::Usage(format!(
                    "a query is text, or a JSON document with --output json: --output {} does not apply",
                    f.name()
                ))
                .into());
            }
            let q = insights::find(&name).ok_or_else(|| {
                AppError::Usage(format!(
                    "no bundled query {:?}; `secret-audit queries list` names them",
                    sanitize(&name)
                ))
            })?;
            queries_out::write_show(global.output(), &q, &mut out)?;
            exit::OK
        }
        QueriesAction::Lint { files } => lint_files(global.output(), &files, &mut out)?,
        QueriesAction::Run(args) => crate::cmd::queries_run::run(global, &args, &mut out)?,
    };
    out.flush().context("writing output")?;
    Ok(code)
}

/// Lints every file; exit 1 when any has a finding.
fn lint_files(format: OutputFormat, files: &[PathBuf], out: &mut dyn Write) -> anyhow::Result<u8> {
    let mut linted = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| AppError::Usage(format!("cannot read {}: {e}", f.display())))?;
        linted.push((f.display().to_string(), lint::lint(&text)));
    }
    queries_out::write_lint(format, &linted, out)?;
    let any = linted.iter().any(|(_, found)| !found.is_empty());
    Ok(if any { exit::CHECK_FAILED } else { exit::OK })
}
