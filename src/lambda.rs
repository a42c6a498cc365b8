//! secret-audit as an AWS Lambda function (feature `lambda`, binary
//! `bootstrap`): the same scheduled run as `alert --cluster`, its state and
//! claims in a DynamoDB table; and, for the rules that need no window, the
//! events a CloudWatch Logs subscription filter delivers, within seconds.
//!
//! - **Scheduled** (EventBridge Scheduler passing `{"scheduled_time":
//!   "<aws.scheduler.scheduled-time>"}`, or an EventBridge rule's event and
//!   its `time`): the scheduled time is `--at`, so the window is the one
//!   `alert --every` would own. Lambda delivers at least once: the state is
//!   replaced only over the version it was read at, and each finding is
//!   claimed (a conditional write of its episode) before it is published, so
//!   a retried or duplicated invocation publishes nothing twice.
//! - **Subscription**: the batch's secret requests through the same
//!   classifier, the rules with a threshold of one and no history (anonymous
//!   access, cluster-wide list, cross-namespace service account, scripting
//!   client, payload in the log) evaluated at once, each finding claimed the
//!   same way: the scheduled path meets the claim and does not publish the
//!   episode again, nor does the next batch.
//!
//! Configuration comes from environment variables named like the flags
//! (`SECRET_AUDIT_CLUSTER`, `SECRET_AUDIT_EVERY`, ...); metrics go to
//! stdout in the Embedded Metric Format (no PutMetricData call).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::alerting::{self, Plan, Store};
use crate::audit::group::{Grouped, Grouping};
use crate::audit::ledger::{Ledger, Retention, Shared};
use crate::audit::origin::LogEvent;
use crate::audit::rollup::DEFAULT_KEYS;
use crate::audit::shard::{Settings, Shard};
use crate::audit::tap::{Seen, Tap};
use crate::error::AppError;
use crate::output::diag::Reporter;
use crate::rules::schedule::Schedule;
use crate::rules::state::State;
use crate::rules::{Finding, Rule};

/// The function's configuration.
pub struct Function {
    pub plan: Plan,
    pub table: String,
}

fn duration_ms(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: &str,
) -> Result<i64, String> {
    let text = get(name).unwrap_or_else(|| default.to_owned());
    crate::timearg::parse_delay(&text)
        .map(|d| d.as_millis() as i64)
        .map_err(|e| format!("{name}: {e}"))
}

