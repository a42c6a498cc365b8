//! The two-day scenario (`--scenario two-day`): a small cluster's benign
//! day, then a second day on which one attack of each kind the detection
//! rules know is injected, each labelled in the truth (`attacks`).
//!
//! The cluster runs slower than the steady mix (about 2.4 requests a
//! second, a small production cluster), deploys with Helm a fifth as often,
//! has CI only deploy (people browse secrets, CI does not), and adds the
//! benign noise the steady mix lacks: an ingress controller re-reading
//! every namespace's TLS secrets on resync, and kubelets reading the
//! secrets of the pods they start. Attacks
//! draw from a generator of their own, so day 1 is the same with or without
//! them, and begin at fixed times of day 2.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{Cluster, APPS, HUMANS, KUBECTL_UA, NAMESPACES};
use crate::event::{micro_time_string, Event};

/// How much longer the scenario's gaps between requests are.
pub(super) const SLOWER: i64 = 200;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// The operator of OPERATORS that terminates TLS for every namespace.
const INGRESS: usize = 5;

/// One injected attack: what must catch it, and the requests it made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attack {
    /// The detection rule that must report it.
    pub rule: String,
    /// The principal, or the source address for a rule keyed on it.
    pub key: String,
    /// The time of its first request.
    pub at: String,
    /// The auditID of each of its requests.
    pub audit_ids: Vec<String>,
}

/// The attacks of day 2: the rule that must catch each, and its hour.
const PLAN: [(&str, i64); 9] = [
    ("anonymous-probing", 2),
    ("anonymous-access-allowed", 3),
    ("new-source-for-principal", 9),
    ("cluster-wide-secret-list", 10),
    ("bulk-secret-reads", 11),
    ("cross-namespace-service-account", 13),
    ("scripting-client", 14),
    ("denied-burst", 16),
    ("secret-payload-in-log", 18),
];

pub(super) struct Plan {
    /// Attacks still to come, soonest first: (when, rule).
    due: VecDeque<(i64, &'static str)>,
    rng: fastrand::Rng,
    attacks: Vec<Attack>,
}

impl Cluster {
    /// This cluster running the two-day scenario from its start.
    pub fn two_day(mut self, seed: u64) -> Cluster {
        let day2 = self.now + DAY;
        self.scenario = Some(Plan {
            // Minutes past the hour vary with the seed.
            due: PLAN
                .iter()
                .map(|(rule, hour)| (day2 + hour * HOUR + (seed as i64 % 50) * 60_000_000, *rule))
                .collect(),
            rng: fastrand::Rng::with_seed(seed.wrapping_mul(31).wrapping_add(17)),
            attacks: Vec::new(),
        });
        self
    }

    /// The attacks injected so far.
    pub fn attacks(&self) -> Vec<Attack> {
        self.scenario
            .as_ref()
            .map(|p| p.attacks.clone())
            .unwrap_or_default()
    }

    /// Starts the attack that is due, if one is: its requests become the
    /// burst that the next records play.
    pub(super) fn start_due_attack(&mut self) {
        let Some(plan) = self.scenario.as_mut() else {
            return;
        };
        let Some(&(when, rule)) = plan.due.front() else {
            return;
        };
        if when > self.now {
            return;
        }
        plan.due.pop_front();
        // The attack draws from its own generator (see the module comment).
        std::mem::swap(&mut self.r, &mut plan.rng);
        let (key, events) = self.attack(rule);
        let plan = self.scenario.as_mut().expect("the plan is there");
        std::mem::swap(&mut self.r, &mut plan.rng);
        plan.attacks.push(Attack {
            rule: rule.to_string(),
            key,
            at: micro_time_string(self.now),
            audit_ids: events.iter().map(|e| e.audit_id.clone()).collect(),
        });
        self.burst.extend(events);
    }

    /// The scenario's own benign noise, now and then instead of the steady
    /// mix's: its first request (the rest follow as a burst).
    pub(super) fn scenario_noise(&mut self) -> Option<Event> {
        let x = self.r.f64();
        let mut burst = Vec::new();
        if x < 0.01 {
            // The ingress controller resyncs: every namespace's TLS secrets.
            let (user, ip, ua) = self.operator(INGRESS);
            for ns in NAMESPACES {
                for app in &APPS[..3] {
                    let name = format!("{app}-tls");
                    let who = (user.clone(), ip.clone());
                    burst.push(self.secret("get", who, ua, Some(ns), Some(&name), 200));
                }
            }
        } else if x < 0.06 {
            // A kubelet starts a pod: it reads, then watches, its secrets.
            let (user, ip, _) = self.kubelet();
            let ns = self.pick(NAMESPACES);
            let app = self.pick(APPS);
            let names = [
                format!("{app}-db-credentials"),
                format!("{app}-tls"),
                format!("{app}-token-x7k2p"),
            ];
            for name in &names[..1 + self.r.usize(..3)] {
                for verb in ["get", "watch"] {
                    let who = (user.clone(), ip.clone());
                    burst.push(self.secret(
                        verb,
                        who,
                        super::KUBELET_UA,
                        Some(ns),
                        Some(name),
                        200,
                    ));
                }
            }
        } else {
            return None;
        }
        let first = burst.remove(0);
        self.burst.extend(burst);
        Some(first)
    }

