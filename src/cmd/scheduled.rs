//! `secret-audit alert --cluster NAME --every 5m [--at T]`: the detection
//! rules on a schedule against the live audit log. Each run owns the events
//! CloudWatch ingested in one interval and reports the findings those
//! events complete (`rules::schedule` says how), reading through the same
//! reader as `tail`; `--state` carries the high-water mark, the learning
//! rules' history and the episodes sent from run to run; findings go to
//! stdout and, with `--sns-topic-arn`, to SNS, each once. `--since/--until`
//! evaluates a past range as the scheduled runs would have.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use serde_json::{json, Value};

use crate::audit::group::{Grouped, Grouping};
use crate::audit::ledger::{Ledger, Retention, Shared};
use crate::audit::rollup::DEFAULT_KEYS;
use crate::audit::shard::{Settings, Shard};
use crate::audit::tap::{Seen, Tap};
use crate::cli::{AwsArgs, GlobalArgs};
use crate::cmd::provisioning as prov;
use crate::error::{exit, AppError};
use crate::insights::runner::ApiErrorKind;
use crate::output::diag::Reporter;
use crate::output::notify;
use crate::rules::schedule::{decide, merge_sent, Decision, Reported, Schedule, Sent, Window};
use crate::rules::state::{self, State};
use crate::rules::{Finding, Rule};
use crate::tail::{Config, Tracker};

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

fn rfc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn ms(d: std::time::Duration) -> i64 {
    d.as_millis() as i64
}

/// What a run was asked to do, resolved.
struct Plan<'a> {
    args: &'a ScheduleArgs,
    aws: &'a AwsArgs,
    targets: Vec<crate::provision::Target>,
    groups: Vec<String>,
    /// The clusters' names, for findings and messages.
    cluster: String,
    rules: Vec<Rule>,
    schedule: Schedule,
    /// The longest window of the enabled rules.
    rule_window: i64,
    say: Reporter,
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
    let targets = prov::targets(aws)?;
    let plan = Plan {
        args,
        aws,
        cluster: targets
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        groups: targets.iter().map(|t| t.log_group.clone()).collect(),
        targets,
        rule_window: rules
            .iter()
            .filter(|r| r.enabled)
            .map(|r| r.window)
            .max()
            .unwrap_or(0),
        rules,
        schedule: Schedule {
            every: ms(args.every),
            settle: ms(args.settle),
            max_lag: ms(args.max_lag),
            max_catch_up: ms(args.max_catch_up),
        },
        say: global.reporter(),
    };
    if args.since.is_some() {
        return backfill(global, &plan);
    }
    scheduled(global, &plan, state_path)
}

/// The state of the runs on these log groups, locked; an empty one without
/// `--state`.
fn open_state(
    path: Option<&Path>,
    groups: &[String],
) -> Result<(Option<state::Lock>, State), AppError> {
    let Some(path) = path else {
        return Ok((None, State::default()));
    };
    let lock = state::lock(path).map_err(AppError::Usage)?;
    let st = state::load(path).map_err(AppError::Usage)?;
    let sorted = |g: &[String]| {
        let mut g = g.to_vec();
        g.sort();
        g
    };
    if !st.log_groups.is_empty() && sorted(&st.log_groups) != sorted(groups) {
        return Err(AppError::Usage(format!(
            "state {} belongs to the runs on {}: give each set of log groups a state file of its own",
            path.display(),
            st.log_groups.join(", ")
        )));
    }
    Ok((Some(lock), st))
}