impl Function {
    /// The configuration in the environment `get` reads.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Function, String> {
        let list = |name: &str| -> Vec<String> {
            get(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let aws = crate::cli::AwsArgs {
            profile: None,
            region: None,
            endpoint_url: None,
            clusters: list("SECRET_AUDIT_CLUSTER"),
            log_group_names: list("SECRET_AUDIT_LOG_GROUP_NAME"),
            max_attempts: 3,
            operation_timeout: std::time::Duration::from_secs(60),
            attempt_timeout: std::time::Duration::from_secs(20),
        };
        let targets = crate::cmd::provisioning::targets(&aws).map_err(|e| {
            format!("{e} (SECRET_AUDIT_CLUSTER or SECRET_AUDIT_LOG_GROUP_NAME, comma-separated)")
        })?;
        let table = get("SECRET_AUDIT_STATE_TABLE").ok_or(
            "SECRET_AUDIT_STATE_TABLE: the DynamoDB table of the state and claims is required",
        )?;
        let mut rules = crate::rules::defaults();
        if let Some(toml) = get("SECRET_AUDIT_RULES_TOML").filter(|t| !t.trim().is_empty()) {
            let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
            rules = crate::rules::config::apply(rules, &toml, &today)
                .map_err(|e| format!("SECRET_AUDIT_RULES_TOML: {e}"))?
                .0;
        }
        // The stack's threshold parameters: `rule=N,...`, over the rules.
        for pair in list("SECRET_AUDIT_THRESHOLDS") {
            let bad = || format!("SECRET_AUDIT_THRESHOLDS: {pair:?} is not RULE=N (N at least 1)");
            let (name, n) = pair.split_once('=').ok_or_else(bad)?;
            let n: usize = n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
            let rule = rules
                .iter_mut()
                .find(|r| r.name == name.trim())
                .ok_or_else(|| format!("SECRET_AUDIT_THRESHOLDS: no rule named {name:?}"))?;
            rule.threshold = n;
        }
        let schedule = Schedule {
            every: duration_ms(&get, "SECRET_AUDIT_EVERY", "5m")?,
            settle: duration_ms(&get, "SECRET_AUDIT_SETTLE", "1m")?,
            max_lag: duration_ms(&get, "SECRET_AUDIT_MAX_LAG", "10m")?,
            max_catch_up: duration_ms(&get, "SECRET_AUDIT_MAX_CATCH_UP", "6h")?,
        };
        if schedule.every <= 0 {
            return Err("SECRET_AUDIT_EVERY must be positive".into());
        }
        let mut plan = Plan::new(targets, rules, schedule, Reporter::new(false, 0));
        plan.topic = get("SECRET_AUDIT_SNS_TOPIC_ARN");
        if let Some(n) = get("SECRET_AUDIT_MAX_FINDINGS") {
            plan.max_findings = n
                .parse()
                .map_err(|_| format!("SECRET_AUDIT_MAX_FINDINGS: {n:?} is not a number"))?;
        }
        if let Some(n) = get("SECRET_AUDIT_MAX_RPS") {
            plan.max_rps = n
                .parse::<f64>()
                .ok()
                .filter(|r| *r > 0.0 && *r <= 5.0)
                .ok_or_else(|| {
                    format!("SECRET_AUDIT_MAX_RPS: {n:?} is not above 0 and at most 5")
                })?;
        }
        Ok(Function { plan, table })
    }
}

/// What an invocation asks for.
#[derive(Debug)]
pub enum Invocation {
    /// A scheduled run, at this time (ms).
    Scheduled { at: i64 },
    /// A subscription filter's batch.
    Subscription(aws_lambda_events::event::cloudwatch_logs::LogData),
}

/// The invocation a payload is.
pub fn invocation(payload: Value) -> Result<Invocation, String> {
    let time = |v: &Value| -> Result<i64, String> {
        let text = v.as_str().ok_or("the scheduled time is not a string")?;
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.timestamp_millis())
            .map_err(|e| format!("scheduled time {text:?}: {e}"))
    };
    if payload.get("awslogs").is_some() {
        // Its decoder borrows the keys it reads: it reads from text.
        let ev: aws_lambda_events::event::cloudwatch_logs::LogsEvent =
            serde_json::from_str(&payload.to_string())
                .map_err(|e| format!("a subscription payload that does not decode: {e}"))?;
        return Ok(Invocation::Subscription(ev.aws_logs.data));
    }
    if let Some(t) = payload.get("scheduled_time") {
        return Ok(Invocation::Scheduled { at: time(t)? });
    }
    if payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        return Ok(Invocation::Scheduled {
            at: time(payload.get("time").unwrap_or(&Value::Null))?,
        });
    }
    Err("neither a schedule's event (scheduled_time, or an EventBridge Scheduled Event) nor a CloudWatch Logs subscription payload".into())
}

/// The state and claims in a DynamoDB table: the state one item for the
/// log groups (`state#GROUPS`), a claim one item an episode
/// (`episode#CLUSTER#RULE#KEY`).
pub struct DynamoStore<'a> {
    clients: &'a crate::aws::Clients,
    table: String,
    state_key: String,
    /// The state's version when it was read.
    version: i64,
    /// This invocation, as its claims name it.
    claimant: String,
}

impl<'a> DynamoStore<'a> {
    pub fn new(
        clients: &'a crate::aws::Clients,
        table: &str,
        groups: &[String],
    ) -> DynamoStore<'a> {
        let mut g = groups.to_vec();
        g.sort();
        DynamoStore {
            clients,
            table: table.to_owned(),
            state_key: format!("state#{}", g.join(",")),
            version: 0,
            claimant: claimant(),
        }
    }

    fn episode_key(f: &Finding) -> String {
        format!("episode#{}#{}#{}", f.cluster, f.rule, f.key)
    }
}

/// A name for this invocation no other shares: the time, the process and
/// a counter, hashed.
fn claimant() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.update(&now.to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    h.update(
        &COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes(),
    );
    format!("{:032x}", h.digest128())
}

fn aws(e: crate::aws::error::AwsError) -> AppError {
    AppError::from(e)
}

