//! Each rule fires on its attack and stays quiet on the noise a healthy
//! cluster makes; episodes and dedup keys.

use super::*;
use crate::audit::event::Stage;
use crate::audit::origin::Origin;

const T0: i64 = 1_800_000_000_000; // ms
const MINUTE: i64 = 60_000;

fn seen(
    user: &str,
    verb: &str,
    ns: Option<&str>,
    name: Option<&str>,
    code: u16,
    at_ms: i64,
) -> Seen {
    Seen {
        audit_id: format!("00000000-0000-4000-8000-{:012}", at_ms % 1_000_000_000_000),
        time: Some(at_ms * 1000),
        stage: Stage::ResponseComplete,
        verb: verb.into(),
        namespace: ns.map(Into::into),
        name: name.map(Into::into),
        subresource: None,
        user: user.into(),
        impersonated_by: None,
        code: Some(code),
        source_ip: Some("203.0.113.9".into()),
        user_agent: Some("kubectl/v1.29.3".into()),
        payload: false,
        anonymous: user == "system:anonymous",
        origin: Origin::default(),
    }
}

fn fired(requests: &mut [Seen]) -> Vec<&'static str> {
    evaluate(&defaults(), requests, "prod")
        .into_iter()
        .map(|f| f.rule)
        .collect()
}

/// The noise of a healthy cluster: operators listing and reading across
/// namespaces, Helm, an app retrying a refused read in its own namespace,
/// a scanner's single refused probe, a dashboard watching its namespace.
fn benign() -> Vec<Seen> {
    let mut out = Vec::new();
    for i in 0..30 {
        let t = T0 + i * 20_000;
        out.push(seen(
            "system:serviceaccount:external-secrets:external-secrets",
            "get",
            Some(&format!("ns{}", i % 7)),
            Some(&format!("s{i}")),
            200,
            t,
        ));
        out.push(seen(
            "system:serviceaccount:cert-manager:cert-manager",
            "list",
            None,
            None,
            200,
            t,
        ));
        out.push(seen(
            "eks:certificate-controller",
            "get",
            Some("kube-system"),
            Some(&format!("k{i}")),
            200,
            t,
        ));
        out.push(seen(
            "system:serviceaccount:monitoring:grafana",
            "watch",
            Some("monitoring"),
            None,
            200,
            t,
        ));
    }
    for i in 0..3 {
        out.push(seen(
            "system:serviceaccount:payments:api",
            "get",
            Some("payments"),
            Some("db"),
            403,
            T0 + i * 30_000,
        ));
    }
    out.push(seen(
        "system:anonymous",
        "list",
        None,
        None,
        401,
        T0 + 5_000,
    ));
    for i in 0..4 {
        out.push(seen(
            "arn:aws:sts::123456789012:assumed-role/CI/deployer",
            "get",
            Some("web"),
            Some(&format!("sh.helm.release.v1.web.v{i}")),
            200,
            T0 + i * 1000,
        ));
    }
    out
}

#[test]
fn a_healthy_cluster_raises_nothing() {
    assert_eq!(fired(&mut benign()), Vec::<&str>::new());
}

