//! One scheduled run of the detection rules on CloudWatch Logs, whoever
//! runs it: `alert --cluster` from cron (its state in a file) or the Lambda
//! function (its state in a table). Loads the state, works out the window
//! the run owns (`rules::schedule`), reads it through `tail`'s reader,
//! decides, publishes each new finding to SNS after claiming it in the
//! store, and saves the state.

pub mod stack;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use crate::audit::group::{Grouped, Grouping};
use crate::audit::ledger::{Ledger, Retention, Shared};
use crate::audit::rollup::DEFAULT_KEYS;
use crate::audit::shard::{Settings, Shard};
use crate::audit::tap::{Seen, Tap};
use crate::aws::error::AwsError;
use crate::error::AppError;
use crate::insights::runner::ApiErrorKind;
use crate::output::diag::Reporter;
use crate::output::notify;
use crate::rules::schedule::{decide, Decision, Reported, Schedule, Window};
use crate::rules::state::{self, State};
use crate::rules::{Finding, Rule};
use crate::tail::{Config, Pace, Source, Tracker};

/// What the runs are asked to do.
pub struct Plan {
    pub targets: Vec<crate::provision::Target>,
    pub groups: Vec<String>,
    /// The clusters' names, for findings and messages.
    pub cluster: String,
    pub rules: Vec<Rule>,
    pub schedule: Schedule,
    /// The longest window of the enabled rules.
    pub rule_window: i64,
    /// FilterLogEvents calls a second at most.
    pub max_rps: f64,
    pub topic: Option<String>,
    /// More new findings than this go out as one digest.
    pub max_findings: usize,
    pub say: Reporter,
}

impl Plan {
    pub fn new(
        targets: Vec<crate::provision::Target>,
        rules: Vec<Rule>,
        schedule: Schedule,
        say: Reporter,
    ) -> Plan {
        Plan {
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
            schedule,
            max_rps: 2.0,
            topic: None,
            max_findings: 20,
            say,
        }
    }
}

/// Where the runs keep their state, and how a finding is claimed before it
/// is published.
pub trait Store {
    /// The state; an empty one the first time.
    fn load(&mut self) -> impl Future<Output = Result<State, AppError>>;
    fn save(&mut self, st: &State) -> impl Future<Output = Result<(), AppError>>;
    /// Claims a finding before it is published: false when its episode was
    /// claimed already (by a duplicated invocation, or the other path).
    fn claim(&mut self, f: &Finding, window: i64) -> impl Future<Output = Result<bool, AppError>>;
    /// Gives a claim back after its publish failed, so a later run sends it.
    fn release(&mut self, f: &Finding) -> impl Future<Output = Result<(), AppError>>;
}

/// The state in a file (`alert --state`), locked for the run; none without
/// one. One run at a time holds it, so a claim always succeeds.
pub struct FileStore {
    path: Option<PathBuf>,
    state: State,
    _lock: Option<state::Lock>,
}

impl FileStore {
    /// Locks and reads the state file of the runs on `groups` (before any
    /// AWS call: a second run at once stops here).
    pub fn open(path: Option<PathBuf>, groups: &[String]) -> Result<FileStore, AppError> {
        let Some(p) = &path else {
            return Ok(FileStore {
                path,
                state: State::default(),
                _lock: None,
            });
        };
        let lock = state::lock(p).map_err(AppError::Usage)?;
        let st = state::load(p).map_err(AppError::Usage)?;
        let sorted = |g: &[String]| {
            let mut g = g.to_vec();
            g.sort();
            g
        };
        if !st.log_groups.is_empty() && sorted(&st.log_groups) != sorted(groups) {
            return Err(AppError::Usage(format!(
                "state {} belongs to the runs on {}: give each set of log groups a state file of its own",
                p.display(),
                st.log_groups.join(", ")
            )));
        }
        Ok(FileStore {
            path,
            state: st,
            _lock: Some(lock),
        })
    }
}

impl Store for FileStore {
    async fn load(&mut self) -> Result<State, AppError> {
        Ok(self.state.clone())
    }

    async fn save(&mut self, st: &State) -> Result<(), AppError> {
        match &self.path {
            Some(path) => state::save(path, st).map_err(AppError::Usage),
            None => Ok(()),
        }
    }

