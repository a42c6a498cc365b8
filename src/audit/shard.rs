//! The front of the pipeline, one per thread: every reader hands it records
//! with their origin; it frames, classifies and filters them, counts them
//! (record accounting) and adds the secret requests to the run's one
//! [`Ledger`](super::ledger::Ledger), which counts each request once and
//! feeds the rollup ([`Grouped`]). Splitting the input across threads or
//! files never changes a count.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::event::{classify, Classified, SecretAccess};
use super::group::{Grouped, Grouping};
pub use super::group::{Interner, Sym};
use super::ledger::{Ledger, Request, Retention, Shared};
pub use super::origin::{Origin, Position};
use super::scan;
use super::tap::Tap;

pub use super::scan::NEEDLE;

/// Record accounting, as DESIGN.md defines it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub records: u64,
    pub malformed: u64,
    pub skipped: u64,
    pub filtered: u64,
    pub secret_records: u64,
    /// Secret records that carried a request or response body.
    pub payload_records: u64,
    /// The earliest and latest time of any secret record, filtered out or
    /// not (to say what a window that excluded everything missed).
    pub secret_first: Option<i64>,
    pub secret_last: Option<i64>,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.records += o.records;
        self.malformed += o.malformed;
        self.skipped += o.skipped;
        self.filtered += o.filtered;
        self.secret_records += o.secret_records;
        self.payload_records += o.payload_records;
        self.see(o.secret_first);
        self.see(o.secret_last);
    }

    fn see(&mut self, time: Option<i64>) {
        if let Some(t) = time {
            self.secret_first = Some(self.secret_first.map_or(t, |f| f.min(t)));
            self.secret_last = Some(self.secret_last.map_or(t, |l| l.max(t)));
        }
    }
}

#[derive(Debug, Clone)]
pub struct Malformed {
    pub at: Origin,
    pub reason: String,
}

/// Which secret records count (`--since`, `--until`, `--namespace`, `--user`).
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub namespaces: Vec<String>,
    pub users: Vec<String>,
}

impl Filter {
    fn admits(&self, s: &SecretAccess<'_>) -> bool {
        if self.since.is_some() || self.until.is_some() {
            let Some(t) = s.time else { return false };
            if self.since.is_some_and(|since| t < since)
                || self.until.is_some_and(|until| t >= until)
            {
                return false;
            }
        }
        // A request without a namespace covers every namespace.
        if !self.namespaces.is_empty()
            && s.namespace
                .as_deref()
                .is_some_and(|ns| !self.namespaces.iter().any(|n| n == ns))
        {
            return false;
        }
        if !self.users.is_empty() && !self.users.iter().any(|u| *u == s.user) {
            return false;
        }
        true
    }
}

/// A test every well-framed record is put to (`test-pattern` counts the log
/// events a filter pattern matches; `queries run` runs a query on them).
/// Records are messages as CloudWatch stores them, whatever their
/// container, with where they were read and what the container said.
pub type Probe = Arc<dyn Fn(&[u8], &Origin, &Stamp<'_>) -> bool + Send + Sync>;

/// What a container says about a record besides its message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamp<'a> {
    /// The container's timestamp, in microseconds.
    pub time: Option<i64>,
    /// The log stream it names.
    pub stream: Option<&'a str>,
    /// When CloudWatch Logs ingested the event, in milliseconds.
    pub ingestion: Option<i64>,
    /// Whether the record holds [`scan::NEEDLE`], where the reader knows.
    pub needle: Option<bool>,
}

impl From<Option<i64>> for Stamp<'static> {
    fn from(time: Option<i64>) -> Stamp<'static> {
        Stamp {
            time,
            ..Stamp::default()
        }
    }
}

/// How many probe matches are kept as examples.
pub const PROBE_EXAMPLES: usize = 5;

