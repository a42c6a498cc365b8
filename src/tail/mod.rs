//! `tail`'s reading of CloudWatch Logs, free of the SDK: which windows a
//! poll reads, which events are new, and what a checkpoint holds. Every
//! event is classified by the same shard front as `analyze`, and the
//! ledger (auditIDs, time-bounded) with its tap decides what is printed, so
//! each secret request is printed once.
//!
//! Exactly once, against how FilterLogEvents behaves (FACTS.md): events are
//! ingested late and out of order, many share a millisecond and can straddle
//! pages, a page may be empty while a token remains, and the API cannot
//! filter on ingestion time. So every poll reads again from the newest
//! event seen minus the lateness window (`max_lag`), and events already seen
//! in it are skipped by their event id; a periodic sweep reads the last
//! `sweep_span` before that window, where event ids are no longer kept, and
//! the ledger's auditIDs (kept for longer than the sweep reaches) let through
//! only requests never seen: those are printed marked late.

use std::collections::VecDeque;

use rustc_hash::FxHashSet;
use std::future::Future;
use std::sync::Arc;

use crossbeam_channel::Receiver;
use serde::{Deserialize, Serialize};

use crate::audit::origin::{LogEvent, Origin};
use crate::audit::shard::Shard;
use crate::audit::tap::Seen;
use crate::insights::runner::{ApiError, ApiErrorKind};

/// The filter pattern FilterLogEvents is given: a plain term every event
/// the classifier counts holds (in `objectRef.resource` and in the
/// `requestURI` near its start, so a truncated event keeps it too). It cuts
/// the transfer to the events about secrets; classification stays
/// client-side, so the output never depends on it (the emulator ignores
/// it). `tests/patterns.rs` holds it to the classifier on every fixture.
pub const SERVER_FILTER: &str = "secrets";

/// One log event as FilterLogEvents returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CwEvent {
    pub stream: String,
    pub event_id: String,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub ingestion: i64,
    pub message: String,
}

/// One page of FilterLogEvents.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub events: Vec<CwEvent>,
    /// More to read: an empty page with a token is not the end.
    pub next: Option<String>,
}

/// FilterLogEvents over a group's audit streams, from `start` to `end`
/// (milliseconds, both included), as the SDK or a scripted fake answers it.
pub trait Source {
    fn page(
        &self,
        group: &str,
        start: i64,
        end: i64,
        token: Option<&str>,
    ) -> impl Future<Output = Result<Page, ApiError>>;
}

/// The pace of calls: a rate limit before each, a back-off after a
/// throttled one.
pub trait Pace {
    /// Waits until the next call may go.
    fn before_call(&mut self) -> impl Future<Output = ()>;
    /// Waits after the `n`th throttled answer in a row.
    fn throttled(&mut self, n: u32) -> impl Future<Output = ()>;
}

/// One window of one log group to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    pub group: usize,
    pub start: i64,
    pub end: i64,
    /// A sweep beyond the lateness window (what it finds is late).
    pub sweep: bool,
}

/// What to read, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub since: i64,
    pub until: Option<i64>,
    /// The lateness window: each poll reads again from the newest event
    /// seen minus this.
    pub max_lag: i64,
    /// How often the sweep runs, and how far back it reads.
    pub sweep_every: i64,
    pub sweep_span: i64,
}

#[derive(Debug, Clone, Default)]
struct GroupState {
    name: String,
    /// The newest event timestamp read.
    newest: Option<i64>,
    /// Event ids read inside the lateness window, and when they were
    /// stamped, oldest first (roughly: late events join at the back).
    ids: FxHashSet<u128>,
    order: VecDeque<(i64, u128)>,
}

/// Where each log group stands.
#[derive(Debug, Clone)]
pub struct Tracker {
    cfg: Config,
    groups: Vec<GroupState>,
    next_sweep: i64,
}

/// An event's key: a 128-bit hash of its stream and event id (CloudWatch's
/// ids, not the log's content).
fn event_key(stream: &str, event_id: &str) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(stream.as_bytes());
    h.update(&[0]);
    h.update(event_id.as_bytes());
    h.digest128()
}

