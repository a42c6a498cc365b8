//! Detection rules over secret requests: each rule picks the requests it
//! cares about, keys them by principal or by source IP, and fires when a
//! key's requests in one window reach its threshold. A run of a key's
//! requests with no gap longer than the window is one episode, and one
//! finding, however many requests it holds.
//!
//! Requests come from the ledger's tap (each once, with its outcome), and
//! are evaluated in time order. The defaults know EKS: its control plane
//! and the operators that read secrets all day are not suspects.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::audit::event::is_denied;
use crate::audit::tap::Seen;

pub mod backlog;
pub mod config;
pub mod schedule;
pub mod state;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What a rule's episodes are keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyed {
    Principal,
    Source,
}

/// What a rule's threshold counts in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    Requests,
    DistinctSecrets,
}

/// One rule, with its defaults and why they are what they are.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: &'static str,
    pub severity: Severity,
    pub keyed: Keyed,
    pub counting: Counting,
    pub threshold: usize,
    /// Milliseconds: the threshold's window, and the longest gap inside an
    /// episode.
    pub window: i64,
    /// Requests it never fires on.
    pub allow: Vec<Allow>,
    pub reason: &'static str,
    /// Off only when a config says so.
    pub enabled: bool,
    /// Milliseconds of history the rule learns before it may fire (0: it
    /// needs none): from the state of earlier runs, or the first part of
    /// the input.
    pub learn: i64,
    matches: fn(&Seen) -> bool,
}

const MIN: i64 = 60_000;

/// The control plane and the add-ons that read secrets all day on EKS.
/// Kubelets (`system:node:*`) read the secrets of their own pods, which
/// the Node authorizer holds them to.
const EKS_PRINCIPALS: &[&str] = &[
    "eks:*",
    "system:node:*",
    "system:kube-controller-manager",
    "system:kube-scheduler",
    "system:apiserver",
    "system:serviceaccount:kube-system:*",
];

/// Operators that read secrets across namespaces by design.
const OPERATORS: &[&str] = &[
    "system:serviceaccount:cert-manager:*",
    "system:serviceaccount:external-secrets:*",
    "system:serviceaccount:argocd:*",
    "system:serviceaccount:flux-system:*",
    "system:serviceaccount:ingress-nginx:*",
    "system:serviceaccount:velero:*",
    "system:serviceaccount:monitoring:*",
];

const SCRIPTING_CLIENTS: &[&str] = &[
    "curl/",
    "wget/",
    "python-requests/",
    "python-urllib",
    "go-http-client/",
    "aiohttp/",
    "postmanruntime/",
    "httpie/",
];

fn is_read(s: &Seen) -> bool {
    matches!(s.verb.as_str(), "get" | "list" | "watch")
}

fn succeeded(s: &Seen) -> bool {
    s.code.is_some_and(|c| c < 400)
}

fn anonymous(s: &Seen) -> bool {
    s.anonymous
}

/// The namespace of a service account user, `system:serviceaccount:NS:NAME`.
fn service_account_namespace(user: &str) -> Option<&str> {
    user.strip_prefix("system:serviceaccount:")?
        .split(':')
        .next()
}

/// A name, or a prefix when it ends in `*`.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => text.starts_with(prefix),
        None => pattern == text,
    }
}

/// One allowlist entry: a request it matches never makes a finding. Every
/// part it gives must match (a principal from an address range, say);
/// names take a trailing `*` for a prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow {
    pub principal: Option<String>,
    /// The request's namespace (a cluster-wide request has none).
    pub namespace: Option<String>,
    /// The client's user agent, compared without regard to case.
    pub user_agent: Option<String>,
    /// The address range of the request's source IP.
    pub cidr: Option<ipnet::IpNet>,
    /// The last day it holds (`YYYY-MM-DD`); it has lapsed when loaded after.
    pub until: Option<String>,
}

