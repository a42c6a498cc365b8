//! The rollup: secret requests grouped by the keys the user asks for
//! (`--by`), with per-verb counts, denials, time span, and the most frequent
//! source IPs and user agents. Built from the rollup's consumer of the
//! ledger ([`Grouped`]), finished or a snapshot.

use std::collections::BTreeMap;

use super::group::{Fields, Group, Grouped, Grouping, Sym, Tally};
use super::origin::Origin;

pub use super::key::{Key, Scope, DEFAULT_KEYS};

/// How many source IPs and user agents a row lists.
pub const TOP_VALUES: usize = 10;

/// One row of the rollup; strings borrow from the groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<'a> {
    /// The `--by` keys and their values, in the order asked.
    pub keys: Vec<(Key, &'a str)>,
    /// The widest scope among the row's requests, when grouped by namespace
    /// or secret.
    pub scope: Option<Scope>,
    pub verbs: BTreeMap<&'a str, u64>,
    pub requests: u64,
    pub denied: u64,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub source_ips: Vec<&'a str>,
    pub source_ip_count: u64,
    pub user_agents: Vec<&'a str>,
    pub user_agent_count: u64,
    pub impersonated_by: Vec<&'a str>,
}

/// Totals over every secret request, whatever `--top` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: u64,
    pub denied: u64,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub rows: u64,
    /// Distinct users who made the requests.
    pub principals: u64,
    /// Distinct namespaces whose secrets were accessed.
    pub namespaces: u64,
    /// Requests on the secrets of every namespace at once.
    pub cluster_wide: u64,
}

/// Totals over every group.
pub fn totals(grouped: &Grouped) -> Totals {
    let mut t = Totals {
        rows: grouped.groups.len() as u64,
        ..Default::default()
    };
    for g in &grouped.groups {
        t.requests += g.requests;
        t.denied += g.denied;
        t.first_seen = match (t.first_seen, g.first_seen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        t.last_seen = t.last_seen.max(g.last_seen);
    }
    let distinct = |key: Key, kept: &rustc_hash::FxHashSet<Sym>, of: fn(&Fields) -> Sym| {
        if grouped.keyed_by(key) {
            let set: rustc_hash::FxHashSet<Sym> = grouped
                .groups
                .iter()
                .map(|g| of(&g.first))
                .filter(|&s| s != 0)
                .collect();
            set.len() as u64
        } else {
            kept.len() as u64
        }
    };
    t.principals = distinct(Key::User, &grouped.users, |f| f.user);
    t.namespaces = distinct(Key::Namespace, &grouped.namespaces, |f| f.namespace);
    t.cluster_wide = grouped.cluster_wide;
    t
}

/// The rows of groups made `By` keys, ranked by requests, then
/// by key values; `top` keeps the first N. With `threads` above 1 the rows
/// are built on two threads.
pub fn rollup(grouped: &Grouped, top: Option<usize>, threads: usize) -> Vec<Row<'_>> {
    let keys: &[Key] = match &grouped.grouping {
        Grouping::By(keys) => keys,
        Grouping::Requests => &[],
    };
    let with_scope = keys
        .iter()
        .any(|k| matches!(k, Key::Namespace | Key::Secret));
    let s = |id| grouped.strings.get(id).unwrap_or("");
    let top_of = |t: &Tally| {
        let mut v: Vec<(&str, u32)> = t.iter().map(|(k, n)| (s(k), n)).collect();
        let order = |a: &(&str, u32), b: &(&str, u32)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
        if v.len() > TOP_VALUES {
            v.select_nth_unstable_by(TOP_VALUES, order);
            v.truncate(TOP_VALUES);
        }
        v.sort_unstable_by(order);
        // A new vector, not `v` reused in place: that would keep room for
        // every distinct value in every row.
        let mut top = Vec::with_capacity(v.len());
        top.extend(v.iter().map(|&(k, _)| k));
        top
    };
    let row = |g: &Group| {
        let mut imp: Vec<&str> = g.impersonated_by.iter().map(|&i| s(i)).collect();
        imp.sort_unstable();
        Row {
            keys: keys
                .iter()
                .map(|&k| (k, grouped.strings.get(g.first.key(k)).unwrap_or(k.absent())))
                .collect(),
            scope: if with_scope { g.scope } else { None },
            verbs: g.verbs.iter().map(|(v, n)| (s(v), n as u64)).collect(),
            requests: g.requests,
            denied: g.denied,
            first_seen: g.first_seen,
            last_seen: g.last_seen,
            source_ips: top_of(&g.source_ips),
            source_ip_count: g.source_ips.len() as u64,
            user_agents: top_of(&g.user_agents),
            user_agent_count: g.user_agents.len() as u64,
            impersonated_by: imp,
        }
    };
    // Rows are built on two threads: the run is otherwise over, and a large
    // rollup takes milliseconds that would show in every run's time.
    let mut rows: Vec<Row> = if threads > 1 {
        let (a, b) = grouped.groups.split_at(grouped.groups.len() / 2);
        std::thread::scope(|scope| {
            let other = scope.spawn(|| b.iter().map(row).collect::<Vec<_>>());
            let mut rows: Vec<Row> = Vec::with_capacity(grouped.groups.len());
            rows.extend(a.iter().map(row));
            rows.extend(other.join().expect("rollup thread"));
            rows
        })
    } else {
        grouped.groups.iter().map(row).collect()
    };
    rows.sort_unstable_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then_with(|| a.keys.iter().map(|k| k.1).cmp(b.keys.iter().map(|k| k.1)))
    });
    if let Some(n) = top {
        rows.truncate(n);
    }
    rows
}

