//! The exactly-once logic against a scripted fake of FilterLogEvents that
//! answers as AWS documents it: events sorted by timestamp, then ingestion
//! time; an event is visible only once ingested; pages of a few events,
//! empty pages that still carry a token, throttling bursts.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::audit::group::Grouping;
use crate::audit::ledger::{Ledger, Retention, Shared};
use crate::audit::shard::Settings;
use crate::audit::tap::Tap;

const MIN: i64 = 60_000;

/// An audit event of one stage of a request.
fn audit(id: u32, stage: &str, verb: &str, code: Option<u16>, ms: i64) -> String {
    let time = chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let status = code.map_or(String::new(), |c| {
        format!(r#", "responseStatus": {{"code": {c}}}"#)
    });
    format!(
        r#"{{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "00000000-0000-4000-8000-{id:012}", "stage": "{stage}", "verb": "{verb}", "user": {{"username": "u{id}"}}, "objectRef": {{"resource": "secrets", "namespace": "ns", "name": "s{id}", "apiVersion": "v1"}}{status}, "stageTimestamp": "{time}"}}"#
    )
}

fn other(n: u32, ms: i64) -> String {
    format!(
        r#"{{"kind": "Event", "auditID": "ffffffff-0000-4000-8000-{n:012}", "stage": "ResponseComplete", "verb": "get", "objectRef": {{"resource": "pods"}}, "stageTimestamp": "x{ms}"}}"#
    )
}

/// The fake: events put with their ingestion time; `now` says what is
/// ingested yet.
#[derive(Default)]
struct Fake {
    events: RefCell<Vec<CwEvent>>,
    now: Cell<i64>,
    page_size: usize,
    /// Empty pages (with a token) served before each page with events.
    empty_pages: usize,
    /// Throttled answers still to give.
    throttle: Cell<u32>,
    calls: Cell<u32>,
}

impl Fake {
    fn new(page_size: usize) -> Fake {
        Fake {
            page_size,
            ..Fake::default()
        }
    }

    fn put(&self, stream: &str, ts: i64, ingested: i64, message: String) {
        let mut events = self.events.borrow_mut();
        let n = events.len();
        events.push(CwEvent {
            stream: stream.into(),
            event_id: format!("{ts}-{n}"),
            timestamp: ts,
            ingestion: ingested,
            message,
        });
    }
}

impl Source for Fake {
    async fn page(
        &self,
        _group: &str,
        start: i64,
        end: i64,
        token: Option<&str>,
    ) -> Result<Page, ApiError> {
        self.calls.set(self.calls.get() + 1);
        if self.throttle.get() > 0 {
            self.throttle.set(self.throttle.get() - 1);
            return Err(ApiError::new(ApiErrorKind::Throttled, "Rate exceeded"));
        }
        let mut visible: Vec<CwEvent> = self
            .events
            .borrow()
            .iter()
            .filter(|e| e.ingestion <= self.now.get() && (start..=end).contains(&e.timestamp))
            .cloned()
            .collect();
        visible.sort_by_key(|e| (e.timestamp, e.ingestion));
        // A token: "offset/empty pages served so far at it".
        let (offset, empties): (usize, usize) = token
            .and_then(|t| t.split_once('/'))
            .map(|(o, e)| (o.parse().unwrap(), e.parse().unwrap()))
            .unwrap_or((0, 0));
        if empties < self.empty_pages && offset < visible.len() {
            return Ok(Page {
                events: Vec::new(),
                next: Some(format!("{offset}/{}", empties + 1)),
            });
        }
        let to = (offset + self.page_size).min(visible.len());
        Ok(Page {
            events: visible[offset..to].to_vec(),
            next: (to < visible.len()).then(|| format!("{to}/0")),
        })
    }
}

struct NoWait;

impl Pace for NoWait {
    async fn before_call(&mut self) {}
    async fn throttled(&mut self, _n: u32) {}
}

/// A tail over the fake: tracker, shard with a tapped ledger whose window
/// outlasts the sweep.
struct Rig {
    tracker: Tracker,
    shard: Shard,
    rx: crossbeam_channel::Receiver<Seen>,
    printed: Vec<Printed>,
}

fn config(since: i64) -> Config {
    Config {
        since,
        until: None,
        max_lag: 5 * MIN,
        sweep_every: 10 * MIN,
        sweep_span: 60 * MIN,
    }
}

impl Rig {
    fn new(since: i64, now: i64) -> Rig {
        let (tx, rx) = crossbeam_channel::unbounded();
        let cfg = config(since);
        let ledger = Ledger::new(
            (Grouped::new(Grouping::By(vec![Key::User])), Tap::to(tx)),
            Retention::Window {
                completed: (cfg.sweep_span + 2 * cfg.max_lag) * 1000,
                open: 120 * MIN * 1000,
            },
        );
        let settings = Settings {
            ledger: Arc::new(Shared::new(ledger)),
            ..Settings::default()
        };
        Rig {
            tracker: Tracker::new(&["/aws/eks/prod/cluster".into()], cfg, now),
            shard: Shard::new(Arc::new(settings)),
            rx,
            printed: Vec::new(),
        }
    }

    fn poll(&mut self, fake: &Fake, now: i64) -> Polled {
        fake.now.set(now);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (printed, polled) = rt
            .block_on(poll(
                fake,
                &mut NoWait,
                &mut self.tracker,
                &mut self.shard,
                &self.rx,
                now,
            ))
            .map_err(|e| e.0)
            .unwrap();
        self.printed.extend(printed);
        polled
    }

    /// The printed request numbers, in order.
    fn ids(&self) -> Vec<u32> {
        self.printed
            .iter()
            .map(|p| p.seen.audit_id[24..].parse().unwrap())
            .collect()
    }
}

use crate::audit::group::Grouped;
use crate::audit::key::Key;

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

const T0: i64 = 1_800_000_000_000;

#[test]
fn events_of_one_millisecond_split_across_pages_print_once() {
    let fake = Fake::new(3);
    for id in 1..=10 {
        fake.put(
            "s1",
            T0,
            T0,
            audit(id, "ResponseComplete", "get", Some(200), T0),
        );
        fake.put("s1", T0, T0, other(id, T0));
    }
    let mut rig = Rig::new(T0 - MIN, T0);
    rig.poll(&fake, T0 + 1000);
    rig.poll(&fake, T0 + 3000);
    assert_eq!(sorted(rig.ids()), (1..=10).collect::<Vec<_>>());
    assert_eq!(rig.ids().len(), 10);
}

#[test]
fn a_late_event_inside_the_window_prints_once_marked_late() {
    let fake = Fake::new(100);
    fake.put(
        "s1",
        T0,
        T0,
        audit(1, "ResponseComplete", "get", Some(200), T0),
    );
    let mut rig = Rig::new(T0 - MIN, T0);
    rig.poll(&fake, T0 + 1000);
    // Stamped before the newest seen, ingested only now.
    fake.put(
        "s1",
        T0 - 30_000,
        T0 + 20_000,
        audit(2, "ResponseComplete", "get", Some(403), T0 - 30_000),
    );
    rig.poll(&fake, T0 + 21_000);
    rig.poll(&fake, T0 + 23_000);
    assert_eq!(rig.ids(), vec![1, 2]);
    assert!(!rig.printed[0].late);
    assert!(rig.printed[1].late);
    assert_eq!(rig.printed[1].seen.code, Some(403));
}

#[test]
fn a_late_event_beyond_the_window_is_found_by_the_sweep_once() {
    let fake = Fake::new(100);
    let mut rig = Rig::new(T0 - 90 * MIN, T0);
    let mut now = T0;
    fake.put(
        "s1",
        now,
        now,
        audit(1, "ResponseComplete", "get", Some(200), now),
    );
    rig.poll(&fake, now);
    // 20 minutes older than anything read, ingested later: past the
    // lateness window, so only a sweep finds it.
    fake.put(
        "s1",
        T0 - 20 * MIN,
        T0 + MIN,
        audit(2, "ResponseComplete", "list", Some(200), T0 - 20 * MIN),
    );
    for _ in 0..40 {
        now += MIN;
        fake.put(
            "s1",
            now,
            now,
            audit(
                1000 + (now / MIN % 1000) as u32,
                "ResponseComplete",
                "get",
                Some(200),
                now,
            ),
        );
        rig.poll(&fake, now);
    }
    let ids = rig.ids();
    assert_eq!(ids.iter().filter(|&&i| i == 2).count(), 1, "{ids:?}");
    let late: Vec<u32> = rig
        .printed
        .iter()
        .filter(|p| p.late)
        .map(|p| p.seen.audit_id[24..].parse().unwrap())
        .collect();
    assert_eq!(late, vec![2]);
    // Every request once: 1, 2, and the 40 of the follow.
    assert_eq!(ids.len(), 42);
    assert_eq!(
        sorted(ids.clone())
            .windows(2)
            .filter(|w| w[0] == w[1])
            .count(),
        0
    );
}

#[test]
fn empty_pages_with_a_token_are_not_the_end() {
    let mut fake = Fake::new(2);
    fake.empty_pages = 2;
    for id in 1..=5 {
        fake.put(
            "s1",
            T0 + id as i64,
            T0,
            audit(id, "ResponseComplete", "get", Some(200), T0 + id as i64),
        );
    }
    let mut rig = Rig::new(T0 - MIN, T0);
    rig.poll(&fake, T0 + 1000);
    assert_eq!(rig.ids(), vec![1, 2, 3, 4, 5]);
}

#[test]
fn a_new_stream_mid_follow_is_read() {
    let fake = Fake::new(100);
    fake.put(
        "s1",
        T0,
        T0,
        audit(1, "ResponseComplete", "get", Some(200), T0),
    );
    let mut rig = Rig::new(T0 - MIN, T0);
    rig.poll(&fake, T0 + 1000);
    fake.put(
        "s2-new",
        T0 + 1500,
        T0 + 2000,
        audit(2, "ResponseComplete", "get", Some(200), T0 + 1500),
    );
    rig.poll(&fake, T0 + 3000);
    assert_eq!(rig.ids(), vec![1, 2]);
}

#[test]
fn a_watch_that_completes_an_hour_later_prints_once() {
    let fake = Fake::new(100);
    let mut rig = Rig::new(T0 - MIN, T0);
    fake.put(
        "s1",
        T0,
        T0,
        audit(7, "ResponseStarted", "watch", Some(200), T0),
    );
    rig.poll(&fake, T0 + 1000);
    assert_eq!(
        rig.ids(),
        vec![7],
        "printed when first seen with an outcome"
    );
    let mut now = T0;
    for _ in 0..61 {
        now += MIN;
        rig.poll(&fake, now);
    }
    fake.put(
        "s1",
        now,
        now,
        audit(7, "ResponseComplete", "watch", Some(200), now),
    );
    rig.poll(&fake, now + 1000);
    assert_eq!(rig.ids(), vec![7]);
}

#[test]
fn throttling_bursts_back_off_and_lose_nothing() {
    let fake = Fake::new(2);
    for id in 1..=6 {
        fake.put(
            "s1",
            T0 + id as i64,
            T0,
            audit(id, "ResponseComplete", "get", Some(200), T0 + id as i64),
        );
    }
    fake.throttle.set(7);
    let mut rig = Rig::new(T0 - MIN, T0);
    let polled = rig.poll(&fake, T0 + 1000);
    assert_eq!(polled.throttled, 7);
    assert_eq!(rig.ids(), vec![1, 2, 3, 4, 5, 6]);
}

#[test]
fn a_restart_from_a_checkpoint_has_no_gap_and_no_repeat() {
    let fake = Fake::new(100);
    for id in 1..=4 {
        fake.put(
            "s1",
            T0 + id as i64 * 1000,
            T0 + id as i64 * 1000,
            audit(
                id,
                "ResponseComplete",
                "get",
                Some(200),
                T0 + id as i64 * 1000,
            ),
        );
    }
    let mut first = Rig::new(T0 - MIN, T0);
    first.poll(&fake, T0 + 10_000);
    let saved = serde_json::to_string(&Checkpoint::of(&first.tracker, &first.shard)).unwrap();
    assert_eq!(first.ids(), vec![1, 2, 3, 4]);

    // Meanwhile: one new request, one late one inside the window.
    fake.put(
        "s1",
        T0 + 20_000,
        T0 + 20_000,
        audit(5, "ResponseComplete", "get", Some(200), T0 + 20_000),
    );
    fake.put(
        "s1",
        T0 + 2_500,
        T0 + 21_000,
        audit(6, "ResponseComplete", "get", Some(200), T0 + 2_500),
    );
    let mut second = Rig::new(T0 - MIN, T0 + 30_000);
    let cp: Checkpoint = serde_json::from_str(&saved).unwrap();
    cp.restore(&mut second.tracker, &second.shard);
    second.poll(&fake, T0 + 30_000);
    assert_eq!(sorted(second.ids()), vec![5, 6]);
}

#[test]
fn the_set_printed_equals_the_set_put_under_every_difficulty_at_once() {
    // Many requests, three stages each, out-of-order ingestion, small
    // pages, empty pages, throttling, polls every 10 s for 30 minutes.
    let mut fake = Fake::new(7);
    fake.empty_pages = 1;
    let mut put = BTreeMap::new();
    let mut rng = 0x9e3779b97f4a7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for id in 1..=300u32 {
        let ts = T0 + (next() % (30 * MIN as u64)) as i64;
        let delay = if next() % 10 == 0 {
            4 * MIN
        } else {
            (next() % 20_000) as i64
        };
        fake.put(
            "s1",
            ts,
            ts + 5,
            audit(id, "RequestReceived", "get", None, ts),
        );
        fake.put(
            "s1",
            ts + 1,
            ts + delay,
            audit(id, "ResponseComplete", "get", Some(200), ts + 1),
        );
        fake.put("s1", ts, ts + 1, other(id, ts));
        put.insert(id, ());
    }
    let mut rig = Rig::new(T0, T0);
    let mut now = T0;
    while now < T0 + 40 * MIN {
        now += 10_000;
        if next() % 13 == 0 {
            fake.throttle.set(3);
        }
        rig.poll(&fake, now);
    }
    let ids = rig.ids();
    assert_eq!(ids.len(), 300, "no repeat");
    assert_eq!(
        sorted(ids),
        put.keys().copied().collect::<Vec<_>>(),
        "no loss"
    );
}