impl Allow {
    pub fn principal(name: &str) -> Allow {
        Allow {
            principal: Some(name.to_owned()),
            ..Allow::default()
        }
    }

    pub fn matches(&self, s: &Seen) -> bool {
        self.principal.as_deref().is_none_or(|p| glob(p, &s.user))
            && self
                .namespace
                .as_deref()
                .is_none_or(|p| s.namespace.as_deref().is_some_and(|ns| glob(p, ns)))
            && self.user_agent.as_deref().is_none_or(|p| {
                s.user_agent
                    .as_deref()
                    .is_some_and(|ua| glob(&p.to_ascii_lowercase(), &ua.to_ascii_lowercase()))
            })
            && self.cidr.is_none_or(|net| {
                s.source_ip
                    .as_deref()
                    .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
                    .is_some_and(|ip| net.contains(&ip))
            })
    }
}

impl std::fmt::Display for Allow {
    /// `alice`, `namespace=sandbox`, `alice,cidr=203.0.113.0/24,until=2026-12-31`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = self.principal.iter().cloned().collect();
        for (key, value) in [
            ("namespace", self.namespace.clone()),
            ("user_agent", self.user_agent.clone()),
            ("cidr", self.cidr.map(|c| c.to_string())),
            ("until", self.until.clone()),
        ] {
            if let Some(v) = value {
                parts.push(format!("{key}={v}"));
            }
        }
        f.write_str(&parts.join(","))
    }
}

impl Serialize for Allow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn allowed(allow: &[Allow], s: &Seen) -> bool {
    allow.iter().any(|a| a.matches(s))
}

fn list(items: &[&[&str]]) -> Vec<Allow> {
    items
        .iter()
        .flat_map(|l| l.iter())
        .map(|s| Allow::principal(s))
        .collect()
}

