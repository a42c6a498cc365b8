//! Scheduled `alert` on CloudWatch Logs: which events a run owns, and
//! which findings are its to report, so that consecutive runs report every
//! finding exactly once however late CloudWatch ingests events. Pure: the
//! command reads the events and delivers the findings.
//!
//! A run owns the events *ingested* in its interval, `(start, end]`: `end`
//! is its scheduled time less a settle delay, aligned down to `every`;
//! `start` is where the previous run ended (the state's high-water mark),
//! or `end - every` without a state. It reads events by *event time* (all
//! FilterLogEvents can filter on) from `start - max_lag - window` (the
//! longest rule window: an episode's earlier requests) up to `end +
//! max_lag`, and evaluates the rules twice over what it read, in time order:
//! over the events ingested by `start` (what earlier runs could see) and by
//! `end`. A finding of the second evaluation is this run's when no earlier
//! one reported its episode: no finding of the first (without a state), or
//! no episode the state says was sent (with one, so that a run after a
//! failed delivery sends what failed). An episode is the same when its rule
//! and key are, and its span is within the rule's window of the other's: a
//! late event that extends it, even one older than its first, is not a new
//! finding, and the key first reported stays.
//!
//! An event ingested more than `max_lag` after its event time may fall
//! before what its run reads; it is then never evaluated (no run can see
//! it). An episode whose requests all fall that late is missed; one with
//! requests on time is found from those.

use serde::{Deserialize, Serialize};

use super::{Engine, Finding, Learned, Rule, Span};
use crate::audit::origin::Origin;
use crate::audit::tap::Seen;

/// How runs are scheduled, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub every: i64,
    /// How long after its end an interval is left before it is read, for
    /// the events CloudWatch is still ingesting.
    pub settle: i64,
    /// The ingestion delay covered: an event ingested later than this after
    /// its event time may be missed (see the module comment).
    pub max_lag: i64,
    /// The most one run reads after missed runs; the next run goes on.
    pub max_catch_up: i64,
}

/// One run's interval and reads, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// It owns the events ingested after `start`, up to `end` included.
    pub start: i64,
    pub end: i64,
    /// The event times it reads, both included.
    pub read_from: i64,
    pub read_to: i64,
    /// How far behind the schedule the run still is after this interval
    /// (0 when caught up).
    pub behind: i64,
}

impl Schedule {
    /// When a sent episode can be forgotten by the run that starts at
    /// `next_start`: it ended more than a rule window before the earliest
    /// request that run reads, so no request it reads can extend it.
    pub fn forget_before(&self, next_start: i64, rule_window: i64) -> i64 {
        next_start - self.max_lag - 2 * rule_window
    }

    /// The window of a run at `at`, after `high_water` (where the previous
    /// run ended; `None` without a state), for rules whose longest window
    /// is `rule_window`. `None` when there is nothing new to own (the
    /// schedule's interval was evaluated already).
    pub fn window(&self, at: i64, high_water: Option<i64>, rule_window: i64) -> Option<Window> {
        let due = (at - self.settle).div_euclid(self.every) * self.every;
        let start = high_water.unwrap_or(due - self.every);
        if start >= due {
            return None;
        }
        let end = due.min(start + self.max_catch_up);
        Some(Window {
            start,
            end,
            read_from: start - self.max_lag - rule_window,
            read_to: end + self.max_lag,
            behind: due - end,
        })
    }
}

/// An episode reported before, as the state keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The cluster (or log group) it was found in.
    #[serde(default)]
    pub cluster: String,
    pub rule: String,
    pub key: String,
    pub first_ms: i64,
    pub last_ms: i64,
    /// The key it was reported with; it stays as the episode grows.
    pub dedup_key: String,
}

impl Sent {
    pub fn of(f: &Finding) -> Sent {
        Sent {
            cluster: f.cluster.clone(),
            rule: f.rule.to_owned(),
            key: f.key.clone(),
            first_ms: f.span_ms.0,
            last_ms: f.span_ms.1,
            dedup_key: f.dedup_key.clone(),
        }
    }
}

/// Whether two episodes are one: same rule and key, spans within the
/// rule's window of each other.
fn same_episode(
    (cluster, rule, key): (&str, &str, &str),
    span: (i64, i64),
    other: &Sent,
    window: i64,
) -> bool {
    other.cluster == cluster
        && other.rule == rule
        && other.key == key
        && span.0 <= other.last_ms + window
        && other.first_ms <= span.1 + window
}

/// When CloudWatch ingested the record a request was handed on with.
pub fn ingestion(s: &Seen) -> Option<i64> {
    match &s.origin {
        Origin::Event(e) => Some(e.ingestion_time),
        Origin::File(_) => None,
    }
}

