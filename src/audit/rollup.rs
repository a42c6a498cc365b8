//! The rollup: secret requests grouped by the keys the user asks for
//! (`--by`), with per-verb counts, denials, time span, and the most frequent
//! source IPs and user agents. Built once from a finished [`Shard`].

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};

use super::shard::{Request, Shard, Sym};

/// A grouping key of the rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Key {
    Namespace,
    Secret,
    User,
    Verb,
    SourceIp,
    UserAgent,
}

impl Key {
    pub fn name(self) -> &'static str {
        match self {
            Key::Namespace => "namespace",
            Key::Secret => "secret",
            Key::User => "user",
            Key::Verb => "verb",
            Key::SourceIp => "source_ip",
            Key::UserAgent => "user_agent",
        }
    }

    fn sym(self, r: &Request) -> Sym {
        match self {
            Key::Namespace => r.namespace,
            Key::Secret => r.name,
            Key::User => r.user,
            Key::Verb => r.verb,
            Key::SourceIp => r.source_ip,
            Key::UserAgent => r.user_agent,
        }
    }

    /// What an absent value shows: `*` for a collection-wide request's
    /// namespace or name (it covers them all), empty otherwise.
    fn absent(self) -> &'static str {
        match self {
            Key::Namespace | Key::Secret => "*",
            _ => "",
        }
    }
}

pub const DEFAULT_KEYS: [Key; 3] = [Key::Namespace, Key::Secret, Key::User];

/// How much of the cluster a request covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Object,
    Namespace,
    Cluster,
}

impl Scope {
    pub fn of(r: &Request) -> Scope {
        if r.name != 0 {
            Scope::Object
        } else if r.namespace != 0 {
            Scope::Namespace
        } else {
            Scope::Cluster
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scope::Object => "object",
            Scope::Namespace => "namespace",
            Scope::Cluster => "cluster",
        }
    }
}

/// How many source IPs and user agents a row lists.
pub const TOP_VALUES: usize = 10;

pub fn is_denied(code: u16) -> bool {
    code == 401 || code == 403
}

/// One row of the rollup; strings borrow from the shard.
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

/// The most keys a rollup groups by.
const MAX_KEYS: usize = 6;

#[derive(Default)]
struct Acc {
    scope: Option<Scope>,
    verbs: FxHashMap<Sym, u64>,
    requests: u64,
    denied: u64,
    first: Option<i64>,
    last: Option<i64>,
    ips: FxHashMap<Sym, u64>,
    uas: FxHashMap<Sym, u64>,
    imp: FxHashSet<Sym>,
}

/// Totals over every secret request, whatever `--top` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: u64,
    pub denied: u64,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub rows: u64,
}

