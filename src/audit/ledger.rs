//! The ledger: every secret request counted once, whatever the number of its
//! records (a request is logged at up to four stages) and however they
//! arrive (across threads, files, pages or polls), fed to consumers through
//! one trait.
//!
//! A consumer hears of a request twice: [`Consumer::begin`] with its first
//! record, and [`Consumer::settle`] with its final outcome, the response
//! code of its latest stage (a `ResponseComplete` or `Panic` stage settles
//! it, or the end of the input, or its age with a time window). The rollup
//! is one consumer (`group::Grouped`); a pair of consumers
//! is one too, so a stream can print and roll up from one ledger.
//!
//! Files keep every request id to the end: the exact whole-input rule. An
//! endless stream keeps a completed request's id for a window and an open
//! one (a watch seen at `ResponseStarted`) until its final stage or a
//! maximum age, so memory is bounded by time and a long watch still counts
//! once. A request costs 24 bytes open, 16 closed (plus 32 in a window).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Mutex, MutexGuard};

use super::compact::{id_from_words, id_words, Id, IdMap};
use super::event::{SecretAccess, Stage};
use super::origin::Origin;

/// One record of a secret request, as the ledger hands it to consumers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The auditID as a UUID, or a hash of it (or of the record, without
    /// one).
    pub id: u128,
    /// The auditID when it is not a UUID (a UUID is `id` itself).
    pub audit_id_text: Option<&'a str>,
    pub access: &'a SecretAccess<'a>,
    pub origin: &'a Origin,
}

/// What the ledger feeds.
pub trait Consumer {
    /// What the consumer needs to find a request again when it settles
    /// (the rollup: its group). Kept with every open request.
    type Token: Copy;
    /// The first record of a request.
    fn begin(&mut self, r: &Request<'_>) -> Self::Token;
    /// A request's final outcome: the response code of its latest stage
    /// that had one (0 when none had).
    fn settle(&mut self, token: Self::Token, code: u16);
}

impl<A: Consumer, B: Consumer> Consumer for (A, B) {
    type Token = (A::Token, B::Token);

    fn begin(&mut self, r: &Request<'_>) -> Self::Token {
        (self.0.begin(r), self.1.begin(r))
    }

    fn settle(&mut self, token: Self::Token, code: u16) {
        self.0.settle(token.0, code);
        self.1.settle(token.1, code);
    }
}

/// How long request ids are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// To the end of the input: exact for files.
    Whole,
    /// For a stream, in microseconds of record time: a completed request's
    /// id for `completed`, an open request's for at most `open` (then its
    /// outcome so far settles it).
    Window { completed: i64, open: i64 },
}

/// A request's outcome while it may still change.
#[derive(Debug, Clone, Copy)]
struct Outcome<T> {
    token: T,
    /// Response code of the latest stage that had one; 0 when none had.
    code: u16,
    code_stage: Stage,
}

/// An id to forget at a time, and whether it was open then.
type Deadline = Reverse<(i64, Id, bool)>;

/// Secret requests counted once, and the consumer they are fed to.
pub struct Ledger<C: Consumer> {
    consumer: C,
    /// Requests whose outcome may still change (no final stage yet).
    open: IdMap<Outcome<C::Token>>,
    /// Requests seen at a final stage, their outcome already counted: only
    /// the id is kept.
    closed: IdMap<()>,
    retention: Retention,
    /// With a window: when each kept id is forgotten, soonest first.
    deadlines: BinaryHeap<Deadline>,
    /// The latest time [`Ledger::expire`] was given.
    now: i64,
}

impl<C: Consumer> Ledger<C> {
    pub fn new(consumer: C, retention: Retention) -> Ledger<C> {
        Ledger {
            consumer,
            open: IdMap::default(),
            closed: IdMap::default(),
            retention,
            deadlines: BinaryHeap::new(),
            now: i64::MIN,
        }
    }

    /// Counts one record of a request: the first record of a request begins
    /// it, later ones only move its outcome, until a final stage
    /// (`ResponseComplete` or `Panic`) with a response code settles it.
    pub fn add(&mut self, r: &Request<'_>) {
        let words = id_words(r.id);
        if self.closed.get_mut(words).is_some() {
            return;
        }
        let a = r.access;
        let settles = a.code.is_some() && a.stage >= Stage::ResponseComplete;
        let time = a.time.unwrap_or(self.now);
        if let Some(o) = self.open.get_mut(words) {
            if a.code.is_some() && a.stage >= o.code_stage {
                o.code = a.code.unwrap_or(0);
                o.code_stage = a.stage;
            }
            if settles {
                let o = self.open.remove(words).expect("just found");
                self.close(words, o, time);
            }
            return;
        }
        let outcome = Outcome {
            token: self.consumer.begin(r),
            code: a.code.unwrap_or(0),
            code_stage: if a.code.is_some() {
                a.stage
            } else {
                Stage::Unknown
            },
        };
        if settles {
            self.close(words, outcome, time);
        } else {
            self.open.insert(words, outcome);
            if let Retention::Window { open, .. } = self.retention {
                self.deadlines
                    .push(Reverse((time.saturating_add(open), words, true)));
            }
        }
    }

