//! `secret-audit setup`: preflight the audit log groups, plan the metric
//! filters, alarms and saved queries against what exists, print the plan,
//! and apply it unless `--dry-run`.

use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::aws::Clients;
use crate::aws::ErrorKind;
use crate::cli::{parse_duration, AwsArgs, GlobalArgs};
use crate::cmd::provisioning::{self as prov, ProvisionArgs};
use crate::error::{exit, AppError};
use crate::output::rfc3339;
use crate::provision::plan::{filters_added, plan_setup};
use crate::provision::{cloudformation, samples};
use crate::provision::{Change, Target};

/// CloudWatch allows this many metric filters per log group (not raisable).
pub const MAX_FILTERS_PER_GROUP: usize = 100;

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Print the plan and stop: no write call.
    #[arg(long)]
    pub dry_run: bool,
    /// Print what setup would create as a template instead, with no AWS
    /// call (no credentials or region needed).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub emit: Option<Emit>,
    /// Skip the checks that the log group exists and receives audit events
    /// (for log groups filled later).
    #[arg(long, env = "SECRET_AUDIT_SKIP_PREFLIGHT")]
    pub skip_preflight: bool,
    /// Preflight fails when the newest audit event is older than this.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration, env = "SECRET_AUDIT_PREFLIGHT_MAX_AGE")]
    pub preflight_max_age: Duration,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub provision: ProvisionArgs,
}

/// Template formats of `--emit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Emit {
    /// A CloudFormation template (JSON).
    Cloudformation,
}

pub fn run(global: &GlobalArgs, args: SetupArgs) -> anyhow::Result<u8> {
    let say = global.reporter();
    let targets = prov::targets(&args.aws)?;
    let settings = args.provision.settings();
    // Every pattern is checked against its sample events before anything
    // else: a pattern that misbehaves is never written.
    for t in &targets {
        samples::check(&prov::desired(t, &settings)).map_err(AppError::Pattern)?;
    }
    if let Some(Emit::Cloudformation) = args.emit {
        global.json_only("a CloudFormation template")?;
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        crate::output::json::write(&mut out, &cloudformation::template(&targets, &settings))?;
        std::io::Write::flush(&mut out)?;
        return Ok(exit::OK);
    }
    prov::with_aws(&args.aws, async |clients| {
        // Every target gets the same patterns: checking one target's suffices.
        let first = targets.first().map(|t| prov::desired(t, &settings));
        if let Some(desired) = &first {
            check_patterns_server_side(clients, desired, say).await?;
        }
        if !args.skip_preflight {
            for t in &targets {
                preflight(clients, t, args.preflight_max_age).await?;
            }
        }
        let plans = plan(clients, &targets, &settings).await?;
        check_filter_quota(clients, &plans).await?;
        {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            crate::output::plan::write(global.output(), &plans, args.dry_run, &mut out)?;
            std::io::Write::flush(&mut out)?;
        }
        let summary = prov::summary(&plans);
        if args.dry_run {
            say.line(format_args!(
                "setup: dry run, nothing changed (plan: {summary})"
            ));
            return Ok(exit::OK);
        }
        let done = prov::apply(clients, &plans, "setup").await?;
        if done == 0 {
            say.line(format_args!("setup: nothing to change ({summary})"));
        } else {
            say.line(format_args!(
                "setup: applied {done} change{} ({summary})",
                if done == 1 { "" } else { "s" }
            ));
        }
        Ok(exit::OK)
    })
}

/// Puts each pattern and the sample events to CloudWatch's own evaluator
/// (TestMetricFilter); a disagreement with ours is an error. An endpoint
/// without TestMetricFilter (the local emulator) is reported and skipped.
async fn check_patterns_server_side(
    clients: &crate::aws::Clients,
    desired: &crate::provision::spec::Desired,
    say: crate::output::diag::Reporter,
) -> anyhow::Result<()> {
    let events = samples::events();
    for f in &desired.filters {
        match crate::aws::logs::test_metric_filter(clients, &f.pattern, &events).await {
            Ok(got) => samples::agree(f, &got).map_err(AppError::Pattern)?,
            Err(e) if e.is(ErrorKind::NotImplemented) => {
                say.line(format_args!(
                    "setup: pattern check by TestMetricFilter: unsupported by endpoint \
                     (patterns were checked by secret-audit's own evaluator)"
                ));
                return Ok(());
            }
            Err(e) => {
                return Err(prov::aws_error(e)).context("checking the metric filter patterns")
            }
        }
    }
    Ok(())
}