    async fn claim(&mut self, _f: &Finding, _window: i64) -> Result<bool, AppError> {
        Ok(true)
    }

    async fn release(&mut self, _f: &Finding) -> Result<(), AppError> {
        Ok(())
    }
}

/// Fails on a log group that does not exist; says so of one without audit
/// streams rather than waiting on it silently (`command` names who says).
pub async fn check_groups(
    clients: &crate::aws::Clients,
    targets: &[crate::provision::Target],
    command: &str,
    say: crate::output::diag::Reporter,
) -> anyhow::Result<()> {
    for t in targets {
        let g = &t.log_group;
        match crate::aws::logs::audit_streams(clients, g)
            .await
            .map_err(|e| anyhow::Error::new(AppError::from(e)))?
        {
            None => {
                return Err(AppError::Service(format!(
                    "log group {g} does not exist: check the cluster name and region \
                     (and that the cluster's audit log is on)"
                ))
                .into())
            }
            Some(s) if s.count == 0 => say.line(format_args!(
                "{command}: {g} has no kube-apiserver-audit streams: is audit logging enabled for {}?",
                t.name
            )),
            Some(_) => {}
        }
    }
    Ok(())
}

/// Milliseconds since the epoch as RFC 3339, to the second (as findings
/// show their times).
pub use crate::rules::time_text as rfc;

/// What one run did.
pub struct Outcome {
    /// The window it owned; `None` when an earlier run owned everything
    /// up to the state's high-water mark.
    pub window: Option<Window>,
    pub high_water_before: Option<i64>,
    pub decision: Option<Decision>,
    /// Events and secret requests read.
    pub events: u64,
    pub requests: usize,
    /// With a topic: findings published (or claimed already elsewhere).
    pub published: Option<usize>,
    /// The first publish that failed, after how many went out.
    pub failure: Option<(usize, AwsError)>,
}

impl Outcome {
    pub fn new_findings(&self) -> &[Finding] {
        self.decision.as_ref().map_or(&[], |d| &d.new)
    }
}

/// One scheduled run at `at` (milliseconds).
pub async fn run_once<S: Store>(
    clients: &crate::aws::Clients,
    plan: &Plan,
    store: &mut S,
    at: i64,
) -> anyhow::Result<Outcome> {
    check_groups(clients, &plan.targets, "alert", plan.say).await?;
    let source = crate::aws::logs::LogEvents::new(clients);
    let mut pace = crate::tail::pace::Paced::new(plan.max_rps, plan.say);
    run_window(&source, &mut pace, Some(clients), plan, store, at).await
}

/// [`run_once`] reading from any source (the benchmark's recorded pages),
/// publishing only with `publisher`.
pub async fn run_window<S: Store, R: Source, P: Pace>(
    source: &R,
    pace: &mut P,
    publisher: Option<&crate::aws::Clients>,
    plan: &Plan,
    store: &mut S,
    at: i64,
) -> anyhow::Result<Outcome> {
    let mut st = store.load().await?;
    let high_water = st.high_water_ms;
    let mut outcome = Outcome {
        window: None,
        high_water_before: high_water,
        decision: None,
        events: 0,
        requests: 0,
        published: None,
        failure: None,
    };
    let Some(w) = plan.schedule.window(at, high_water, plan.rule_window) else {
        return Ok(outcome);
    };
    say_catching_up(plan, high_water, &w);
    let keep = crate::rules::wanted(&plan.rules);
    let (requests, events) = read_with(source, pace, &plan.groups, &w, Some(keep)).await?;
    let reported = Reported {
        sent: &st.sent,
        unknown_before: high_water.is_none(),
    };
    let history = std::mem::take(&mut st.history);
    let d = decide_per_target(plan, &requests, &w, history, reported);
    plan.say.line(format_args!(
        "alert: events ingested from {} to {}: {events} read back to {}, {} new finding(s)",
        rfc(w.start),
        rfc(w.end),
        rfc(w.read_from),
        d.new.len()
    ));
    if let (Some(topic), Some(clients)) = (&plan.topic, publisher) {
        let (n, failure) = publish(clients, store, topic, &d.new, plan).await?;
        outcome.published = Some(n);
        outcome.failure = failure.map(|e| (n, e));
    }
    st.after_run(
        &plan.schedule,
        plan.rule_window,
        &w,
        &d,
        outcome.failure.as_ref().map(|(n, _)| *n),
    );
    st.log_groups = plan.groups.clone();
    store.save(&st).await?;
    outcome.window = Some(w);
    outcome.events = events;
    outcome.requests = requests.len();
    outcome.decision = Some(d);
    Ok(outcome)
}

