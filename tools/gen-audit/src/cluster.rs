//! The simulated cluster: who talks to the API server and what they ask for.
//!
//! The mix imitates an EKS control plane on a busy day: controllers renewing
//! leases, kubelets patching node status, informers watching, health probes,
//! and about 4.5 % of records on secrets, most of them the noise a healthy
//! cluster makes all day (workloads reading their own secrets, operators that
//! watch secrets cluster-wide, external-secrets refreshes, cert-manager
//! renewals, Helm deploys from CI, a nightly backup, dashboard sidecars, apps
//! missing an RBAC rule) and a few requests worth a look (service accounts
//! reaching into other namespaces, anonymous probes). Humans come from a few
//! stable addresses; pods keep their address until they are replaced.
//!
//! A watch is logged at ResponseStarted and again at ResponseComplete when it
//! ends: a few seconds later when the client goes away, otherwise at its
//! timeout, five to ten minutes later. A watch still open when the log ends
//! has only its first stage.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

use crate::event::{Event, ObjectRef, ResponseStatus, User};

mod scenario;
pub use scenario::Attack;

pub const ACCOUNT: &str = "123456789012";
const HEX: &[u8; 16] = b"0123456789abcdef";

const NAMESPACES: &[&str] = &[
    "default",
    "kube-system",
    "prod",
    "staging",
    "payments",
    "monitoring",
    "cert-manager",
    "argocd",
    "ingress-nginx",
    "data",
    "flux-system",
];
const APPS: &[&str] = &[
    "api", "web", "worker", "billing", "auth", "search", "ledger", "notifier",
];

/// Control-plane components and EKS's own principals: (user, user agent).
const CONTROL_PLANE: &[(&str, &str)] = &[
    (
        "system:kube-controller-manager",
        "kube-controller-manager/v1.29.3 (linux/amd64) kubernetes/6813625/leader-election",
    ),
    (
        "system:kube-scheduler",
        "kube-scheduler/v1.29.3 (linux/amd64) kubernetes/6813625/leader-election",
    ),
    (
        "eks:cloud-controller-manager",
        "aws-cloud-controller-manager/v1.29.0 (linux/amd64) kubernetes/$Format",
    ),
    (
        "eks:certificate-controller",
        "eks-certificates-controller/v0.0.0 (linux/amd64) kubernetes/$Format",
    ),
    (
        "eks:addon-manager",
        "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625",
    ),
    (
        "eks:k8s-metrics",
        "eks-k8s-metrics/v0.0.0 (linux/amd64) kubernetes/$Format",
    ),
    (
        "eks:node-manager",
        "eks-node-manager/v0.0.0 (linux/amd64) kubernetes/$Format",
    ),
];

/// Operators running in the cluster under a service account:
/// (namespace, service account, user agent).
const OPERATORS: &[(&str, &str, &str)] = &[
    (
        "kube-system",
        "aws-load-balancer-controller",
        "aws-load-balancer-controller/v2.7.1",
    ),
    (
        "cert-manager",
        "cert-manager",
        "cert-manager-controller/v1.14.4",
    ),
    (
        "argocd",
        "argocd-application-controller",
        "argocd-application-controller/v2.10.4",
    ),
    (
        "monitoring",
        "prometheus-operator",
        "PrometheusOperator/0.72.0",
    ),
    (
        "kube-system",
        "external-secrets",
        "external-secrets/v0.9.13",
    ),
    (
        "ingress-nginx",
        "ingress-nginx",
        "nginx-ingress-controller/v1.10.0",
    ),
    (
        "flux-system",
        "kustomize-controller",
        "kustomize-controller/v1.2.2",
    ),
    ("flux-system", "helm-controller", "helm-controller/v0.37.4"),
    ("kube-system", "coredns", "coredns/v1.11.1"),
    ("kube-system", "aws-node", "aws-node/v1.18.0"),
];
/// The operators of OPERATORS that watch and list secrets for a living.
const SECRET_OPERATORS: &[usize] = &[1, 2, 3, 4, 5, 6, 7];
const EXTERNAL_SECRETS: usize = 4;
const CERT_MANAGER: usize = 1;

