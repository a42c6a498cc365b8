//! A simulated log group for the benchmark: the events of a JSON-lines file
//! served as FilterLogEvents would, at a given rate in simulated time, each
//! with its own auditID, through the same engine as CloudWatch pages.

use super::{CwEvent, Page, Source};
use crate::insights::runner::ApiError;

/// Events at most per page, as FilterLogEvents.
const PAGE: usize = 10_000;

pub struct Simulated {
    lines: Vec<String>,
    /// Per line: where its auditID's 36 characters start, if it has one.
    id_at: Vec<Option<usize>>,
    /// Per line: whether the server filter lets it through.
    passes: Vec<bool>,
    /// Events a second, and the time of event 0 (milliseconds).
    rate: f64,
    t0: i64,
    /// Apply the server filter, as FilterLogEvents does.
    filtered: bool,
    /// The positions in the file of the lines that pass, for skipping.
    passing: Vec<usize>,
    /// The last time stamp formatted, to reuse within a millisecond.
    stamp: std::cell::RefCell<(i64, String)>,
}

impl Simulated {
    pub fn new(text: &str, rate: f64, t0: i64, filtered: bool) -> Simulated {
        let lines: Vec<String> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect();
        let id_at = lines
            .iter()
            .map(|l| {
                let key = "\"auditID\"";
                let at = l.find(key)? + key.len();
                let quote = at + l[at..].find('"')? + 1;
                (l.len() >= quote + 36).then_some(quote)
            })
            .collect();
        let passes: Vec<bool> = lines
            .iter()
            .map(|l| memchr::memmem::find(l.as_bytes(), super::SERVER_FILTER.as_bytes()).is_some())
            .collect();
        let passing = (0..lines.len()).filter(|&i| passes[i]).collect();
        Simulated {
            lines,
            id_at,
            passes,
            rate,
            t0,
            filtered,
            passing,
            stamp: std::cell::RefCell::new((i64::MIN, String::new())),
        }
    }

    fn time_of(&self, k: u64) -> i64 {
        self.t0 + (k as f64 * 1000.0 / self.rate) as i64
    }

    /// The first event at or after `ms`.
    fn first_at(&self, ms: i64) -> u64 {
        let k = ((ms - self.t0).max(0) as f64 * self.rate / 1000.0).ceil() as u64;
        // Rounding: step back while the one before is still at or after.
        let mut k = k;
        while k > 0 && self.time_of(k - 1) >= ms {
            k -= 1;
        }
        while self.time_of(k) < ms {
            k += 1;
        }
        k
    }

    fn event(&self, k: u64) -> CwEvent {
        let i = (k % self.lines.len() as u64) as usize;
        let mut message = self.lines[i].clone();
        if let Some(at) = self.id_at[i] {
            let id = format!(
                "{:08x}-0000-4000-8000-{:012x}",
                (k >> 48) as u32,
                k & 0xffff_ffff_ffff
            );
            message.replace_range(at..at + 36, &id);
        }
        let ts = self.time_of(k);
        // The event's own times are its simulated time too.
        let mut cached = self.stamp.borrow_mut();
        if cached.0 != ts {
            let t = chrono::DateTime::from_timestamp_millis(ts).unwrap_or_default();
            *cached = (ts, t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
        }
        {
            let stamp = &cached.1;
            for key in ["\"stageTimestamp\"", "\"requestReceivedTimestamp\""] {
                if let Some(at) = message.find(key).map(|a| a + key.len()) {
                    if let Some(q) = message[at..].find('"').map(|q| at + q + 1) {
                        if message.len() >= q + stamp.len()
                            && message.as_bytes().get(q + stamp.len()) == Some(&b'"')
                        {
                            message.replace_range(q..q + stamp.len(), stamp);
                        }
                    }
                }
            }
        }
        CwEvent {
            stream: "kube-apiserver-audit-simulated".into(),
            event_id: k.to_string(),
            timestamp: ts,
            ingestion: ts,
            message,
        }
    }
}

impl Source for Simulated {
    async fn page(
        &self,
        _group: &str,
        start: i64,
        end: i64,
        token: Option<&str>,
    ) -> Result<Page, ApiError> {
        let mut k = match token {
            Some(t) => t.parse().unwrap_or(0),
            None => self.first_at(start),
        };
        let mut events = Vec::new();
        let n = self.lines.len() as u64;
        while self.time_of(k) <= end && events.len() < PAGE {
            let i = (k % n) as usize;
            if !self.filtered || self.passes[i] {
                events.push(self.event(k));
                k += 1;
            } else {
                // On to the next line that passes, as the filter would.
                k = match self.passing.partition_point(|&p| p < i) {
                    j if j < self.passing.len() => k - i as u64 + self.passing[j] as u64,
                    _ if self.passing.is_empty() => u64::MAX / 2,
                    _ => k - i as u64 + n + self.passing[0] as u64,
                };
            }
        }
        let next = (self.time_of(k) <= end).then(|| k.to_string());
        Ok(Page { events, next })
    }
}
