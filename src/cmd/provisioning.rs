//! Glue shared by `setup`, `status` and `teardown`: targets from the
//! command line, the runtime and clients, reading what exists, and applying
//! a plan through `aws/` (`output::plan` renders it).

use anyhow::Context;
use clap::Args;

use crate::aws::{self, cloudwatch::AlarmScan, logs::AuditStreams, AwsError, Clients};
use crate::cli::{parse_duration, AwsArgs};
use crate::error::AppError;
use crate::provision::spec::{self, Desired};
use crate::provision::{Action, Change, Existing, Op, Settings, Target};

/// The desired-state tunables, shared by setup and status (status compares
/// against the same settings setup used).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Metric filters and alarms")]
pub struct ProvisionArgs {
    /// Root of the metric namespaces; each target's metrics go to ROOT/TARGET.
    #[arg(
        long,
        default_value = "SecretAudit",
        value_name = "ROOT",
        env = "SECRET_AUDIT_METRIC_NAMESPACE"
    )]
    pub metric_namespace: String,
    /// Metric counting successful secret reads (get/list/watch).
    #[arg(
        long,
        default_value = "SecretReads",
        value_name = "NAME",
        env = "SECRET_AUDIT_READS_METRIC_NAME"
    )]
    pub reads_metric_name: String,
    /// Metric counting denied secret requests (401/403).
    #[arg(
        long,
        default_value = "SecretAccessDenied",
        value_name = "NAME",
        env = "SECRET_AUDIT_DENIED_METRIC_NAME"
    )]
    pub denied_metric_name: String,
    /// Metric counting successful secret writes.
    #[arg(
        long,
        default_value = "SecretWrites",
        value_name = "NAME",
        env = "SECRET_AUDIT_WRITES_METRIC_NAME"
    )]
    pub writes_metric_name: String,
    /// Add a `namespace` dimension ($.objectRef.namespace) to every metric.
    #[arg(long, env = "SECRET_AUDIT_BY_NAMESPACE")]
    pub by_namespace: bool,
    /// Reads alarm: this many reads or more in one period. Controllers read
    /// secrets all day, so it is set for a burst, not the background.
    #[arg(long, value_name = "N", default_value_t = 1000.0, value_parser = parse_threshold, env = "SECRET_AUDIT_READS_THRESHOLD")]
    pub reads_threshold: f64,
    /// Denied alarm: this many denied requests or more in one period.
    #[arg(long, value_name = "N", default_value_t = 5.0, value_parser = parse_threshold, env = "SECRET_AUDIT_DENIED_THRESHOLD")]
    pub denied_threshold: f64,
    /// Writes alarm: this many writes or more in one period (Helm stores
    /// releases as secrets, cert-manager renews them).
    #[arg(long, value_name = "N", default_value_t = 50.0, value_parser = parse_threshold, env = "SECRET_AUDIT_WRITES_THRESHOLD")]
    pub writes_threshold: f64,
    /// Alarm period, a multiple of 60 seconds (e.g. 5m).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_period, env = "SECRET_AUDIT_PERIOD")]
    pub period: i32,
    /// Consecutive periods at or over the threshold before an alarm fires.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=100), env = "SECRET_AUDIT_EVALUATION_PERIODS")]
    pub evaluation_periods: i32,
    /// SNS topic notified when an alarm fires and when it is OK again (repeatable).
    #[arg(long = "sns-topic-arn", value_name = "ARN", value_parser = parse_sns_topic_arn, env = "SECRET_AUDIT_SNS_TOPIC_ARN", value_delimiter = ',')]
    pub sns_topic_arns: Vec<String>,
    /// Leave the log group's field index policy alone (by default setup
    /// adds the fields the bundled queries filter on, so reports scan less).
    #[arg(long, env = "SECRET_AUDIT_NO_FIELD_INDEX")]
    pub no_field_index: bool,
}

fn parse_threshold(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 1.0 => Ok(v),
        _ => Err(format!(
            "invalid threshold {s:?}: use a number of at least 1"
        )),
    }
}