/// The default rule set, each rule with the reason for its defaults.
///
/// Long: the rule set is one table, read (and reviewed) in one place.
pub fn defaults() -> Vec<Rule> {
    vec![
        Rule {
            name: "secret-payload-in-log",
            severity: Severity::High,
            keyed: Keyed::Principal,
            counting: Counting::Requests,
            threshold: 1,
            window: 60 * MIN,
            allow: Vec::new(),
            enabled: true,
            learn: 0,
            reason: "the audit policy logs secret values (RequestResponse level): anyone who reads the log reads the secrets",
            matches: |s| s.payload,
        },
        Rule {
            name: "anonymous-access-allowed",
            severity: Severity::Critical,
            keyed: Keyed::Source,
            counting: Counting::Requests,
            threshold: 1,
            window: 60 * MIN,
            allow: Vec::new(),
            enabled: true,
            learn: 0,
            reason: "an unauthenticated caller got a secret: RBAC grants system:anonymous more than it should",
            matches: |s| anonymous(s) && succeeded(s),
        },
        Rule {
            name: "anonymous-probing",
            severity: Severity::Medium,
            keyed: Keyed::Source,
            counting: Counting::Requests,
            threshold: 20,
            window: 10 * MIN,
            allow: Vec::new(),
            enabled: true,
            learn: 0,
            reason: "a public endpoint is probed by scanners all day, so one refused probe pages nobody; 20 in 10 minutes from one address is a directed attempt (Splunk flags more than 5)",
            matches: |s| anonymous(s) && s.code.is_some_and(is_denied),
        },
        Rule {
            name: "cluster-wide-secret-list",
            severity: Severity::High,
            keyed: Keyed::Principal,
            counting: Counting::Requests,
            threshold: 1,
            window: 60 * MIN,
            allow: list(&[EKS_PRINCIPALS, OPERATORS]),
            enabled: true,
            learn: 0,
            reason: "a list or watch of every namespace's secrets dumps the cluster's credentials; only the operators allowlisted need it",
            matches: |s| {
                matches!(s.verb.as_str(), "list" | "watch")
                    && s.namespace.is_none()
                    && s.name.is_none()
                    && succeeded(s)
            },
        },
        Rule {
            name: "bulk-secret-reads",
            severity: Severity::High,
            keyed: Keyed::Principal,
            counting: Counting::DistinctSecrets,
            threshold: 10,
            window: 10 * MIN,
            allow: list(&[EKS_PRINCIPALS, OPERATORS]),
            enabled: true,
            learn: 0,
            reason: "10 distinct secrets in 10 minutes: Elastic's 3 in 6 minutes fired 42,892 times a week, 93 % on controllers; Panther's 15 in 30 minutes misses a careful reader; controllers are allowlisted instead",
            matches: |s| s.verb == "get" && s.name.is_some() && succeeded(s),
        },
        Rule {
            name: "denied-burst",
            severity: Severity::Medium,
            keyed: Keyed::Principal,
            counting: Counting::Requests,
            threshold: 10,
            window: 10 * MIN,
            allow: list(&[EKS_PRINCIPALS]),
            enabled: true,
            learn: 0,
            reason: "an app missing an RBAC rule retries a few times in its own namespace; 10 refusals in 10 minutes is someone trying doors (Panther: 20 in 15)",
            matches: |s| !anonymous(s) && s.code.is_some_and(is_denied),
        },
        Rule {
            name: "cross-namespace-service-account",
            severity: Severity::High,
            keyed: Keyed::Principal,
            counting: Counting::Requests,
            threshold: 1,
            window: 60 * MIN,
            allow: list(&[EKS_PRINCIPALS, OPERATORS]),
            enabled: true,
            learn: 0,
            reason: "a workload's service account reading secrets outside its own namespace is how a compromised pod spreads; no anchor rule checks it",
            matches: |s| {
                let Some(own) = service_account_namespace(&s.user) else {
                    return false;
                };
                is_read(s) && succeeded(s) && s.namespace.as_deref() != Some(own)
            },
        },
        Rule {
            name: "scripting-client",
            severity: Severity::Medium,
            keyed: Keyed::Principal,
            counting: Counting::Requests,
            threshold: 1,
            window: 60 * MIN,
            allow: list(&[EKS_PRINCIPALS]),
            enabled: true,
            learn: 0,
            reason: "secrets read with curl, wget or an HTTP library rather than kubectl or a controller: a token used by hand",
            matches: |s| {
                let ua = s.user_agent.as_deref().unwrap_or("").to_ascii_lowercase();
                is_read(s) && succeeded(s) && SCRIPTING_CLIENTS.iter().any(|c| ua.starts_with(c))
            },
        },
        Rule {
            name: "new-source-for-principal",
            severity: Severity::Medium,
            keyed: Keyed::Principal,
            counting: Counting::Requests,
            threshold: 1,
            window: 60 * MIN,
            allow: list(&[EKS_PRINCIPALS]),
            enabled: true,
            learn: 24 * 60 * MIN,
            reason: "a person or role reads secrets from an address or client (kubectl, Helm... whatever the version) never seen for it in its history (earlier runs' --state, or the input's first --learn period, 24 h): a stolen credential; service accounts are left out (pod addresses change all day)",
            matches: |s| is_read(s) && succeeded(s) && service_account_namespace(&s.user).is_none(),
        },
    ]
}

/// The client of a user agent: its product, without version or platform
/// (`kubectl/v1.29.3 (darwin/arm64) ...` is `kubectl`), so an upgrade is
/// not a new client.
fn client(user_agent: &str) -> &str {
    user_agent.split(['/', ' ']).next().unwrap_or("").trim()
}

/// What a learning rule knows: since when, and what each principal was
/// seen reading secrets from (kept between runs by `alert --state`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct History {
    /// Milliseconds since the epoch of the first request it learnt.
    pub since_ms: Option<i64>,
    pub principals: BTreeMap<String, Sources>,
}

/// A principal's source addresses and clients.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Sources {
    pub addresses: BTreeSet<String>,
    pub clients: BTreeSet<String>,
}