#[test]
fn each_rule_fires_on_its_attack_and_on_nothing_else() {
    let attacker = "arn:aws:sts::123456789012:assumed-role/Dev/mallory";
    let cases: Vec<(&str, Vec<Seen>)> = vec![
        ("secret-payload-in-log", {
            let mut s = seen(
                "kubernetes-admin",
                "get",
                Some("payments"),
                Some("stripe"),
                200,
                T0,
            );
            s.payload = true;
            vec![s]
        }),
        (
            "anonymous-access-allowed",
            vec![seen(
                "system:anonymous",
                "get",
                Some("default"),
                Some("token"),
                200,
                T0,
            )],
        ),
        (
            "anonymous-probing",
            (0..25)
                .map(|i| seen("system:anonymous", "list", None, None, 403, T0 + i * 10_000))
                .collect(),
        ),
        (
            "cluster-wide-secret-list",
            vec![seen(attacker, "list", None, None, 200, T0)],
        ),
        (
            "bulk-secret-reads",
            (0..12)
                .map(|i| {
                    seen(
                        attacker,
                        "get",
                        Some("payments"),
                        Some(&format!("s{i}")),
                        200,
                        T0 + i * 20_000,
                    )
                })
                .collect(),
        ),
        (
            "denied-burst",
            (0..12)
                .map(|i| {
                    seen(
                        attacker,
                        "get",
                        Some("billing"),
                        Some("db"),
                        403,
                        T0 + i * 20_000,
                    )
                })
                .collect(),
        ),
        (
            "cross-namespace-service-account",
            vec![seen(
                "system:serviceaccount:web:frontend",
                "get",
                Some("payments"),
                Some("stripe"),
                200,
                T0,
            )],
        ),
        ("scripting-client", {
            let mut s = seen(
                "system:serviceaccount:web:frontend",
                "get",
                Some("web"),
                Some("tls"),
                200,
                T0,
            );
            s.user_agent = Some("curl/8.5.0".into());
            vec![s]
        }),
    ];
    for (rule, attack) in cases {
        let mut all = benign();
        all.extend(attack);
        assert_eq!(fired(&mut all), vec![rule], "{rule}");
    }
}

#[test]
fn thresholds_are_not_reached_by_less() {
    let who = "alice";
    // Nine distinct secrets, or twelve reads of one.
    let mut nine: Vec<Seen> = (0..9)
        .map(|i| {
            seen(
                who,
                "get",
                Some("a"),
                Some(&format!("s{i}")),
                200,
                T0 + i * 1000,
            )
        })
        .collect();
    assert!(fired(&mut nine).is_empty());
    let mut same: Vec<Seen> = (0..12)
        .map(|i| seen(who, "get", Some("a"), Some("s"), 200, T0 + i * 1000))
        .collect();
    assert!(fired(&mut same).is_empty());
    // Twelve distinct, but spread over two hours: never ten in ten minutes.
    let mut slow: Vec<Seen> = (0..12)
        .map(|i| {
            seen(
                who,
                "get",
                Some("a"),
                Some(&format!("s{i}")),
                200,
                T0 + i * 11 * MINUTE,
            )
        })
        .collect();
    assert!(fired(&mut slow).is_empty());
}

#[test]
fn an_episode_is_one_finding_and_a_gap_starts_another() {
    let who = "mallory";
    let burst = |start: i64| -> Vec<Seen> {
        (0..12)
            .map(|i| {
                seen(
                    who,
                    "get",
                    Some("a"),
                    Some(&format!("s{i}")),
                    200,
                    start + i * 1000,
                )
            })
            .collect()
    };
    let mut one = burst(T0);
    one.extend(burst(T0 + 5 * MINUTE));
    let f = evaluate(&defaults(), &mut one, "prod");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].requests, 24);
    assert_eq!(f[0].secrets.len(), 12);
    assert_eq!(f[0].audit_ids.len(), AUDIT_IDS);
    let mut two = burst(T0);
    two.extend(burst(T0 + 60 * MINUTE));
    let f = evaluate(&defaults(), &mut two, "prod");
    assert_eq!(f.len(), 2);
    assert_ne!(f[0].dedup_key, f[1].dedup_key);
}

#[test]
fn dedup_keys_are_the_same_for_the_same_events_in_any_order() {
    let who = "mallory";
    let events: Vec<Seen> = (0..12)
        .map(|i| {
            seen(
                who,
                "get",
                Some("a"),
                Some(&format!("s{i}")),
                200,
                T0 + i * 1000,
            )
        })
        .collect();
    let mut forward = events.clone();
    let mut backward: Vec<Seen> = events.into_iter().rev().collect();
    let a = evaluate(&defaults(), &mut forward, "prod");
    let b = evaluate(&defaults(), &mut backward, "prod");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].dedup_key, b[0].dedup_key);
    assert_eq!(a[0].dedup_key.len(), 32);
    assert!(
        a[0].summary
            .starts_with("bulk-secret-reads: mallory made 12 request(s) on 12 secret(s)"),
        "{}",
        a[0].summary
    );
}