fn parse_period(s: &str) -> Result<i32, String> {
    let d = parse_duration(s)?.as_secs();
    if d % 60 != 0 || d > 86_400 {
        return Err(format!("invalid period {s:?}: use a multiple of 60 seconds up to 1 day (metric filters publish per minute)"));
    }
    Ok(d as i32)
}

fn parse_sns_topic_arn(s: &str) -> Result<String, String> {
    spec::validate_sns_topic_arn(s.trim()).map(|()| s.trim().to_owned())
}

impl ProvisionArgs {
    pub fn settings(&self) -> Settings {
        Settings {
            metric_namespace: self.metric_namespace.clone(),
            reads_metric: self.reads_metric_name.clone(),
            denied_metric: self.denied_metric_name.clone(),
            writes_metric: self.writes_metric_name.clone(),
            by_namespace: self.by_namespace,
            reads_threshold: self.reads_threshold,
            denied_threshold: self.denied_threshold,
            writes_threshold: self.writes_threshold,
            period: self.period,
            evaluation_periods: self.evaluation_periods,
            sns_topic_arns: self.sns_topic_arns.clone(),
            field_index: !self.no_field_index,
        }
    }
}

/// The targets named on the command line, in order, without repeats.
pub fn targets(args: &AwsArgs) -> Result<Vec<Target>, AppError> {
    let mut out: Vec<Target> = Vec::new();
    let all = args
        .clusters
        .iter()
        .map(|c| Target::cluster(c))
        .chain(args.log_group_names.iter().map(|g| Target::log_group(g)));
    for t in all {
        if out.iter().any(|o| o.log_group == t.log_group) {
            continue;
        }
        if let Some(o) = out.iter().find(|o| o.name == t.name) {
            return Err(AppError::Usage(format!(
                "log groups {} and {} would share the resource names secret-audit-{}-*; target them in separate runs",
                o.log_group, t.log_group, t.name
            )));
        }
        out.push(t);
    }
    if out.is_empty() {
        return Err(AppError::Usage(
            "name a target: --cluster NAME or --log-group-name NAME (both repeatable)".into(),
        ));
    }
    Ok(out)
}

/// A current-thread runtime: only AWS commands start one.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The one way an AWS command reaches AWS: a current-thread runtime, the
/// clients built from the AWS options (failing early, exit 253, without a
/// region or credentials), then `f`. AWS errors become exit codes through
/// `AppError` (`aws_error`).
pub fn with_aws<T>(
    args: &AwsArgs,
    f: impl AsyncFnOnce(&Clients) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    runtime()?.block_on(async {
        let clients = connect(args).await?;
        f(&clients).await
    })
}

async fn connect(args: &AwsArgs) -> Result<Clients, AppError> {
    aws::connect(&aws::Settings {
        profile: args.profile.clone(),
        region: args.region.clone(),
        endpoint_url: args.endpoint_url.clone(),
        max_attempts: args.max_attempts,
        operation_timeout: args.operation_timeout,
        attempt_timeout: args.attempt_timeout,
    })
    .await
}

/// An AWS failure as a command error: exit 254 when the service answered,
/// 255 when nothing usable came back.
pub fn aws_error(e: AwsError) -> anyhow::Error {
    anyhow::Error::new(AppError::from(e))
}

/// What exists for one target.
#[derive(Debug, Clone)]
pub struct TargetState {
    pub target: Target,
    pub existing: Existing,
    /// Alarms under the prefix made by hand.
    pub foreign_alarms: Vec<String>,
}

/// What exists for a target; the field index policy only `with_index`
/// (not with `--no-field-index`, which needs no permission for it).
pub async fn read_state(
    clients: &Clients,
    target: &Target,
    with_index: bool,
) -> Result<TargetState, AwsError> {
    let filters =
        aws::logs::metric_filters(clients, &target.log_group, Some(&target.prefix())).await?;
    let AlarmScan { managed, foreign } = aws::cloudwatch::alarms(clients, target).await?;
    let queries = aws::logs::query_definitions(clients, &target.query_prefix()).await?;
    let index = match with_index {
        true => Some(aws::index::state(clients, &target.log_group).await?),
        false => None,
    };
    Ok(TargetState {
        target: target.clone(),
        existing: Existing {
            filters,
            alarms: managed,
            queries,
            index,
        },
        foreign_alarms: foreign,
    })
}

