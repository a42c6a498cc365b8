//! `secret-audit iam-policy`: prints the least-privilege IAM policy (JSON)
//! for the commands named, scoped to the targets' log groups, the alarms
//! setup manages where the API allows it. No AWS call.

use std::io::{self, Write};

use clap::{Args, ValueEnum};

use crate::cli::GlobalArgs;
use crate::cmd::provisioning as prov;
use crate::error::exit;
use crate::iam;
use crate::output::json as jsonout;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CommandName {
    Setup,
    Status,
    Teardown,
    Report,
    Tail,
    Alert,
    All,
}

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    /// The commands the policy is for (repeatable, or comma-separated).
    #[arg(long = "command", value_enum, value_delimiter = ',', default_values_t = [CommandName::All])]
    pub commands: Vec<CommandName>,
    /// EKS cluster whose audit log group /aws/eks/NAME/cluster is the target
    /// (repeatable; none: every EKS cluster's audit log group).
    #[arg(long = "cluster", value_name = "NAME", value_parser = crate::cli::parse_cluster)]
    pub clusters: Vec<String>,
    /// Audit log group to target by name (repeatable).
    #[arg(long = "log-group-name", value_name = "NAME")]
    pub log_group_names: Vec<String>,
    /// Region in the ARNs (default: any).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Account in the ARNs (default: any).
    #[arg(long, value_name = "ID", value_parser = parse_account)]
    pub account_id: Option<String>,
    /// ARN partition (aws, aws-cn, aws-us-gov).
    #[arg(long, default_value = "aws", value_name = "PARTITION")]
    pub partition: String,
    /// The SNS topic `alert` publishes to (repeatable; none: any topic).
    #[arg(long = "sns-topic-arn", value_name = "ARN")]
    pub sns_topic_arns: Vec<String>,
}

fn parse_account(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|c| c.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err(format!("invalid account id {s:?}: use 12 digits"))
    }
}

pub fn run(global: &GlobalArgs, args: IamPolicyArgs) -> anyhow::Result<u8> {
    global.json_only("an IAM policy")?;
    let mut names: Vec<&str> = Vec::new();
    for c in &args.commands {
        let add: Vec<&str> = match c {
            CommandName::All => iam::COMMANDS.iter().map(|(n, _)| *n).collect(),
            CommandName::Setup => vec!["setup"],
            CommandName::Status => vec!["status"],
            CommandName::Teardown => vec!["teardown"],
            CommandName::Report => vec!["report"],
            CommandName::Tail => vec!["tail"],
            CommandName::Alert => vec!["alert"],
        };
        for n in add {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    let targets = if args.clusters.is_empty() && args.log_group_names.is_empty() {
        Vec::new()
    } else {
        prov::targets(&crate::cli::AwsArgs {
            profile: None,
            region: None,
            endpoint_url: None,
            clusters: args.clusters.clone(),
            log_group_names: args.log_group_names.clone(),
            max_attempts: 1,
            operation_timeout: std::time::Duration::from_secs(1),
            attempt_timeout: std::time::Duration::from_secs(1),
        })?
    };
    let ctx = iam::Context {
        partition: args.partition.clone(),
        region: args.region.clone(),
        account_id: args.account_id.clone(),
        targets,
        topics: args.sns_topic_arns.clone(),
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    jsonout::write(&mut out, &iam::policy(&names, &ctx))?;
    out.flush()?;
    Ok(exit::OK)
}
