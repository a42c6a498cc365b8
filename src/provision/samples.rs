//! Sample audit events every metric filter pattern setup writes is checked
//! against before it is written: pure data, next to the filter specs. Each
//! sample names the filters (by name suffix) that must count it; every other
//! filter must not. A pattern that misbehaves on them is refused, locally
//! with our evaluator (`pattern`) and, where the endpoint implements
//! TestMetricFilter, by CloudWatch itself.

use super::spec::{Desired, MetricFilterSpec};
use crate::pattern::Pattern;

/// The name suffixes of the filters setup makes (see `spec::desired`).
pub const FILTER_SUFFIXES: [&str; 3] = ["secret-reads", "secret-denied", "secret-writes"];

/// One sample log event and the filters that must count it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub what: &'static str,
    /// Suffixes of the filters that match it; the others must not.
    pub matches: &'static [&'static str],
    pub event: &'static str,
}

/// Which filter suffix a filter name carries.
pub fn suffix_of(name: &str) -> Option<&'static str> {
    FILTER_SUFFIXES.iter().copied().find(|s| name.ends_with(s))
}

/// The 1-based numbers of the samples a filter must match (TestMetricFilter
/// numbers its matches from 1).
pub fn expected_matches(suffix: &str) -> Vec<usize> {
    SAMPLES
        .iter()
        .enumerate()
        .filter(|(_, s)| s.matches.contains(&suffix))
        .map(|(i, _)| i + 1)
        .collect()
}

/// Checks one filter's pattern against every sample with our evaluator.
pub fn check_filter(f: &MetricFilterSpec) -> Result<(), String> {
    let Some(suffix) = suffix_of(&f.name) else {
        return Err(format!("metric filter {}: no sample events for it", f.name));
    };
    let pattern =
        Pattern::parse(&f.pattern).map_err(|e| format!("metric filter {}: {e}", f.name))?;
    let mut wrong = Vec::new();
    for s in SAMPLES {
        let want = s.matches.contains(&suffix);
        if pattern.matches_str(s.event) != want {
            wrong.push(format!(
                "{} the sample \"{}\"",
                if want { "does not match" } else { "matches" },
                s.what
            ));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "metric filter {} has a pattern that misbehaves: it {}; refusing to write it (pattern: {})",
            f.name,
            wrong.join(", and "),
            f.pattern
        ))
    }
}

/// Checks CloudWatch's own verdict (TestMetricFilter's 1-based matched
/// event numbers over `events()`) against what the samples expect.
pub fn agree(f: &MetricFilterSpec, cloudwatch: &[usize]) -> Result<(), String> {
    let Some(suffix) = suffix_of(&f.name) else {
        return Err(format!("metric filter {}: no sample events for it", f.name));
    };
    let want = expected_matches(suffix);
    if cloudwatch == want {
        return Ok(());
    }
    let name = |n: &usize| SAMPLES.get(n - 1).map_or("?", |s| s.what);
    let extra: Vec<&str> = cloudwatch
        .iter()
        .filter(|n| !want.contains(n))
        .map(name)
        .collect();
    let missing: Vec<&str> = want
        .iter()
        .filter(|n| !cloudwatch.contains(n))
        .map(name)
        .collect();
    Err(format!(
        "CloudWatch's TestMetricFilter and secret-audit disagree on the pattern of metric filter {}: \
         CloudWatch also matches {extra:?} and does not match {missing:?}; nothing was changed (pattern: {})",
        f.name, f.pattern
    ))
}

/// Checks every filter of a desired state; the first misbehaving one fails.
pub fn check(desired: &Desired) -> Result<(), String> {
    desired.filters.iter().try_for_each(check_filter)
}

/// The event texts, in order, for TestMetricFilter.
pub fn events() -> Vec<String> {
    SAMPLES.iter().map(|s| s.event.to_owned()).collect()
}