/// Query definition names of a target (for rows when the endpoint lacks them).
pub fn query_names(target: &Target) -> Vec<String> {
    spec::queries()
        .iter()
        .map(|(n, _)| format!("{}{n}", target.query_prefix()))
        .collect()
}

pub fn desired(target: &Target, settings: &Settings) -> Desired {
    spec::desired(target, settings)
}

/// Counts of a plan's actions, for the closing line on stderr.
pub fn summary(plans: &[(Target, Vec<Change>)]) -> String {
    let count = |a: Action| {
        plans
            .iter()
            .flat_map(|(_, p)| p)
            .filter(|c| c.action == a)
            .count()
    };
    let mut parts = Vec::new();
    for a in [
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::Unchanged,
        Action::Unsupported,
    ] {
        let n = count(a);
        if n > 0 {
            parts.push(format!("{n} {}", a.as_str()));
        }
    }
    parts.join(", ")
}

/// Carries out the writes of a plan, in order; stops at the first failure
/// and says how far it got (a second run converges).
pub async fn apply(
    clients: &Clients,
    plans: &[(Target, Vec<Change>)],
    verb: &str,
) -> anyhow::Result<usize> {
    let total = plans
        .iter()
        .flat_map(|(_, p)| p)
        .filter(|c| c.action.writes())
        .count();
    let mut done = 0;
    for (target, plan) in plans {
        for c in plan.iter().filter(|c| c.action.writes()) {
            let result = match &c.op {
                Op::None => Ok(()),
                Op::PutFilter(f) => aws::logs::put_metric_filter(clients, f).await,
                Op::DeleteFilter { log_group, name } => {
                    aws::logs::delete_metric_filter(clients, log_group, name).await
                }
                Op::PutAlarm { spec, retag } => {
                    match aws::cloudwatch::put_alarm(clients, spec).await {
                        Ok(()) => match retag {
                            Some(arn) => aws::cloudwatch::tag_alarm(clients, arn, &spec.tags).await,
                            None => Ok(()),
                        },
                        Err(e) => Err(e),
                    }
                }
                Op::DeleteAlarm { name } => aws::cloudwatch::delete_alarm(clients, name).await,
                Op::PutQuery { spec, id } => {
                    aws::logs::put_query_definition(clients, spec, id.as_deref()).await
                }
                Op::DeleteQuery { id } => aws::logs::delete_query_definition(clients, id).await,
                Op::PutIndexPolicy {
                    log_group,
                    document,
                    ledger,
                } => aws::index::put(clients, log_group, document, ledger.as_ref()).await,
                Op::DeleteIndexPolicy { log_group } => aws::index::delete(clients, log_group).await,
                Op::UntagIndex { log_group } => aws::index::tag(clients, log_group, None).await,
            };
            if let Err(e) = result {
                return Err(aws_error(e)).with_context(|| {
                    format!(
                        "{} {} {} of target {}: {done} of {total} changes were applied; run {verb} again to finish",
                        c.action.as_str(),
                        c.kind.as_str(),
                        c.name,
                        target.name
                    )
                });
            }
            done += 1;
        }
    }
    Ok(done)
}

/// The audit streams of a target's group, for preflight and status.
pub async fn audit_streams(
    clients: &Clients,
    target: &Target,
) -> Result<Option<AuditStreams>, AwsError> {
    aws::logs::audit_streams(clients, &target.log_group).await
}

pub use crate::output::age;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_short() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(600), "10m");
        assert_eq!(age(3 * 3600), "3h");
        assert_eq!(age(5 * 86_400), "5d");
    }

    #[test]
    fn periods_are_whole_minutes() {
        assert_eq!(parse_period("5m"), Ok(300));
        assert_eq!(parse_period("120"), Ok(120));
        assert!(parse_period("90s").is_err());
        assert!(parse_threshold("0").is_err());
        assert!(parse_threshold("nan").is_err());
    }
}