/// One scheduled run.
fn scheduled(global: &GlobalArgs, plan: &Plan, state_path: Option<&Path>) -> anyhow::Result<u8> {
    let say = plan.say;
    let now = Utc::now();
    let at = match &plan.args.at {
        Some(t) => {
            crate::timearg::parse_time(t, now).map_err(|e| AppError::Usage(format!("--at: {e}")))?
        }
        None => now,
    };
    let (_lock, mut st) = open_state(state_path, &plan.groups)?;
    let high_water = state_path.and(st.high_water_ms);
    let Some(w) = plan
        .schedule
        .window(at.timestamp_millis(), high_water, plan.rule_window)
    else {
        say.line(format_args!(
            "alert: nothing new to evaluate: an earlier run owned the events ingested up to {}",
            rfc(high_water.unwrap_or_default())
        ));
        write_findings(
            global,
            &[],
            json!({ "log_groups": plan.groups, "ingested_to": high_water.map(rfc), "published": null }),
        )?;
        return Ok(exit::OK);
    };
    say_catching_up(plan, high_water, &w);
    let history = std::mem::take(&mut st.history);
    let reported = Reported {
        sent: &st.sent,
        unknown_before: st.high_water_ms.is_none(),
    };
    let run = prov::with_aws(plan.aws, async |clients| {
        evaluate(clients, plan, &w, history, reported).await
    })?;
    let Evaluated {
        decision: d,
        events,
        requests,
        delivered,
    } = run;
    let published = delivered.as_ref().map(|(n, _)| *n);
    let failure = delivered.and_then(|(n, e)| e.map(|e| (n, e)));
    // The state first: what was published must be remembered even if
    // printing fails.
    if let Some(path) = state_path {
        keep(plan, path, st, &w, &d, failure.as_ref().map(|(n, _)| *n))?;
    }
    write_findings(
        global,
        &d.new,
        summary(plan, &w, events, requests, published),
    )?;
    if let Some((n, e)) = failure {
        let next = if state_path.is_some() {
            "the state keeps them for the next run, which sends them"
        } else {
            "without --state no later run sends them"
        };
        return Err(publish_failed(plan, n, d.new.len(), e, next));
    }
    Ok(if d.new.is_empty() {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}

/// What a run found and delivered.
struct Evaluated {
    decision: Decision,
    /// Events and secret requests read.
    events: u64,
    requests: usize,
    /// With a topic: how many findings went out, and the failure.
    delivered: Option<(usize, Option<crate::aws::error::AwsError>)>,
}

/// Reads the window, decides, and publishes with a topic.
async fn evaluate(
    clients: &crate::aws::Clients,
    plan: &Plan<'_>,
    w: &Window,
    history: crate::rules::Learned,
    reported: Reported<'_>,
) -> anyhow::Result<Evaluated> {
    let say = plan.say;
    crate::cmd::tail::check_groups(clients, &plan.targets, "alert", say).await?;
    let (requests, events) = read(clients, &plan.groups, w, plan.args.max_rps, say).await?;
    let d = decide(&plan.rules, &plan.cluster, &requests, w, history, reported);
    say.line(format_args!(
        "alert: events ingested from {} to {}: {events} read back to {}, {} new finding(s)",
        rfc(w.start),
        rfc(w.end),
        rfc(w.read_from),
        d.new.len()
    ));
    let delivered = match &plan.args.sns_topic_arn {
        Some(topic) => Some(
            publish(
                clients,
                topic,
                &d.new,
                &plan.cluster,
                plan.args.max_findings,
            )
            .await,
        ),
        None => None,
    };
    Ok(Evaluated {
        decision: d,
        events,
        requests: requests.len(),
        delivered,
    })
}

/// Says how a run stands against the schedule after missed runs.
fn say_catching_up(plan: &Plan, high_water: Option<i64>, w: &Window) {
    if high_water.is_some() && w.end - w.start > plan.schedule.every {
        plan.say.line(format_args!(
            "alert: catching up after missed runs: events ingested from {} to {}",
            rfc(w.start),
            rfc(w.end)
        ));
    }
    if w.behind > 0 {
        plan.say.line(format_args!(
            "alert: {} still behind the schedule (at most --max-catch-up a run): the next run goes on from {}",
            prov::age(w.behind / 1000),
            rfc(w.end)
        ));
    }
}

/// Writes the state after a run (see [`State::after_run`]).
fn keep(
    plan: &Plan,
    path: &Path,
    mut st: State,
    w: &Window,
    d: &Decision,
    published_before_failure: Option<usize>,
) -> anyhow::Result<()> {
    st.after_run(
        &plan.schedule,
        plan.rule_window,
        w,
        d,
        published_before_failure,
    );
    st.log_groups = plan.groups.clone();
    state::save(path, &st).map_err(anyhow::Error::msg)
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
            plan.args.sns_topic_arn.as_deref().unwrap_or_default(),
            of - n
        ),
        detail: e.detail.clone(),
        exit: exit::SERVICE,
    }
    .into()
}