/// Every learning rule's history, by rule name.
pub type Learned = BTreeMap<String, History>;

impl History {
    /// Learns a request at `time`; returns whether its address or client
    /// was new for a principal already known.
    fn novel(&mut self, s: &Seen, time: i64) -> bool {
        self.since_ms = Some(self.since_ms.map_or(time, |t| t.min(time)));
        let ip = s.source_ip.as_deref().unwrap_or("");
        let ua = client(s.user_agent.as_deref().unwrap_or(""));
        match self.principals.get_mut(&s.user) {
            None => {
                let known = Sources {
                    addresses: BTreeSet::from([ip.to_owned()]),
                    clients: BTreeSet::from([ua.to_owned()]),
                };
                self.principals.insert(s.user.clone(), known);
                false
            }
            Some(known) => {
                // Looked up first: a string is made only for what is new.
                let new_ip = !known.addresses.contains(ip) && known.addresses.insert(ip.to_owned());
                let new_ua = !known.clients.contains(ua) && known.clients.insert(ua.to_owned());
                new_ip || new_ua
            }
        }
    }
}

/// One finding: an episode of one rule for one principal or source.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub cluster: String,
    pub principal: String,
    pub source_ip: Option<String>,
    pub namespaces: Vec<String>,
    pub secrets: Vec<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub requests: u64,
    /// The first few auditIDs of the episode.
    pub audit_ids: Vec<String>,
    pub dedup_key: String,
    pub summary: String,
    /// What the episode is keyed on: the principal, or the source IP.
    #[serde(skip)]
    pub key: String,
    /// First and last request, milliseconds since the epoch.
    #[serde(skip)]
    pub span_ms: (i64, i64),
}

/// Audit ids a finding lists at most.
const AUDIT_IDS: usize = 10;

/// An episode in progress.
struct Episode {
    rule: usize,
    key: String,
    /// The requests of the last window (time, secret), for the threshold,
    /// and how many of them name each secret.
    recent: std::collections::VecDeque<(i64, Option<String>)>,
    recent_secrets: HashMap<String, usize>,
    first: i64,
    last: i64,
    requests: u64,
    principals: BTreeSet<String>,
    sources: BTreeSet<String>,
    namespaces: BTreeSet<String>,
    secrets: BTreeSet<String>,
    audit_ids: Vec<String>,
    /// The auditID of the first request of the episode.
    first_audit: String,
    qualified: bool,
}

pub fn time_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

impl Episode {
    fn span(&self, rule: &Rule) -> Span {
        Span {
            rule: rule.name,
            key: self.key.clone(),
            first_ms: self.first,
            last_ms: self.last,
        }
    }

    fn finding(&self, rule: &Rule, cluster: &str) -> Finding {
        let principal = self
            .principals
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for part in [rule.name, &self.key, &self.first_audit] {
            h.update(part.as_bytes());
            h.update(&[0]);
        }
        let secrets: Vec<String> = self.secrets.iter().cloned().collect();
        let who = match rule.keyed {
            Keyed::Principal => principal.clone(),
            Keyed::Source => format!("source {}", self.key),
        };
        let summary = format!(
            "{}: {who} made {} request(s) on {} secret(s) in {} namespace(s), {} to {}; {}",
            rule.name,
            self.requests,
            secrets.len(),
            self.namespaces.len(),
            time_text(self.first),
            time_text(self.last),
            rule.reason
        );
        Finding {
            rule: rule.name,
            severity: rule.severity,
            cluster: cluster.to_owned(),
            principal,
            source_ip: (self.sources.len() == 1)
                .then(|| self.sources.iter().next().unwrap().clone()),
            namespaces: self.namespaces.iter().cloned().collect(),
            secrets,
            first_seen: time_text(self.first),
            last_seen: time_text(self.last),
            requests: self.requests,
            audit_ids: self.audit_ids.clone(),
            dedup_key: format!("{:032x}", h.digest128()),
            summary,
            key: self.key.clone(),
            span_ms: (self.first, self.last),
        }
    }
}