/// Settings shared by every shard of a run.
#[derive(Clone)]
pub struct Settings {
    pub filter: Filter,
    pub max_record_size: usize,
    /// Keep every malformed position (with `-v`), not only the first few.
    pub keep_all_malformed: bool,
    /// Parse every record instead of only those with the needle: the
    /// reference path the fast one is tested against.
    pub full_parse: bool,
    /// When set, every well-framed record is also put to the probe.
    pub probe: Option<Probe>,
    /// Classify secret records into the ledger; off when only the probe's
    /// answer is wanted (`queries run`), which then costs nothing more.
    pub classify: bool,
    /// The ledger every shard of the run adds secret requests to: it feeds
    /// the rollup and, in a stream, the tap.
    pub ledger: Arc<Shared<Consumers>>,
}

/// What a run's ledger feeds: the rollup, and the stream's tap.
pub type Consumers = (Grouped, Tap);

/// A ledger for a run over files: the rollup grouped so, every request id
/// kept to the end, no tap.
pub fn ledger(grouping: Grouping) -> Arc<Shared<Consumers>> {
    tapped_ledger(grouping, Tap::default())
}

/// A ledger for a run over files that also hands each request to `tap`.
pub fn tapped_ledger(grouping: Grouping, tap: Tap) -> Arc<Shared<Consumers>> {
    Arc::new(Shared::new(Ledger::new(
        (Grouped::new(grouping), tap),
        Retention::Whole,
    )))
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            filter: Filter::default(),
            max_record_size: 64 << 20,
            keep_all_malformed: false,
            full_parse: false,
            probe: None,
            classify: true,
            ledger: ledger(Grouping::By(super::key::DEFAULT_KEYS.to_vec())),
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("filter", &self.filter)
            .field("max_record_size", &self.max_record_size)
            .field("keep_all_malformed", &self.keep_all_malformed)
            .field("full_parse", &self.full_parse)
            .field("probe", &self.probe.is_some())
            .finish()
    }
}

/// How many malformed records are named without `-v`.
pub const MALFORMED_SHOWN: usize = 5;

/// The per-thread accumulator.
pub struct Shard {
    pub settings: Arc<Settings>,
    /// The run's groups and their strings, moved here from the ledger by
    /// [`Shard::finish`] (empty before).
    pub grouped: Grouped,
    pub counts: Counts,
    /// Per input: (records, malformed).
    pub per_input: FxHashMap<u32, (u64, u64)>,
    pub malformed: Vec<Malformed>,
    /// Lines in each (input, block), to turn block-relative line numbers into
    /// file line numbers.
    pub block_lines: Vec<(u32, u64, u64)>,
    /// Records the probe matched, and the first few of them (held, never
    /// printed as they are: they may carry secret payloads).
    pub probe_matched: u64,
    pub probe_examples: Vec<(Origin, Vec<u8>)>,
}

/// A secret record about to be added to the request table. A thread adds
/// them in batches, taking the table's lock once per batch rather than once
/// per record, so the threads do not hand the table back and forth.
struct Pending<'r> {
    id: u128,
    /// The auditID is a UUID (and `id` is that UUID).
    uuid: bool,
    access: SecretAccess<'r>,
    origin: Origin,
}

/// Secret records per batch.
const BATCH: usize = 64;

/// The prefix before the event on each line of a line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinePrefix {
    /// kube-apiserver audit log: the line is the event.
    None,
    /// CloudWatch Logs export: `<ISO-8601 timestamp> <event>`.
    Timestamp,
}

impl Shard {
    pub fn new(settings: Arc<Settings>) -> Shard {
        Shard {
            settings,
            grouped: Grouped::new(Grouping::Requests),
            counts: Counts::default(),
            per_input: FxHashMap::default(),
            malformed: Vec::new(),
            block_lines: Vec::new(),
            probe_matched: 0,
            probe_examples: Vec::new(),
        }
    }

    /// Counts a malformed record at `at`.
    pub fn malformed(&mut self, at: impl Into<Origin>, reason: impl Into<String>) {
        let at = at.into();
        self.counts.records += 1;
        self.counts.malformed += 1;
        let e = self.per_input.entry(input_of(&at)).or_default();
        e.0 += 1;
        e.1 += 1;
        self.note_malformed(at, reason.into());
    }