    fn close(&mut self, id: Id, o: Outcome<C::Token>, time: i64) {
        self.consumer.settle(o.token, o.code);
        self.closed.insert(id, ());
        if let Retention::Window { completed, .. } = self.retention {
            self.deadlines
                .push(Reverse((time.saturating_add(completed), id, false)));
        }
    }

    /// With a window, forgets what is older than it at `now` (record time,
    /// microseconds): completed ids past their window, and open requests
    /// past their maximum age, which settle with their outcome so far (and
    /// are then kept as completed, so a late final stage is not counted
    /// again). Returns how many open requests were settled so.
    pub fn expire(&mut self, now: i64) -> u64 {
        self.now = self.now.max(now);
        let mut settled = 0;
        while let Some(&Reverse((deadline, id, was_open))) = self.deadlines.peek() {
            if deadline > self.now {
                break;
            }
            self.deadlines.pop();
            if !was_open {
                self.closed.remove(id);
            } else if let Some(o) = self.open.remove(id) {
                settled += 1;
                self.close(id, o, self.now);
            }
        }
        settled
    }

    /// With a window, every request id kept (open or completed) and when it
    /// is forgotten: what a checkpoint saves so that a restarted stream does
    /// not count them again.
    pub fn remembered(&self) -> Vec<(u128, i64)> {
        let mut out: Vec<(u128, i64)> = self
            .deadlines
            .iter()
            .map(|Reverse((at, id, _))| (id_from_words(*id), *at))
            .collect();
        out.sort_unstable();
        out.dedup_by_key(|e| e.0);
        out
    }

    /// Takes a request as already counted until `forget_at` (from a
    /// checkpoint): its records are not counted again before then.
    pub fn remember(&mut self, id: u128, forget_at: i64) {
        let words = id_words(id);
        if self.open.get_mut(words).is_some() || self.closed.get_mut(words).is_some() {
            return;
        }
        self.closed.insert(words, ());
        self.deadlines.push(Reverse((forget_at, words, false)));
    }

    /// Requests still open, and request ids kept in all.
    pub fn kept(&self) -> (usize, usize) {
        let open = self.open.values().count();
        (open, open + self.closed.values().count())
    }

    pub fn consumer(&self) -> &C {
        &self.consumer
    }

    /// The consumer as it would be if the input ended now: a copy with every
    /// open request settled at its outcome so far. The ledger goes on.
    pub fn snapshot(&self) -> C
    where
        C: Clone,
    {
        let mut c = self.consumer.clone();
        for o in self.open.values() {
            c.settle(o.token, o.code);
        }
        c
    }

    /// Settles every open request: the consumer, complete. Call after the
    /// last record.
    pub fn finish(mut self) -> C {
        for o in std::mem::take(&mut self.open).values() {
            self.consumer.settle(o.token, o.code);
        }
        self.consumer
    }
}

/// A ledger every thread of a run adds to. A thread takes the lock only for
/// records about secrets (a few in a hundred), in batches, so threads seldom
/// wait, and nothing is merged at the end.
pub struct Shared<C: Consumer>(Mutex<Option<Ledger<C>>>);

impl<C: Consumer> Shared<C> {
    pub fn new(ledger: Ledger<C>) -> Shared<C> {
        Shared(Mutex::new(Some(ledger)))
    }

    /// The ledger; panics once taken.
    pub fn lock(&self) -> LedgerGuard<'_, C> {
        LedgerGuard(self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Takes the ledger out, to finish it.
    pub fn take(&self) -> Ledger<C> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("the ledger is taken once")
    }
}

impl<C: Consumer> std::fmt::Debug for Shared<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared ledger")
    }
}

pub struct LedgerGuard<'a, C: Consumer>(MutexGuard<'a, Option<Ledger<C>>>);

impl<C: Consumer> std::ops::Deref for LedgerGuard<'_, C> {
    type Target = Ledger<C>;
    fn deref(&self) -> &Ledger<C> {
        self.0.as_ref().expect("the ledger was taken")
    }
}