#[test]
fn a_config_changes_what_it_names_and_nothing_else() {
    let text = r#"
[bulk-secret-reads]
threshold = 3
window = "1m"
severity = "critical"
allow = ["bob", { principal = "carol", until = "2026-12-31" }, { principal = "dave", until = "2020-01-01" }]

[scripting-client]
enabled = false
"#;
    let (rules, warnings) = config::apply(defaults(), text, "2026-12-03").unwrap();
    let bulk = rules
        .iter()
        .find(|r| r.name == "bulk-secret-reads")
        .unwrap();
    assert_eq!(
        (bulk.threshold, bulk.window, bulk.severity),
        (3, MINUTE, Severity::Critical)
    );
    let named = |p: &str| bulk.allow.iter().any(|a| a.principal.as_deref() == Some(p));
    assert!(named("bob") && named("carol"));
    assert!(!named("dave"), "a lapsed entry allows nothing");
    assert_eq!(
        warnings,
        vec!["bulk-secret-reads: the allowlist entry dave,until=2020-01-01 lapsed on 2020-01-01"]
    );
    assert!(bulk.allow.len() > 3, "the defaults stay");
    assert!(
        !rules
            .iter()
            .find(|r| r.name == "scripting-client")
            .unwrap()
            .enabled
    );
    // Three distinct secrets in a minute now fire, for anyone but bob.
    let mut three: Vec<Seen> = (0..3)
        .map(|i| {
            seen(
                "mallory",
                "get",
                Some("a"),
                Some(&format!("s{i}")),
                200,
                T0 + i * 1000,
            )
        })
        .collect();
    assert_eq!(evaluate(&rules, &mut three, "prod").len(), 1);
    let mut bob: Vec<Seen> = (0..3)
        .map(|i| {
            seen(
                "bob",
                "get",
                Some("a"),
                Some(&format!("s{i}")),
                200,
                T0 + i * 1000,
            )
        })
        .collect();
    assert!(evaluate(&rules, &mut bob, "prod").is_empty());
    let mut curl = seen("mallory", "get", Some("a"), Some("s"), 200, T0);
    curl.user_agent = Some("curl/8.5.0".into());
    assert!(evaluate(&rules, &mut [curl], "prod").is_empty(), "disabled");
}

#[test]
fn a_bad_config_is_named_with_the_fix() {
    let err = |text: &str| config::apply(defaults(), text, "2026-12-03").unwrap_err();
    assert!(err("[bulk-reads]\nthreshold = 3\n")
        .contains("no rule named \"bulk-reads\": the rules are secret-payload-in-log,"));
    let typo = err("[denied-burst]\nthreshhold = 3\n");
    assert!(
        typo.starts_with("line 2: ") && typo.contains("threshhold"),
        "{typo}"
    );
    assert!(err("[denied-burst]\nthreshold = 0\n").contains("threshold must be 1 or more"));
    assert!(err("[denied-burst]\nwindow = \"soon\"\n").contains("denied-burst: window:"));
    assert!(
        err("[denied-burst]\nallow = [{ principal = \"x\", until = \"tomorrow\" }]\n")
            .contains("is not a date like 2026-12-31")
    );
    assert_eq!(
        err("[denied-burst]\nallow = [\"a\", { cidr = \"10.0.0.0/33\" }]\n"),
        "denied-burst: allow entry 2: cidr \"10.0.0.0/33\" is not an address range like 10.0.0.0/8"
    );
    assert_eq!(
        err("[denied-burst]\nallow = [{ ip = \"10.0.0.1\" }]\n"),
        "denied-burst: allow entry 1: unknown key \"ip\": an entry has principal, namespace, user_agent, cidr and until"
    );
    assert_eq!(
        err("[denied-burst]\nallow = [{ until = \"2030-01-01\" }]\n"),
        "denied-burst: allow entry 1: an entry needs at least one of principal, namespace, user_agent and cidr"
    );
    assert!(
        err("[denied-burst]\nallow = [3]\n")
            .contains("allow entry 1: expected a principal or a table")
            && err("[denied-burst]\nallow = [3]\n").ends_with("found integer")
    );
}