    fn note_malformed(&mut self, at: Origin, reason: String) {
        self.malformed.push(Malformed { at, reason });
        if !self.settings.keep_all_malformed && self.malformed.len() >= 4 * MALFORMED_SHOWN {
            self.trim_malformed();
        }
    }

    fn trim_malformed(&mut self) {
        self.malformed.sort_by(|a, b| a.at.cmp(&b.at));
        if !self.settings.keep_all_malformed {
            self.malformed.truncate(MALFORMED_SHOWN);
        }
    }

    /// One record (a JSON object, possibly with surrounding whitespace) found
    /// in a container or a stream, with what the container says of it
    /// (`Option<i64>`: only its timestamp). The container's time is the
    /// container gave it, in microseconds.
    pub fn record<'s>(&mut self, raw: &[u8], at: impl Into<Origin>, stamp: impl Into<Stamp<'s>>) {
        let (at, stamp) = (at.into(), stamp.into());
        let container_time = stamp.time;
        let rec = raw.trim_ascii();
        if let Err(reason) = check_frame(rec, self.settings.max_record_size) {
            if self.text_event(rec, &at, &stamp, reason) {
                self.counts.records += 1;
                self.per_input.entry(input_of(&at)).or_default().0 += 1;
                return;
            }
            return self.malformed(at, reason);
        }
        self.counts.records += 1;
        self.per_input.entry(input_of(&at)).or_default().0 += 1;
        let needle = scan::has_needle(rec);
        self.probe(
            rec,
            &at,
            &Stamp {
                needle: Some(needle),
                ..stamp
            },
        );
        if !self.settings.classify || (!self.settings.full_parse && !needle) {
            self.counts.skipped += 1;
            return;
        }
        if let Some(p) = self.candidate(rec, at, container_time) {
            self.add(std::iter::once(p));
        }
    }

    /// A block of complete lines of a line format (every line ends with `\n`,
    /// except perhaps the last line of the input). Lines are numbered from 1
    /// within the block.
    pub fn lines(&mut self, block: &[u8], input: u32, seq: u64, prefix: LinePrefix) {
        let (max, full) = (self.settings.max_record_size, self.settings.full_parse);
        let classify = self.settings.classify;
        let (mut line_no, mut records, mut skipped) = (0u64, 0u64, 0u64);
        let mut batch = Vec::with_capacity(BATCH);
        scan::for_each_line(block, |start, end, has_needle| {
            line_no += 1;
            let line = block[start..end].trim_ascii();
            if line.is_empty() {
                return;
            }
            let at = || {
                Origin::File(Position {
                    input,
                    block: seq,
                    line: line_no,
                    label: None,
                })
            };
            let (rec, container_time) = match prefix {
                LinePrefix::None => (line, None),
                LinePrefix::Timestamp => match split_timestamp_prefix(line) {
                    Some(parts) => parts,
                    None => {
                        self.malformed(at(), "not a `<timestamp> <event>` line");
                        return;
                    }
                },
            };
            let stamp = Stamp {
                time: container_time,
                needle: Some(has_needle),
                ..Stamp::default()
            };
            if let Err(reason) = check_frame(rec, max) {
                if self.text_event(rec, &at(), &stamp, reason) {
                    records += 1;
                } else {
                    self.malformed(at(), reason);
                }
                return;
            }
            records += 1;
            if self.settings.probe.is_some() {
                self.probe(rec, &at(), &stamp);
            }
            if !(has_needle || full) || !classify {
                skipped += 1;
            } else if let Some(p) = self.candidate(rec, at(), container_time) {
                batch.push(p);
                if batch.len() == BATCH {
                    self.add(batch.drain(..));
                }
            }
        });
        if !batch.is_empty() {
            self.add(batch.drain(..));
        }
        self.counts.records += records;
        self.counts.skipped += skipped;
        self.per_input.entry(input).or_default().0 += records;
        self.block_lines.push((input, seq, line_no));
    }

    /// With a probe (`test-pattern`), a log event that is not a JSON object
    /// is still a log event: text that term and regular-expression patterns
    /// apply to. Put to the probe, and true; false without a probe, or for
    /// a record too large to read.
    fn text_event(&mut self, rec: &[u8], at: &Origin, stamp: &Stamp<'_>, reason: &str) -> bool {
        if self.settings.probe.is_none() || reason == TOO_LARGE {
            return false;
        }
        self.probe(rec, at, stamp);
        true
    }

    fn probe(&mut self, rec: &[u8], at: &Origin, stamp: &Stamp<'_>) {
        let Some(probe) = &self.settings.probe else {
            return;
        };
        if probe(rec, at, stamp) {
            self.probe_matched += 1;
            if self.probe_examples.len() < PROBE_EXAMPLES {
                self.probe_examples.push((at.clone(), rec.to_vec()));
            }
        }
    }

    /// A well-framed record that contains the needle: parse and classify it;
    /// a secret request the filters admit is returned to be added.
    fn candidate<'r>(
        &mut self,
        rec: &'r [u8],
        at: Origin,
        container_time: Option<i64>,
    ) -> Option<Pending<'r>> {
        let mut access = match classify(rec) {
            Ok(Classified::Secret(access)) => access,
            Ok(Classified::NotSecret) => {
                self.counts.skipped += 1;
                return None;
            }
            Err(e) => {
                self.counts.malformed += 1;
                self.per_input.entry(input_of(&at)).or_default().1 += 1;
                self.note_malformed(at, e.0);
                return None;
            }
        };
        if access.time.is_none() {
            access.time = container_time;
        }
        self.counts.see(access.time);
        if !self.settings.filter.admits(&access) {
            self.counts.filtered += 1;
            return None;
        }
        self.counts.secret_records += 1;
        if access.has_payload {
            self.counts.payload_records += 1;
        }
        let (id, uuid) = match access.audit_id.as_deref() {
            Some(text) => match uuid::Uuid::try_parse(text) {
                Ok(u) => (u.as_u128(), true),
                Err(_) => (
                    xxhash_rust::xxh3::xxh3_128_with_seed(text.as_bytes(), 1),
                    false,
                ),
            },
            // Without an auditID a record cannot be matched with its other
            // stages; identical records still count once.
            None => (xxhash_rust::xxh3::xxh3_128_with_seed(rec, 2), false),
        };
        Some(Pending {
            id,
            uuid,
            access,
            origin: at,
        })
    }

    /// Adds secret requests to the run's ledger, under one lock.
    fn add<'r>(&self, pending: impl IntoIterator<Item = Pending<'r>>) {
        let mut ledger = self.settings.ledger.lock();
        for p in pending {
            ledger.add(&Request {
                id: p.id,
                audit_id_text: if p.uuid {
                    None
                } else {
                    p.access.audit_id.as_deref()
                },
                access: &p.access,
                origin: &p.origin,
            });
        }
    }

    /// Folds another shard into this one, exactly.
    pub fn merge(&mut self, other: Shard) {
        self.counts.add(&other.counts);
        for (input, (r, m)) in other.per_input {
            let e = self.per_input.entry(input).or_default();
            e.0 += r;
            e.1 += m;
        }
        self.malformed.extend(other.malformed);
        if !self.settings.keep_all_malformed {
            self.trim_malformed();
        }
        self.block_lines.extend(other.block_lines);
        self.probe_matched += other.probe_matched;
        self.probe_examples.extend(other.probe_examples);
    }

    /// The shard as it would be if the input ended now (the groups of a
    /// ledger snapshot, the counts so far), for a running summary; the run
    /// goes on.
    pub fn snapshot(&self) -> Shard {
        Shard {
            settings: self.settings.clone(),
            grouped: self.settings.ledger.lock().snapshot().0,
            counts: self.counts,
            per_input: self.per_input.clone(),
            malformed: self.malformed.clone(),
            block_lines: Vec::new(),
            probe_matched: 0,
            probe_examples: Vec::new(),
        }
    }

    /// Settles every open request and takes the groups from the ledger,
    /// turns block-relative line numbers into file line numbers and orders
    /// the malformed list by position. Call once, after the last merge.
    pub fn finish(&mut self) {
        self.grouped = self.settings.ledger.take().finish().0;
        self.block_lines.sort_unstable();
        let mut base: FxHashMap<(u32, u64), u64> = FxHashMap::default();
        let mut current: Option<u32> = None;
        let mut sum = 0u64;
        for &(input, seq, lines) in &self.block_lines {
            if current != Some(input) {
                current = Some(input);
                sum = 0;
            }
            base.insert((input, seq), sum);
            sum += lines;
        }
        let to_file_line = |at: &mut Origin| {
            if let Some(p) = at.position_mut().filter(|p| p.label.is_none()) {
                p.line += base.get(&(p.input, p.block)).copied().unwrap_or(0);
                p.block = 0;
            }
        };
        self.malformed
            .iter_mut()
            .for_each(|m| to_file_line(&mut m.at));
        self.trim_malformed();
        self.probe_examples
            .iter_mut()
            .for_each(|(at, _)| to_file_line(at));
        self.grouped.origins.iter_mut().for_each(to_file_line);
        self.probe_examples.sort_by(|a, b| a.0.cmp(&b.0));
        self.probe_examples.truncate(PROBE_EXAMPLES);
    }
}