/// The group exists and has audit streams with recent events.
async fn preflight(
    clients: &crate::aws::Clients,
    t: &Target,
    max_age: Duration,
) -> anyhow::Result<()> {
    let enable = format!(
        "Turn the cluster's audit log on with:\n  {}\nor pass --skip-preflight to set up before the log group fills.",
        t.enable_audit_command()
    );
    let streams = prov::audit_streams(clients, t)
        .await
        .map_err(prov::aws_error)
        .with_context(|| format!("preflight of log group {}", t.log_group))?;
    let Some(streams) = streams else {
        return Err(AppError::Service(format!(
            "log group {} does not exist in {}: check the cluster name and region. {enable}",
            t.log_group, clients.region
        ))
        .into());
    };
    if streams.count == 0 {
        return Err(AppError::Service(format!(
            "log group {} has no {}* log streams: the cluster's audit log is not enabled. {enable}",
            t.log_group,
            crate::aws::logs::AUDIT_STREAM_PREFIX
        ))
        .into());
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let newest = streams.newest_event_ms.unwrap_or(0);
    let age_secs = (now_ms - newest) / 1000;
    if streams.newest_event_ms.is_none() || age_secs > max_age.as_secs() as i64 {
        let when = match streams.newest_event_ms {
            Some(ms) => format!(
                "the newest is from {} ({} ago)",
                rfc3339(ms * 1000, false),
                prov::age(age_secs)
            ),
            None => "none has events".into(),
        };
        return Err(AppError::Service(format!(
            "log group {} has {} audit streams but {when}: the audit log may have been turned off \
             (see --preflight-max-age). {enable}",
            t.log_group, streams.count
        ))
        .into());
    }
    Ok(())
}

/// Each target's plan: its desired resources against what exists. An
/// alarm of the same name that secret-audit does not manage stops setup.
async fn plan(
    clients: &Clients,
    targets: &[Target],
    settings: &crate::provision::spec::Settings,
) -> anyhow::Result<Vec<(Target, Vec<Change>)>> {
    let mut plans: Vec<(Target, Vec<Change>)> = Vec::new();
    for t in targets {
        let state = prov::read_state(clients, t, settings.field_index)
            .await
            .map_err(prov::aws_error)?;
        let desired = prov::desired(t, settings);
        if let Some(name) = state
            .foreign_alarms
            .iter()
            .find(|n| desired.alarms.iter().any(|a| &a.name == *n))
        {
            return Err(AppError::Service(format!(
                "alarm {name} exists but is not managed by secret-audit (no tag managed-by=secret-audit); \
                 rename or delete it, then run setup again"
            ))
            .into());
        }
        // A policy setup cannot merge into stops setup before any write.
        if let (Some(st), Some((_, want))) = (&state.existing.index, &desired.index) {
            if st.supported {
                crate::provision::index::merge(st, want)
                    .map_err(|e| AppError::Service(e.to_string()))?;
            }
        }
        plans.push((t.clone(), plan_setup(&desired, &state.existing)));
    }
    Ok(plans)
}

/// Checks, before any write, that the new metric filters fit CloudWatch's
/// quota per log group: nothing is half-created.
async fn check_filter_quota(
    clients: &Clients,
    plans: &[(Target, Vec<Change>)],
) -> anyhow::Result<()> {
    for (t, plan) in plans {
        let added = filters_added(plan);
        if added == 0 {
            continue;
        }
        let all = crate::aws::logs::metric_filters(clients, &t.log_group, None)
            .await
            .map_err(prov::aws_error)?;
        let mut names: Vec<&str> = all.iter().map(|f| f.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        if names.len() + added > MAX_FILTERS_PER_GROUP {
            return Err(AppError::Service(format!(
                "log group {} has {} metric filters and setup needs {added} more, but CloudWatch allows \
                 {MAX_FILTERS_PER_GROUP} per log group; delete unused filters first (nothing was changed)",
                t.log_group,
                names.len()
            ))
            .into());
        }
    }
    Ok(())
}
