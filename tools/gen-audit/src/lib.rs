//! gen-audit: realistic, deterministic Amazon EKS audit logs in every export
//! format secret-audit reads, and the ground truth of what they hold.
//!
//! The same seed gives the same events in every format ([`cluster`] says
//! what a cluster does; [`format`] how each export writes it). `--stages-all`
//! adds a RequestReceived record before some requests' first stage;
//! `--exotic` adds impersonation, 401 answers and Panic stages to some secret
//! requests. Neither changes the other events. `--scenario two-day` writes a
//! small cluster's benign day and then a day with one labelled attack of
//! each kind the detection rules know (the truth's `attacks`);
//! `--only-secrets` writes only the records on secrets.
//!
//! A development tool: the tests, `scripts/make-fixtures` and `scripts/bench`
//! use it; the shipped binary does not depend on it.

pub mod cluster;
pub mod event;
pub mod format;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use cluster::{Attack, Cluster};
pub use event::Event;
pub use format::Format;

/// How much to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// This many requests (a request may be written as several records).
    Requests(u64),
    /// Stop once about this many bytes were written, before compression.
    Bytes(u64),
    /// Stop at this many microseconds after the start.
    Span(i64),
}

/// A story the cluster tells instead of its steady mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// A benign day, then a day with one labelled attack of each kind.
    TwoDay,
}

impl Scenario {
    /// How long the scenario runs, in microseconds.
    pub fn span(self) -> i64 {
        match self {
            Scenario::TwoDay => 2 * 86_400_000_000,
        }
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Scenario, String> {
        match s {
            "two-day" => Ok(Scenario::TwoDay),
            _ => Err(format!("unknown scenario {s:?}; the one there is: two-day")),
        }
    }
}

/// What to generate and how to write it.
#[derive(Clone, Debug)]
pub struct Spec {
    pub seed: u64,
    /// The time of the first request.
    pub start: DateTime<Utc>,
    pub stages_all: bool,
    pub exotic: bool,
    pub size: Size,
    pub format: Format,
    pub gzip: bool,
    pub scenario: Option<Scenario>,
    /// Write only the records on secrets (what a filter on secrets lets
    /// through); the truth counts what was written.
    pub only_secrets: bool,
}

impl Spec {
    /// 1,000 requests as JSON lines from 2026-11-01T00:00:00Z, seed 7.
    pub fn new(format: Format) -> Spec {
        Spec {
            seed: 7,
            start: "2026-11-01T00:00:00Z".parse().unwrap(),
            stages_all: false,
            exotic: false,
            size: Size::Requests(1000),
            format,
            gzip: false,
            scenario: None,
            only_secrets: false,
        }
    }

    /// The two-day scenario as JSON lines of the records on secrets, seed 7.
    pub fn two_day() -> Spec {
        Spec {
            scenario: Some(Scenario::TwoDay),
            size: Size::Span(Scenario::TwoDay.span()),
            only_secrets: true,
            ..Spec::new(Format::Jsonl)
        }
    }

    pub fn cluster(&self) -> Cluster {
        let start = self.start.timestamp_micros();
        let cluster = Cluster::new(self.seed, start, self.stages_all, self.exotic);
        match self.scenario {
            Some(Scenario::TwoDay) => cluster.two_day(self.seed),
            None => cluster,
        }
    }

    fn done(&self, requests: u64, bytes: u64, cluster: &Cluster) -> bool {
        match self.size {
            Size::Requests(n) => requests >= n,
            Size::Bytes(n) => bytes >= n,
            Size::Span(span) => cluster.now() >= self.start.timestamp_micros() + span,
        }
    }

    /// Writes the log to `out`; returns its truth.
    pub fn write<W: Write>(&self, mut out: W) -> io::Result<Truth> {
        if !self.gzip {
            return self.generate(&mut out);
        }
        let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::new(6));
        let truth = self.generate(&mut gz)?;
        gz.finish()?;
        Ok(truth)
    }

    fn generate(&self, out: &mut dyn Write) -> io::Result<Truth> {
        let mut writer = format::Writer::new(self.format, self.seed, out);
        let mut truth = Tally::default();
        let mut cluster = self.cluster();
        let mut records = Vec::new();
        let mut requests = 0;
        while !self.done(requests, writer.written(), &cluster) {
            requests += 1;
            records.clear();
            cluster.next_records(&mut records);
            for ev in &records {
                if self.only_secrets && !ev.is_secret() {
                    continue;
                }
                truth.note(ev);
                writer.record(ev)?;
            }
        }
        writer.finish()?;
        let mut truth = truth.finish();
        truth.attacks = cluster.attacks();
        Ok(truth)
    }

