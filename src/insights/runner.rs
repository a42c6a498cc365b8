//! The Logs Insights runner: starts queries within a concurrency limit,
//! polls them with backoff, splits a time range whose result hits the row
//! cap, merges chunks (dedup by `@ptr`, sums per key), and stops every
//! started query on Ctrl-C, the deadline or a failure. Pure logic over the
//! `InsightsApi` trait, so every branch runs against a fake in tests; the
//! SDK implementation is `aws::insights`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

use super::syntax::Agg;
use super::Merge;

/// A result row as Logs Insights returns it: (field, value) pairs, fields
/// without a value left out.
pub type Row = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Scheduled,
    Running,
    Complete,
    Failed,
    Cancelled,
    Timeout,
    Unknown,
    Other(String),
}

impl Status {
    pub fn as_str(&self) -> &str {
        match self {
            Status::Scheduled => "Scheduled",
            Status::Running => "Running",
            Status::Complete => "Complete",
            Status::Failed => "Failed",
            Status::Cancelled => "Cancelled",
            Status::Timeout => "Timeout",
            Status::Unknown => "Unknown",
            Status::Other(s) => s,
        }
    }
}

/// Scan statistics of a query (summed over its chunks).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Statistics {
    pub records_matched: f64,
    pub records_scanned: f64,
    pub bytes_scanned: f64,
    /// What field indexes let the query skip (CloudWatch's estimate).
    pub bytes_skipped: f64,
}

impl Statistics {
    fn add(&mut self, o: &Statistics) {
        self.records_matched += o.records_matched;
        self.records_scanned += o.records_scanned;
        self.bytes_scanned += o.bytes_scanned;
        self.bytes_skipped += o.bytes_skipped;
    }
}

/// One answer of GetQueryResults.
#[derive(Debug, Clone, PartialEq)]
pub struct Poll {
    pub status: Status,
    pub rows: Vec<Row>,
    pub statistics: Statistics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// Too many concurrent queries: wait and try again.
    LimitExceeded,
    /// Throttled (after the SDK's own retries): wait and try again, for as
    /// long as `Config::throttled_limit` allows.
    Throttled,
    /// Log groups that do not exist (named in `missing`).
    LogGroupNotFound,
    /// The endpoint does not implement the operation.
    NotImplemented,
    /// The service refused for another reason.
    Service,
    /// No usable answer.
    Transport,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub kind: ApiErrorKind,
    pub message: String,
    pub missing: Vec<String>,
}

impl ApiError {
    pub fn new(kind: ApiErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            missing: Vec::new(),
        }
    }
}

/// StartQuery's input.
#[derive(Debug, Clone, PartialEq)]
pub struct StartRequest {
    pub log_groups: Vec<String>,
    /// Epoch seconds, both ends included.
    pub start: i64,
    pub end: i64,
    pub query: String,
    /// Rows to return at most.
    pub limit: usize,
}

/// The three Logs Insights calls the runner needs.
#[allow(async_fn_in_trait)]
pub trait InsightsApi {
    async fn start_query(&self, req: &StartRequest) -> Result<String, ApiError>;
    async fn query_results(&self, query_id: &str) -> Result<Poll, ApiError>;
    async fn stop_query(&self, query_id: &str) -> Result<(), ApiError>;
}

/// One query over one batch of log groups and one time window.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: String,
    pub query: String,
    pub merge: Merge,
    /// Columns the query names, shown even when no row has them.
    pub columns: Vec<String>,
    /// The query's sort: (column, descending), re-applied after merging.
    pub sort: Vec<(String, bool)>,
    pub log_groups: Vec<String>,
    pub start: i64,
    pub end: i64,
}

/// The tunables; tests shorten every duration.
#[derive(Debug, Clone)]
pub struct Config {
    pub max_concurrent: usize,
    /// A chunk returning this many rows may have lost some: split it.
    pub max_rows: usize,
    pub max_split_depth: u32,
    pub poll_initial: Duration,
    pub poll_max: Duration,
    pub limit_backoff_initial: Duration,
    pub limit_backoff_max: Duration,
    pub stop_timeout: Duration,
    /// How long the whole run may take (`--timeout`), counted from its start.
    pub timeout: Duration,
    /// How long calls may be throttled without one succeeding before the
    /// run gives up (`--operation-timeout`): an endpoint that only ever
    /// throttles is an error, not a wait until `--timeout`.
    pub throttled_limit: Duration,
}

impl Config {
    pub fn new(timeout: Duration) -> Config {
        Config {
            max_concurrent: 10,
            max_rows: 10_000,
            max_split_depth: 6,
            poll_initial: Duration::from_millis(250),
            poll_max: Duration::from_secs(2),
            limit_backoff_initial: Duration::from_secs(1),
            limit_backoff_max: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(5),
            timeout,
            throttled_limit: Duration::from_secs(60),
        }
    }
}

/// The complete answer of one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskResult {
    pub name: String,
    pub log_groups: Vec<String>,
    pub start: i64,
    pub end: i64,
    pub status: String,
    pub statistics: Statistics,
    /// Some chunk hit the row cap and could not be split or merged.
    pub truncated: bool,
    /// Queries run for this task (1 unless split).
    pub chunks: usize,
    /// `@message` cells whose request or response body was removed.
    pub payloads_removed: usize,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error("query {name} on {groups} ended with status {status}")]
    QueryFailed {
        name: String,
        groups: String,
        status: String,
    },
    #[error("{}", missing_groups(.missing))]
    LogGroupNotFound { missing: Vec<String> },
    #[error("query {name}: {message}")]
    Api {
        name: String,
        kind: ApiErrorKind,
        message: String,
    },
    #[error(
        "the deadline (--timeout) passed with {running} queries still running; they were stopped"
    )]
    Deadline { running: usize },
    #[error("interrupted; {running} running queries were stopped")]
    Interrupted { running: usize },
    #[error(
        "every call was throttled for {seconds} s ({message}); try again later, or raise --operation-timeout"
    )]
    Throttled { seconds: u64, message: String },
}