/// People and CI, with the addresses they come from (an office, a VPN, a
/// runner's NAT): (username, IAM ARN, principal id, session, addresses).
const HUMANS: &[(&str, &str, &str, &str, &[&str])] = &[
    (
        "kubernetes-admin",
        "arn:aws:iam::123456789012:role/eks-admin",
        "AROAEXAMPLEADMIN",
        "alice",
        &["203.0.113.10", "10.20.4.17"],
    ),
    (
        "arn:aws:sts::123456789012:assumed-role/Developer/bob",
        "arn:aws:sts::123456789012:assumed-role/Developer/bob",
        "AROAEXAMPLEDEV",
        "bob",
        &["198.51.100.23"],
    ),
    (
        "arn:aws:sts::123456789012:assumed-role/OnCall/carol",
        "arn:aws:sts::123456789012:assumed-role/OnCall/carol",
        "AROAEXAMPLEONCALL",
        "carol",
        &["203.0.113.77", "2001:db8:4:17::2a"],
    ),
    (
        "ci-deployer",
        "arn:aws:iam::123456789012:role/github-actions",
        "AROAEXAMPLECI",
        "gha-run",
        &["192.0.2.140"],
    ),
];
const CI: usize = 3;
const KUBECTL_UA: &[&str] = &[
    "kubectl/v1.29.3 (darwin/arm64) kubernetes/6813625",
    "kubectl/v1.28.7 (linux/amd64) kubernetes/c8dcb00",
    "Helm/3.14.3",
    "k9s/v0.32.4 (darwin/arm64) kubernetes/$Format",
    "Lens/2024.3",
];
const KUBELET_UA: &str = "kubelet/v1.29.0-eks-5e0fdde (linux/amd64) kubernetes/5e0fdde";
/// Addresses of the EKS control plane's own instances.
const CONTROL_PLANE_IPS: &[&str] = &["172.16.41.12", "172.16.73.201"];

fn secret_names(ns: &str) -> Vec<String> {
    let mut names: Vec<String> = APPS[..4]
        .iter()
        .map(|a| format!("{a}-db-credentials"))
        .collect();
    names.extend(APPS[..3].iter().map(|a| format!("{a}-tls")));
    for a in &APPS[..3] {
        for v in 1..=3 {
            names.push(format!("sh.helm.release.v1.{a}.v{v}"));
        }
    }
    for (a, s) in APPS.iter().zip(["x7k2p", "m9q4z", "c3v8n", "p2w6d"]) {
        names.push(format!("{a}-token-{s}"));
    }
    if ns == "kube-system" {
        names.extend(
            [
                "aws-load-balancer-tls",
                "bootstrap-token-abcdef",
                "external-secrets-webhook",
            ]
            .map(String::from),
        );
    }
    names
}

/// A running pod of a service account: its name and address.
struct Pod {
    name: String,
    uid: String,
    ip: String,
}

/// What the caller asked for: the stream of records an API server writes.
pub struct Cluster {
    /// Draws that shape the event stream.
    r: fastrand::Rng,
    /// Draws kept apart so that `--stages-all` and `--exotic` vary only what
    /// they add: stages, exotic outcomes, watch lifetimes.
    stage_rng: fastrand::Rng,
    exotic_rng: fastrand::Rng,
    watch_rng: fastrand::Rng,
    /// Microseconds since the epoch of the latest request.
    now: i64,
    stages_all: bool,
    exotic: bool,
    nodes: Vec<(String, String)>,
    pods: HashMap<(&'static str, &'static str), Vec<Pod>>,
    secrets: HashMap<&'static str, Vec<String>>,
    /// The rest of a burst begun by one actor (a Helm deploy, a refresh).
    burst: VecDeque<Event>,
    /// Watches still open: (when they end, sequence, the event to log then).
    open: BinaryHeap<Reverse<(i64, u64, OpenWatch)>>,
    opened: u64,
    /// The two-day scenario (`--scenario two-day`), when it runs.
    scenario: Option<scenario::Plan>,
}