    /// The steady mix's draw `x` of a secret actor, as the scenario's small
    /// cluster has them: it deploys with Helm a fifth as often (about a
    /// hundred times a day), a workload's read instead.
    pub(super) fn scenario_mix(&mut self, x: f64) -> f64 {
        const HELM: std::ops::Range<f64> = 0.60..0.66;
        if HELM.contains(&x) && self.r.f64() < 0.8 {
            return (x - HELM.start) / (HELM.end - HELM.start) * 0.40;
        }
        x
    }

    /// The requests of one attack, and who (or where) it comes from.
    ///
    /// Long: one arm per attack, each a few lines; read together they show
    /// that each attack is built to meet exactly one rule.
    fn attack(&mut self, rule: &str) -> (String, Vec<Event>) {
        let anonymous = || Cluster::plain("system:anonymous", &["system:unauthenticated"]);
        let kubectl = KUBECTL_UA[0];
        let mut out = Vec::new();
        let key = match rule {
            "anonymous-probing" => {
                // A scanner that found the endpoint tries door after door.
                let ip = "45.155.205.233".to_string();
                for i in 0..30 {
                    let ns = (i % 3 != 0).then(|| NAMESPACES[i % NAMESPACES.len()]);
                    let verb = if ns.is_some() { "get" } else { "list" };
                    let name = ns.map(|_| "api-db-credentials");
                    let who = (anonymous(), ip.clone());
                    out.push(self.secret(verb, who, "python-requests/2.31.0", ns, name, 403));
                }
                ip
            }
            "anonymous-access-allowed" => {
                // RBAC grants system:anonymous a secret, and someone takes it.
                let ip = "198.18.7.21".to_string();
                let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
                for name in ["bootstrap-token-abcdef", "aws-load-balancer-tls"] {
                    let who = (anonymous(), ip.clone());
                    out.push(self.secret("get", who, ua, Some("kube-system"), Some(name), 200));
                }
                ip
            }
            "new-source-for-principal" => {
                // bob's credentials, used from an address bob never used.
                let (user, _) = self.human(1);
                let who = (user, "185.220.101.47".to_string());
                for name in ["billing-db-credentials", "api-db-credentials"] {
                    out.push(self.secret(
                        "get",
                        who.clone(),
                        kubectl,
                        Some("payments"),
                        Some(name),
                        200,
                    ));
                }
                HUMANS[1].0.to_string()
            }
            "cluster-wide-secret-list" => {
                // The admin's credentials dump every secret of the cluster.
                let who = self.human(0);
                out.push(self.secret("list", who, kubectl, None, None, 200));
                HUMANS[0].0.to_string()
            }
            "bulk-secret-reads" => {
                // carol's session reads credentials namespace after namespace.
                let who = self.human(2);
                for ns in ["prod", "payments", "data", "staging", "default", "argocd"] {
                    for app in &APPS[..4] {
                        let name = format!("{app}-db-credentials");
                        out.push(self.secret(
                            "get",
                            who.clone(),
                            kubectl,
                            Some(ns),
                            Some(&name),
                            200,
                        ));
                    }
                }
                HUMANS[2].0.to_string()
            }
            "cross-namespace-service-account" => {
                // A compromised pod in staging reaches into production.
                let who = self.sa("staging", "worker");
                let ua = "worker/1.0 (linux/amd64) kubernetes/$Format";
                for (ns, name) in [
                    ("payments", "billing-db-credentials"),
                    ("prod", "api-db-credentials"),
                ] {
                    out.push(self.secret("get", who.clone(), ua, Some(ns), Some(name), 200));
                }
                who.0.username
            }
            "scripting-client" => {
                // Someone in the api pod reads its token by hand.
                let who = self.sa("prod", "api");
                for _ in 0..2 {
                    out.push(self.secret(
                        "get",
                        who.clone(),
                        "curl/8.5.0",
                        Some("prod"),
                        Some("api-db-credentials"),
                        200,
                    ));
                }
                who.0.username
            }
            "denied-burst" => {
                // A stolen service account token tries namespace after namespace.
                let who = self.sa("data", "search");
                for i in 0..15 {
                    let ns = NAMESPACES[i % NAMESPACES.len()];
                    let ua = "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625";
                    out.push(self.secret(
                        "get",
                        who.clone(),
                        ua,
                        Some(ns),
                        Some("api-db-credentials"),
                        403,
                    ));
                }
                who.0.username
            }
            "secret-payload-in-log" => {
                // An audit policy at RequestResponse logs a secret's value.
                let who = self.human(3);
                let mut ev = self.secret(
                    "update",
                    who,
                    "Helm/3.14.3",
                    Some("prod"),
                    Some("api-db-credentials"),
                    200,
                );
                ev.level = "RequestResponse";
                ev.request_object = Some(serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "api-db-credentials", "namespace": "prod"},
                    // base64 of "s3cr3t-value": a test looks for it in output.
                    "data": {"password": "czNjcjN0LXZhbHVl"},
                }));
                out.push(ev);
                HUMANS[3].0.to_string()
            }
            other => unreachable!("no attack for {other}"),
        };
        (key, out)
    }
}
