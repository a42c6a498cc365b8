//! The command tree and one module per subcommand, each with its own
//! arguments and a `run`; `run` here dispatches and returns the exit code.

pub mod alert;
pub mod analyze;
pub mod iam_policy;
pub mod provisioning;
pub mod queries;
pub mod queries_run;
pub mod report;
pub mod scheduled;
pub mod setup;
pub mod status;
pub mod tail;
pub mod teardown;
pub mod test_pattern;

use clap::{Parser, Subcommand};

/// The version and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SECRET_AUDIT_COMMIT"),
    ")"
);

const ANALYZE: &str = "Examples:
  secret-audit analyze fixtures/eks-audit.jsonl.gz
  secret-audit analyze --since 7d --namespace payments ./exported-logs/
  secret-audit analyze --requests --user alice --output csv audit.log > alice.csv
  aws logs filter-log-events --log-group-name /aws/eks/prod/cluster | secret-audit analyze -
  secret-audit analyze --by user --top 10 fixtures/s3-export/";
const SETUP: &str = "Examples:
  secret-audit setup --cluster prod --dry-run
  secret-audit setup --cluster prod --sns-topic-arn arn:aws:sns:us-east-1:123456789012:sec
  secret-audit setup --cluster prod --emit cloudformation > secret-audit.json";
const STATUS: &str = "Examples:
  secret-audit status --cluster prod
  secret-audit status --cluster prod --check --output json";
const TEARDOWN: &str = "Examples:
  secret-audit teardown --cluster prod --dry-run
  secret-audit teardown --cluster prod";
const TEST_PATTERN: &str = "Examples:
  secret-audit test-pattern '{ $.objectRef.resource = \"secrets\" }' fixtures/eks-audit.jsonl.gz
  secret-audit test-pattern '{ $.verb = \"get\" && $.responseStatus.code = 403 }' audit.log";
const IAM_POLICY: &str = "Examples:
  secret-audit iam-policy
  secret-audit iam-policy --command report --cluster prod --account-id 123456789012";
const REPORT: &str = "Examples:
  secret-audit report --cluster prod --since 24h
  secret-audit report --cluster prod --since 2026-11-01T00:00:00Z --until 2026-11-02T00:00:00Z
  secret-audit report --cluster prod --since 7d --query access-by-user --output json";
const QUERIES: &str = "Examples:
  secret-audit queries list
  secret-audit queries show reads-by-secret
  secret-audit queries lint my-queries/*.query";

const ALERT: &str = "Examples:
  secret-audit alert fixtures/eks-audit.jsonl.gz
  secret-audit alert --output json --rollup ./exported-logs/ > findings.json";
const TAIL: &str = "Examples:
  secret-audit tail --cluster prod --since 1h
  secret-audit tail --cluster prod --follow --denied-only
  secret-audit tail --cluster prod --cluster staging -f --output json --checkpoint tail.json";
const COMPLETIONS: &str = "Examples:
  secret-audit completions bash > ~/.local/share/bash-completion/completions/secret-audit
  secret-audit completions zsh > ~/.zfunc/_secret-audit
  secret-audit completions fish > ~/.config/fish/completions/secret-audit.fish";
const MANPAGE: &str = "Examples:
  secret-audit manpage | man -l -
  secret-audit manpage > /usr/local/share/man/man1/secret-audit.1";

/// The command line: global options, then one subcommand.
#[derive(Debug, Parser)]
#[command(
    name = "secret-audit",
    version = VERSION,
    about = "Who read our Kubernetes Secrets? Audit secret access in EKS audit logs.",
    after_help = "Run `secret-audit COMMAND --help` for a command's options and examples."
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
    #[command(after_help = ANALYZE)]
    Analyze(analyze::AnalyzeArgs),
    /// Create or update the metric filters, alarms and saved Logs Insights
    /// queries that watch secret access, showing the plan first.
    #[command(after_help = SETUP)]
    Setup(setup::SetupArgs),
    /// Show what setup manages, whether it drifted, alarm states and the age
    /// of the newest audit event; --check exits 1 on drift.
    #[command(after_help = STATUS)]
    Status(status::StatusArgs),
    /// Remove exactly what setup manages, showing the plan first.
    #[command(after_help = TEARDOWN)]
    Teardown(teardown::TeardownArgs),
    /// Count the log events a CloudWatch filter pattern matches in exported
    /// audit logs (as a metric filter would), with a few examples.
    #[command(after_help = TEST_PATTERN)]
    TestPattern(test_pattern::TestPatternArgs),
    /// Print the least-privilege IAM policy (JSON) the AWS commands need.
    #[command(after_help = IAM_POLICY)]
    IamPolicy(iam_policy::IamPolicyArgs),
    /// Who read which secrets, from Logs Insights over a time window: every
    /// row (long ranges are split), scan statistics and cost.
    #[command(after_help = REPORT)]
    Report(report::ReportArgs),
    /// The detection rules over exported audit logs: findings people act on
    /// (bulk reads, cluster-wide lists, denied bursts, anonymous access,
    /// cross-namespace service accounts, scripting clients, secret payloads
    /// in the log); exit 1 when there is one.
    #[command(after_help = ALERT)]
    Alert(alert::AlertArgs),
    /// Every secret access in CloudWatch Logs as it happens, each request
    /// once: a replay of --since, or a live stream with --follow; the rollup
    /// at the end.
    #[command(after_help = TAIL)]
    Tail(tail::TailArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = COMPLETIONS)]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), for `man -l -` or a man directory.
    #[command(after_help = MANPAGE)]
    Manpage,
    /// The bundled Logs Insights queries: list, show, and lint any query file.
    #[command(after_help = QUERIES)]
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
        Command::Tail(args) => tail::run(&cli.global, args),
        Command::Alert(args) => alert::run(&cli.global, args),
        // Rendered in memory first: the generators panic on a closed pipe.
        Command::Completions { shell } => {
            let mut script = Vec::new();
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "secret-audit", &mut script);
            print_all(&script)
        }
        Command::Manpage => {
            let mut page = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut page)?;
            print_all(&page)
        }
    }
}

/// Writes a generated document to stdout (a closed pipe ends it quietly:
/// see `error::exit_code_for`).
fn print_all(bytes: &[u8]) -> anyhow::Result<u8> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(crate::error::exit::OK)
}
