//! The window arithmetic and the exactly-once decision, on our own types:
//! events ingested on time, late, and later than the look-back; consecutive,
//! missed and replayed runs.

use std::sync::Arc;

use super::*;
use crate::audit::event::Stage;
use crate::audit::origin::LogEvent;
use crate::rules::defaults;

const MIN: i64 = 60_000;
const T0: i64 = 1_800_000_000_000 / (5 * MIN) * (5 * MIN); // ms, on a 5-minute mark

fn schedule() -> Schedule {
    Schedule {
        every: 5 * MIN,
        settle: MIN,
        max_lag: 10 * MIN,
        max_catch_up: 60 * MIN,
    }
}

/// The longest window of the default rules.
fn rule_window() -> i64 {
    defaults().iter().map(|r| r.window).max().unwrap()
}

#[test]
fn a_run_owns_the_aligned_interval_before_its_settle_delay() {
    let s = schedule();
    // 12:07:30 with a minute to settle: the interval ending 12:05.
    let at = T0 + 7 * MIN + 30_000;
    let w = s.window(at, None, 60 * MIN).unwrap();
    assert_eq!((w.start, w.end, w.behind), (T0, T0 + 5 * MIN, 0));
    assert_eq!(w.read_from, T0 - 10 * MIN - 60 * MIN);
    assert_eq!(w.read_to, T0 + 15 * MIN);
    // With a state, from its high-water mark: no gap, whatever the jitter.
    let w = s.window(at, Some(T0 - 3 * MIN), 60 * MIN).unwrap();
    assert_eq!((w.start, w.end), (T0 - 3 * MIN, T0 + 5 * MIN));
    // A replayed run (the interval is done) has nothing to own.
    assert_eq!(s.window(at, Some(T0 + 5 * MIN), 60 * MIN), None);
    // After missed runs: at most max_catch_up, and how far behind it is.
    let w = s.window(at, Some(T0 - 180 * MIN), 60 * MIN).unwrap();
    assert_eq!(
        (w.start, w.end, w.behind),
        (T0 - 180 * MIN, T0 - 120 * MIN, 125 * MIN)
    );
}

/// A request of `user` on `secret` at `time`, ingested `delay` later.
fn req(user: &str, secret: &str, ua: &str, time: i64, delay: i64, n: u64) -> Seen {
    Seen {
        audit_id: format!("00000000-0000-4000-8000-{n:012}"),
        time: Some(time * 1000),
        stage: Stage::ResponseComplete,
        verb: "get".into(),
        // Its own namespace: no cross-namespace finding.
        namespace: Some(
            user.strip_prefix("system:serviceaccount:")
                .and_then(|u| u.split(':').next())
                .unwrap_or("prod")
                .into(),
        ),
        name: Some(secret.into()),
        subresource: None,
        user: user.into(),
        impersonated_by: None,
        code: Some(200),
        source_ip: Some("10.1.2.3".into()),
        user_agent: Some(ua.into()),
        payload: false,
        anonymous: false,
        origin: Origin::Event(Box::new(LogEvent {
            log_group: Arc::from("/aws/eks/prod/cluster"),
            log_stream: Arc::from("kube-apiserver-audit-1"),
            event_id: n.to_string(),
            ingestion_time: time + delay,
        })),
    }
}

/// Episodes spread over four hours, each with some requests ingested late
/// (up to the look-back), and benign reads around them.
fn stream() -> (Vec<Seen>, usize) {
    let mut out = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    let mut episodes = 0;
    for k in 0..8i64 {
        let at = T0 + 10 * MIN + k * 29 * MIN;
        // Bulk reads: 12 distinct secrets over 4 minutes; some arrive late,
        // the one that completes it among them for odd k.
        let user = format!("system:serviceaccount:team{k}:app");
        for i in 0..12i64 {
            let delay = match (k % 4, i) {
                (1, 9) => 9 * MIN, // the tenth, late by nearly the look-back
                (2, 0) => 8 * MIN, // the first, late: it extends the episode backwards
                (3, _) if i % 3 == 0 => 6 * MIN,
                _ => 2_000,
            };
            out.push(req(
                &user,
                &format!("s{i}"),
                "app/1.0",
                at + i * 20_000,
                delay,
                next(),
            ));
        }
        episodes += 1;
        // A scripting client, its only request arriving late.
        let who = format!("system:serviceaccount:ops{k}:tool");
        out.push(req(
            &who,
            "db",
            "curl/8.5.0",
            at + 2 * MIN,
            (k % 3) * 4 * MIN,
            next(),
        ));
        episodes += 1;
        // Benign: a workload reading its own secret.
        out.push(req(
            "system:serviceaccount:prod:api",
            "db",
            "api/1.0",
            at,
            1_000,
            next(),
        ));
    }
    (out, episodes)
}