/// Every secret request stamped in the window's reads, each once, through
/// the reader `tail` uses (its server-side filter, event ids, throttling);
/// and how many events that took.
async fn read(
    clients: &crate::aws::Clients,
    groups: &[String],
    w: &Window,
    rps: f64,
    say: Reporter,
) -> anyhow::Result<(Vec<Seen>, u64)> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let ledger = Ledger::new(
        (
            Grouped::new(Grouping::By(DEFAULT_KEYS.to_vec())),
            Tap::to(tx),
        ),
        Retention::Whole,
    );
    let settings = Arc::new(Settings {
        ledger: Arc::new(Shared::new(ledger)),
        ..Settings::default()
    });
    let mut shard = Shard::new(settings);
    let cfg = Config {
        since: w.read_from,
        until: Some(w.read_to),
        max_lag: 0,
        sweep_every: i64::MAX / 4,
        sweep_span: 0,
    };
    let mut tracker = Tracker::new(groups, cfg, w.read_to);
    let source = crate::aws::logs::LogEvents::new(clients);
    let mut pace = crate::cmd::tail::Paced::new(rps, say);
    let (printed, polled) =
        crate::tail::poll(&source, &mut pace, &mut tracker, &mut shard, &rx, w.read_to)
            .await
            .map_err(|(e, _, _)| match e.kind {
                ApiErrorKind::Transport => AppError::NoAnswer(e.message),
                _ => AppError::Service(e.message),
            })?;
    Ok((printed.into_iter().map(|p| p.seen).collect(), polled.events))
}

/// Publishes each finding, or one digest when there are more than
/// `max`; stops at the first failure. Returns how many findings went out
/// and the failure.
async fn publish(
    clients: &crate::aws::Clients,
    topic: &str,
    findings: &[Finding],
    cluster: &str,
    max: usize,
) -> (usize, Option<crate::aws::error::AwsError>) {
    let fifo = topic.ends_with(".fifo");
    let message = |n: notify::Notice| crate::aws::sns::Message {
        subject: n.subject,
        body: n.body,
        attributes: n.attributes,
        fifo: fifo.then(|| (n.dedup_id, cluster.to_owned())),
    };
    if findings.is_empty() {
        return (0, None);
    }
    if findings.len() > max {
        let m = message(notify::digest(findings, cluster, max));
        return match crate::aws::sns::publish(clients, topic, &m).await {
            Ok(()) => (findings.len(), None),
            Err(e) => (0, Some(e)),
        };
    }
    for (i, f) in findings.iter().enumerate() {
        let m = message(notify::finding(f, cluster));
        if let Err(e) = crate::aws::sns::publish(clients, topic, &m).await {
            return (i, Some(e));
        }
    }
    (findings.len(), None)
}

/// The run's part of the JSON document: what it owned and read.
fn summary(
    plan: &Plan,
    w: &Window,
    events: u64,
    requests: usize,
    published: Option<usize>,
) -> Value {
    json!({
        "log_groups": plan.groups,
        "ingested_from": rfc(w.start),
        "ingested_to": rfc(w.end),
        "read_from": rfc(w.read_from),
        "read_to": rfc(w.read_to),
        "behind_seconds": w.behind / 1000,
        "events_read": events,
        "secret_requests": requests,
        "published": published,
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
/// interval each.
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
/// of their own (the first knows nothing before it).
fn replay(plan: &Plan, requests: &[Seen], windows: &[Window]) -> Vec<Finding> {
    let mut st = State::default();
    let mut found = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        let reported = Reported {
            sent: &st.sent,
            unknown_before: i == 0,
        };
        // What the run of this window would have read.
        let read: Vec<Seen> = requests
            .iter()
            .filter(|r| {
                r.time
                    .is_some_and(|t| (w.read_from * 1000..=w.read_to * 1000).contains(&t))
            })
            .cloned()
            .collect();
        let d = decide(
            &plan.rules,
            &plan.cluster,
            &read,
            w,
            std::mem::take(&mut st.history),
            reported,
        );
        let mut newly = d.assumed.clone();
        newly.extend(d.new.iter().map(Sent::of));
        let forget = plan.schedule.forget_before(w.end, plan.rule_window);
        st.sent = merge_sent(std::mem::take(&mut st.sent), &d.extended, &newly, forget);
        st.history = d.learned;
        found.extend(d.new);
    }
    found
}

/// `--since/--until`: the scheduled runs of a past range, one after
/// another; nothing is published without `--send`.
fn backfill(global: &GlobalArgs, plan: &Plan) -> anyhow::Result<u8> {
    let (args, say) = (plan.args, plan.say);
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
    let (found, events, requests, delivered) = prov::with_aws(plan.aws, async |clients| {
        crate::cmd::tail::check_groups(clients, &plan.targets, "alert", say).await?;
        let (requests, events) = read(clients, &plan.groups, &span, args.max_rps, say).await?;
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
        let delivered = match (&args.sns_topic_arn, args.send) {
            (Some(topic), true) => {
                Some(publish(clients, topic, &found, &plan.cluster, args.max_findings).await)
            }
            _ => None,
        };
        Ok((found, events, requests.len(), delivered))
    })?;
    let published = delivered.as_ref().map(|d| d.0);
    write_findings(
        global,
        &found,
        summary(plan, &span, events, requests, published),
    )?;
    if let Some((n, Some(e))) = delivered {
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