impl Store for DynamoStore<'_> {
    async fn load(&mut self) -> Result<State, AppError> {
        let Some((body, version)) =
            crate::aws::dynamo::get_state(self.clients, &self.table, &self.state_key)
                .await
                .map_err(aws)?
        else {
            return Ok(State::default());
        };
        self.version = version;
        serde_json::from_str(&body).map_err(|e| {
            AppError::Usage(format!(
                "the state in {} ({}) does not read: {e}",
                self.table, self.state_key
            ))
        })
    }

    async fn save(&mut self, st: &State) -> Result<(), AppError> {
        let body = serde_json::to_string(st).expect("the state serializes");
        let saved = crate::aws::dynamo::put_state(
            self.clients,
            &self.table,
            &self.state_key,
            &body,
            self.version,
        )
        .await
        .map_err(aws)?;
        if !saved {
            return Err(AppError::Service(format!(
                "another invocation saved the state ({}) first: this one's findings were claimed, nothing is sent twice",
                self.state_key
            )));
        }
        self.version += 1;
        Ok(())
    }

    async fn claim(&mut self, f: &Finding, window: i64) -> Result<bool, AppError> {
        // Kept a month: longer than any outage a catch-up still reads.
        let expires = (f.span_ms.1 + window) / 1000 + 30 * 86_400;
        crate::aws::dynamo::claim(
            self.clients,
            &self.table,
            &Self::episode_key(f),
            f.span_ms,
            (f.span_ms.0 - window, f.span_ms.1 + window),
            (f.dedup_key.as_str(), self.claimant.as_str()),
            expires,
        )
        .await
        .map_err(aws)
    }

    async fn release(&mut self, f: &Finding) -> Result<(), AppError> {
        crate::aws::dynamo::release(
            self.clients,
            &self.table,
            &Self::episode_key(f),
            &f.dedup_key,
        )
        .await
        .map_err(aws)
    }
}

/// The rules a subscription batch is evaluated with: those that fire on
/// one request and need no history.
pub fn windowless(rules: &[Rule]) -> Vec<Rule> {
    rules
        .iter()
        .filter(|r| r.enabled && r.threshold == 1 && r.learn == 0)
        .cloned()
        .collect()
}

/// The secret requests of a subscription batch, each once, through the
/// same classifier as every other input.
pub fn requests_of(
    data: &aws_lambda_events::event::cloudwatch_logs::LogData,
    now: i64,
) -> Vec<Seen> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let ledger = Ledger::new(
        (
            Grouped::new(Grouping::By(DEFAULT_KEYS.to_vec())),
            Tap::to(tx),
        ),
        Retention::Whole,
    );
    let mut shard = Shard::new(Arc::new(Settings {
        ledger: Arc::new(Shared::new(ledger)),
        ..Settings::default()
    }));
    let group: Arc<str> = Arc::from(data.log_group.as_str());
    let stream: Arc<str> = Arc::from(data.log_stream.as_str());
    for e in &data.log_events {
        let origin = LogEvent {
            log_group: group.clone(),
            log_stream: stream.clone(),
            event_id: e.id.clone(),
            // A subscription does not say when it was ingested: about now.
            ingestion_time: now,
        };
        shard.record(e.message.as_bytes(), origin, Some(e.timestamp * 1000));
    }
    shard.finish();
    rx.try_iter().collect()
}

/// The metrics of an invocation, one Embedded Metric Format line a rule
/// with findings, and one for the events read.
pub fn metrics(path: &str, findings: &[Finding], events: u64, now: i64) -> Vec<String> {
    let mut lines = vec![json!({
        "_aws": {
            "Timestamp": now,
            "CloudWatchMetrics": [{
                "Namespace": "SecretAudit",
                "Dimensions": [["Path"]],
                "Metrics": [{"Name": "EventsRead", "Unit": "Count"}],
            }],
        },
        "Path": path,
        "EventsRead": events,
    })
    .to_string()];
    let mut rules: Vec<&str> = findings.iter().map(|f| f.rule).collect();
    rules.sort_unstable();
    rules.dedup();
    for rule in rules {
        let of: Vec<&Finding> = findings.iter().filter(|f| f.rule == rule).collect();
        let lag = of
            .iter()
            .map(|f| (now - f.span_ms.1).max(0) as f64 / 1000.0)
            .fold(0.0, f64::max);
        lines.push(
            json!({
                "_aws": {
                    "Timestamp": now,
                    "CloudWatchMetrics": [{
                        "Namespace": "SecretAudit",
                        "Dimensions": [["Path", "Rule"]],
                        "Metrics": [
                            {"Name": "Findings", "Unit": "Count"},
                            {"Name": "FindingLag", "Unit": "Seconds"},
                        ],
                    }],
                },
                "Path": path,
                "Rule": rule,
                "Findings": of.len(),
                "FindingLag": lag,
            })
            .to_string(),
        );
    }
    lines
}