/// [`decide`] for each target apart, over the requests read from its log
/// group (a principal in two clusters is two episodes), the learning
/// rules' history carried from one to the next.
pub fn decide_per_target(
    plan: &Plan,
    requests: &[Seen],
    w: &Window,
    mut learned: crate::rules::Learned,
    reported: Reported<'_>,
) -> Decision {
    let mut all = Decision {
        new: Vec::new(),
        extended: Vec::new(),
        assumed: Vec::new(),
        learned: Default::default(),
    };
    for t in &plan.targets {
        let of_group: Vec<Seen> = requests
            .iter()
            .filter(|s| match &s.origin {
                crate::audit::origin::Origin::Event(e) => *e.log_group == *t.log_group,
                crate::audit::origin::Origin::File(_) => plan.targets.len() == 1,
            })
            .cloned()
            .collect();
        let d = decide(&plan.rules, &t.name, &of_group, w, learned, reported);
        learned = d.learned;
        all.new.extend(d.new);
        all.extended.extend(d.extended);
        all.assumed.extend(d.assumed);
    }
    all.new.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.first_seen.cmp(&b.first_seen))
            .then(a.dedup_key.cmp(&b.dedup_key))
    });
    all.learned = learned;
    all
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
            crate::output::age(w.behind / 1000),
            rfc(w.end)
        ));
    }
}

/// Every secret request stamped in the window's reads, each once, through
/// the reader `tail` uses (its server-side filter, event ids, throttling);
/// and how many events that took.
pub async fn read(
    clients: &crate::aws::Clients,
    plan: &Plan,
    w: &Window,
) -> anyhow::Result<(Vec<Seen>, u64)> {
    let source = crate::aws::logs::LogEvents::new(clients);
    let mut pace = crate::tail::pace::Paced::new(plan.max_rps, plan.say);
    let keep = crate::rules::wanted(&plan.rules);
    read_with(&source, &mut pace, &plan.groups, w, Some(keep)).await
}

/// [`read`] from any source, at any pace, keeping only the requests
/// `keep` accepts (those a rule looks at).
pub async fn read_with<R: Source, P: Pace>(
    source: &R,
    pace: &mut P,
    groups: &[String],
    w: &Window,
    keep: Option<crate::audit::tap::Keep>,
) -> anyhow::Result<(Vec<Seen>, u64)> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let tap = match keep {
        Some(k) => Tap::to(tx).keeping(k),
        None => Tap::to(tx),
    };
    let ledger = Ledger::new(
        (Grouped::new(Grouping::By(DEFAULT_KEYS.to_vec())), tap),
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
    let (printed, polled) =
        crate::tail::poll(source, pace, &mut tracker, &mut shard, &rx, w.read_to)
            .await
            .map_err(|(e, _, _)| match e.kind {
                ApiErrorKind::Transport => AppError::NoAnswer(e.message),
                _ => AppError::Service(e.message),
            })?;
    Ok((printed.into_iter().map(|p| p.seen).collect(), polled.events))
}