/// Runs the schedule from `from` to `to` (ms), skipping the runs `skip`
/// says; returns every finding reported, and the state's sent list.
fn run_all(
    requests: &[Seen],
    stateful: bool,
    from: i64,
    to: i64,
    skip: impl Fn(i64) -> bool,
) -> Vec<Finding> {
    let s = schedule();
    let rules = defaults();
    let (mut hw, mut sent, mut learned): (Option<i64>, Vec<Sent>, Learned) =
        (None, Vec::new(), Learned::new());
    let mut reported = Vec::new();
    let mut at = from;
    while at <= to {
        at += s.every;
        if skip(at) {
            continue;
        }
        let Some(w) = s.window(at, if stateful { hw } else { None }, rule_window()) else {
            continue;
        };
        // What the run can read: stamped in its range, ingested by now.
        let visible: Vec<Seen> = requests
            .iter()
            .filter(|r| {
                let t = r.time.unwrap() / 1000;
                t >= w.read_from && t <= w.read_to && ingestion(r).unwrap() <= at
            })
            .cloned()
            .collect();
        let known = Reported {
            sent: &sent,
            unknown_before: hw.is_none(),
        };
        let d = decide(&rules, "prod", &visible, &w, learned.clone(), known);
        if stateful {
            let mut newly = d.assumed.clone();
            newly.extend(d.new.iter().map(Sent::of));
            sent = merge_sent(
                sent,
                &d.extended,
                &newly,
                w.end - s.max_lag - 2 * rule_window(),
            );
            hw = Some(w.end);
            learned = d.learned;
        }
        reported.extend(d.new);
    }
    reported
}

fn per_episode(found: &[Finding]) -> std::collections::BTreeMap<(String, String), usize> {
    let mut m = std::collections::BTreeMap::new();
    for f in found {
        *m.entry((f.rule.to_string(), f.key.clone())).or_insert(0) += 1;
    }
    m
}

#[test]
fn consecutive_runs_report_each_finding_exactly_once_late_events_included() {
    let (requests, episodes) = stream();
    for stateful in [true, false] {
        let found = run_all(&requests, stateful, T0, T0 + 6 * 60 * MIN, |_| false);
        let counts = per_episode(&found);
        assert_eq!(counts.len(), episodes, "stateful {stateful}: {counts:#?}");
        assert!(
            counts.values().all(|&n| n == 1),
            "stateful {stateful}: {counts:#?}"
        );
    }
}

#[test]
fn missed_runs_are_caught_up_and_still_report_once() {
    let (requests, episodes) = stream();
    // Two hours without a run, from the first hour on.
    let found = run_all(&requests, true, T0, T0 + 8 * 60 * MIN, |at| {
        at > T0 + 60 * MIN && at < T0 + 180 * MIN
    });
    let counts = per_episode(&found);
    assert_eq!(counts.len(), episodes, "{counts:#?}");
    assert!(counts.values().all(|&n| n == 1));
}

