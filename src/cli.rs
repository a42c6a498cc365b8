//! The command line: global output options and one argument struct per
//! subcommand. Options may come before or after the subcommand; every
//! tunable also reads `SECRET_AUDIT_<FLAG_NAME>`.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "secret-audit",
    version,
    about = "Who read our Kubernetes Secrets? Audit secret access in EKS audit logs."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Output format of the data on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table, env = "SECRET_AUDIT_OUTPUT")]
    pub output: OutputFormat,
    /// Colour on terminals: auto is off when stdout is not a terminal, NO_COLOR is set or TERM=dumb.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, env = "SECRET_AUDIT_COLOR")]
    pub color: ColorChoice,
    /// More detail on stderr (every malformed record; -vv for debug logs).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze exported audit logs offline: who touched which secrets.
    Analyze(crate::cmd::analyze::AnalyzeArgs),
}