/// What one run decides.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The findings this run reports, most severe first.
    pub new: Vec<Finding>,
    /// Episodes reported before that grew in this run: their state entry,
    /// extended (the dedup key as first reported).
    pub extended: Vec<Sent>,
    /// With nothing known before: the episodes taken as reported by earlier
    /// runs (those of the first evaluation), for the state to keep.
    pub assumed: Vec<Sent>,
    /// What the learning rules know after the run's events.
    pub learned: Learned,
}

/// The findings of the rules over `requests` (in time order), the extent
/// of every episode, and what the learning rules know after them.
fn run_engine(
    rules: &[Rule],
    cluster: &str,
    requests: &[&Seen],
    learned: Learned,
) -> (Vec<Finding>, Vec<Span>, Learned) {
    let mut engine = Engine::learned(rules.to_vec(), cluster, learned).tracking_spans();
    for s in requests {
        engine.push(s);
    }
    let history = engine.history();
    let (findings, spans) = engine.finish_with_spans();
    (findings, spans, history)
}

/// What a run knows was reported before it.
#[derive(Debug, Clone, Copy)]
pub struct Reported<'a> {
    /// The episodes a state says were sent.
    pub sent: &'a [Sent],
    /// No run before this one kept a state (stateless, or the state's first
    /// run): what the events ingested by the window's start make stands for
    /// what earlier runs reported.
    pub unknown_before: bool,
}

/// The findings of a run over `requests` (what it read, any order), given
/// what the learning rules knew and what was reported before.
pub fn decide(
    rules: &[Rule],
    cluster: &str,
    requests: &[Seen],
    window: &Window,
    learned: Learned,
    reported: Reported<'_>,
) -> Decision {
    let mut by_time: Vec<&Seen> = requests.iter().collect();
    by_time.sort_by_key(|s| s.time.unwrap_or(i64::MIN));
    let ingested_by = |t: i64| -> Vec<&Seen> {
        by_time
            .iter()
            .copied()
            .filter(|s| ingestion(s).is_none_or(|i| i <= t))
            .collect()
    };
    let (now, spans, after) = run_engine(rules, cluster, &ingested_by(window.end), learned.clone());
    let mut before: Vec<Sent> = reported.sent.to_vec();
    let mut assumed = Vec::new();
    if reported.unknown_before {
        let earlier = run_engine(rules, cluster, &ingested_by(window.start), learned).0;
        assumed = earlier.iter().map(Sent::of).collect();
        before.extend(assumed.iter().cloned());
    }
    let window_of = |name: &str| {
        rules
            .iter()
            .find(|r| r.name == name)
            .map_or(0, |r| r.window)
    };
    // An episode reported before grows with every request of its rule and
    // key that follows within the window, whether or not what this run
    // reads of it qualifies again: a trickle keeps it open.
    let mut extended: Vec<Sent> = Vec::new();
    for s in &mut before {
        let original = s.clone();
        let w = window_of(&s.rule);
        loop {
            let grown = spans
                .iter()
                .filter(|sp| {
                    same_episode((cluster, sp.rule, &sp.key), (sp.first_ms, sp.last_ms), s, w)
                })
                .fold((s.first_ms, s.last_ms), |(f, l), sp| {
                    (f.min(sp.first_ms), l.max(sp.last_ms))
                });
            if grown == (s.first_ms, s.last_ms) {
                break;
            }
            (s.first_ms, s.last_ms) = grown;
        }
        if *s != original {
            extended.push(s.clone());
        }
    }
    let new = now
        .into_iter()
        .filter(|f| {
            let w = window_of(f.rule);
            !before
                .iter()
                .any(|s| same_episode((&f.cluster, f.rule, &f.key), f.span_ms, s, w))
        })
        .collect();
    Decision {
        new,
        extended,
        assumed,
        learned: after,
    }
}

/// The state's sent episodes after a run: newly sent ones added, grown
/// ones replaced (whether they were known or added now), and those that
/// ended before `forget_before` dropped ([`Schedule::forget_before`]).
pub fn merge_sent(
    mut sent: Vec<Sent>,
    extended: &[Sent],
    newly: &[Sent],
    forget_before: i64,
) -> Vec<Sent> {
    sent.extend(newly.iter().cloned());
    for e in extended {
        if let Some(s) = sent
            .iter_mut()
            .find(|s| s.dedup_key == e.dedup_key && s.rule == e.rule)
        {
            *s = e.clone();
        }
    }
    sent.retain(|s| s.last_ms >= forget_before);
    sent
}

#[cfg(test)]
mod tests;