#[test]
fn a_replayed_run_reports_nothing_with_a_state_and_the_same_without() {
    let (requests, _) = stream();
    let s = schedule();
    let rules = defaults();
    let at = T0 + 20 * MIN;
    let w = s.window(at, None, rule_window()).unwrap();
    let visible: Vec<Seen> = requests
        .iter()
        .filter(|r| ingestion(r).unwrap() <= at)
        .cloned()
        .collect();
    let stateless = Reported {
        sent: &[],
        unknown_before: true,
    };
    let a = decide(&rules, "prod", &visible, &w, Learned::new(), stateless);
    let b = decide(&rules, "prod", &visible, &w, Learned::new(), stateless);
    let keys = |d: &Decision| {
        d.new
            .iter()
            .map(|f| f.dedup_key.clone())
            .collect::<Vec<_>>()
    };
    assert!(!a.new.is_empty());
    assert_eq!(
        keys(&a),
        keys(&b),
        "without a state the schedule alone decides"
    );
    assert_eq!(
        s.window(at, Some(w.end), rule_window()),
        None,
        "with a state: done"
    );
}

#[test]
fn a_late_event_older_than_the_first_extends_the_episode_and_keeps_its_key() {
    let rules = defaults();
    let s = schedule();
    let user = "system:serviceaccount:team:app";
    // Ten distinct reads on time: reported by the run at T0 + 10m.
    let mut reqs: Vec<Seen> = (0..10i64)
        .map(|i| {
            req(
                user,
                &format!("s{i}"),
                "app/1.0",
                T0 + 2 * MIN + i * 10_000,
                1_000,
                i as u64,
            )
        })
        .collect();
    let w1 = s.window(T0 + 10 * MIN, Some(T0), rule_window()).unwrap();
    let none = Reported {
        sent: &[],
        unknown_before: false,
    };
    let d1 = decide(&rules, "prod", &reqs, &w1, Learned::new(), none);
    assert_eq!(d1.new.len(), 1);
    let first = Sent::of(&d1.new[0]);
    // A read stamped a minute before the first, ingested 8 minutes late.
    reqs.push(req(user, "s99", "app/1.0", T0 + MIN, 8 * MIN, 99));
    let w2 = s
        .window(T0 + 15 * MIN, Some(w1.end), rule_window())
        .unwrap();
    let d2 = decide(
        &rules,
        "prod",
        &reqs,
        &w2,
        Learned::new(),
        Reported {
            sent: std::slice::from_ref(&first),
            unknown_before: false,
        },
    );
    assert!(d2.new.is_empty(), "not a new finding: {:?}", d2.new);
    assert_eq!(d2.extended.len(), 1);
    assert_eq!(
        d2.extended[0].dedup_key, first.dedup_key,
        "the key first reported stays"
    );
    assert_eq!(d2.extended[0].first_ms, T0 + MIN);
}

#[test]
fn beyond_the_look_back_an_event_is_never_read_and_never_reported_twice() {
    // A scripting client's only request, ingested 3 hours after its time:
    // before every window's reads by then.
    let late = req(
        "system:serviceaccount:x:tool",
        "db",
        "curl/8.5.0",
        T0 + MIN,
        180 * MIN,
        1,
    );
    let found = run_all(&[late], true, T0, T0 + 5 * 60 * MIN, |_| false);
    assert!(found.is_empty(), "no run reads it: {found:?}");
    // Within the look-back it is reported, once.
    let on_time = req(
        "system:serviceaccount:x:tool",
        "db",
        "curl/8.5.0",
        T0 + MIN,
        9 * MIN,
        1,
    );
    let found = run_all(&[on_time], true, T0, T0 + 5 * 60 * MIN, |_| false);
    assert_eq!(found.len(), 1);
}

