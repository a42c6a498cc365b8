//! Every export format secret-audit reads, written record by record: nothing
//! but the current batch is held, so gigabytes stream through.

use std::io::{self, Write};
use std::str::FromStr;

use base64::Engine;
use serde::Serialize;

use crate::cluster::ACCOUNT;
use crate::event::{write_time, Event};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One audit event per line, as kube-apiserver writes its audit log.
    Jsonl,
    /// One object of a CloudWatch Logs export to S3: `<timestamp> <event>` lines.
    Cwexport,
    /// `aws logs filter-log-events --output json` output.
    Fle,
    /// One `audit.k8s.io/v1` EventList document, pretty-printed.
    Eventlist,
    /// `aws logs get-query-results` output (`@message` rows).
    Insights,
    /// A Logs Insights console CSV export.
    InsightsCsv,
    /// Events run together with no separator (Firehose, message extraction on).
    Firehose,
    /// Subscription DATA_MESSAGE documents as Firehose writes them: gzip
    /// members, concatenated.
    FirehoseCwl,
    /// Subscription events as a Lambda function receives them, one a line.
    LambdaEvent,
}

impl Format {
    pub const ALL: [Format; 9] = [
        Format::Jsonl,
        Format::Cwexport,
        Format::Fle,
        Format::Eventlist,
        Format::Insights,
        Format::InsightsCsv,
        Format::Firehose,
        Format::FirehoseCwl,
        Format::LambdaEvent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Cwexport => "cwexport",
            Format::Fle => "fle",
            Format::Eventlist => "eventlist",
            Format::Insights => "insights",
            Format::InsightsCsv => "insights-csv",
            Format::Firehose => "firehose",
            Format::FirehoseCwl => "firehose-cwl",
            Format::LambdaEvent => "lambda-event",
        }
    }

    /// Whether the format is gzip already (then `--gzip` is refused).
    pub fn is_gzip(self) -> bool {
        self == Format::FirehoseCwl
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("unknown format {s:?}; one of {}", names.join(", "))
            })
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A subscription delivers at most this many log events a message here.
const BATCH: usize = 50;
const LOG_GROUP: &str = "/aws/eks/demo/cluster";

/// A CloudWatch log event: its time in milliseconds and its message.
struct LogEvent {
    millis: i64,
    message: String,
}

pub(crate) struct Writer<'w> {
    format: Format,
    out: Counted<&'w mut dyn Write>,
    /// Draws of the container only (pointers, ingestion delays), so every
    /// format holds the same events.
    rng: fastrand::Rng,
    stream: String,
    records: u64,
    message_bytes: u64,
    batch: Vec<LogEvent>,
    buf: Vec<u8>,
}

impl<'w> Writer<'w> {
    pub fn new(format: Format, seed: u64, out: &'w mut dyn Write) -> Writer<'w> {
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed_f0f0_c0de_0001);
        let stream = format!("kube-apiserver-audit-{:032x}", rng.u128(..));
        Writer {
            format,
            out: Counted { inner: out, n: 0 },
            rng,
            stream,
            records: 0,
            message_bytes: 0,
            batch: Vec::new(),
            buf: Vec::with_capacity(4096),
        }
    }

    /// Bytes written so far, before compression.
    pub fn written(&self) -> u64 {
        self.out.n
            + self
                .batch
                .iter()
                .map(|e| e.message.len() as u64 + 100)
                .sum::<u64>()
    }

    pub fn record(&mut self, ev: &Event) -> io::Result<()> {
        let first = self.records == 0;
        self.records += 1;
        self.buf.clear();
        let millis = ev.stage_timestamp.div_euclid(1000);
        match self.format {
            Format::Jsonl => {
                ev.write_json(&mut self.buf);
                self.buf.push(b'\n');
            }
            Format::Firehose => ev.write_json(&mut self.buf),
            Format::Cwexport => {
                write_time(&mut self.buf, millis * 1000, b'T', 3);
                self.buf.extend_from_slice(b"Z ");
                ev.write_json(&mut self.buf);
                self.buf.push(b'\n');
            }
            Format::InsightsCsv => {
                if first {
                    self.buf.extend_from_slice(b"@timestamp,@message\n");
                }
                write_time(&mut self.buf, millis * 1000, b' ', 3);
                self.buf.extend_from_slice(b",\"");
                let start = self.buf.len();
                ev.write_json(&mut self.buf);
                let quoted = self.buf.split_off(start);
                for &b in &quoted {
                    if b == b'"' {
                        self.buf.push(b'"');
                    }
                    self.buf.push(b);
                }
                self.buf.extend_from_slice(b"\"\n");
            }
            Format::Eventlist => {
                if first {
                    self.buf.extend_from_slice(
                        b"{\n  \"kind\": \"EventList\",\n  \"apiVersion\": \"audit.k8s.io/v1\",\n  \"metadata\": {},\n  \"items\": [\n    ",
                    );
                } else {
                    self.buf.extend_from_slice(b",\n    ");
                }
                ev.write_pretty(&mut self.buf, b"  ", b"    ");
            }
            Format::Fle => {
                self.buf.extend_from_slice(if first {
                    b"{\n    \"events\": [\n        "
                } else {
                    b",\n        "
                });
                let message = ev.to_json();
                let item = FleEvent {
                    log_stream_name: &self.stream,
                    timestamp: millis,
                    ingestion_time: millis + self.rng.i64(500..4000),
                    message: &message,
                    event_id: format!("{:056}", self.records),
                };
                pretty(&mut self.buf, &item, b"        ");
            }
            Format::Insights => {
                self.buf.extend_from_slice(if first {
                    b"{\n    \"results\": [\n        "
                } else {
                    b",\n        "
                });
                let message = ev.to_json();
                self.message_bytes += message.len() as u64;
                let mut ptr = [0u8; 60];
                self.rng.fill(&mut ptr);
                let row = [
                    Field {
                        field: "@timestamp",
                        value: insights_time(millis),
                    },
                    Field {
                        field: "@message",
                        value: message,
                    },
                    Field {
                        field: "@ptr",
                        value: base64::engine::general_purpose::STANDARD.encode(ptr),
                    },
                ];
                pretty(&mut self.buf, &row, b"        ");
            }
            Format::FirehoseCwl | Format::LambdaEvent => {
                self.batch.push(LogEvent {
                    millis,
                    message: ev.to_json(),
                });
                if self.batch.len() == BATCH {
                    self.flush_batch()?;
                }
                return Ok(());
            }
        }
        self.out.write_all(&self.buf)
    }