#[test]
fn allowlists_name_namespaces_user_agents_and_address_ranges_and_all_parts_must_match() {
    let text = r#"
[scripting-client]
allow = [
  { namespace = "sandbox-*" },
  { user_agent = "Curl/8.*", cidr = "10.0.0.0/8" },
  { principal = "alice", cidr = "2001:db8::/32", until = "2030-01-01" },
]
"#;
    let (rules, warnings) = config::apply(defaults(), text, "2026-12-03").unwrap();
    assert!(warnings.is_empty());
    let fires = |ns: &str, user: &str, ua: &str, ip: &str| {
        let mut s = seen(user, "get", Some(ns), Some("db"), 200, T0);
        s.user_agent = Some(ua.into());
        s.source_ip = Some(ip.into());
        !evaluate(&rules, &mut [s], "prod").is_empty()
    };
    assert!(fires("prod", "mallory", "curl/8.5.0", "203.0.113.9"));
    assert!(
        !fires("sandbox-7", "mallory", "curl/8.5.0", "203.0.113.9"),
        "namespace prefix"
    );
    assert!(
        !fires("prod", "mallory", "curl/8.5.0", "10.1.2.3"),
        "agent (any case) and range"
    );
    assert!(
        fires("prod", "mallory", "wget/1.21", "10.1.2.3"),
        "the agent must match too"
    );
    assert!(
        fires("prod", "mallory", "curl/7.1", "10.1.2.3"),
        "curl/7 is not curl/8.*"
    );
    assert!(
        !fires("prod", "alice", "curl/8.5.0", "2001:db8:4::2a"),
        "principal and IPv6 range"
    );
    assert!(
        fires("prod", "alice", "curl/8.5.0", "203.0.113.9"),
        "alice from elsewhere"
    );
    assert!(
        fires("prod", "bob", "curl/8.5.0", "2001:db8:4::2a"),
        "someone else in the range"
    );
}

#[test]
fn the_unauthenticated_group_counts_as_anonymous() {
    // A request whose user is in system:unauthenticated, whatever its name.
    let mut s = seen("system:unknown", "get", Some("prod"), Some("db"), 200, T0);
    s.anonymous = true;
    assert_eq!(fired(&mut [s]), ["anonymous-access-allowed"]);
}

#[test]
fn a_known_person_from_a_new_address_fires_only_after_learning() {
    let carol = "arn:aws:sts::123456789012:assumed-role/OnCall/carol";
    let mut day: Vec<Seen> = (0..30)
        .map(|i| {
            seen(
                carol,
                "get",
                Some("a"),
                Some("s"),
                200,
                T0 + i * 60 * MINUTE,
            )
        })
        .collect();
    // Within the first 24 hours a new address is only learnt.
    let mut early = seen(
        carol,
        "get",
        Some("a"),
        Some("s"),
        200,
        T0 + 2 * 60 * MINUTE + 1,
    );
    early.source_ip = Some("198.51.100.7".into());
    day.push(early);
    assert!(fired(&mut day.clone()).is_empty());
    // After them, one never seen for her is a finding; a service account's
    // changing pod address is not.
    let mut late = seen(
        carol,
        "get",
        Some("a"),
        Some("s"),
        200,
        T0 + 26 * 60 * MINUTE + 1,
    );
    late.source_ip = Some("45.9.20.1".into());
    day.push(late);
    let mut pod = seen(
        "system:serviceaccount:a:app",
        "get",
        Some("a"),
        Some("s"),
        200,
        T0 + 27 * 60 * MINUTE,
    );
    pod.source_ip = Some("10.1.2.3".into());
    day.push(pod);
    assert_eq!(fired(&mut day), vec!["new-source-for-principal"]);
}

#[test]
fn a_stream_reports_each_episode_once_when_it_qualifies() {
    let mut engine = Engine::new(defaults(), "prod");
    let mut reported = Vec::new();
    for i in 0..15 {
        let s = seen(
            "mallory",
            "get",
            Some("a"),
            Some(&format!("s{i}")),
            200,
            T0 + i * 1000,
        );
        let now = engine.push(&s);
        if !now.is_empty() {
            reported.push((i, now));
        }
    }
    // The tenth distinct secret qualifies the episode; later reads extend it.
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].0, 9);
    let key = reported[0].1[0].dedup_key.clone();
    let all = engine.finish();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].dedup_key, key, "the key stays fixed once reported");
    assert_eq!(all[0].requests, 15);
}