/// One secret request, for `--requests`; strings borrow from the groups.
#[derive(Debug, Clone)]
pub struct RequestRow<'a> {
    pub time: Option<i64>,
    pub verb: &'a str,
    pub namespace: &'a str,
    pub secret: &'a str,
    pub subresource: Option<&'a str>,
    pub scope: Scope,
    pub user: &'a str,
    pub impersonated_by: Option<&'a str>,
    pub code: Option<u16>,
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    pub audit_id: String,
    /// Where its first record came from.
    pub origin: Option<&'a Origin>,
}

/// Every request of groups made by `Requests`, oldest first
/// (ties by auditID).
pub fn requests(grouped: &Grouped) -> Vec<RequestRow<'_>> {
    debug_assert_eq!(grouped.grouping, Grouping::Requests);
    let s = |id, absent: &'static str| grouped.strings.get(id).unwrap_or(absent);
    let mut out: Vec<RequestRow> = grouped
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let f = &g.first;
            RequestRow {
                time: g.first_seen,
                verb: s(f.verb, ""),
                namespace: s(f.namespace, "*"),
                secret: s(f.name, "*"),
                subresource: grouped.strings.get(f.subresource),
                scope: f.scope(),
                user: s(f.user, ""),
                impersonated_by: grouped.strings.get(f.impersonated_by),
                code: (g.code != 0).then_some(g.code),
                source_ip: s(f.source_ip, ""),
                user_agent: s(f.user_agent, ""),
                audit_id: match grouped.strings.get(f.audit_id_text) {
                    Some(text) => text.to_string(),
                    None if g.has_audit_id => {
                        uuid::Uuid::from_u128(g.id()).hyphenated().to_string()
                    }
                    None => String::new(),
                },
                origin: grouped.origins.get(i),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.time
            .cmp(&b.time)
            .then_with(|| a.audit_id.cmp(&b.audit_id))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::shard::{ledger, Position, Settings, Shard};
    use std::sync::Arc;

    fn grouped(lines: &[String], grouping: Grouping) -> Grouped {
        let mut s = Shard::new(Arc::new(Settings {
            ledger: ledger(grouping),
            ..Default::default()
        }));
        for (i, l) in lines.iter().enumerate() {
            s.record(
                l.as_bytes(),
                Position {
                    input: 0,
                    block: 0,
                    line: i as u64,
                    label: None,
                },
                None,
            );
        }
        s.finish();
        s.grouped
    }

    fn ev(
        id: u32,
        verb: &str,
        ns: Option<&str>,
        name: Option<&str>,
        user: &str,
        code: u16,
    ) -> String {
        let mut obj = serde_json::json!({"resource": "secrets"});
        if let Some(ns) = ns {
            obj["namespace"] = ns.into();
        }
        if let Some(n) = name {
            obj["name"] = n.into();
        }
        serde_json::json!({
            "auditID": format!("id-{id}"), "stage": "ResponseComplete", "verb": verb,
            "user": {"username": user}, "objectRef": obj, "responseStatus": {"code": code},
            "sourceIPs": ["10.0.0.1"], "userAgent": "ua",
            "requestReceivedTimestamp": format!("2026-11-01T00:00:{:02}Z", id),
        })
        .to_string()
    }

    #[test]
    fn list_without_name_counts_as_whole_namespace_and_cluster() {
        let s = grouped(
            &[
                ev(1, "list", Some("prod"), None, "ctl", 200),
                ev(2, "watch", None, None, "ctl", 200),
                ev(3, "get", Some("prod"), Some("db"), "bob", 403),
            ],
            Grouping::By(DEFAULT_KEYS.to_vec()),
        );
        let (rows, totals) = (rollup(&s, None, 2), totals(&s));
        assert_eq!(rows, rollup(&s, None, 1));
        assert_eq!(totals.requests, 3);
        assert_eq!(totals.denied, 1);
        let find = |ns: &str, name: &str| {
            rows.iter()
                .find(|r| r.keys[0].1 == ns && r.keys[1].1 == name)
                .unwrap_or_else(|| panic!("no row {ns}/{name}"))
        };
        assert_eq!(find("prod", "*").scope, Some(Scope::Namespace));
        assert_eq!(find("*", "*").scope, Some(Scope::Cluster));
        assert_eq!(find("prod", "db").scope, Some(Scope::Object));
        assert_eq!(find("prod", "db").denied, 1);
    }

    #[test]
    fn top_keeps_the_busiest_rows_and_totals_cover_all() {
        let s = grouped(
            &[
                ev(1, "get", Some("a"), Some("x"), "u1", 200),
                ev(2, "get", Some("a"), Some("x"), "u1", 200),
                ev(3, "get", Some("b"), Some("y"), "u2", 200),
            ],
            Grouping::By(vec![Key::User]),
        );
        let (rows, totals) = (rollup(&s, Some(1), 1), totals(&s));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].keys, vec![(Key::User, "u1")]);
        assert_eq!(rows[0].requests, 2);
        assert_eq!(rows[0].scope, None);
        assert_eq!((totals.requests, totals.rows), (3, 2));
        assert_eq!(rows[0].first_seen, Some(1_793_491_201_000_000));
        assert_eq!(rows[0].last_seen, Some(1_793_491_202_000_000));
    }
}