    pub fn finish(mut self) -> io::Result<()> {
        let empty = self.records == 0;
        match self.format {
            Format::Eventlist if empty => self.out.write_all(
                b"{\n  \"kind\": \"EventList\",\n  \"apiVersion\": \"audit.k8s.io/v1\",\n  \"metadata\": {},\n  \"items\": []\n}\n",
            )?,
            Format::Eventlist => self.out.write_all(b"\n  ]\n}\n")?,
            Format::Fle => {
                let head: &[u8] = if empty { b"{\n    \"events\": [],\n" } else { b"\n    ],\n" };
                self.out.write_all(head)?;
                self.out.write_all(b"    \"searchedLogStreams\": []\n}\n")?;
            }
            Format::Insights => {
                let head: &[u8] = if empty { b"{\n    \"results\": [],\n" } else { b"\n    ],\n" };
                self.out.write_all(head)?;
                let n = self.records as f64;
                let stats = Statistics {
                    records_matched: n,
                    records_scanned: n,
                    bytes_scanned: self.message_bytes as f64,
                };
                self.buf.clear();
                self.buf.extend_from_slice(b"    \"statistics\": ");
                pretty(&mut self.buf, &stats, b"    ");
                self.buf
                    .extend_from_slice(b",\n    \"status\": \"Complete\"\n}\n");
                self.out.write_all(&self.buf)?;
            }
            Format::FirehoseCwl | Format::LambdaEvent if !self.batch.is_empty() => {
                self.flush_batch()?
            }
            _ => {}
        }
        self.out.flush()
    }

    /// One DATA_MESSAGE of the batch: a gzip member of its own (Firehose), or
    /// base64 of it in a Lambda event.
    fn flush_batch(&mut self) -> io::Result<()> {
        let first_id = self.records as usize - self.batch.len();
        let doc = DataMessage {
            message_type: "DATA_MESSAGE",
            owner: ACCOUNT,
            log_group: LOG_GROUP,
            log_stream: &self.stream,
            subscription_filters: ["secret-audit"],
            log_events: self
                .batch
                .iter()
                .enumerate()
                .map(|(j, e)| SubscriptionEvent {
                    id: format!("{:056}", first_id + j),
                    timestamp: e.millis,
                    message: &e.message,
                })
                .collect(),
        };
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        serde_json::to_writer(&mut gz, &doc)?;
        let body = gz.finish()?;
        self.batch.clear();
        if self.format == Format::FirehoseCwl {
            return self.out.write_all(&body);
        }
        let data = base64::engine::general_purpose::STANDARD.encode(body);
        let line = serde_json::json!({ "awslogs": { "data": data } });
        serde_json::to_writer(&mut self.out, &line)?;
        self.out.write_all(b"\n")
    }
}

/// Appends `value` pretty-printed with four spaces, its lines after the
/// first prefixed with `margin`.
fn pretty(out: &mut Vec<u8>, value: &impl Serialize, margin: &[u8]) {
    let mut one = Vec::with_capacity(2048);
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut one, fmt);
    value.serialize(&mut ser).expect("serializes");
    for (i, line) in one.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
            out.extend_from_slice(margin);
        }
        out.extend_from_slice(line);
    }
}

/// `2026-11-01 00:00:00.123`, as Logs Insights shows `@timestamp`.
fn insights_time(millis: i64) -> String {
    let mut buf = Vec::with_capacity(23);
    write_time(&mut buf, millis * 1000, b' ', 3);
    String::from_utf8(buf).expect("digits are ASCII")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FleEvent<'a> {
    log_stream_name: &'a str,
    timestamp: i64,
    message: &'a str,
    ingestion_time: i64,
    event_id: String,
}

#[derive(Serialize)]
struct Field {
    field: &'static str,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Statistics {
    records_matched: f64,
    records_scanned: f64,
    bytes_scanned: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DataMessage<'a> {
    message_type: &'static str,
    owner: &'static str,
    log_group: &'static str,
    log_stream: &'a str,
    subscription_filters: [&'static str; 1],
    log_events: Vec<SubscriptionEvent<'a>>,
}

#[derive(Serialize)]
struct SubscriptionEvent<'a> {
    id: String,
    timestamp: i64,
    message: &'a str,
}

/// Counts the bytes written through it.
struct Counted<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