/// The input a record came from, for per-input accounting; CloudWatch
/// events count under input 0 (a stream is one input).
fn input_of(at: &Origin) -> u32 {
    match at {
        Origin::File(p) => p.input,
        Origin::Event(_) => 0,
    }
}

/// Checks that a record is one framed JSON object no larger than `max`.
const TOO_LARGE: &str = "larger than --max-record-size";

pub fn check_frame(rec: &[u8], max: usize) -> Result<(), &'static str> {
    if rec.len() > max {
        return Err(TOO_LARGE);
    }
    match (rec.first(), rec.last()) {
        (Some(b'{'), Some(b'}')) => Ok(()),
        (Some(b'{'), _) => Err("cut off: the JSON object does not end"),
        _ => Err("not a JSON object"),
    }
}

/// Splits `<ISO-8601 timestamp> <event>` into the event and the time.
fn split_timestamp_prefix(line: &[u8]) -> Option<(&[u8], Option<i64>)> {
    let space = memchr::memchr(b' ', line)?;
    let ts = std::str::from_utf8(&line[..space]).ok()?;
    let time = super::event::parse_rfc3339_micros(ts);
    time?;
    Some((&line[space + 1..], time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Arc<Settings> {
        Arc::new(Settings {
            max_record_size: 1 << 20,
            ledger: ledger(Grouping::Requests),
            ..Default::default()
        })
    }

    const GET: &str = r#"{"auditID":"6f1c0c0e-7d4a-4e8e-9b0c-1d2e3f405162","stage":"ResponseComplete","verb":"get","user":{"username":"bob"},"objectRef":{"resource":"secrets","namespace":"prod","name":"db"},"responseStatus":{"code":200}}"#;

    fn line(o: &Origin) -> u64 {
        o.position().expect("a file origin").line
    }

    fn at(line: u64) -> Position {
        Position {
            input: 0,
            block: 0,
            line,
            label: None,
        }
    }

    #[test]
    fn a_request_seen_at_two_stages_counts_once_with_its_last_outcome() {
        let mut s = Shard::new(settings());
        let started = GET.replace("ResponseComplete", "ResponseStarted");
        let complete = GET.replace("200", "403");
        s.record(started.as_bytes(), at(1), None);
        s.record(complete.as_bytes(), at(2), None);
        assert_eq!(s.counts.secret_records, 2);
        s.finish();
        assert_eq!(s.grouped.groups.len(), 1);
        assert_eq!(
            (
                s.grouped.groups[0].requests,
                s.grouped.groups[0].code,
                s.grouped.groups[0].denied
            ),
            (1, 403, 1)
        );
    }

    #[test]
    fn merging_shards_dedups_across_them() {
        let shared = settings();
        let mut a = Shard::new(shared.clone());
        let mut b = Shard::new(shared);
        a.record(
            GET.replace("ResponseComplete", "ResponseStarted")
                .as_bytes(),
            at(1),
            None,
        );
        b.record(GET.replace("200", "401").as_bytes(), at(1), None);
        b.record(GET.replace("6f1c", "7f1c").as_bytes(), at(2), None);
        a.merge(b);
        assert_eq!(a.counts.secret_records, 3);
        a.finish();
        assert_eq!(a.grouped.groups.len(), 2);
        let key = uuid::Uuid::parse_str("6f1c0c0e-7d4a-4e8e-9b0c-1d2e3f405162")
            .unwrap()
            .as_u128();
        let g = a.grouped.groups.iter().find(|g| g.id() == key).unwrap();
        assert_eq!((g.requests, g.code), (1, 401));
    }

    #[test]
    fn accounting_adds_up_over_bad_and_good_lines() {
        let mut s = Shard::new(settings());
        let block = format!(
            "{GET}\n{{\"kind\":\"Event\",\"verb\":\"get\"}}\nnot json\n{{\"cut\": \n\n{}\n{{\"objectRef\":\"secrets\"}}\n",
            r#"{"objectRef":{"resource":"configmaps"},"userAgent":"external-secrets"}"#
        );
        s.lines(block.as_bytes(), 0, 0, LinePrefix::None);
        let c = s.counts;
        assert_eq!(c.records, 6);
        assert_eq!(c.malformed, 3);
        assert_eq!(c.skipped, 2);
        assert_eq!(c.secret_records, 1);
        assert_eq!(
            c.records,
            c.malformed + c.skipped + c.filtered + c.secret_records
        );
        s.finish();
        let lines: Vec<u64> = s.malformed.iter().map(|m| line(&m.at)).collect();
        assert_eq!(lines, vec![3, 4, 7]);
    }

    #[test]
    fn block_line_numbers_become_file_line_numbers() {
        let mut s = Shard::new(settings());
        s.lines(b"{}\n{}\n", 0, 0, LinePrefix::None);
        s.lines(b"{}\nbad\n", 0, 1, LinePrefix::None);
        s.finish();
        assert_eq!(line(&s.malformed[0].at), 4);
    }

    #[test]
    fn timestamp_prefixed_lines_give_their_time_to_events_without_one() {
        let mut s = Shard::new(settings());
        let rec = r#"{"auditID":"x","verb":"get","objectRef":{"resource":"secrets"}}"#;
        s.lines(
            format!("2026-11-01T00:00:00.000Z {rec}\n").as_bytes(),
            0,
            0,
            LinePrefix::Timestamp,
        );
        s.finish();
        assert_eq!(s.grouped.groups[0].first_seen, Some(1_793_491_200_000_000));
    }

    #[test]
    fn filters_count_what_they_exclude() {
        let mut st = (*settings()).clone();
        st.filter.users = vec!["alice".into()];
        let mut s = Shard::new(Arc::new(st));
        s.record(GET.as_bytes(), at(1), None);
        assert_eq!((s.counts.filtered, s.counts.secret_records), (1, 0));
    }

    #[test]
    fn oversized_records_are_malformed() {
        let mut st = (*settings()).clone();
        st.max_record_size = 10;
        let mut s = Shard::new(Arc::new(st));
        s.record(GET.as_bytes(), at(1), None);
        assert_eq!(s.counts.malformed, 1);
    }

    #[test]
    fn a_probe_sees_every_framed_record_in_lines_and_containers() {
        let mut st = (*settings()).clone();
        st.probe = Some(Arc::new(|rec: &[u8], _: &_, _: &_| {
            memchr::memmem::find(rec, b"\"get\"").is_some()
        }));
        let mut s = Shard::new(Arc::new(st));
        s.lines(
            format!("{GET}\nnot json\n{{\"verb\":\"get\"}}\n{{\"verb\":\"list\"}}\n").as_bytes(),
            0,
            0,
            LinePrefix::None,
        );
        s.record(GET.as_bytes(), at(9), None);
        assert_eq!(s.probe_matched, 3);
        s.finish();
        let lines: Vec<u64> = s.probe_examples.iter().map(|(p, _)| line(p)).collect();
        assert_eq!(lines, vec![1, 3, 9]);
    }
}