fn missing_groups(missing: &[String]) -> String {
    let s = if missing.len() == 1 { "" } else { "s" };
    format!(
        "log group{s} not found: {}; check the cluster name and region",
        missing.join(", ")
    )
}

/// What went wrong while stopping queries (tolerated, worth a warning).
pub type StopNotes = Vec<String>;

#[derive(Debug, Clone)]
struct Job {
    task: usize,
    start: i64,
    end: i64,
    depth: u32,
}

struct Flight {
    job: Job,
    id: String,
    next_poll: Instant,
    interval: Duration,
}

struct Leaf {
    rows: Vec<Row>,
    truncated: bool,
}

enum Stop {
    Deadline,
    Interrupted,
}

/// Runs `fut` unless the deadline passes or `interrupt` fires first.
async fn guard<F: Future, I: Future<Output = ()>>(
    fut: F,
    deadline: Instant,
    interrupt: &mut Pin<&mut I>,
) -> Result<F::Output, Stop> {
    tokio::select! {
        out = fut => Ok(out),
        _ = tokio::time::sleep_until(deadline) => Err(Stop::Deadline),
        _ = interrupt.as_mut() => Err(Stop::Interrupted),
    }
}

/// A delay in [d/2, d] from a cheap time-seeded generator.
fn jitter(d: Duration, salt: u64) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos() as u64);
    let x = (nanos ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0x2545_F491_4F6C_DD1D);
    let half = d / 2;
    half + Duration::from_nanos(x % (half.as_nanos() as u64 + 1))
}

/// Stops every query still in flight, each with its own short timeout; an
/// endpoint that refuses or does not answer is noted, not fatal.
async fn stop_all<A: InsightsApi>(api: &A, flights: &[Flight], timeout: Duration) -> StopNotes {
    let mut notes = Vec::new();
    for f in flights {
        match tokio::time::timeout(timeout, api.stop_query(&f.id)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => notes.push(format!("StopQuery {} refused: {}", f.id, e.message)),
            Err(_) => notes.push(format!("StopQuery {} did not answer in {timeout:?}", f.id)),
        }
    }
    notes
}

/// Runs every task to a complete answer. `interrupt` resolves on Ctrl-C.
pub async fn run<A: InsightsApi, I: Future<Output = ()>>(
    api: &A,
    tasks: &[Task],
    cfg: &Config,
    interrupt: I,
) -> Result<(Vec<TaskResult>, StopNotes), (RunError, StopNotes)> {
    let mut interrupt = std::pin::pin!(interrupt);
    let mut run = Run::new(api, tasks, cfg);
    while !run.pending.is_empty() || !run.flights.is_empty() {
        let step = async {
            run.start_allowed(&mut interrupt).await?;
            run.sleep_until_due(&mut interrupt).await?;
            run.poll_due(&mut interrupt).await
        };
        if let Err(e) = step.await {
            let notes = stop_all(api, &run.flights, cfg.stop_timeout).await;
            return Err((e, notes));
        }
    }
    Ok((run.results(), Vec::new()))
}

/// The state of a run: queries waiting to start, queries in flight, and what
/// each task has gathered.
struct Run<'a, A> {
    api: &'a A,
    tasks: &'a [Task],
    cfg: &'a Config,
    deadline: Instant,
    pending: VecDeque<Job>,
    flights: Vec<Flight>,
    leaves: Vec<Vec<Leaf>>,
    stats: Vec<Statistics>,
    chunks: Vec<usize>,
    /// No query starts before this (the concurrency limit was hit).
    limit_until: Option<Instant>,
    limit_backoff: Duration,
    salt: u64,
    /// Since when every call has been throttled (none succeeded since).
    throttled_since: Option<Instant>,
}

