//! `secret-audit alert --cluster NAME --every 5m [--at T]`: the detection
//! rules on a schedule against the live audit log (one run: `alerting`,
//! its state in the `--state` file); findings on stdout and, with
//! `--sns-topic-arn`, in SNS, each once. `--since/--until` evaluates a past
//! range as the scheduled runs would have.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use serde_json::{json, Value};

use crate::alerting::{self, rfc, FileStore, Outcome, Plan};
use crate::audit::tap::Seen;
use crate::cli::{AwsArgs, GlobalArgs};
use crate::cmd::provisioning as prov;
use crate::error::{exit, AppError};
use crate::rules::schedule::{Reported, Schedule, Window};
use crate::rules::state::State;
use crate::rules::{Finding, Rule};

/// The options of `alert` on CloudWatch.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// On CloudWatch: how often the schedule runs this; each run owns the
    /// events ingested in one interval (aligned to it).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::timearg::parse_duration, help_heading = "Scheduled on CloudWatch")]
    pub every: std::time::Duration,
    /// The run's scheduled time (default now): an age or RFC 3339, to replay
    /// a run.
    #[arg(
        long,
        value_name = "TIME",
        conflicts_with = "since",
        help_heading = "Scheduled on CloudWatch"
    )]
    pub at: Option<String>,
    /// How long an interval is left for CloudWatch to finish ingesting
    /// before a run reads it.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = crate::timearg::parse_delay, help_heading = "Scheduled on CloudWatch")]
    pub settle: std::time::Duration,
    /// The ingestion delay covered: a run reads this far back in event time
    /// (plus the longest rule window); an event ingested later than this
    /// after its time may never be read.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = crate::timearg::parse_duration, help_heading = "Scheduled on CloudWatch")]
    pub max_lag: std::time::Duration,
    /// After missed runs, the most one run catches up (the next goes on).
    #[arg(long, value_name = "DURATION", default_value = "6h", value_parser = crate::timearg::parse_duration, help_heading = "Scheduled on CloudWatch")]
    pub max_catch_up: std::time::Duration,
    /// Backfill: evaluate from TIME (an age or RFC 3339) as the scheduled
    /// runs would have; nothing is published without --send.
    #[arg(
        long,
        value_name = "TIME",
        conflicts_with = "state",
        help_heading = "Scheduled on CloudWatch"
    )]
    pub since: Option<String>,
    /// The end of a backfill (default now).
    #[arg(
        long,
        value_name = "TIME",
        requires = "since",
        help_heading = "Scheduled on CloudWatch"
    )]
    pub until: Option<String>,
    /// Publish what a backfill finds.
    #[arg(long, requires = "since", help_heading = "Scheduled on CloudWatch")]
    pub send: bool,
    /// Publish each new finding to this SNS topic (a FIFO topic gets the
    /// dedup key as its deduplication id).
    #[arg(
        long,
        value_name = "ARN",
        env = "SECRET_AUDIT_SNS_TOPIC_ARN",
        help_heading = "Scheduled on CloudWatch"
    )]
    pub sns_topic_arn: Option<String>,
    /// More new findings than this in one run are sent as one digest.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 20,
        help_heading = "Scheduled on CloudWatch"
    )]
    pub max_findings: usize,
    /// FilterLogEvents calls per second at most (the account's quota is 5).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 2.0,
        help_heading = "Scheduled on CloudWatch"
    )]
    pub max_rps: f64,
}

fn ms(d: std::time::Duration) -> i64 {
    d.as_millis() as i64
}

pub fn run(
    global: &GlobalArgs,
    args: &ScheduleArgs,
    aws: &AwsArgs,
    state_path: Option<&Path>,
    rules: Vec<Rule>,
) -> anyhow::Result<u8> {
    if !(args.max_rps > 0.0 && args.max_rps <= 5.0) {
        return Err(AppError::Usage(
            "--max-rps must be above 0 and at most 5 (the account's FilterLogEvents quota)".into(),
        )
        .into());
    }
    let schedule = Schedule {
        every: ms(args.every),
        settle: ms(args.settle),
        max_lag: ms(args.max_lag),
        max_catch_up: ms(args.max_catch_up),
    };
    let mut plan = Plan::new(prov::targets(aws)?, rules, schedule, global.reporter());
    plan.max_rps = args.max_rps;
    plan.topic = args.sns_topic_arn.clone();
    plan.max_findings = args.max_findings;
    if args.since.is_some() {
        return backfill(global, args, aws, &plan);
    }
    scheduled(global, args, aws, &plan, state_path)
}

