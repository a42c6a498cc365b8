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
    /// More detail on stderr: every malformed record, not only the first few; error causes.
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
    /// Create or update the metric filters, alarms and saved Logs Insights
    /// queries that watch secret access, showing the plan first.
    Setup(crate::cmd::setup::SetupArgs),
    /// Show what setup manages, whether it drifted, alarm states and the age
    /// of the newest audit event; --check exits 1 on drift.
    Status(crate::cmd::status::StatusArgs),
    /// Remove exactly what setup manages, showing the plan first.
    Teardown(crate::cmd::teardown::TeardownArgs),
    /// Count the log events a CloudWatch filter pattern matches in exported
    /// audit logs (as a metric filter would), with a few examples.
    TestPattern(crate::cmd::test_pattern::TestPatternArgs),
    /// Print the least-privilege IAM policy (JSON) the AWS commands need.
    IamPolicy(crate::cmd::iam_policy::IamPolicyArgs),
    /// Who read which secrets, from Logs Insights over a time window: every
    /// row (long ranges are split), scan statistics and cost.
    Report(crate::cmd::report::ReportArgs),
    /// The bundled Logs Insights queries: list, show, and lint any query file.
    Queries(crate::cmd::queries::QueriesArgs),
}

/// How to reach AWS and which audit log groups to work on, shared by every
/// AWS command. Profile, region and endpoint also come from the standard
/// environment (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL) and config files.
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// Named profile from the AWS config and credentials files.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS Region, e.g. us-east-1.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Send every AWS call to this URL instead (a local emulator).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// EKS cluster whose audit log group /aws/eks/NAME/cluster is the target (repeatable).
    #[arg(long = "cluster", value_name = "NAME", value_parser = parse_cluster)]
    pub clusters: Vec<String>,
    /// Audit log group to target by name (repeatable).
    #[arg(long = "log-group-name", value_name = "NAME")]
    pub log_group_names: Vec<String>,
    /// Attempts per AWS call in standard retry mode (1 disables retries).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20), env = "SECRET_AUDIT_MAX_ATTEMPTS")]
    pub max_attempts: u32,
    /// Time limit of one AWS call, retries included (e.g. 60s, 2m).
    #[arg(long, default_value = "60s", value_parser = parse_duration, env = "SECRET_AUDIT_OPERATION_TIMEOUT")]
    pub operation_timeout: std::time::Duration,
    /// Time limit of one attempt of an AWS call (e.g. 20s).
    #[arg(long, default_value = "20s", value_parser = parse_duration, env = "SECRET_AUDIT_ATTEMPT_TIMEOUT")]
    pub attempt_timeout: std::time::Duration,
}

pub(crate) fn parse_cluster(s: &str) -> Result<String, String> {
    crate::provision::spec::validate_cluster_name(s).map(|()| s.to_owned())
}

/// A duration: a number with unit s, m or h (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: use e.g. 30s, 5m, 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("invalid duration unit in {s:?}: use s, m, h or d")),
    };
    if secs == 0 {
        return Err(format!("duration {s:?} must be positive"));
    }
    Ok(std::time::Duration::from_secs(secs))
}