#[test]
fn after_a_failed_delivery_the_next_run_sends_exactly_what_was_not_sent() {
    let (requests, _) = stream();
    let s = schedule();
    let rules = defaults();
    let hw = T0 + 5 * MIN;
    // A run whose window holds two findings; only the first is published.
    let at = T0 + 60 * MIN;
    let w = s.window(at, Some(hw), rule_window()).unwrap();
    let visible: Vec<Seen> = requests
        .iter()
        .filter(|r| ingestion(r).unwrap() <= at)
        .cloned()
        .collect();
    let fresh = Reported {
        sent: &[],
        unknown_before: false,
    };
    let d = decide(&rules, "prod", &visible, &w, Learned::new(), fresh);
    assert!(d.new.len() >= 2, "{:?}", d.new);
    let published = vec![Sent::of(&d.new[0])];
    // The state keeps what was sent, not the high-water mark: the next run
    // evaluates the same interval (and a little more) again.
    let later = at + 5 * MIN;
    let w2 = s.window(later, Some(hw), rule_window()).unwrap();
    let visible: Vec<Seen> = requests
        .iter()
        .filter(|r| ingestion(r).unwrap() <= later)
        .cloned()
        .collect();
    let known = Reported {
        sent: &published,
        unknown_before: false,
    };
    let d2 = decide(&rules, "prod", &visible, &w2, Learned::new(), known);
    let keys = |fs: &[Finding]| fs.iter().map(|f| f.dedup_key.clone()).collect::<Vec<_>>();
    let mut expected = keys(&d.new[1..]);
    let mut got: Vec<String> = keys(&d2.new)
        .into_iter()
        .filter(|k| expected.contains(k))
        .collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "the unsent ones, again");
    assert!(
        !keys(&d2.new).contains(&d.new[0].dedup_key),
        "not the sent one"
    );
}

#[test]
fn a_first_run_that_fails_to_deliver_is_owned_again_by_the_next() {
    let (requests, _) = stream();
    let s = schedule();
    let rules = defaults();
    // The state's first run at T0 + 62m owns (T0 + 55m, T0 + 60m]: the
    // episodes ingested before are taken as reported (and kept so).
    let at = T0 + 62 * MIN;
    let w = s.window(at, None, rule_window()).unwrap();
    let visible: Vec<Seen> = requests
        .iter()
        .filter(|r| ingestion(r).unwrap() <= at)
        .cloned()
        .collect();
    let first = Reported {
        sent: &[],
        unknown_before: true,
    };
    let d = decide(&rules, "prod", &visible, &w, Learned::new(), first);
    assert!(
        !d.assumed.is_empty(),
        "earlier episodes are taken as reported"
    );
    // Nothing was published: the next run resumes from this window's
    // start, knowing what was assumed, and finds the same new findings.
    let later = at + 5 * MIN;
    let w2 = s.window(later, Some(w.start), rule_window()).unwrap();
    assert_eq!(w2.start, w.start);
    let visible: Vec<Seen> = requests
        .iter()
        .filter(|r| ingestion(r).unwrap() <= later)
        .cloned()
        .collect();
    let known = Reported {
        sent: &d.assumed,
        unknown_before: false,
    };
    let d2 = decide(&rules, "prod", &visible, &w2, Learned::new(), known);
    let keys = |fs: &[Finding]| fs.iter().map(|f| f.dedup_key.clone()).collect::<Vec<_>>();
    for k in keys(&d.new) {
        assert!(keys(&d2.new).contains(&k), "{k} is sent by the next run");
    }
    for a in &d.assumed {
        assert!(
            !keys(&d2.new).contains(&a.dedup_key),
            "an assumed one is not"
        );
    }
}

#[test]
fn a_trickle_keeps_a_reported_episode_open_and_a_later_burst_is_not_new() {
    // Ten distinct reads at once, then one every 5 minutes for three hours
    // (never 10 minutes apart: one episode), then another burst.
    let user = "system:serviceaccount:team:app";
    let mut reqs = Vec::new();
    let mut n = 0u64;
    let mut add = |reqs: &mut Vec<Seen>, secret: String, at: i64| {
        n += 1;
        reqs.push(req(user, &secret, "app/1.0", at, 1_000, n));
    };
    for i in 0..10 {
        add(&mut reqs, format!("a{i}"), T0 + 2 * MIN + i * 1_000);
    }
    for k in 1..=36 {
        add(&mut reqs, "a0".into(), T0 + 2 * MIN + k * 5 * MIN);
    }
    for i in 0..10 {
        add(
            &mut reqs,
            format!("b{i}"),
            T0 + 2 * MIN + 182 * MIN + i * 1_000,
        );
    }
    let whole = crate::rules::evaluate(&defaults(), &mut reqs.clone(), "prod");
    assert_eq!(whole.len(), 1, "over the whole log it is one episode");
    let found = run_all(&reqs, true, T0, T0 + 5 * 60 * MIN, |_| false);
    assert_eq!(found.len(), 1, "{found:#?}");
}