impl<C: Consumer> std::ops::DerefMut for LedgerGuard<'_, C> {
    fn deref_mut(&mut self) -> &mut Ledger<C> {
        self.0.as_mut().expect("the ledger was taken")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A consumer that writes down what it hears.
    #[derive(Debug, Default, Clone)]
    struct Log {
        begun: Vec<u128>,
        settled: Vec<(u32, u16)>,
    }

    impl Consumer for Log {
        type Token = u32;
        fn begin(&mut self, r: &Request<'_>) -> u32 {
            self.begun.push(r.id);
            r.id as u32
        }
        fn settle(&mut self, token: u32, code: u16) {
            self.settled.push((token, code));
        }
    }

    fn access(stage: Stage, code: Option<u16>, time: i64) -> SecretAccess<'static> {
        SecretAccess {
            audit_id: None,
            stage,
            verb: "get".into(),
            namespace: None,
            name: None,
            subresource: None,
            user: "u".into(),
            impersonated_by: None,
            source_ip: None,
            user_agent: None,
            code,
            time: Some(time),
            has_payload: false,
            anonymous: false,
        }
    }

    fn add<C: Consumer>(l: &mut Ledger<C>, id: u128, a: &SecretAccess<'_>) {
        let origin = Origin::default();
        l.add(&Request {
            id,
            audit_id_text: None,
            access: a,
            origin: &origin,
        });
    }

    const MIN: i64 = 60_000_000;

    #[test]
    fn a_request_begins_once_and_settles_once_with_its_latest_outcome() {
        let mut l = Ledger::new(Log::default(), Retention::Whole);
        add(&mut l, 1, &access(Stage::RequestReceived, None, 0));
        add(&mut l, 1, &access(Stage::ResponseStarted, Some(200), 1));
        add(&mut l, 1, &access(Stage::ResponseComplete, Some(403), 2));
        add(&mut l, 1, &access(Stage::ResponseComplete, Some(200), 3));
        add(&mut l, 2, &access(Stage::ResponseStarted, Some(200), 4));
        assert_eq!(l.consumer().begun, [1, 2]);
        assert_eq!(l.consumer().settled, [(1, 403)]);
        // A snapshot settles the open watch in a copy; the ledger goes on.
        assert_eq!(l.snapshot().settled, [(1, 403), (2, 200)]);
        add(&mut l, 2, &access(Stage::ResponseComplete, Some(500), 5));
        assert_eq!(l.finish().settled, [(1, 403), (2, 500)]);
    }

    #[test]
    fn a_pair_of_consumers_hears_the_same_requests() {
        let mut l = Ledger::new((Log::default(), Log::default()), Retention::Whole);
        add(&mut l, 7, &access(Stage::ResponseComplete, Some(200), 0));
        let (a, b) = l.finish();
        assert_eq!((a.begun, a.settled), (vec![7], vec![(7, 200)]));
        assert_eq!((b.begun, b.settled), (vec![7], vec![(7, 200)]));
    }

    #[test]
    fn a_window_forgets_completed_ids_but_counts_a_long_watch_once() {
        let window = Retention::Window {
            completed: 10 * MIN,
            open: 120 * MIN,
        };
        let mut l = Ledger::new(Log::default(), window);
        for i in 0..1000u128 {
            let t = i as i64 * MIN / 10;
            add(
                &mut l,
                i + 100,
                &access(Stage::ResponseComplete, Some(200), t),
            );
            add(
                &mut l,
                i + 100,
                &access(Stage::ResponseComplete, Some(200), t),
            );
            l.expire(t);
        }
        // A watch open across the whole stream.
        add(&mut l, 1, &access(Stage::ResponseStarted, Some(200), 0));
        l.expire(100 * MIN);
        // Ten minutes of completed ids are kept (about 100), not 1000.
        let (open, kept) = l.kept();
        assert_eq!(open, 1);
        assert!((100..=102).contains(&kept), "kept {kept}");
        add(
            &mut l,
            1,
            &access(Stage::ResponseComplete, Some(200), 100 * MIN),
        );
        assert_eq!(l.consumer().begun.len(), 1001);
        assert_eq!(l.consumer().settled.len(), 1001);
        assert_eq!(l.kept().0, 0);
    }

    #[test]
    fn an_open_request_past_its_maximum_age_settles_and_is_not_counted_again() {
        let window = Retention::Window {
            completed: 10 * MIN,
            open: 60 * MIN,
        };
        let mut l = Ledger::new(Log::default(), window);
        add(&mut l, 1, &access(Stage::ResponseStarted, Some(200), 0));
        assert_eq!(l.expire(59 * MIN), 0);
        assert_eq!(l.expire(60 * MIN), 1);
        assert_eq!(l.consumer().settled, [(1, 200)]);
        // Its final stage, late, within the completed window: no new count.
        add(
            &mut l,
            1,
            &access(Stage::ResponseComplete, Some(200), 65 * MIN),
        );
        assert_eq!(l.consumer().begun, [1]);
        l.expire(80 * MIN);
        assert_eq!(l.kept(), (0, 0));
    }

    #[test]
    fn files_keep_every_id_to_the_end() {
        let mut l = Ledger::new(Log::default(), Retention::Whole);
        add(&mut l, 1, &access(Stage::ResponseComplete, Some(200), 0));
        l.expire(i64::MAX);
        add(
            &mut l,
            1,
            &access(Stage::ResponseComplete, Some(200), i64::MAX),
        );
        assert_eq!(l.consumer().begun, [1]);
        assert_eq!(l.kept(), (0, 1));
    }
}