impl Tracker {
    pub fn new(groups: &[String], cfg: Config, now: i64) -> Tracker {
        Tracker {
            cfg,
            groups: groups
                .iter()
                .map(|g| GroupState {
                    name: g.clone(),
                    ..GroupState::default()
                })
                .collect(),
            next_sweep: now + cfg.sweep_every,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(|g| g.name.as_str())
    }

    /// Where a regular read of a group starts: the newest event seen less
    /// the lateness window, or `since`.
    fn start_of(&self, g: &GroupState) -> i64 {
        g.newest.map_or(self.cfg.since, |n| {
            (n - self.cfg.max_lag).max(self.cfg.since)
        })
    }

    /// The reads of one poll at `now`: each group from its start to now (or
    /// `until`), and, when due, a sweep of the span before that.
    pub fn reads(&mut self, now: i64) -> Vec<Read> {
        let end = self.cfg.until.map_or(now, |u| u.min(now));
        let mut out = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            let start = self.start_of(g);
            if start <= end {
                out.push(Read {
                    group: i,
                    start,
                    end,
                    sweep: false,
                });
            }
        }
        if now >= self.next_sweep {
            self.next_sweep = now + self.cfg.sweep_every;
            for (i, g) in self.groups.iter().enumerate() {
                let before = self.start_of(g);
                let start = (end - self.cfg.sweep_span).max(self.cfg.since);
                if start < before {
                    out.push(Read {
                        group: i,
                        start,
                        end: before - 1,
                        sweep: true,
                    });
                }
            }
        }
        out
    }

    /// An event of a read: `None` when it was read before, else whether it
    /// is late (stamped before the newest event read before it, or found
    /// by a sweep).
    pub fn accept(&mut self, read: &Read, ev: &CwEvent) -> Option<bool> {
        if read.sweep {
            // Before the lateness window no event ids are kept: the
            // ledger's auditIDs tell what was counted.
            return Some(true);
        }
        let g = &mut self.groups[read.group];
        let key = event_key(&ev.stream, &ev.event_id);
        if !g.ids.insert(key) {
            return None;
        }
        g.order.push_back((ev.timestamp, key));
        let late = g.newest.is_some_and(|n| ev.timestamp < n);
        g.newest = Some(g.newest.map_or(ev.timestamp, |n| n.max(ev.timestamp)));
        Some(late)
    }

    /// Forgets event ids that fell out of the lateness window.
    pub fn prune(&mut self) {
        let lag = self.cfg.max_lag;
        for g in &mut self.groups {
            let Some(newest) = g.newest else { continue };
            while let Some(&(ts, key)) = g.order.front() {
                if ts >= newest - lag {
                    break;
                }
                g.order.pop_front();
                g.ids.remove(&key);
            }
        }
    }

    /// The newest event timestamp read, over every group.
    pub fn newest(&self) -> Option<i64> {
        self.groups.iter().filter_map(|g| g.newest).max()
    }

    /// Event ids kept in all (a bound on memory).
    pub fn kept(&self) -> usize {
        self.groups.iter().map(|g| g.ids.len()).sum()
    }

    /// The position of each group and the event ids inside its lateness
    /// window.
    pub fn checkpoint(&self) -> Vec<GroupCheckpoint> {
        self.groups
            .iter()
            .map(|g| GroupCheckpoint {
                log_group: g.name.clone(),
                newest: g.newest,
                events: g
                    .order
                    .iter()
                    .map(|(ts, key)| (*ts, format!("{key:032x}")))
                    .collect(),
            })
            .collect()
    }

    /// Goes on from a checkpoint's groups (those it names).
    pub fn restore(&mut self, saved: &[GroupCheckpoint]) {
        for s in saved {
            let Some(g) = self.groups.iter_mut().find(|g| g.name == s.log_group) else {
                continue;
            };
            g.newest = s.newest.max(g.newest);
            for (ts, hex) in &s.events {
                if let Ok(key) = u128::from_str_radix(hex, 16) {
                    if g.ids.insert(key) {
                        g.order.push_back((*ts, key));
                    }
                }
            }
        }
    }
}