/// The rules applied to requests as they come, in time order: episodes
/// open and qualify as requests arrive (a stream prints a finding the
/// moment its episode qualifies), and close at the end.
pub struct Engine {
    rules: Vec<Rule>,
    cluster: String,
    open: HashMap<(usize, String), Episode>,
    history: Vec<History>,
    closed: Vec<Finding>,
    /// With `tracking_spans`: every closed episode, qualified or not.
    spans: Option<Vec<Span>>,
}

/// An episode's extent, whether it qualified or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub rule: &'static str,
    pub key: String,
    /// First and last request, milliseconds since the epoch.
    pub first_ms: i64,
    pub last_ms: i64,
}

impl Engine {
    pub fn new(rules: Vec<Rule>, cluster: &str) -> Engine {
        Engine::learned(rules, cluster, Learned::new())
    }

    /// An engine whose learning rules start from what earlier runs learnt.
    pub fn learned(rules: Vec<Rule>, cluster: &str, mut learned: Learned) -> Engine {
        Engine {
            history: rules
                .iter()
                .map(|r| learned.remove(r.name).unwrap_or_default())
                .collect(),
            rules,
            cluster: cluster.to_owned(),
            open: HashMap::new(),
            closed: Vec::new(),
            spans: None,
        }
    }

    /// This engine, also keeping the extent of every episode, qualified or
    /// not (see [`Engine::finish_with_spans`]).
    pub fn tracking_spans(mut self) -> Engine {
        self.spans = Some(Vec::new());
        self
    }

    /// What the learning rules know now, to keep for the next run.
    pub fn history(&self) -> Learned {
        self.rules
            .iter()
            .zip(&self.history)
            .filter(|(r, _)| r.learn > 0)
            .map(|(r, h)| (r.name.to_owned(), h.clone()))
            .collect()
    }

    /// Applies every rule to one request; returns the findings whose
    /// episode qualified with it (each episode once).
    pub fn push(&mut self, s: &Seen) -> Vec<Finding> {
        let Some(time) = s.time.map(|t| t / 1000) else {
            return Vec::new();
        };
        let mut now_qualified = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.enabled || !(rule.matches)(s) || allowed(&rule.allow, s) {
                continue;
            }
            if rule.learn > 0 {
                // Learns always; fires only once its history is long enough.
                let history = &mut self.history[i];
                let novel = history.novel(s, time);
                let since = history.since_ms.unwrap_or(time);
                if !(novel && time - since >= rule.learn) {
                    continue;
                }
            }
            let key = match rule.keyed {
                Keyed::Principal => s.user.clone(),
                Keyed::Source => s.source_ip.clone().unwrap_or_else(|| "unknown".into()),
            };
            let ep = match self.open.entry((i, key.clone())) {
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    if time - o.get().last > rule.window {
                        let done = o.insert(Episode::new(i, key, s, time));
                        if let Some(spans) = &mut self.spans {
                            spans.push(done.span(rule));
                        }
                        if done.qualified {
                            self.closed.push(done.finding(rule, &self.cluster));
                        }
                    }
                    o.into_mut()
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(Episode::new(i, key, s, time))
                }
            };
            let before = ep.qualified;
            ep.add(s, time, rule);
            if ep.qualified && !before {
                now_qualified.push(ep.finding(rule, &self.cluster));
            }
        }
        now_qualified
    }

    /// Every finding, most severe first, then by time.
    pub fn finish(self) -> Vec<Finding> {
        self.finish_with_spans().0
    }

    /// Every finding, and with `tracking_spans` the extent of every
    /// episode (qualified or not), by rule and key.
    pub fn finish_with_spans(mut self) -> (Vec<Finding>, Vec<Span>) {
        let mut findings = std::mem::take(&mut self.closed);
        let mut spans = self.spans.take();
        for ep in self.open.into_values() {
            let rule = &self.rules[ep.rule];
            if let Some(spans) = &mut spans {
                spans.push(ep.span(rule));
            }
            if ep.qualified {
                findings.push(ep.finding(rule, &self.cluster));
            }
        }
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.first_seen.cmp(&b.first_seen))
                .then(a.dedup_key.cmp(&b.dedup_key))
        });
        (findings, spans.unwrap_or_default())
    }
}