/// One scheduled run.
fn scheduled(
    global: &GlobalArgs,
    args: &ScheduleArgs,
    aws: &AwsArgs,
    plan: &Plan,
    state_path: Option<&Path>,
) -> anyhow::Result<u8> {
    let now = Utc::now();
    let at = match &args.at {
        Some(t) => {
            crate::timearg::parse_time(t, now).map_err(|e| AppError::Usage(format!("--at: {e}")))?
        }
        None => now,
    };
    let mut store = FileStore::open(state_path.map(Path::to_path_buf), &plan.groups)?;
    let outcome = prov::with_aws(aws, async |clients| {
        alerting::run_once(clients, plan, &mut store, at.timestamp_millis()).await
    })?;
    let Some(w) = outcome.window else {
        plan.say.line(format_args!(
            "alert: nothing new to evaluate: an earlier run owned the events ingested up to {}",
            rfc(outcome.high_water_before.unwrap_or_default())
        ));
        let summary = json!({
            "log_groups": plan.groups,
            "ingested_to": outcome.high_water_before.map(rfc),
            "published": null,
        });
        write_findings(global, &[], summary)?;
        return Ok(exit::OK);
    };
    write_findings(global, outcome.new_findings(), summary(plan, &w, &outcome))?;
    let Outcome {
        failure, decision, ..
    } = outcome;
    let found = decision.map_or(0, |d| d.new.len());
    if let Some((n, e)) = failure {
        let next = if state_path.is_some() {
            "the state keeps them for the next run, which sends them"
        } else {
            "without --state no later run sends them"
        };
        return Err(publish_failed(plan, n, found, e, next));
    }
    Ok(if found == 0 {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}

fn publish_failed(
    plan: &Plan,
    n: usize,
    of: usize,
    e: crate::aws::error::AwsError,
    next: &str,
) -> anyhow::Error {
    AppError::Detailed {
        message: format!(
            "publishing to {} failed after {n} of {of} finding(s): {e}; {} unsent: {next}",
            plan.topic.as_deref().unwrap_or_default(),
            of - n
        ),
        detail: e.detail.clone(),
        exit: exit::SERVICE,
    }
    .into()
}

/// The run's part of the JSON document: what it owned and read.
fn summary(plan: &Plan, w: &Window, o: &Outcome) -> Value {
    json!({
        "log_groups": plan.groups,
        "ingested_from": rfc(w.start),
        "ingested_to": rfc(w.end),
        "read_from": rfc(w.read_from),
        "read_to": rfc(w.read_to),
        "behind_seconds": w.behind / 1000,
        "events_read": o.events,
        "secret_requests": o.requests,
        "published": o.published,
    })
}

fn write_findings(global: &GlobalArgs, findings: &[Finding], summary: Value) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    crate::output::findings::write(global.output(), findings, summary, None, &mut out)?;
    out.flush().context("writing the findings")?;
    Ok(())
}

/// The windows of the runs on time from `since` to `until` (ms), one
/// interval each; the last holds `until`.
fn backfill_windows(plan: &Plan, since: i64, until: i64) -> Vec<Window> {
    let s = &plan.schedule;
    let one = Schedule {
        max_catch_up: s.every,
        ..*s
    };
    let mut hw = since.div_euclid(s.every) * s.every;
    let mut windows = Vec::new();
    while hw < until {
        let Some(w) = one.window(hw + s.every + s.settle, Some(hw), plan.rule_window) else {
            break;
        };
        hw = w.end;
        windows.push(w);
    }
    windows
}

/// The findings of the runs of `windows`, one after another, with a state
/// of their own (the first knows nothing before it), each over what it
/// would have read.
fn replay(plan: &Plan, requests: &[Seen], windows: &[Window]) -> Vec<Finding> {
    let mut st = State::default();
    let mut found = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        let reported = Reported {
            sent: &st.sent,
            unknown_before: i == 0,
        };
        let read: Vec<Seen> = requests
            .iter()
            .filter(|r| {
                r.time
                    .is_some_and(|t| (w.read_from * 1000..=w.read_to * 1000).contains(&t))
            })
            .cloned()
            .collect();
        let history = std::mem::take(&mut st.history);
        let d = alerting::decide_per_target(plan, &read, w, history, reported);
        // What a scheduled run that published them all would keep.
        st.after_run(&plan.schedule, plan.rule_window, w, &d, None);
        found.extend(d.new);
    }
    found
}

/// `--since/--until`: the scheduled runs of a past range, one after
/// another; nothing is published without `--send`.
fn backfill(
    global: &GlobalArgs,
    args: &ScheduleArgs,
    aws: &AwsArgs,
    plan: &Plan,
) -> anyhow::Result<u8> {
    let say = plan.say;
    let now = Utc::now();
    let (since, until) =
        crate::timearg::parse_window(args.since.as_deref(), args.until.as_deref(), now)
            .map_err(AppError::Usage)?;
    let since = since.expect("--since was given").timestamp_millis();
    let windows = backfill_windows(plan, since, until.unwrap_or(now).timestamp_millis());
    let (Some(first), Some(last)) = (windows.first(), windows.last()) else {
        return Err(AppError::Usage(
            "--since must come before --until (and both before now)".into(),
        )
        .into());
    };
    let span = Window {
        start: first.start,
        end: last.end,
        read_from: first.read_from,
        read_to: last.read_to,
        behind: 0,
    };
    let mut outcome = Outcome {
        window: Some(span),
        high_water_before: None,
        decision: None,
        events: 0,
        requests: 0,
        published: None,
        failure: None,
    };
    let found = prov::with_aws(aws, async |clients| {
        alerting::check_groups(clients, &plan.targets, "alert", say).await?;
        let (requests, events) = alerting::read(clients, plan, &span).await?;
        let found = replay(plan, &requests, &windows);
        say.line(format_args!(
            "alert: {} runs of {} from {} to {}: {events} events read, {} finding(s){}",
            windows.len(),
            prov::age(plan.schedule.every / 1000),
            rfc(span.start),
            rfc(span.end),
            found.len(),
            if args.send {
                ""
            } else {
                " (not sent: --send publishes them)"
            }
        ));
        (outcome.events, outcome.requests) = (events, requests.len());
        if let (Some(topic), true) = (&plan.topic, args.send) {
            let mut store = FileStore::open(None, &plan.groups)?;
            let (n, e) = alerting::publish(clients, &mut store, topic, &found, plan).await?;
            outcome.published = Some(n);
            outcome.failure = e.map(|e| (n, e));
        }
        Ok(found)
    })?;
    write_findings(global, &found, summary(plan, &span, &outcome))?;
    if let Some((n, e)) = outcome.failure {
        return Err(publish_failed(
            plan,
            n,
            found.len(),
            e,
            "publishing stopped at the first failure (a new backfill sends every finding again)",
        ));
    }
    Ok(if found.is_empty() {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}