/// A watch's ResponseComplete record, waiting for its time.
struct OpenWatch(Box<Event>);

impl PartialEq for OpenWatch {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for OpenWatch {}
impl PartialOrd for OpenWatch {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OpenWatch {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl Cluster {
    pub fn new(seed: u64, start_micros: i64, stages_all: bool, exotic: bool) -> Cluster {
        let mut r = fastrand::Rng::with_seed(seed);
        let side = |k: u64| fastrand::Rng::with_seed(seed.wrapping_mul(7919).wrapping_add(k));
        let nodes = (0..12)
            .map(|_| {
                let (a, b) = (r.u8(0..64), r.u8(1..255));
                (
                    format!("ip-192-168-{a}-{b}.ec2.internal"),
                    format!("192.168.{a}.{b}"),
                )
            })
            .collect();
        Cluster {
            r,
            stage_rng: side(1),
            exotic_rng: side(2),
            watch_rng: side(3),
            now: start_micros,
            stages_all,
            exotic,
            nodes,
            pods: HashMap::new(),
            secrets: NAMESPACES
                .iter()
                .map(|ns| (*ns, secret_names(ns)))
                .collect(),
            burst: VecDeque::new(),
            open: BinaryHeap::new(),
            opened: 0,
            scenario: None,
        }
    }

    /// Microseconds since the epoch of the latest request.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// The records of the next request: usually one; with `--stages-all`
    /// sometimes a RequestReceived record first; or a watch that ends now.
    pub fn next_records(&mut self, out: &mut Vec<Event>) {
        let gap = i64::from(self.r.u32(200..=4000));
        self.now += match &self.scenario {
            Some(_) => gap * scenario::SLOWER,
            None => gap,
        };
        if self.burst.is_empty() {
            self.start_due_attack();
        }
        if let Some(Reverse((due, _, _))) = self.open.peek() {
            if *due <= self.now {
                let Reverse((due, _, OpenWatch(mut done))) = self.open.pop().unwrap();
                done.stage_timestamp = due;
                out.push(*done);
                return;
            }
        }
        let ev = match self.burst.pop_front() {
            Some(mut ev) => {
                let took = ev.stage_timestamp - ev.request_received_timestamp;
                ev.request_received_timestamp = self.now;
                ev.stage_timestamp = self.now + took;
                ev
            }
            None => self.next_request(),
        };
        if ev.verb == "watch" && ev.stage == "ResponseStarted" {
            let mut done = ev.clone();
            done.stage = "ResponseComplete";
            // Clients that go away end a watch early; the rest run to their
            // timeout.
            let lasts = if self.watch_rng.f64() < 0.3 {
                self.watch_rng.i64(50_000..5_000_000)
            } else {
                self.watch_rng.i64(300_000_000..600_000_000)
            };
            self.opened += 1;
            self.open.push(Reverse((
                ev.request_received_timestamp + lasts,
                self.opened,
                OpenWatch(Box::new(done)),
            )));
        }
        if self.stages_all && self.stage_rng.f64() < 0.5 {
            let mut received = ev.clone();
            received.stage = "RequestReceived";
            received.stage_timestamp = received.request_received_timestamp;
            received.response_status = None;
            out.push(received);
        }
        out.push(ev);
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.r.usize(..xs.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.r.f64() < p
    }

    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(HEX[self.r.usize(..16)]))
            .collect()
    }

    fn uid(&mut self) -> String {
        let mut b = self.r.u128(..).to_be_bytes();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let mut s = String::with_capacity(36);
        for (i, x) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            s.push(char::from(HEX[usize::from(x >> 4)]));
            s.push(char::from(HEX[usize::from(x & 15)]));
        }
        s
    }

    fn pod_ip(&mut self) -> String {
        format!("192.168.{}.{}", self.r.u8(0..64), self.r.u8(1..255))
    }