pub const SAMPLES: &[Sample] = &[
    Sample {
        what: "get of a secret, answered 200",
        matches: &["secret-reads"],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets/db-password","verb":"get","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1","namespace":"payments","name":"db-password"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "list of a namespace's secrets",
        matches: &["secret-reads"],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets","verb":"list","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1","namespace":"payments"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "cluster-wide list of secrets",
        matches: &["secret-reads"],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/secrets?limit=500","verb":"list","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "watch of secrets, still open (ResponseStarted)",
        matches: &[],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/payments/secrets?watch=true","verb":"watch","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1","namespace":"payments"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "watch of secrets, completed",
        matches: &["secret-reads"],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets?watch=true","verb":"watch","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1","namespace":"payments"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "get of a secret at RequestReceived (no response yet)",
        matches: &[],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"RequestReceived","requestURI":"/api/v1/namespaces/payments/secrets/db-password","verb":"get","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1","namespace":"payments","name":"db-password"},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "get of a secret denied by RBAC (403)",
        matches: &["secret-denied"],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets/db-password","verb":"get","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1","namespace":"payments","name":"db-password"},"responseStatus":{"metadata":{},"code":403,"status":"Failure","reason":"Forbidden"},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "list of secrets by an unauthenticated client (401, ResponseStarted)",
        matches: &["secret-denied"],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/payments/secrets","verb":"list","user":{"username":"system:anonymous","groups":["system:unauthenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1","namespace":"payments"},"responseStatus":{"metadata":{},"code":401,"status":"Failure","reason":"Unauthorized"},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "patch of a secret denied by RBAC (403)",
        matches: &["secret-denied"],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets/db-password","verb":"patch","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1","namespace":"payments","name":"db-password"},"responseStatus":{"metadata":{},"code":403,"status":"Failure","reason":"Forbidden"},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "get of a missing secret (404)",
        matches: &[],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets/nope","verb":"get","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1","namespace":"payments","name":"nope"},"responseStatus":{"metadata":{},"code":404,"status":"Failure","reason":"Unauthorized"},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "get of a secret whose handler panicked (500)",
        matches: &[],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"Panic","requestURI":"/api/v1/namespaces/payments/secrets/db-password","verb":"get","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1","namespace":"payments","name":"db-password"},"responseStatus":{"metadata":{},"code":500,"status":"Failure","reason":"Unauthorized"},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "create of a secret (201)",
        matches: &["secret-writes"],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets","verb":"create","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1","namespace":"payments"},"responseStatus":{"metadata":{},"code":201},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "update of a secret",
        matches: &["secret-writes"],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets/db-password","verb":"update","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1","namespace":"payments","name":"db-password"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "delete of a secret",
        matches: &["secret-writes"],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets/db-password","verb":"delete","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1","namespace":"payments","name":"db-password"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "deletecollection of a namespace's secrets",
        matches: &["secret-writes"],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets","verb":"deletecollection","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"secrets","apiVersion":"v1","namespace":"payments"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "get of a configmap",
        matches: &[],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/configmaps/settings","verb":"get","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"configmaps","apiVersion":"v1","namespace":"payments","name":"settings"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "get of a configmap denied (403)",
        matches: &[],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/configmaps/settings","verb":"get","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"configmaps","apiVersion":"v1","namespace":"payments","name":"settings"},"responseStatus":{"metadata":{},"code":403,"status":"Failure","reason":"Forbidden"},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
    Sample {
        what: "token request for a service account (a secret-like resource that is not secrets)",
        matches: &[],
        event: r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-000000000000","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/serviceaccounts/api","verb":"create","user":{"username":"system:serviceaccount:payments:api","uid":"5b0c4b6e-0f1a-4bd4-9d51-0a4c1f2a7c11","groups":["system:serviceaccounts","system:authenticated"]},"sourceIPs":["192.168.12.34"],"userAgent":"api/v1.4.2","objectRef":{"resource":"serviceaccounts","namespace":"payments","name":"api","apiVersion":"v1","subresource":"token"},"responseStatus":{"metadata":{},"code":201},"requestReceivedTimestamp":"2026-11-01T10:00:00.000000Z","stageTimestamp":"2026-11-01T10:00:00.012000Z"}"#,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::spec::{desired, Settings, Target};

    #[test]
    fn setup_patterns_pass_their_samples() {
        for s in [
            Settings::default(),
            Settings {
                by_namespace: true,
                ..Settings::default()
            },
        ] {
            check(&desired(&Target::cluster("prod"), &s)).unwrap();
        }
    }

    #[test]
    fn every_filter_has_positive_and_negative_samples() {
        for suffix in FILTER_SUFFIXES {
            let n = expected_matches(suffix).len();
            assert!(n >= 2 && n < SAMPLES.len() - 5, "{suffix}: {n}");
        }
        assert!(
            SAMPLES.len() <= 50,
            "TestMetricFilter takes at most 50 events"
        );
        for s in SAMPLES {
            serde_json::from_str::<serde_json::Value>(s.event).unwrap();
        }
    }

    #[test]
    fn the_guides_pattern_is_refused() {
        let mut d = desired(&Target::cluster("prod"), &Settings::default());
        d.filters[0].pattern = r#"{($.verb="get") && ($.objectRef.resource="secret")}"#.into();
        let err = check(&d).unwrap_err();
        assert!(err.contains("secret-audit-prod-secret-reads"), "{err}");
        assert!(
            err.contains("does not match the sample \"get of a secret, answered 200\""),
            "{err}"
        );
    }

    #[test]
    fn a_pattern_without_the_stage_clause_is_refused() {
        let mut d = desired(&Target::cluster("prod"), &Settings::default());
        d.filters[0].pattern = r#"{ ($.objectRef.resource = "secrets") && (($.verb = "get") || ($.verb = "list") || ($.verb = "watch")) && ($.responseStatus.code < 400) }"#.into();
        let err = check(&d).unwrap_err();
        assert!(
            err.contains("matches the sample \"watch of secrets, still open"),
            "{err}"
        );
    }

    #[test]
    fn a_disagreement_with_cloudwatch_is_an_error_naming_the_samples() {
        let d = desired(&Target::cluster("prod"), &Settings::default());
        let reads = &d.filters[0];
        let want = expected_matches("secret-reads");
        agree(reads, &want).unwrap();
        let mut got = want.clone();
        got.remove(0);
        got.push(4);
        let err = agree(reads, &got).unwrap_err();
        assert!(
            err.contains("also matches [\"watch of secrets, still open (ResponseStarted)\"]"),
            "{err}"
        );
        assert!(
            err.contains("does not match [\"get of a secret, answered 200\"]"),
            "{err}"
        );
    }

    #[test]
    fn a_syntax_error_is_refused_with_its_position() {
        let mut d = desired(&Target::cluster("prod"), &Settings::default());
        d.filters[1].pattern = r#"{ $.verb = "get" "#.into();
        let err = check(&d).unwrap_err();
        assert!(err.contains("secret-audit-prod-secret-denied"), "{err}");
        assert!(err.contains("at character"), "{err}");
    }
}