/// A checkpoint: where each group stands, and what was counted, so that a
/// restarted tail goes on with no gap and no repeat. A position, never a
/// page token (tokens expire after 24 hours).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub groups: Vec<GroupCheckpoint>,
    /// Request ids (hex) the ledger keeps, and when each is forgotten
    /// (microseconds of record time).
    pub requests: Vec<(String, i64)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCheckpoint {
    pub log_group: String,
    pub newest: Option<i64>,
    /// (timestamp, event id hash) inside the lateness window.
    pub events: Vec<(i64, String)>,
}

pub const CHECKPOINT_VERSION: u32 = 1;

impl Checkpoint {
    /// The checkpoint of a tracker and the shard's ledger.
    pub fn of(tracker: &Tracker, shard: &Shard) -> Checkpoint {
        let requests = shard
            .settings
            .ledger
            .lock()
            .remembered()
            .into_iter()
            .map(|(id, at)| (format!("{id:032x}"), at))
            .collect();
        Checkpoint {
            version: CHECKPOINT_VERSION,
            groups: tracker.checkpoint(),
            requests,
        }
    }

    /// Puts a checkpoint back into a tracker and the shard's ledger.
    pub fn restore(&self, tracker: &mut Tracker, shard: &Shard) {
        tracker.restore(&self.groups);
        let mut ledger = shard.settings.ledger.lock();
        for (hex, at) in &self.requests {
            if let Ok(id) = u128::from_str_radix(hex, 16) {
                ledger.remember(id, *at);
            }
        }
    }
}

/// A request to print: which group it came from, and whether it was late.
#[derive(Debug, Clone)]
pub struct Printed {
    pub group: usize,
    pub late: bool,
    pub seen: Seen,
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Polled {
    /// New events read (not counting those read again).
    pub events: u64,
    /// Throttled answers, each followed by a back-off and a retry.
    pub throttled: u32,
    /// Pages read.
    pub pages: u64,
    /// The newest event's timestamp, over every group.
    pub newest: Option<i64>,
}

/// Reads the windows of one poll at `now` (milliseconds), classifies every
/// new event through `shard`, and returns the requests the tap handed on,
/// in order. Throttling backs off and retries, for ever; another error ends
/// the poll (what was read so far stays counted).
pub async fn poll<S: Source, P: Pace>(
    source: &S,
    pace: &mut P,
    tracker: &mut Tracker,
    shard: &mut Shard,
    tap: &Receiver<Seen>,
    now: i64,
) -> Result<(Vec<Printed>, Polled), (ApiError, Vec<Printed>, Polled)> {
    let mut printed = Vec::new();
    let mut polled = Polled::default();
    let names: Vec<Arc<str>> = tracker.group_names().map(Arc::from).collect();
    for read in tracker.reads(now) {
        let group = names[read.group].clone();
        let mut token: Option<String> = None;
        let mut throttled_run = 0;
        loop {
            pace.before_call().await;
            let page = match source
                .page(&group, read.start, read.end, token.as_deref())
                .await
            {
                Ok(p) => p,
                Err(e) if e.kind == ApiErrorKind::Throttled => {
                    throttled_run += 1;
                    polled.throttled += 1;
                    pace.throttled(throttled_run).await;
                    continue;
                }
                Err(e) => return Err((e, printed, polled)),
            };
            throttled_run = 0;
            polled.pages += 1;
            for ev in &page.events {
                let Some(late) = tracker.accept(&read, ev) else {
                    continue;
                };
                if !read.sweep {
                    polled.events += 1;
                }
                polled.newest = polled.newest.max(Some(ev.timestamp));
                let origin = Origin::Event(Box::new(LogEvent {
                    log_group: group.clone(),
                    log_stream: Arc::from(ev.stream.as_str()),
                    event_id: ev.event_id.clone(),
                    ingestion_time: ev.ingestion,
                }));
                shard.record(ev.message.as_bytes(), origin, Some(ev.timestamp * 1000));
                printed.extend(tap.try_iter().map(|seen| Printed {
                    group: read.group,
                    late,
                    seen,
                }));
            }
            match page.next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
    }
    tracker.prune();
    // The ledger forgets by record time, as far behind the newest event
    // read as its window says (not by the wall clock: a replay of last
    // month must not forget what it printed a moment ago).
    if let Some(newest) = tracker.newest() {
        shard.settings.ledger.lock().expire(newest * 1000);
    }
    Ok((printed, polled))
}

pub mod pace;
pub mod sim;

#[cfg(test)]
mod tests;