    /// A service account's user, from one of its pods. Pods are replaced now
    /// and then, and come back with a new name and address.
    fn sa(&mut self, ns: &'static str, sa: &'static str) -> (User, String) {
        if !self.pods.contains_key(&(ns, sa)) || self.chance(0.002) {
            let replicas = 1 + self.r.usize(..3);
            let pods = (0..replicas)
                .map(|_| Pod {
                    name: format!("{sa}-{}-{}", self.hex(9), self.hex(5)),
                    uid: self.uid(),
                    ip: self.pod_ip(),
                })
                .collect();
            self.pods.insert((ns, sa), pods);
        }
        let uid = self.uid();
        let pods = &self.pods[&(ns, sa)];
        let pod = &pods[self.r.usize(..pods.len())];
        let mut extra = BTreeMap::new();
        extra.insert(
            "authentication.kubernetes.io/pod-name",
            vec![pod.name.clone()],
        );
        extra.insert(
            "authentication.kubernetes.io/pod-uid",
            vec![pod.uid.clone()],
        );
        let user = User {
            username: format!("system:serviceaccount:{ns}:{sa}"),
            uid: Some(uid),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
            extra: Some(extra),
        };
        (user, pod.ip.clone())
    }

    fn operator(&mut self, i: usize) -> (User, String, &'static str) {
        let (ns, sa, ua) = OPERATORS[i];
        let (user, ip) = self.sa(ns, sa);
        (user, ip, ua)
    }

    fn human(&mut self, i: usize) -> (User, String) {
        let (name, arn, key, session, ips) = HUMANS[i];
        let mut extra = BTreeMap::new();
        extra.insert(
            "accessKeyId",
            vec![format!("ASIA{}", self.hex(16).to_uppercase())],
        );
        extra.insert("arn", vec![arn.to_string()]);
        let canonical = match arn.split('/').collect::<Vec<_>>()[..] {
            [role, name, _session] if arn.contains("assumed-role") => format!("{role}/{name}"),
            _ => arn.to_string(),
        };
        extra.insert("canonicalArn", vec![canonical]);
        extra.insert("principalId", vec![key.to_string()]);
        extra.insert("sessionName", vec![session.to_string()]);
        let group = if name == "kubernetes-admin" {
            "system:masters"
        } else {
            "developers"
        };
        let user = User {
            username: name.into(),
            uid: Some(format!("aws-iam-authenticator:{ACCOUNT}:{key}")),
            groups: vec![group.into(), "system:authenticated".into()],
            extra: Some(extra),
        };
        let ip = self.pick(ips).to_string();
        (user, ip)
    }

    fn plain(username: &str, groups: &[&str]) -> User {
        User {
            username: username.into(),
            uid: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            extra: None,
        }
    }

    fn control_plane(&mut self) -> (User, String, &'static str) {
        let (u, ua) = self.pick(CONTROL_PLANE);
        let ip = self.pick(CONTROL_PLANE_IPS).to_string();
        (Self::plain(u, &["system:authenticated"]), ip, ua)
    }

    fn kubelet(&mut self) -> (User, String, String) {
        let (node, ip) = self.nodes[self.r.usize(..self.nodes.len())].clone();
        let user = Self::plain(
            &format!("system:node:{node}"),
            &["system:nodes", "system:authenticated"],
        );
        (user, ip, node)
    }

    fn scanner_ip(&mut self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.r.u8(1..224),
            self.r.u8(0..=255),
            self.r.u8(0..=255),
            self.r.u8(1..255)
        )
    }

    fn secret_of(&mut self, ns: &'static str) -> String {
        let names = &self.secrets[ns];
        names[self.r.usize(..names.len())].clone()
    }