/// Whether any of `rules` would look at a request (the rest can be dropped
/// unread: they neither make a finding nor teach a learning rule).
pub fn wanted(rules: &[Rule]) -> crate::audit::tap::Keep {
    let rules = rules.to_vec();
    crate::audit::tap::Keep(std::sync::Arc::new(move |s: &Seen| {
        s.time.is_some()
            && rules
                .iter()
                .any(|r| r.enabled && (r.matches)(s) && !allowed(&r.allow, s))
    }))
}

/// Evaluates `rules` over requests (any order: they are put in time order
/// here) and returns the findings, most severe first, then by time.
pub fn evaluate(rules: &[Rule], requests: &mut [Seen], cluster: &str) -> Vec<Finding> {
    evaluate_learned(rules, requests, cluster, Learned::new()).0
}

/// [`evaluate`] with what earlier runs learnt; returns the findings and
/// what the learning rules know after these requests.
pub fn evaluate_learned(
    rules: &[Rule],
    requests: &mut [Seen],
    cluster: &str,
    learned: Learned,
) -> (Vec<Finding>, Learned) {
    requests.sort_by_key(|s| s.time.unwrap_or(i64::MIN));
    let mut engine = Engine::learned(rules.to_vec(), cluster, learned);
    for s in requests.iter() {
        engine.push(s);
    }
    let history = engine.history();
    (engine.finish(), history)
}

impl Episode {
    fn new(rule: usize, key: String, s: &Seen, time: i64) -> Episode {
        Episode {
            rule,
            key,
            recent: Default::default(),
            recent_secrets: HashMap::new(),
            first: time,
            last: time,
            requests: 0,
            principals: BTreeSet::new(),
            sources: BTreeSet::new(),
            namespaces: BTreeSet::new(),
            secrets: BTreeSet::new(),
            audit_ids: Vec::new(),
            first_audit: s.audit_id.clone(),
            qualified: false,
        }
    }

    fn add(&mut self, s: &Seen, time: i64, rule: &Rule) {
        fn note(set: &mut BTreeSet<String>, value: &str) {
            if !set.contains(value) {
                set.insert(value.to_owned());
            }
        }
        self.last = self.last.max(time);
        self.requests += 1;
        note(&mut self.principals, &s.user);
        if let Some(ip) = &s.source_ip {
            note(&mut self.sources, ip);
        }
        note(&mut self.namespaces, s.namespace.as_deref().unwrap_or("*"));
        let secret = s
            .name
            .as_ref()
            .map(|n| format!("{}/{n}", s.namespace.as_deref().unwrap_or("*")));
        if let Some(name) = &secret {
            note(&mut self.secrets, name);
            *self.recent_secrets.entry(name.clone()).or_default() += 1;
        }
        if self.audit_ids.len() < AUDIT_IDS {
            self.audit_ids.push(s.audit_id.clone());
        }
        self.recent.push_back((time, secret));
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| time - t > rule.window)
        {
            if let Some((_, Some(old))) = self.recent.pop_front() {
                if let Some(n) = self.recent_secrets.get_mut(&old) {
                    *n -= 1;
                    if *n == 0 {
                        self.recent_secrets.remove(&old);
                    }
                }
            }
        }
        let count = match rule.counting {
            Counting::Requests => self.recent.len(),
            Counting::DistinctSecrets => self.recent_secrets.len(),
        };
        if count >= rule.threshold {
            self.qualified = true;
        }
    }
}

#[cfg(test)]
mod tests;
