//! The command tree and one module per subcommand, each with its own
//! arguments and a `run`; `run` here dispatches and returns the exit code.

pub mod analyze;
pub mod iam_policy;
pub mod provisioning;
pub mod queries;
pub mod report;
pub mod setup;
pub mod status;
pub mod teardown;
pub mod test_pattern;

use clap::{Parser, Subcommand};

/// The command line: global options, then one subcommand.
#[derive(Debug, Parser)]
#[command(
    name = "secret-audit",
    version,
    about = "Who read our Kubernetes Secrets? Audit secret access in EKS audit logs."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: crate::cli::GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze exported audit logs offline: who touched which secrets.
    Analyze(analyze::AnalyzeArgs),
    /// Create or update the metric filters, alarms and saved Logs Insights
    /// queries that watch secret access, showing the plan first.
    Setup(setup::SetupArgs),
    /// Show what setup manages, whether it drifted, alarm states and the age
    /// of the newest audit event; --check exits 1 on drift.
    Status(status::StatusArgs),
    /// Remove exactly what setup manages, showing the plan first.
    Teardown(teardown::TeardownArgs),
    /// Count the log events a CloudWatch filter pattern matches in exported
    /// audit logs (as a metric filter would), with a few examples.
    TestPattern(test_pattern::TestPatternArgs),
    /// Print the least-privilege IAM policy (JSON) the AWS commands need.
    IamPolicy(iam_policy::IamPolicyArgs),
    /// Who read which secrets, from Logs Insights over a time window: every
    /// row (long ranges are split), scan statistics and cost.
    Report(report::ReportArgs),
    /// The bundled Logs Insights queries: list, show, and lint any query file.
    Queries(queries::QueriesArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<u8> {
    crate::output::set_color(cli.global.color);
    crate::output::set_wide(cli.global.wide);
    match cli.command {
        Command::Analyze(args) => analyze::run(&cli.global, args),
        Command::Setup(args) => setup::run(&cli.global, args),
        Command::Status(args) => status::run(&cli.global, args),
        Command::Teardown(args) => teardown::run(&cli.global, args),
        Command::TestPattern(args) => test_pattern::run(&cli.global, args),
        Command::IamPolicy(args) => iam_policy::run(&cli.global, args),
        Command::Report(args) => report::run(&cli.global, args),
        Command::Queries(args) => queries::run(&cli.global, args),
    }
}