impl<'a, A: InsightsApi> Run<'a, A> {
    fn new(api: &'a A, tasks: &'a [Task], cfg: &'a Config) -> Self {
        let pending = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| Job {
                task: i,
                start: t.start,
                end: t.end,
                depth: 0,
            })
            .collect();
        Run {
            api,
            tasks,
            cfg,
            deadline: Instant::now() + cfg.timeout,
            pending,
            flights: Vec::new(),
            leaves: tasks.iter().map(|_| Vec::new()).collect(),
            stats: vec![Statistics::default(); tasks.len()],
            chunks: vec![0; tasks.len()],
            limit_until: None,
            limit_backoff: cfg.limit_backoff_initial,
            salt: 0,
            throttled_since: None,
        }
    }

    /// Runs `fut` unless the deadline passes or `interrupt` fires first.
    async fn guarded<F: Future, I: Future<Output = ()>>(
        &self,
        fut: F,
        interrupt: &mut Pin<&mut I>,
    ) -> Result<F::Output, RunError> {
        let running = self.flights.len();
        guard(fut, self.deadline, interrupt)
            .await
            .map_err(|stop| match stop {
                Stop::Deadline => RunError::Deadline { running },
                Stop::Interrupted => RunError::Interrupted { running },
            })
    }

    /// Starts what the concurrency limit allows.
    async fn start_allowed<I: Future<Output = ()>>(
        &mut self,
        interrupt: &mut Pin<&mut I>,
    ) -> Result<(), RunError> {
        let cfg = self.cfg;
        while self.flights.len() < cfg.max_concurrent.max(1)
            && !self.pending.is_empty()
            && self.limit_until.is_none_or(|t| Instant::now() >= t)
        {
            let job = self.pending.pop_front().expect("pending is not empty");
            let task = &self.tasks[job.task];
            let req = StartRequest {
                log_groups: task.log_groups.clone(),
                start: job.start,
                end: job.end,
                query: task.query.clone(),
                limit: cfg.max_rows,
            };
            match self.guarded(self.api.start_query(&req), interrupt).await? {
                Ok(id) => {
                    self.throttled_since = None;
                    self.limit_until = None;
                    self.limit_backoff = cfg.limit_backoff_initial;
                    self.chunks[job.task] += 1;
                    self.flights.push(Flight {
                        job,
                        id,
                        next_poll: Instant::now() + cfg.poll_initial,
                        interval: cfg.poll_initial,
                    });
                }
                Err(e)
                    if matches!(
                        e.kind,
                        ApiErrorKind::LimitExceeded | ApiErrorKind::Throttled
                    ) =>
                {
                    self.throttled(&e)?;
                    self.pending.push_front(job);
                    self.salt += 1;
                    self.limit_until = Some(Instant::now() + jitter(self.limit_backoff, self.salt));
                    self.limit_backoff = (self.limit_backoff * 2).min(cfg.limit_backoff_max);
                    break;
                }
                Err(e) if e.kind == ApiErrorKind::LogGroupNotFound => {
                    let missing = if e.missing.is_empty() {
                        task.log_groups.clone()
                    } else {
                        e.missing
                    };
                    return Err(RunError::LogGroupNotFound { missing });
                }
                Err(e) => {
                    return Err(RunError::Api {
                        name: task.name.clone(),
                        kind: e.kind,
                        message: e.message,
                    })
                }
            }
        }
        Ok(())
    }

    /// Sleeps until the next poll is due, or the start limit lifts.
    async fn sleep_until_due<I: Future<Output = ()>>(
        &self,
        interrupt: &mut Pin<&mut I>,
    ) -> Result<(), RunError> {
        let mut wake = self.flights.iter().map(|f| f.next_poll).min();
        if let (Some(t), false) = (self.limit_until, self.pending.is_empty()) {
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
        if let Some(w) = wake {
            self.guarded(tokio::time::sleep_until(w), interrupt).await?;
        }
        Ok(())
    }

    /// Polls every query that is due.
    async fn poll_due<I: Future<Output = ()>>(
        &mut self,
        interrupt: &mut Pin<&mut I>,
    ) -> Result<(), RunError> {
        let now = Instant::now();
        let mut k = 0;
        while k < self.flights.len() {
            if self.flights[k].next_poll > now {
                k += 1;
                continue;
            }
            let poll = self
                .guarded(self.api.query_results(&self.flights[k].id), interrupt)
                .await?;
            let poll = match poll {
                Ok(p) => {
                    self.throttled_since = None;
                    p
                }
                // Throttled polling (after the SDK's own retries): poll later.
                Err(e)
                    if matches!(
                        e.kind,
                        ApiErrorKind::LimitExceeded | ApiErrorKind::Throttled
                    ) =>
                {
                    self.throttled(&e)?;
                    self.poll_later(k);
                    k += 1;
                    continue;
                }
                Err(e) => {
                    return Err(RunError::Api {
                        name: self.tasks[self.flights[k].job.task].name.clone(),
                        kind: e.kind,
                        message: e.message,
                    })
                }
            };
            match poll.status {
                // Partial rows of a running query are never the answer.
                Status::Scheduled | Status::Running | Status::Unknown => {
                    self.poll_later(k);
                    k += 1;
                }
                Status::Complete => {
                    let f = self.flights.remove(k);
                    self.complete(f.job, poll);
                }
                Status::Failed | Status::Cancelled | Status::Timeout | Status::Other(_) => {
                    let f = self.flights.remove(k);
                    let t = &self.tasks[f.job.task];
                    return Err(RunError::QueryFailed {
                        name: t.name.clone(),
                        groups: t.log_groups.join(", "),
                        status: poll.status.as_str().to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Notes a throttled call; an error once calls have been throttled,
    /// with none succeeding, for longer than the limit. The concurrency
    /// limit (too many queries running) is a wait, not a failure.
    fn throttled(&mut self, e: &ApiError) -> Result<(), RunError> {
        if e.kind != ApiErrorKind::Throttled {
            return Ok(());
        }
        let since = *self.throttled_since.get_or_insert_with(Instant::now);
        if since.elapsed() > self.cfg.throttled_limit {
            return Err(RunError::Throttled {
                seconds: since.elapsed().as_secs(),
                message: e.message.clone(),
            });
        }
        Ok(())
    }

    /// Backs off a flight's polling.
    fn poll_later(&mut self, k: usize) {
        let f = &mut self.flights[k];
        f.interval = (f.interval * 2).min(self.cfg.poll_max);
        f.next_poll = Instant::now() + f.interval;
    }

    /// A completed query: its rows are a leaf of the answer, unless it hit
    /// the row limit and its window can be split (then its halves run).
    fn complete(&mut self, job: Job, poll: Poll) {
        let task = &self.tasks[job.task];
        self.stats[job.task].add(&poll.statistics);
        let full = poll.rows.len() >= self.cfg.max_rows;
        let can_deepen = job.depth < self.cfg.max_split_depth;
        let halves = match (&task.merge, full) {
            // Overlapping halves: the shared second is read twice and
            // deduplicated by @ptr.
            (Merge::Rows, true) if can_deepen && job.end - job.start >= 2 => {
                let mid = job.start + (job.end - job.start) / 2;
                [(job.start, mid), (mid, job.end)]
            }
            // Disjoint halves: a sum must not see an event twice.
            (Merge::Sum { .. }, true) if can_deepen && job.end > job.start => {
                let mid = job.start + (job.end - job.start + 1) / 2;
                [(job.start, mid - 1), (mid, job.end)]
            }
            _ => {
                self.leaves[job.task].push(Leaf {
                    rows: poll.rows,
                    truncated: full,
                });
                return;
            }
        };
        for (start, end) in halves {
            self.pending.push_back(Job {
                task: job.task,
                start,
                end,
                depth: job.depth + 1,
            });
        }
    }

    fn results(self) -> Vec<TaskResult> {
        self.tasks
            .iter()
            .zip(self.leaves)
            .zip(self.stats)
            .zip(self.chunks)
            .map(|(((t, l), s), c)| finish(t, l, s, c))
            .collect()
    }
}

/// Merges a task's chunks and lays its rows out by column.
fn finish(task: &Task, leaves: Vec<Leaf>, statistics: Statistics, chunks: usize) -> TaskResult {
    let truncated = leaves.iter().any(|l| l.truncated);
    let several = leaves.len() > 1;
    let mut rows: Vec<Row> = Vec::new();
    match &task.merge {
        Merge::Rows | Merge::None => {
            let mut seen: HashSet<String> = HashSet::new();
            for leaf in leaves {
                for row in leaf.rows {
                    let ptr = row
                        .iter()
                        .find(|(f, _)| f == "@ptr")
                        .map(|(_, v)| v.clone());
                    if let Some(p) = ptr {
                        if !seen.insert(p) {
                            continue;
                        }
                    }
                    rows.push(row);
                }
            }
        }
        Merge::Sum { columns } if several => rows = sum_rows(columns, leaves),
        Merge::Sum { .. } => rows = leaves.into_iter().flat_map(|l| l.rows).collect(),
    }
    // Columns: those the query names, then any other field seen.
    let mut columns = task.columns.clone();
    for row in &rows {
        for (f, _) in row {
            if f != "@ptr" && !columns.contains(f) {
                columns.push(f.clone());
            }
        }
    }
    let mut payloads_removed = 0;
    let mut table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| {
                    let v = row
                        .iter()
                        .find(|(f, _)| f == c)
                        .map(|(_, v)| v.as_str())
                        .unwrap_or("");
                    let (v, removed) = redact(c, v);
                    payloads_removed += usize::from(removed);
                    normalize_time(c, &v)
                })
                .collect()
        })
        .collect();
    if several {
        sort_rows(&mut table, &columns, &task.sort);
    }
    TaskResult {
        name: task.name.clone(),
        log_groups: task.log_groups.clone(),
        start: task.start,
        end: task.end,
        status: Status::Complete.as_str().to_owned(),
        statistics,
        truncated,
        chunks,
        payloads_removed,
        columns,
        rows: table,
    }
}

/// Fields of an audit event that may hold secret values.
pub const BODY_FIELDS: [&str; 2] = ["requestObject", "responseObject"];

/// Removes request and response bodies from an `@message` (the whole audit
/// event): secret values never leave the tool. Says whether it removed any.
pub fn redact(column: &str, value: &str) -> (String, bool) {
    if !BODY_FIELDS.iter().any(|f| value.contains(f)) {
        return (value.to_owned(), false);
    }
    if column != "@message" {
        // A body in any other column (a query kept it some other way): a
        // JSON key of one is enough to withhold the value.
        if !BODY_FIELDS
            .iter()
            .any(|f| value.contains(&format!("\"{f}\"")))
        {
            return (value.to_owned(), false);
        }
        return (
            "[withheld: a value that may carry a request or response body]".to_owned(),
            true,
        );
    }
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(mut m)) => {
            let removed = BODY_FIELDS
                .iter()
                .filter(|f| m.remove(**f).is_some())
                .count();
            (serde_json::Value::Object(m).to_string(), removed > 0)
        }
        Ok(_) => (value.to_owned(), false),
        Err(_) => (
            "[withheld: an unparseable audit event that may carry a request or response body]"
                .to_owned(),
            true,
        ),
    }
}

/// Adds up aggregate rows of several chunks per key: counts and sums add,
/// min and max keep the extreme.
fn sum_rows(columns: &[(String, Agg)], leaves: Vec<Leaf>) -> Vec<Row> {
    let keys: Vec<&str> = columns
        .iter()
        .filter(|(_, a)| *a == Agg::Key)
        .map(|(n, _)| n.as_str())
        .collect();
    let mut order: Vec<Vec<String>> = Vec::new();
    let mut merged: HashMap<Vec<String>, Row> = HashMap::new();
    for row in leaves.into_iter().flat_map(|l| l.rows) {
        let get = |name: &str| {
            row.iter()
                .find(|(f, _)| f == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let key: Vec<String> = keys.iter().map(|k| get(k)).collect();
        let Some(acc) = merged.get_mut(&key) else {
            order.push(key.clone());
            merged.insert(key, row);
            continue;
        };
        for (name, agg) in columns {
            let new = get(name);
            let slot = acc.iter_mut().find(|(f, _)| f == name);
            let old = slot.as_ref().map(|(_, v)| v.clone());
            let value = match (agg, old) {
                (Agg::Key | Agg::Other, _) => continue,
                (_, None) => new,
                (Agg::Sum, Some(o)) => add_numbers(&o, &new),
                (Agg::Min, Some(o)) => {
                    if !new.is_empty() && cmp_values(&new, &o).is_lt() {
                        new
                    } else {
                        o
                    }
                }
                (Agg::Max, Some(o)) => {
                    if cmp_values(&new, &o).is_gt() {
                        new
                    } else {
                        o
                    }
                }
            };
            match slot {
                Some((_, v)) => *v = value,
                None => acc.push((name.clone(), value)),
            }
        }
    }
    order
        .into_iter()
        .filter_map(|k| merged.remove(&k))
        .collect()
}

fn add_numbers(a: &str, b: &str) -> String {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => {
            let s = x + y;
            if s.fract() == 0.0 && s.abs() < 1e15 {
                format!("{}", s as i64)
            } else {
                format!("{s}")
            }
        }
        (Ok(_), Err(_)) => a.to_owned(),
        (Err(_), Ok(_)) => b.to_owned(),
        _ => a.to_owned(),
    }
}

/// Numbers compare as numbers, everything else as text.
fn cmp_values(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn sort_rows(rows: &mut [Vec<String>], columns: &[String], sort: &[(String, bool)]) {
    let keys: Vec<(usize, bool)> = sort
        .iter()
        .filter_map(|(c, desc)| columns.iter().position(|x| x == c).map(|i| (i, *desc)))
        .collect();
    if keys.is_empty() {
        return;
    }
    rows.sort_by(|a, b| {
        for &(i, desc) in &keys {
            let o = cmp_values(&a[i], &b[i]);
            let o = if desc { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
}

/// Logs Insights times come as `YYYY-MM-DD HH:MM:SS.mmm` (UTC) and, from
/// some endpoints, `@timestamp` as epoch milliseconds: both become RFC 3339.
pub fn normalize_time(column: &str, value: &str) -> String {
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f") {
        return t
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    }
    if column == "@timestamp" && (10..=14).contains(&value.len()) {
        if let Ok(ms) = value.parse::<i64>() {
            if let Some(t) = chrono::DateTime::from_timestamp_millis(ms) {
                return t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            }
        }
    }
    value.to_owned()
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::*;

    type Plan = Box<dyn Fn(&StartRequest) -> Vec<Poll>>;

    /// A scripted Logs Insights: each started query answers the polls its
    /// plan gives (the last one repeats), and the fake records what happened.
    struct Fake {
        plan: Plan,
        start_errors: RefCell<VecDeque<ApiError>>,
        poll_errors: RefCell<VecDeque<ApiError>>,
        stop_error: Option<ApiError>,
        started: RefCell<Vec<StartRequest>>,
        start_attempts: RefCell<Vec<Instant>>,
        queries: RefCell<BTreeMap<String, VecDeque<Poll>>>,
        active: RefCell<HashSet<String>>,
        max_active: RefCell<usize>,
        polls: RefCell<Vec<(String, Instant)>>,
        stopped: RefCell<Vec<String>>,
    }

    impl Fake {
        fn new(plan: impl Fn(&StartRequest) -> Vec<Poll> + 'static) -> Fake {
            Fake {
                plan: Box::new(plan),
                start_errors: RefCell::new(VecDeque::new()),
                poll_errors: RefCell::new(VecDeque::new()),
                stop_error: None,
                started: RefCell::new(Vec::new()),
                start_attempts: RefCell::new(Vec::new()),
                queries: RefCell::new(BTreeMap::new()),
                active: RefCell::new(HashSet::new()),
                max_active: RefCell::new(0),
                polls: RefCell::new(Vec::new()),
                stopped: RefCell::new(Vec::new()),
            }
        }
    }

    impl InsightsApi for Fake {
        async fn start_query(&self, req: &StartRequest) -> Result<String, ApiError> {
            self.start_attempts.borrow_mut().push(Instant::now());
            if let Some(e) = self.start_errors.borrow_mut().pop_front() {
                return Err(e);
            }
            let id = format!("q{}", self.started.borrow().len());
            self.started.borrow_mut().push(req.clone());
            self.queries
                .borrow_mut()
                .insert(id.clone(), (self.plan)(req).into());
            let mut active = self.active.borrow_mut();
            active.insert(id.clone());
            let mut max = self.max_active.borrow_mut();
            *max = (*max).max(active.len());
            Ok(id)
        }

        async fn query_results(&self, id: &str) -> Result<Poll, ApiError> {
            self.polls
                .borrow_mut()
                .push((id.to_owned(), Instant::now()));
            if let Some(e) = self.poll_errors.borrow_mut().pop_front() {
                return Err(e);
            }
            let mut qs = self.queries.borrow_mut();
            let q = qs.get_mut(id).expect("known query");
            let p = if q.len() > 1 {
                q.pop_front().unwrap()
            } else {
                q[0].clone()
            };
            if !matches!(
                p.status,
                Status::Scheduled | Status::Running | Status::Unknown
            ) {
                self.active.borrow_mut().remove(id);
            }
            Ok(p)
        }

        async fn stop_query(&self, id: &str) -> Result<(), ApiError> {
            self.stopped.borrow_mut().push(id.to_owned());
            self.active.borrow_mut().remove(id);
            match &self.stop_error {
                Some(e) => Err(e.clone()),
                None => Ok(()),
            }
        }
    }

    fn poll(status: Status, rows: Vec<Row>) -> Poll {
        Poll {
            status,
            rows,
            statistics: Statistics {
                records_matched: 1.0,
                records_scanned: 10.0,
                bytes_scanned: 100.0,
                bytes_skipped: 0.0,
            },
        }
    }

    fn row(pairs: &[(&str, &str)]) -> Row {
        pairs
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect()
    }

    fn task(name: &str, merge: Merge) -> Task {
        Task {
            name: name.into(),
            query: "filter x".into(),
            merge,
            columns: Vec::new(),
            sort: Vec::new(),
            log_groups: vec!["/aws/eks/prod/cluster".into()],
            start: 0,
            end: 99,
        }
    }

    fn cfg() -> Config {
        Config {
            max_concurrent: 4,
            max_rows: 100,
            max_split_depth: 6,
            poll_initial: Duration::from_millis(1),
            poll_max: Duration::from_millis(4),
            limit_backoff_initial: Duration::from_millis(2),
            limit_backoff_max: Duration::from_millis(8),
            stop_timeout: Duration::from_millis(50),
            timeout: Duration::from_secs(10),
            throttled_limit: Duration::from_secs(10),
        }
    }

    fn never() -> std::future::Pending<()> {
        std::future::pending()
    }

    fn sums() -> Merge {
        Merge::Sum {
            columns: vec![
                ("n".into(), Agg::Sum),
                ("first".into(), Agg::Min),
                ("last".into(), Agg::Max),
                ("k".into(), Agg::Key),
            ],
        }
    }

    #[tokio::test]
    async fn polls_back_off_doubling_to_the_maximum_until_complete() {
        let fake = Fake::new(|_| {
            vec![
                poll(Status::Scheduled, vec![]),
                poll(Status::Running, vec![]),
                poll(Status::Unknown, vec![]),
                poll(Status::Running, vec![]),
                poll(Status::Running, vec![]),
                poll(Status::Complete, vec![row(&[("a", "1")])]),
            ]
        });
        let mut c = cfg();
        c.poll_initial = Duration::from_millis(10);
        c.poll_max = Duration::from_millis(40);
        let t0 = Instant::now();
        let (res, _) = run(&fake, &[task("q", Merge::Rows)], &c, never())
            .await
            .unwrap();
        assert_eq!(res[0].rows, [vec!["1".to_owned()]]);
        let times: Vec<Instant> = fake.polls.borrow().iter().map(|p| p.1).collect();
        assert_eq!(times.len(), 6);
        let gaps: Vec<u128> = std::iter::once(times[0] - t0)
            .chain(times.windows(2).map(|w| w[1] - w[0]))
            .map(|d| d.as_millis())
            .collect();
        // 10, 20, 40, 40, 40, 40 ms (at least; a busy machine adds).
        for (g, want) in gaps.iter().zip([10, 20, 40, 40, 40, 40]) {
            assert!(*g >= want, "{gaps:?}");
        }
        assert!(gaps[1] < 40 && gaps[0] < 20, "{gaps:?}");
    }

    #[tokio::test]
    async fn partial_rows_of_a_running_query_are_never_the_answer() {
        let fake = Fake::new(|_| {
            vec![
                poll(Status::Running, vec![row(&[("a", "partial")])]),
                poll(Status::Complete, vec![row(&[("a", "final")])]),
            ]
        });
        let (res, _) = run(&fake, &[task("q", Merge::Rows)], &cfg(), never())
            .await
            .unwrap();
        assert_eq!(res[0].rows, [vec!["final".to_owned()]]);
        assert_eq!(res[0].status, "Complete");
    }

    #[tokio::test]
    async fn failed_cancelled_and_timeout_are_errors_naming_query_and_status() {
        for status in [Status::Failed, Status::Cancelled, Status::Timeout] {
            let s = status.clone();
            let fake = Fake::new(move |req| {
                if req.query == "bad" {
                    vec![poll(s.clone(), vec![])]
                } else {
                    vec![poll(Status::Running, vec![])]
                }
            });
            let mut bad = task("reads-by-secret", Merge::Rows);
            bad.query = "bad".into();
            let (err, _) = run(&fake, &[task("other", Merge::Rows), bad], &cfg(), never())
                .await
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "query reads-by-secret on /aws/eks/prod/cluster ended with status {}",
                    status.as_str()
                )
            );
            // The other, still running query was stopped.
            assert_eq!(*fake.stopped.borrow(), ["q0"]);
        }
    }

    #[tokio::test]
    async fn no_more_queries_run_at_once_than_the_limit() {
        let fake = Fake::new(|_| {
            vec![
                poll(Status::Running, vec![]),
                poll(Status::Running, vec![]),
                poll(Status::Complete, vec![]),
            ]
        });
        let tasks: Vec<Task> = (0..7)
            .map(|i| task(&format!("q{i}"), Merge::Rows))
            .collect();
        let mut c = cfg();
        c.max_concurrent = 3;
        let (res, _) = run(&fake, &tasks, &c, never()).await.unwrap();
        assert_eq!(res.len(), 7);
        assert_eq!(fake.started.borrow().len(), 7);
        assert_eq!(*fake.max_active.borrow(), 3);
    }

    #[tokio::test]
    async fn limit_exceeded_on_start_waits_with_backoff_then_starts() {
        let fake = Fake::new(|_| vec![poll(Status::Complete, vec![])]);
        for _ in 0..3 {
            fake.start_errors
                .borrow_mut()
                .push_back(ApiError::new(ApiErrorKind::LimitExceeded, "too many"));
        }
        let mut c = cfg();
        c.limit_backoff_initial = Duration::from_millis(20);
        c.limit_backoff_max = Duration::from_millis(40);
        let (res, _) = run(&fake, &[task("q", Merge::Rows)], &c, never())
            .await
            .unwrap();
        assert_eq!(res[0].status, "Complete");
        let at = fake.start_attempts.borrow().clone();
        assert_eq!(at.len(), 4);
        let gaps: Vec<u128> = at.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
        // Jittered in [d/2, d]: 20 ms, then 40, then 40 (the maximum).
        for (g, half) in gaps.iter().zip([10, 20, 20]) {
            assert!(*g >= half, "{gaps:?}");
        }
    }

    #[tokio::test]
    async fn an_endpoint_that_only_throttles_is_an_error_after_the_limit() {
        let fake = Fake::new(|_| vec![poll(Status::Complete, vec![])]);
        for _ in 0..10_000 {
            fake.start_errors
                .borrow_mut()
                .push_back(ApiError::new(ApiErrorKind::Throttled, "Rate exceeded"));
        }
        let mut c = cfg();
        c.throttled_limit = Duration::from_millis(60);
        let started = Instant::now();
        let (err, _) = run(&fake, &[task("q", Merge::Rows)], &c, never())
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::Throttled { .. }), "{err:?}");
        assert!(err.to_string().contains("Rate exceeded"), "{err}");
        // Well before the run's own deadline (10 s).
        assert!(started.elapsed() < Duration::from_secs(2));

        // Throttling that clears within the limit is only a wait.
        let fake = Fake::new(|_| vec![poll(Status::Complete, vec![])]);
        for _ in 0..3 {
            fake.start_errors
                .borrow_mut()
                .push_back(ApiError::new(ApiErrorKind::Throttled, "Rate exceeded"));
        }
        let (res, _) = run(&fake, &[task("q", Merge::Rows)], &cfg(), never())
            .await
            .unwrap();
        assert_eq!(res[0].status, "Complete");
    }

    #[tokio::test]
    async fn throttled_polls_back_off_and_other_poll_errors_fail() {
        let fake = Fake::new(|_| vec![poll(Status::Complete, vec![row(&[("a", "1")])])]);
        for _ in 0..2 {
            fake.poll_errors
                .borrow_mut()
                .push_back(ApiError::new(ApiErrorKind::LimitExceeded, "slow down"));
        }
        let (res, _) = run(&fake, &[task("q", Merge::Rows)], &cfg(), never())
            .await
            .unwrap();
        assert_eq!(res[0].rows.len(), 1);
        assert_eq!(fake.polls.borrow().len(), 3);

        let fake = Fake::new(|_| vec![poll(Status::Complete, vec![])]);
        fake.poll_errors
            .borrow_mut()
            .push_back(ApiError::new(ApiErrorKind::Service, "query q0 not found"));
        let (err, _) = run(&fake, &[task("q", Merge::Rows)], &cfg(), never())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "query q: query q0 not found");
    }

    /// Log events at seconds 0..=9; a query returns those in its range,
    /// at most `limit`, with `@ptr` = the second.
    fn events(req: &StartRequest) -> Vec<Poll> {
        let rows: Vec<Row> = (req.start..=req.end)
            .filter(|s| (0..10).contains(s))
            .map(|s| {
                row(&[
                    ("@ptr", &format!("p{s}")),
                    ("@timestamp", &format!("{}", 1_700_000_000_000 + s * 1000)),
                ])
            })
            .take(req.limit)
            .collect();
        vec![poll(Status::Complete, rows)]
    }

    #[tokio::test]
    async fn a_full_row_result_is_split_and_merged_without_duplicates() {
        let fake = Fake::new(events);
        let mut c = cfg();
        c.max_rows = 4;
        let mut t = task("detail", Merge::Rows);
        t.start = 0;
        t.end = 9;
        t.columns = vec!["@timestamp".into()];
        t.sort = vec![("@timestamp".into(), true)];
        let (res, _) = run(&fake, &[t], &c, never()).await.unwrap();
        let r = &res[0];
        assert!(!r.truncated);
        assert_eq!(r.rows.len(), 10, "{:?}", r.rows);
        // Newest first after merging, epoch ms shown as RFC 3339.
        assert_eq!(r.rows[0], ["2023-11-14T22:13:29.000Z"]);
        assert_eq!(r.rows[9], ["2023-11-14T22:13:20.000Z"]);
        // Overlapping halves were read: some second twice, kept once.
        let read: usize = fake
            .started
            .borrow()
            .iter()
            .map(|q| (q.start..=q.end).count())
            .sum();
        assert!(fake.started.borrow().len() > 1 && read > 10);
        assert_eq!(r.chunks, fake.started.borrow().len());
        assert_eq!(r.statistics.bytes_scanned, 100.0 * r.chunks as f64);
    }

    /// Aggregates per key k = second % 4 over seconds 0..=7: count,
    /// first and last second.
    fn aggregates(req: &StartRequest) -> Vec<Poll> {
        let mut by: BTreeMap<i64, (i64, i64, i64)> = BTreeMap::new();
        for s in (req.start..=req.end).filter(|s| (0..8).contains(s)) {
            let e = by.entry(s % 4).or_insert((0, s, s));
            e.0 += 1;
            e.1 = e.1.min(s);
            e.2 = e.2.max(s);
        }
        let rows = by
            .into_iter()
            .map(|(k, (n, f, l))| {
                row(&[
                    ("k", &format!("k{k}")),
                    ("n", &n.to_string()),
                    ("first", &format!("2026-11-28 12:00:0{f}.000")),
                    ("last", &format!("2026-11-28 12:00:0{l}.000")),
                ])
            })
            .take(req.limit)
            .collect();
        vec![poll(Status::Complete, rows)]
    }

    #[tokio::test]
    async fn a_full_aggregate_is_split_into_disjoint_halves_and_summed_per_key() {
        let fake = Fake::new(aggregates);
        let mut c = cfg();
        c.max_rows = 4;
        let mut t = task("reads", sums());
        t.start = 0;
        t.end = 7;
        t.columns = vec!["k".into(), "n".into(), "first".into(), "last".into()];
        t.sort = vec![("k".into(), false)];
        let (res, _) = run(&fake, &[t], &c, never()).await.unwrap();
        let r = &res[0];
        assert!(!r.truncated);
        assert_eq!(
            r.rows,
            [
                [
                    "k0",
                    "2",
                    "2026-11-28T12:00:00.000Z",
                    "2026-11-28T12:00:04.000Z"
                ],
                [
                    "k1",
                    "2",
                    "2026-11-28T12:00:01.000Z",
                    "2026-11-28T12:00:05.000Z"
                ],
                [
                    "k2",
                    "2",
                    "2026-11-28T12:00:02.000Z",
                    "2026-11-28T12:00:06.000Z"
                ],
                [
                    "k3",
                    "2",
                    "2026-11-28T12:00:03.000Z",
                    "2026-11-28T12:00:07.000Z"
                ],
            ]
        );
        // Children never share a second.
        let started = fake.started.borrow();
        let leaves: Vec<(i64, i64)> = started.iter().skip(1).map(|q| (q.start, q.end)).collect();
        assert!(
            leaves.contains(&(0, 3)) && leaves.contains(&(4, 7)),
            "{leaves:?}"
        );
    }

    #[tokio::test]
    async fn a_full_result_that_cannot_be_merged_is_reported_truncated() {
        let fake = Fake::new(events);
        let mut c = cfg();
        c.max_rows = 4;
        let mut t = task("distinct", Merge::None);
        t.end = 9;
        let (res, _) = run(&fake, &[t], &c, never()).await.unwrap();
        assert!(res[0].truncated);
        assert_eq!(res[0].chunks, 1);
        assert_eq!(res[0].rows.len(), 4);
    }

    #[tokio::test]
    async fn splitting_stops_at_the_depth_bound_and_says_truncated() {
        // Always full: every chunk returns the cap.
        let fake = Fake::new(|req| {
            let rows = (0..req.limit)
                .map(|i| row(&[("@ptr", &format!("{}-{}", req.start, i))]))
                .collect();
            vec![poll(Status::Complete, rows)]
        });
        let mut c = cfg();
        c.max_rows = 3;
        c.max_split_depth = 2;
        let (res, _) = run(&fake, &[task("detail", Merge::Rows)], &c, never())
            .await
            .unwrap();
        assert!(res[0].truncated);
        assert_eq!(res[0].chunks, 1 + 2 + 4);
    }

    #[tokio::test]
    async fn the_split_decision_uses_returned_rows_not_records_matched() {
        let fake = Fake::new(|_| {
            let mut p = poll(Status::Complete, vec![row(&[("n", "3")])]);
            p.statistics.records_matched = 5_000_000.0;
            vec![p]
        });
        let (res, _) = run(&fake, &[task("reads", sums())], &cfg(), never())
            .await
            .unwrap();
        assert_eq!(res[0].chunks, 1);
        assert!(!res[0].truncated);
    }

    #[tokio::test]
    async fn the_deadline_stops_every_started_query() {
        let fake = Fake::new(|_| vec![poll(Status::Running, vec![])]);
        let mut c = cfg();
        c.timeout = Duration::from_millis(30);
        let tasks = [task("a", Merge::Rows), task("b", Merge::Rows)];
        let (err, notes) = run(&fake, &tasks, &c, never()).await.unwrap_err();
        assert_eq!(err, RunError::Deadline { running: 2 });
        assert_eq!(*fake.stopped.borrow(), ["q0", "q1"]);
        assert!(notes.is_empty());
    }

    #[tokio::test]
    async fn ctrl_c_stops_every_started_query_and_a_refused_stop_is_tolerated() {
        let mut fake = Fake::new(|_| vec![poll(Status::Running, vec![])]);
        fake.stop_error = Some(ApiError::new(
            ApiErrorKind::NotImplemented,
            "not implemented",
        ));
        let interrupt = tokio::time::sleep(Duration::from_millis(20));
        let (err, notes) = run(&fake, &[task("a", Merge::Rows)], &cfg(), interrupt)
            .await
            .unwrap_err();
        assert_eq!(err, RunError::Interrupted { running: 1 });
        assert_eq!(*fake.stopped.borrow(), ["q0"]);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("StopQuery q0 refused"), "{notes:?}");
    }

    #[tokio::test]
    async fn a_stop_that_hangs_gives_up_after_its_own_timeout() {
        struct Hangs(Fake);
        impl InsightsApi for Hangs {
            async fn start_query(&self, r: &StartRequest) -> Result<String, ApiError> {
                self.0.start_query(r).await
            }
            async fn query_results(&self, id: &str) -> Result<Poll, ApiError> {
                self.0.query_results(id).await
            }
            async fn stop_query(&self, _: &str) -> Result<(), ApiError> {
                std::future::pending().await
            }
        }
        let api = Hangs(Fake::new(|_| vec![poll(Status::Running, vec![])]));
        let mut c = cfg();
        c.timeout = Duration::from_millis(10);
        c.stop_timeout = Duration::from_millis(20);
        let t0 = Instant::now();
        let (err, notes) = run(&api, &[task("a", Merge::Rows)], &c, never())
            .await
            .unwrap_err();
        assert_eq!(err, RunError::Deadline { running: 1 });
        assert!(notes[0].contains("did not answer"), "{notes:?}");
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_missing_log_group_is_an_error_naming_it() {
        let fake = Fake::new(|_| vec![poll(Status::Complete, vec![])]);
        let mut e = ApiError::new(ApiErrorKind::LogGroupNotFound, "ResourceNotFoundException");
        e.missing = vec!["/aws/eks/nope/cluster".into()];
        fake.start_errors.borrow_mut().push_back(e);
        let (err, _) = run(&fake, &[task("a", Merge::Rows)], &cfg(), never())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "log group not found: /aws/eks/nope/cluster; check the cluster name and region"
        );
    }

    #[test]
    fn bodies_are_removed_from_messages() {
        let ev = r#"{"auditID":"a","objectRef":{"resource":"secrets"},"requestObject":{"data":{"password":"aHVudGVyMg=="}},"responseObject":{"status":{"token":"eyJ"}}}"#;
        let (v, removed) = redact("@message", ev);
        assert!(removed);
        assert_eq!(v, r#"{"auditID":"a","objectRef":{"resource":"secrets"}}"#);
        let (v, removed) = redact("@message", r#"{"requestObject":{"data":{"x":"#);
        assert!(removed && !v.contains("data"), "{v}");
        assert_eq!(
            redact("@message", r#"{"verb":"get"}"#),
            (r#"{"verb":"get"}"#.to_owned(), false)
        );
        assert_eq!(
            redact("user", "requestObject"),
            ("requestObject".to_owned(), false)
        );
        // Anywhere else, a value holding a body is withheld whole.
        let (v, removed) = redact("m", ev);
        assert!(removed && !v.contains("aHVudGVy"), "{v}");
    }

    #[test]
    fn timestamps_are_read_in_both_forms() {
        assert_eq!(
            normalize_time("@timestamp", "2026-11-28 12:01:02.345"),
            "2026-11-28T12:01:02.345Z"
        );
        assert_eq!(
            normalize_time("@timestamp", "1795867262345"),
            "2026-11-28T12:01:02.345Z"
        );
        assert_eq!(
            normalize_time("first_seen", "2026-11-28 12:01:02"),
            "2026-11-28T12:01:02.000Z"
        );
        // Epoch milliseconds only in @timestamp: elsewhere a number is a number.
        assert_eq!(normalize_time("reads", "1795867262345"), "1795867262345");
        assert_eq!(normalize_time("user", "alice"), "alice");
    }
}