/// Publishes each finding its claim lets through, or one digest when there
/// are more than `plan.max_findings`; stops at the first failure (its claim
/// given back). Returns how many findings went out (or were claimed
/// elsewhere) before it, and the failure.
pub async fn publish<S: Store>(
    clients: &crate::aws::Clients,
    store: &mut S,
    topic: &str,
    findings: &[Finding],
    plan: &Plan,
) -> anyhow::Result<(usize, Option<AwsError>)> {
    let fifo = topic.ends_with(".fifo");
    let cluster = plan.cluster.as_str();
    let message = |n: notify::Notice| crate::aws::sns::Message {
        subject: n.subject,
        body: n.body,
        attributes: n.attributes,
        fifo: fifo.then(|| (n.dedup_id, cluster.to_owned())),
    };
    let window = |f: &Finding| {
        plan.rules
            .iter()
            .find(|r| r.name == f.rule)
            .map_or(0, |r| r.window)
    };
    if findings.len() > plan.max_findings {
        // One digest: claim all, publish once, give them all back on failure.
        let mut claimed = Vec::new();
        for f in findings {
            match store.claim(f, window(f)).await {
                Ok(true) => claimed.push(f.clone()),
                Ok(false) => {}
                Err(e) => {
                    release_all(store, &claimed).await;
                    return Err(e.into());
                }
            }
        }
        if claimed.is_empty() {
            return Ok((findings.len(), None));
        }
        let m = message(notify::digest(&claimed, cluster, plan.max_findings));
        return Ok(match crate::aws::sns::publish(clients, topic, &m).await {
            Ok(()) => (findings.len(), None),
            Err(e) => {
                release_all(store, &claimed).await;
                (0, Some(e))
            }
        });
    }
    // One by one: each claimed just before it is published, so a failure
    // leaves at most that one claim to give back.
    for (i, f) in findings.iter().enumerate() {
        if !store.claim(f, window(f)).await? {
            continue;
        }
        let m = message(notify::finding(f, cluster));
        if let Err(e) = crate::aws::sns::publish(clients, topic, &m).await {
            store.release(f).await?;
            return Ok((i, Some(e)));
        }
    }
    Ok((findings.len(), None))
}

/// Gives claims back after a failure (best effort: the failure is what is
/// reported).
async fn release_all<S: Store>(store: &mut S, claimed: &[Finding]) {
    for f in claimed {
        let _ = store.release(f).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::event::Stage;
    use crate::audit::origin::{LogEvent, Origin};

    fn curl_read(group: &str, n: u64) -> Seen {
        let time = 1_800_000_000_000;
        Seen {
            audit_id: format!("00000000-0000-4000-8000-{n:012}"),
            time: Some(time * 1000),
            stage: Stage::ResponseComplete,
            verb: "get".into(),
            namespace: Some("payments".into()),
            name: Some("db".into()),
            subresource: None,
            user: "system:serviceaccount:payments:billing".into(),
            impersonated_by: None,
            code: Some(200),
            source_ip: Some("10.0.0.1".into()),
            user_agent: Some("curl/8.5.0".into()),
            payload: false,
            anonymous: false,
            origin: Origin::Event(Box::new(LogEvent {
                log_group: Arc::from(group),
                log_stream: Arc::from("kube-apiserver-audit-1"),
                event_id: n.to_string(),
                ingestion_time: time + 1_000,
            })),
        }
    }

    #[test]
    fn a_principal_in_two_clusters_is_two_episodes_each_named_by_its_cluster() {
        let targets = vec![
            crate::provision::Target::cluster("prod"),
            crate::provision::Target::cluster("staging"),
        ];
        let schedule = Schedule {
            every: 300_000,
            settle: 60_000,
            max_lag: 600_000,
            max_catch_up: 3_600_000,
        };
        let plan = Plan::new(
            targets,
            crate::rules::defaults(),
            schedule,
            Reporter::new(true, 0),
        );
        let requests = [
            curl_read("/aws/eks/prod/cluster", 1),
            curl_read("/aws/eks/staging/cluster", 2),
        ];
        let w = plan
            .schedule
            .window(
                1_800_000_000_000 + 420_000,
                Some(1_800_000_000_000 - 300_000),
                plan.rule_window,
            )
            .unwrap();
        let reported = Reported {
            sent: &[],
            unknown_before: false,
        };
        let d = decide_per_target(&plan, &requests, &w, Default::default(), reported);
        let mut clusters: Vec<&str> = d.new.iter().map(|f| f.cluster.as_str()).collect();
        clusters.sort();
        assert_eq!(clusters, ["prod", "staging"]);
        // What one cluster sent does not silence the other.
        let prod_sent = vec![crate::rules::schedule::Sent::of(
            d.new.iter().find(|f| f.cluster == "prod").unwrap(),
        )];
        let known = Reported {
            sent: &prod_sent,
            unknown_before: false,
        };
        let d2 = decide_per_target(&plan, &requests, &w, Default::default(), known);
        let left: Vec<&str> = d2.new.iter().map(|f| f.cluster.as_str()).collect();
        assert_eq!(left, ["staging"]);
    }
}