    /// One request, built the way the API server logs it.
    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        verb: &'static str,
        (user, ip): (User, String),
        ua: &str,
        resource: Option<&'static str>,
        ns: Option<&str>,
        name: Option<&str>,
        group: &'static str,
        code: u16,
    ) -> Event {
        let recv = self.now;
        let done = recv + i64::from(self.r.u32(300..=30_000));
        let mut uri = String::new();
        if let Some(resource) = resource {
            uri.push_str(if group.is_empty() {
                "/api/v1"
            } else {
                "/apis/"
            });
            if !group.is_empty() {
                uri.push_str(group);
                uri.push_str("/v1");
            }
            if let Some(ns) = ns {
                uri.push_str("/namespaces/");
                uri.push_str(ns);
            }
            uri.push('/');
            uri.push_str(resource);
            if let Some(name) = name {
                uri.push('/');
                uri.push_str(name);
            }
            if verb == "watch" {
                uri.push_str(&format!(
                    "?allowWatchBookmarks=true&resourceVersion={}&timeout=7m{}s&timeoutSeconds={}&watch=true",
                    self.r.u32(1_000_000..100_000_000),
                    self.r.u8(0..60),
                    self.r.u16(300..=600)
                ));
            } else if verb == "list" {
                uri.push_str("?limit=500&resourceVersion=0");
            }
        }
        let object_ref = resource.map(|resource| ObjectRef {
            resource: resource.into(),
            namespace: ns.map(str::to_string),
            name: name.map(str::to_string),
            api_group: (!group.is_empty()).then_some(group),
            api_version: "v1",
            subresource: None,
        });
        let mut status = ResponseStatus {
            code,
            ..ResponseStatus::default()
        };
        if code >= 400 {
            let what = resource.unwrap_or("");
            status.status = Some("Failure".into());
            status.message = Some(format!(
                "{what} \"{}\" is forbidden: User \"{}\" cannot {verb} resource \"{what}\" in API group \"{group}\" in the namespace \"{}\"",
                name.unwrap_or(""),
                user.username,
                ns.unwrap_or("")
            ));
            status.reason = Some("Forbidden".into());
        }
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "authorization.k8s.io/decision",
            if code == 403 { "forbid" } else { "allow" }.to_string(),
        );
        let reason = if code == 403 {
            String::new()
        } else {
            let what = resource.unwrap_or("nonresource");
            format!(
                "RBAC: allowed by ClusterRoleBinding \"system:{what}\" of ClusterRole \"system:{what}\" to User \"{}\"",
                user.username
            )
        };
        annotations.insert("authorization.k8s.io/reason", reason);
        if self.chance(0.1) {
            annotations.insert(
                "pod-security.kubernetes.io/enforce-policy",
                "privileged:latest".into(),
            );
        }
        let long_running = verb == "watch";
        Event {
            kind: "Event",
            api_version: "audit.k8s.io/v1",
            level: "Metadata",
            audit_id: self.uid(),
            stage: if long_running {
                "ResponseStarted"
            } else {
                "ResponseComplete"
            },
            request_uri: uri,
            verb,
            user,
            impersonated_user: None,
            source_ips: vec![ip],
            user_agent: ua.to_string(),
            object_ref,
            response_status: Some(status),
            request_object: None,
            request_received_timestamp: recv,
            stage_timestamp: done,
            annotations,
        }
    }

    fn next_request(&mut self) -> Event {
        let x = self.r.f64();
        if x < 0.30 {
            // Leader election and node leases.
            if self.chance(0.5) {
                let (user, ip, ua) = self.control_plane();
                let name = user.username.rsplit(':').next().unwrap().to_string();
                let verb = self.pick(&["get", "update"]);
                return self.request(
                    verb,
                    (user, ip),
                    ua,
                    Some("leases"),
                    Some("kube-system"),
                    Some(&name),
                    "coordination.k8s.io",
                    200,
                );
            }
            let (user, ip, node) = self.kubelet();
            let verb = self.pick(&["get", "update"]);
            return self.request(
                verb,
                (user, ip),
                KUBELET_UA,
                Some("leases"),
                Some("kube-node-lease"),
                Some(&node),
                "coordination.k8s.io",
                200,
            );
        }
        if x < 0.40 {
            // Kubelets report node status.
            let (user, ip, node) = self.kubelet();
            let verb = self.pick(&["get", "patch"]);
            let mut ev = self.request(
                verb,
                (user, ip),
                KUBELET_UA,
                Some("nodes"),
                None,
                Some(&node),
                "",
                200,
            );
            if self.chance(0.7) {
                ev.request_uri.push_str("/status");
                ev.object_ref.as_mut().unwrap().subresource = Some("status");
            }
            return ev;
        }
        if x < 0.52 {
            // Informers on configmaps.
            let i = self.r.usize(..OPERATORS.len());
            let (user, ip, ua) = self.operator(i);
            let verb = self.pick(&["get", "list", "watch", "watch"]);
            let ns = self.pick(NAMESPACES);
            let name = (verb == "get").then(|| format!("{}-config", self.pick(APPS)));
            return self.request(
                verb,
                (user, ip),
                ua,
                Some("configmaps"),
                Some(ns),
                name.as_deref(),
                "",
                200,
            );
        }
        if x < 0.64 {
            // Controllers on pods, endpoints and services.
            let ns = self.pick(NAMESPACES);
            let res = self.pick(&["pods", "endpoints", "endpointslices", "services"]);
            let (user, ip, ua) = self.control_plane();
            let verb = self.pick(&["get", "list", "watch", "patch", "update"]);
            let name = matches!(verb, "get" | "patch" | "update")
                .then(|| format!("{}-{}-{}", self.pick(APPS), self.hex(9), self.hex(5)));
            let group = if res == "endpointslices" {
                "discovery.k8s.io"
            } else {
                ""
            };
            return self.request(
                verb,
                (user, ip),
                ua,
                Some(res),
                Some(ns),
                name.as_deref(),
                group,
                200,
            );
        }
        if x < 0.70 {
            // Kubelets record events.
            let (user, ip, _) = self.kubelet();
            let ns = self.pick(NAMESPACES);
            return self.request(
                "create",
                (user, ip),
                KUBELET_UA,
                Some("events"),
                Some(ns),
                None,
                "",
                201,
            );
        }
        if x < 0.76 {
            // Token and access reviews.
            let (res, group) = self.pick(&[
                ("tokenreviews", "authentication.k8s.io"),
                ("subjectaccessreviews", "authorization.k8s.io"),
            ]);
            let i = self.r.usize(..OPERATORS.len());
            let (user, ip, ua) = self.operator(i);
            return self.request("create", (user, ip), ua, Some(res), None, None, group, 201);
        }
        if x < 0.82 {
            // Health checks and metrics: no objectRef.
            let path = self.pick(&[
                "/readyz",
                "/livez",
                "/healthz",
                "/metrics",
                "/version",
                "/openapi/v2",
            ]);
            let (user, ip) = if path == "/metrics" {
                self.sa("monitoring", "prometheus")
            } else {
                let ip = self.pick(CONTROL_PLANE_IPS).to_string();
                (
                    Self::plain("system:anonymous", &["system:unauthenticated"]),
                    ip,
                )
            };
            let mut ev = self.request(
                "get",
                (user, ip),
                "kube-probe/1.29",
                None,
                None,
                None,
                "",
                200,
            );
            ev.request_uri = path.into();
            return ev;
        }
        if x < 0.90 {
            // People and CI reading workloads.
            let ns = self.pick(NAMESPACES);
            let (res, group) = self.pick(&[
                ("deployments", "apps"),
                ("replicasets", "apps"),
                ("pods", ""),
                ("services", ""),
                ("ingresses", "networking.k8s.io"),
            ]);
            let who = self.r.usize(..HUMANS.len());
            let human = self.human(who);
            let ua = self.pick(KUBECTL_UA);
            let verb = self.pick(&["get", "list"]);
            return self.request(verb, human, ua, Some(res), Some(ns), None, group, 200);
        }
        if x < 0.97 {
            // Operators' cluster-scoped informers.
            let i = self.r.usize(..OPERATORS.len());
            let (user, ip, ua) = self.operator(i);
            let res = self.pick(&[
                "namespaces",
                "nodes",
                "customresourcedefinitions",
                "clusterroles",
            ]);
            let verb = self.pick(&["list", "watch"]);
            return self.request(verb, (user, ip), ua, Some(res), None, None, "", 200);
        }
        self.secret_request()
    }

    /// Secrets: 3 % of the requests begun here, and with the bursts some of
    /// them start, about 4.5 % of all records. Returns the first request of what
    /// the actor does; the rest of a burst follows in the next records.
    /// A request on secrets (the core API group).
    fn secret(
        &mut self,
        verb: &'static str,
        who: (User, String),
        ua: &str,
        ns: Option<&str>,
        name: Option<&str>,
        code: u16,
    ) -> Event {
        self.request(verb, who, ua, Some("secrets"), ns, name, "", code)
    }

    fn secret_request(&mut self) -> Event {
        if self.scenario.is_some() {
            if let Some(first) = self.scenario_noise() {
                return first;
            }
        }
        let ns = self.pick(NAMESPACES);
        let mut x = self.r.f64();
        if self.scenario.is_some() {
            x = self.scenario_mix(x);
        }
        let mut burst: Vec<Event> = Vec::new();
        if x < 0.40 {
            // A workload reads its own secrets.
            let app = self.pick(APPS);
            let who = self.sa(ns, app);
            let name = self.secret_of(ns);
            let ua = format!("{app}/1.0 (linux/amd64) kubernetes/$Format");
            burst.push(self.secret("get", who, &ua, Some(ns), Some(&name), 200));
        } else if x < 0.52 {
            // Operators list and watch secrets, cluster-wide or in a namespace.
            let i = self.pick(SECRET_OPERATORS);
            let (user, ip, ua) = self.operator(i);
            let verb = self.pick(&["list", "watch"]);
            let scope = (!self.chance(0.4)).then_some(ns);
            burst.push(self.secret(verb, (user, ip), ua, scope, None, 200));
        } else if x < 0.57 {
            // external-secrets refreshes: reads across namespaces, then
            // updates the secrets it owns.
            let (user, ip, ua) = self.operator(EXTERNAL_SECRETS);
            for _ in 0..3 + self.r.usize(..10) {
                let ns = self.pick(NAMESPACES);
                let name = self.secret_of(ns);
                let verb = if self.chance(0.2) { "update" } else { "get" };
                burst.push(self.secret(
                    verb,
                    (user.clone(), ip.clone()),
                    ua,
                    Some(ns),
                    Some(&name),
                    200,
                ));
            }
        } else if x < 0.60 {
            // cert-manager renews a certificate: read, then update.
            let (user, ip, ua) = self.operator(CERT_MANAGER);
            let name = format!("{}-tls", self.pick(&APPS[..3]));
            for verb in ["get", "update"] {
                burst.push(self.secret(
                    verb,
                    (user.clone(), ip.clone()),
                    ua,
                    Some(ns),
                    Some(&name),
                    200,
                ));
            }
        } else if x < 0.66 {
            // CI deploys with Helm: list the releases, read the last
            // revision, write the next one.
            let who = self.human(CI);
            let app = self.pick(&APPS[..3]);
            let v = 1 + self.r.u8(0..3);
            let last = format!("sh.helm.release.v1.{app}.v{v}");
            let next = format!("sh.helm.release.v1.{app}.v{}", v + 1);
            burst.push(self.secret("list", who.clone(), "Helm/3.14.3", Some(ns), None, 200));
            burst.push(self.secret(
                "get",
                who.clone(),
                "Helm/3.14.3",
                Some(ns),
                Some(&last),
                200,
            ));
            burst.push(self.secret("create", who, "Helm/3.14.3", Some(ns), Some(&next), 201));
        } else if x < 0.76 {
            // People with kubectl, k9s or Helm.
            let verb = self.pick(&["get", "get", "list"]);
            // In the scenario, CI does not browse secrets by hand.
            let people = if self.scenario.is_some() {
                CI
            } else {
                HUMANS.len()
            };
            let who = self.r.usize(..people);
            let human = self.human(who);
            let ua = self.pick(KUBECTL_UA);
            let name = (verb == "get").then(|| self.secret_of(ns));
            burst.push(self.secret(verb, human, ua, Some(ns), name.as_deref(), 200));
        } else if x < 0.80 {
            // A service account reaching into another namespace, refused.
            let app = self.pick(APPS);
            let other = loop {
                let o = self.pick(NAMESPACES);
                if o != ns {
                    break o;
                }
            };
            let who = self.sa(other, app);
            let verb = self.pick(&["get", "list"]);
            let name = self.secret_of(ns);
            burst.push(self.secret(verb, who, "curl/8.5.0", Some(ns), Some(&name), 403));
        } else if x < 0.84 {
            // An app missing an RBAC rule retries in its own namespace.
            let app = self.pick(APPS);
            let who = self.sa(ns, app);
            let name = self.secret_of(ns);
            let ua = format!("{app}/1.0 (linux/amd64) kubernetes/$Format");
            for _ in 0..1 + self.r.usize(..3) {
                burst.push(self.secret("get", who.clone(), &ua, Some(ns), Some(&name), 403));
            }
        } else if x < 0.86 {
            // Scanners probe a public endpoint anonymously and are refused.
            let ip = self.scanner_ip();
            let anonymous = Self::plain("system:anonymous", &["system:unauthenticated"]);
            burst.push(self.secret(
                "list",
                (anonymous, ip),
                "python-requests/2.31.0",
                None,
                None,
                403,
            ));
        } else if x < 0.87 {
            // The nightly backup lists every secret of the cluster.
            let who = self.sa("velero", "velero");
            burst.push(self.secret(
                "list",
                who,
                "velero-server/v1.13.0 (linux/amd64) kubernetes/$Format",
                None,
                None,
                200,
            ));
        } else if x < 0.90 {
            // A dashboard sidecar watches its own namespace.
            let who = self.sa("monitoring", "grafana");
            burst.push(self.secret(
                "watch",
                who,
                "grafana-sidecar/1.26.1",
                Some("monitoring"),
                None,
                200,
            ));
        } else {
            // Writes by people and Argo CD.
            let verb = self.pick(&["create", "update", "patch", "delete", "deletecollection"]);
            let who = if self.chance(0.5) {
                let i = self.r.usize(..HUMANS.len());
                self.human(i)
            } else {
                let (user, ip, _) = self.operator(2);
                (user, ip)
            };
            let name = (verb != "deletecollection").then(|| self.secret_of(ns));
            let code = if verb == "create" { 201 } else { 200 };
            burst.push(self.secret(verb, who, "Helm/3.14.3", Some(ns), name.as_deref(), code));
        }
        if self.exotic {
            for ev in &mut burst {
                self.exotic(ev);
            }
        }
        let first = burst.remove(0);
        self.burst.extend(burst);
        first
    }

    /// `--exotic`: impersonation, a bad token, a panicking handler.
    fn exotic(&mut self, ev: &mut Event) {
        let x = self.exotic_rng.f64();
        let ns = ev
            .object_ref
            .as_ref()
            .and_then(|o| o.namespace.clone())
            .unwrap_or_else(|| "default".into());
        if x < 0.05 {
            // An admin acting as a workload.
            let app = APPS[self.exotic_rng.usize(..APPS.len())];
            ev.impersonated_user = Some(User {
                username: format!("system:serviceaccount:{ns}:{app}"),
                uid: None,
                groups: vec![
                    "system:serviceaccounts".into(),
                    "system:authenticated".into(),
                ],
                extra: None,
            });
        } else if x < 0.08 && ev.stage == "ResponseComplete" {
            // An expired or bad token.
            ev.response_status = Some(ResponseStatus {
                status: Some("Failure".into()),
                message: Some("Unauthorized".into()),
                reason: Some("Unauthorized".into()),
                code: 401,
                ..ResponseStatus::default()
            });
            ev.user = Self::plain("system:anonymous", &["system:unauthenticated"]);
        } else if x < 0.09 && ev.stage == "ResponseComplete" {
            // The handler panicked.
            ev.stage = "Panic";
            ev.response_status = Some(ResponseStatus {
                status: Some("Failure".into()),
                message: Some("APIServer panic'd".into()),
                reason: None,
                code: 500,
                ..ResponseStatus::default()
            });
        }
    }
}