/// Handles one invocation at `now` (ms); returns what it did, and the
/// metric lines to print.
pub async fn handle(
    clients: &crate::aws::Clients,
    f: &Function,
    payload: Value,
    now: i64,
) -> anyhow::Result<(Value, Vec<String>)> {
    let mut store = DynamoStore::new(clients, &f.table, &f.plan.groups);
    match invocation(payload).map_err(AppError::Usage)? {
        Invocation::Scheduled { at } => {
            let outcome = alerting::run_once(clients, &f.plan, &mut store, at).await?;
            let lines = metrics("scheduled", outcome.new_findings(), outcome.events, now);
            if let Some((n, e)) = outcome.failure {
                return Err(AppError::from(e)).map_err(|e| {
                    anyhow::anyhow!("{e}; {n} published, the rest are left for the next invocation")
                });
            }
            let summary = json!({
                "path": "scheduled",
                "ingested_from": outcome.window.map(|w| alerting::rfc(w.start)),
                "ingested_to": outcome.window.map(|w| alerting::rfc(w.end)),
                "events_read": outcome.events,
                "findings": outcome.new_findings(),
                "published": outcome.published,
            });
            Ok((summary, lines))
        }
        Invocation::Subscription(data) => {
            let mut requests = requests_of(&data, now);
            // Named as the scheduled path names it: claims meet.
            let cluster = crate::provision::Target::log_group(&data.log_group).name;
            let findings =
                crate::rules::evaluate(&windowless(&f.plan.rules), &mut requests, &cluster);
            let mut published = None;
            if let Some(topic) = &f.plan.topic {
                let (n, failure) =
                    alerting::publish(clients, &mut store, topic, &findings, &f.plan).await?;
                if let Some(e) = failure {
                    return Err(anyhow::anyhow!("{}; {n} published", AppError::from(e)));
                }
                published = Some(n);
            }
            let lines = metrics("subscription", &findings, data.log_events.len() as u64, now);
            let summary = json!({
                "path": "subscription",
                "log_group": data.log_group,
                "events_read": data.log_events.len(),
                "findings": findings,
                "published": published,
            });
            Ok((summary, lines))
        }
    }
}

/// The benchmark's invocations, with no AWS call (`bootstrap --bench ...`):
/// `scheduled FILE RATE`, one scheduled run over the events of a JSON-lines
/// file served as recorded pages at RATE events a second; `subscription
/// FILE`, one subscription payload decoded and evaluated. What each did,
/// and how long it took.
pub fn bench(args: &[String]) -> Result<Value, String> {
    let began = std::time::Instant::now();
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"));
    match args {
        [kind, file, rate] if kind == "scheduled" => {
            let rate: f64 = rate.parse().map_err(|_| format!("rate {rate:?}"))?;
            let at = 1_793_502_000_000; // 2026-11-01T03:00:00Z
            let source =
                crate::tail::sim::Simulated::new(&read(file)?, rate, at - 3 * 3_600_000, true);
            let schedule = Schedule {
                every: 300_000,
                settle: 60_000,
                max_lag: 600_000,
                max_catch_up: 6 * 3_600_000,
            };
            let targets = vec![crate::provision::Target::cluster("bench")];
            let plan = Plan::new(
                targets,
                crate::rules::defaults(),
                schedule,
                Reporter::new(true, 0),
            );
            let mut store =
                alerting::FileStore::open(None, &plan.groups).map_err(|e| e.to_string())?;
            struct NoWait;
            impl crate::tail::Pace for NoWait {
                async fn before_call(&mut self) {}
                async fn throttled(&mut self, _n: u32) {}
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| e.to_string())?;
            let o = rt
                .block_on(alerting::run_window(
                    &source,
                    &mut NoWait,
                    None,
                    &plan,
                    &mut store,
                    at,
                ))
                .map_err(|e| e.to_string())?;
            Ok(json!({
                "path": "scheduled",
                "events_read": o.events,
                "secret_requests": o.requests,
                "findings": o.new_findings().len(),
                "seconds": began.elapsed().as_secs_f64(),
            }))
        }
        [kind, file] if kind == "subscription" => {
            let payload: Value =
                serde_json::from_str(&read(file)?).map_err(|e| format!("{file}: {e}"))?;
            let Invocation::Subscription(data) = invocation(payload)? else {
                return Err(format!("{file}: not a subscription payload"));
            };
            let mut requests = requests_of(&data, 0);
            let findings = crate::rules::evaluate(
                &windowless(&crate::rules::defaults()),
                &mut requests,
                "bench",
            );
            Ok(json!({
                "path": "subscription",
                "events_read": data.log_events.len(),
                "secret_requests": requests.len(),
                "findings": findings.len(),
                "seconds": began.elapsed().as_secs_f64(),
            }))
        }
        _ => Err("usage: bootstrap --bench scheduled FILE RATE | --bench subscription FILE".into()),
    }
}

#[cfg(test)]
mod tests;