    /// The records themselves, in the order a log holds them (for tests that
    /// put them somewhere else, such as into CloudWatch). A size in bytes
    /// counts their compact JSON.
    pub fn records(&self) -> Vec<Event> {
        let mut cluster = self.cluster();
        let (mut all, mut requests, mut bytes) = (Vec::new(), 0, 0);
        loop {
            if self.done(requests, bytes, &cluster) {
                return all;
            }
            requests += 1;
            let from = all.len();
            cluster.next_records(&mut all);
            if self.only_secrets {
                let mut i = from;
                while i < all.len() {
                    if all[i].is_secret() {
                        i += 1;
                    } else {
                        all.remove(i);
                    }
                }
            }
            if let Size::Bytes(_) = self.size {
                bytes += all[from..]
                    .iter()
                    .map(|e| e.to_json().len() as u64 + 1)
                    .sum::<u64>();
            }
        }
    }

    /// Writes the log to a file (buffered); returns its truth.
    pub fn write_file(&self, path: &Path) -> io::Result<Truth> {
        let file = File::create(path)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let truth = self.write(&mut out)?;
        out.flush()?;
        Ok(truth)
    }
}

/// An age before now (`now`, `now-2h`, `now-30m`) or an RFC 3339 time.
pub fn parse_start(text: &str) -> Result<DateTime<Utc>, String> {
    let Some(rest) = text.strip_prefix("now") else {
        return text
            .parse::<DateTime<Utc>>()
            .map_err(|e| format!("{text:?}: not RFC 3339 ({e}), nor now-AGE"));
    };
    let now = Utc::now();
    if rest.is_empty() {
        return Ok(now);
    }
    let bad = || format!("{text:?}: expected now, now-90m, now-2h, now+1d ...");
    let (sign, rest) = match rest.as_bytes()[0] {
        b'-' => (-1, &rest[1..]),
        b'+' => (1, &rest[1..]),
        _ => return Err(bad()),
    };
    let unit = rest.chars().last().ok_or_else(bad)?;
    let n = i64::from_str(&rest[..rest.len() - unit.len_utf8()]).map_err(|_| bad())?;
    let secs = match unit {
        's' => n,
        'm' => n * 60,
        'h' => n * 3600,
        'd' => n * 86400,
        _ => return Err(bad()),
    };
    Ok(now + chrono::Duration::seconds(sign * secs))
}

/// What a log holds, counted as secret-audit must count it (DESIGN.md).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truth {
    /// Audit events written, RequestReceived records included.
    pub records: u64,
    /// Those whose objectRef.resource is "secrets".
    pub secret_records: u64,
    /// Distinct secret requests (by auditID).
    pub secret_requests: u64,
    pub secret_requests_by_verb: BTreeMap<String, u64>,
    /// Requests whose latest stage with a code answered 401 or 403.
    pub secret_denied: u64,
    /// Distinct (namespace, secret, effective user) of secret requests, `*`
    /// standing for a missing namespace or name.
    pub distinct_namespace_secret_user: u64,
    /// Log events a correct read metric filter counts: secrets,
    /// get/list/watch, ResponseComplete, code below 400.
    pub metric_read_events: u64,
    /// The attacks a scenario injected, each with the rule that must
    /// report it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attacks: Vec<Attack>,
}

/// Counts a log's truth record by record.
#[derive(Default)]
struct Tally {
    records: u64,
    secret_records: u64,
    metric_read_events: u64,
    /// auditID -> (verb, code of the latest stage that had one).
    requests: HashMap<String, (&'static str, Option<u16>)>,
    keys: HashSet<(String, String, String)>,
}

impl Tally {
    fn note(&mut self, ev: &Event) {
        self.records += 1;
        let Some(obj) = ev.object_ref.as_ref().filter(|o| o.resource == "secrets") else {
            return;
        };
        self.secret_records += 1;
        let code = ev.code();
        if matches!(ev.verb, "get" | "list" | "watch")
            && ev.stage == "ResponseComplete"
            && code.is_some_and(|c| c < 400)
        {
            self.metric_read_events += 1;
        }
        match self.requests.get_mut(&ev.audit_id) {
            Some(known) => {
                if code.is_some() {
                    known.1 = code;
                }
            }
            None => {
                self.requests.insert(ev.audit_id.clone(), (ev.verb, code));
                self.keys.insert((
                    obj.namespace.clone().unwrap_or_else(|| "*".into()),
                    obj.name.clone().unwrap_or_else(|| "*".into()),
                    ev.effective_user().to_string(),
                ));
            }
        }
    }

    fn finish(self) -> Truth {
        let mut by_verb = BTreeMap::new();
        let mut denied = 0;
        for (verb, code) in self.requests.values() {
            *by_verb.entry(verb.to_string()).or_insert(0) += 1;
            if matches!(code, Some(401 | 403)) {
                denied += 1;
            }
        }
        Truth {
            records: self.records,
            secret_records: self.secret_records,
            secret_requests: self.requests.len() as u64,
            secret_requests_by_verb: by_verb,
            secret_denied: denied,
            distinct_namespace_secret_user: self.keys.len() as u64,
            metric_read_events: self.metric_read_events,
            attacks: Vec::new(),
        }
    }
}