/// Groups the shard's requests by `keys`; rows ranked by requests, then by
/// key values. `top` keeps the first N rows.
pub fn rollup<'a>(shard: &'a Shard, keys: &[Key], top: Option<usize>) -> (Vec<Row<'a>>, Totals) {
    assert!(keys.len() <= MAX_KEYS, "at most {MAX_KEYS} rollup keys");
    let mut groups: FxHashMap<[Sym; MAX_KEYS], Acc> = FxHashMap::default();
    let mut totals = Totals::default();
    let with_scope = keys
        .iter()
        .any(|k| matches!(k, Key::Namespace | Key::Secret));
    for r in shard.requests.values() {
        let mut key = [0; MAX_KEYS];
        for (slot, k) in key.iter_mut().zip(keys) {
            *slot = k.sym(r);
        }
        let acc = groups.entry(key).or_default();
        acc.requests += 1;
        *acc.verbs.entry(r.verb).or_default() += 1;
        let denied = is_denied(r.code);
        acc.denied += denied as u64;
        if with_scope {
            acc.scope = acc.scope.max(Some(Scope::of(r)));
        }
        let time = (r.time != i64::MIN).then_some(r.time);
        acc.first = min_opt(acc.first, time);
        acc.last = max_opt(acc.last, time);
        if r.source_ip != 0 {
            *acc.ips.entry(r.source_ip).or_default() += 1;
        }
        if r.user_agent != 0 {
            *acc.uas.entry(r.user_agent).or_default() += 1;
        }
        if r.impersonated_by != 0 {
            acc.imp.insert(r.impersonated_by);
        }
        totals.requests += 1;
        totals.denied += denied as u64;
        totals.first_seen = min_opt(totals.first_seen, time);
        totals.last_seen = max_opt(totals.last_seen, time);
    }
    totals.rows = groups.len() as u64;
    let s = |id: Sym| shard.strings.get(id).unwrap_or("");
    let top_of = |m: &FxHashMap<Sym, u64>| {
        let mut v: Vec<(&str, u64)> = m.iter().map(|(&k, &n)| (s(k), n)).collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        v.into_iter()
            .take(TOP_VALUES)
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
    };
    let mut rows: Vec<Row> = groups
        .into_iter()
        .map(|(key, acc)| {
            let mut imp: Vec<&str> = acc.imp.iter().map(|&i| s(i)).collect();
            imp.sort_unstable();
            Row {
                keys: keys
                    .iter()
                    .zip(&key)
                    .map(|(&k, &v)| (k, shard.strings.get(v).unwrap_or(k.absent())))
                    .collect(),
                scope: acc.scope,
                verbs: acc.verbs.iter().map(|(&v, &n)| (s(v), n)).collect(),
                requests: acc.requests,
                denied: acc.denied,
                first_seen: acc.first,
                last_seen: acc.last,
                source_ips: top_of(&acc.ips),
                source_ip_count: acc.ips.len() as u64,
                user_agents: top_of(&acc.uas),
                user_agent_count: acc.uas.len() as u64,
                impersonated_by: imp,
            }
        })
        .collect();
    rows.sort_unstable_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then_with(|| a.keys.iter().map(|k| k.1).cmp(b.keys.iter().map(|k| k.1)))
    });
    if let Some(n) = top {
        rows.truncate(n);
    }
    (rows, totals)
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.max(b)
}

/// One secret request, for `--requests`; strings borrow from the shard.
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
}

/// Every request, oldest first (ties by auditID).
pub fn requests(shard: &Shard) -> Vec<RequestRow<'_>> {
    let s = |id: Sym, absent: &'static str| shard.strings.get(id).unwrap_or(absent);
    let mut out: Vec<RequestRow> = shard
        .requests
        .iter()
        .map(|(&key, r)| RequestRow {
            time: (r.time != i64::MIN).then_some(r.time),
            verb: s(r.verb, ""),
            namespace: s(r.namespace, "*"),
            secret: s(r.name, "*"),
            subresource: shard.strings.get(r.subresource),
            scope: Scope::of(r),
            user: s(r.user, ""),
            impersonated_by: shard.strings.get(r.impersonated_by),
            code: (r.code != 0).then_some(r.code),
            source_ip: s(r.source_ip, ""),
            user_agent: s(r.user_agent, ""),
            audit_id: shard.audit_id(key, r),
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
    use crate::audit::shard::{Filter, Position, Settings};
    use std::sync::Arc;

    fn shard(lines: &[String]) -> Shard {
        let settings = Settings {
            filter: Filter::default(),
            max_record_size: 1 << 20,
            keep_all_malformed: false,
            full_parse: false,
            probe: None,
        };
        let mut s = Shard::new(Arc::new(settings));
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
        s
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
        let s = shard(&[
            ev(1, "list", Some("prod"), None, "ctl", 200),
            ev(2, "watch", None, None, "ctl", 200),
            ev(3, "get", Some("prod"), Some("db"), "bob", 403),
        ]);
        let (rows, totals) = rollup(&s, &DEFAULT_KEYS, None);
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
        let s = shard(&[
            ev(1, "get", Some("a"), Some("x"), "u1", 200),
            ev(2, "get", Some("a"), Some("x"), "u1", 200),
            ev(3, "get", Some("b"), Some("y"), "u2", 200),
        ]);
        let (rows, totals) = rollup(&s, &[Key::User], Some(1));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].keys, vec![(Key::User, "u1")]);
        assert_eq!(rows[0].requests, 2);
        assert_eq!(rows[0].scope, None);
        assert_eq!((totals.requests, totals.rows), (3, 2));
        assert_eq!(rows[0].first_seen, Some(1_793_491_201_000_000));
        assert_eq!(rows[0].last_seen, Some(1_793_491_202_000_000));
    }
}
