//! Container formats: documents that wrap audit events (EventList,
//! filter-log-events pages, Insights results, subscription DATA_MESSAGEs,
//! Lambda events, CSV exports). Each element is handed on as soon as it is
//! parsed, so a document is never held whole, and a document cut off half-way
//! still yields every element before the cut.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::frame::Scanner;
use super::sniff::Format;
use super::stream;
use crate::audit::event::parse_rfc3339_micros;
use crate::audit::shard::{Position, Shard, Stamp};

pub fn read(format: Format, r: &mut dyn BufRead, input: u32, shard: &mut Shard) -> io::Result<()> {
    let mut c = Ctx { input, shard };
    match format {
        Format::JsonStream => stream::read(r, input, c.shard),
        Format::Eventlist => c.documents(r, "items", |c, el| {
            c.shard.record(el.raw.get().as_bytes(), el.at(None), None)
        }),
        Format::Fle => c.documents(r, "events", Ctx::fle_event),
        Format::Insights => c.documents(r, "results", Ctx::insights_row),
        Format::FirehoseCwl => c.documents(r, "logEvents", Ctx::log_event),
        Format::JsonArray => c.documents(r, "", Ctx::array_element),
        Format::LambdaEvent => c.lambda_events(r),
        Format::InsightsCsv => c.csv(r),
        Format::Jsonl | Format::Cwexport => unreachable!("line formats are read in blocks"),
    }
}

struct Ctx<'s> {
    input: u32,
    shard: &'s mut Shard,
}

/// One element of a document's array.
struct Element<'r> {
    input: u32,
    doc: u64,
    index: u64,
    field: &'static str,
    /// A CONTROL_MESSAGE's log events are not records.
    control: bool,
    raw: &'r RawValue,
}

impl Element<'_> {
    fn at(&self, detail: Option<String>) -> Position {
        let place = if self.field.is_empty() {
            format!("[{}]", self.index)
        } else {
            format!("{}[{}]", self.field, self.index)
        };
        let doc = if self.doc > 0 {
            format!("document {}, ", self.doc + 1)
        } else {
            String::new()
        };
        let label = match detail {
            Some(d) => format!("{doc}{place} ({d})"),
            None => format!("{doc}{place}"),
        };
        Position {
            input: self.input,
            block: self.doc,
            line: self.index,
            label: Some(label),
        }
    }
}

#[derive(Deserialize)]
struct FleEvent<'a> {
    #[serde(borrow)]
    message: Cow<'a, str>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(borrow, default, rename = "eventId")]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "logStreamName")]
    log_stream: Option<Cow<'a, str>>,
    #[serde(default, rename = "ingestionTime")]
    ingestion_time: Option<i64>,
}

#[derive(Deserialize)]
struct LogEvent<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(borrow)]
    message: Cow<'a, str>,
}

#[derive(Deserialize)]
struct InsightsField<'a> {
    #[serde(borrow)]
    field: Cow<'a, str>,
    #[serde(borrow)]
    value: Cow<'a, str>,
}

impl<'s> Ctx<'s> {
    fn bad(&mut self, el: &Element<'_>, e: impl fmt::Display) {
        self.shard.malformed(
            el.at(None),
            format!("not a valid {} element: {e}", el.field),
        );
    }

    fn fle_event(&mut self, el: &Element<'_>) {
        match serde_json::from_str::<FleEvent>(el.raw.get()) {
            Ok(ev) => {
                let detail = match (&ev.log_stream, &ev.event_id) {
                    (Some(s), Some(id)) => Some(format!("log stream {s}, event {id}")),
                    (None, Some(id)) => Some(format!("event {id}")),
                    _ => None,
                };
                let at = el.at(detail);
                self.shard.record(
                    ev.message.as_bytes(),
                    at,
                    Stamp {
                        time: ev.timestamp.and_then(millis_to_micros),
                        stream: ev.log_stream.as_deref(),
                        ingestion: ev.ingestion_time,
                        needle: None,
                    },
                );
            }
            Err(e) => self.bad(el, e),
        }
    }

    fn log_event(&mut self, el: &Element<'_>) {
        if el.control {
            return;
        }
        match serde_json::from_str::<LogEvent>(el.raw.get()) {
            Ok(ev) => {
                let at = el.at(ev.id.as_ref().map(|id| format!("event {id}")));
                self.shard.record(
                    ev.message.as_bytes(),
                    at,
                    ev.timestamp.and_then(millis_to_micros),
                );
            }
            Err(e) => self.bad(el, e),
        }
    }

    fn insights_row(&mut self, el: &Element<'_>) {
        let row = match serde_json::from_str::<Vec<InsightsField>>(el.raw.get()) {
            Ok(row) => row,
            Err(e) => return self.bad(el, e),
        };
        let get = |name: &str| row.iter().find(|f| f.field == name).map(|f| &f.value);
        match get("@message") {
            Some(msg) => {
                let stamp = Stamp {
                    time: get("@timestamp").and_then(|t| parse_insights_time(t)),
                    stream: get("@logStream").map(|s| s.as_ref()),
                    ingestion: get("@ingestionTime")
                        .and_then(|t| parse_insights_time(t))
                        .map(|us| us / 1000),
                    needle: None,
                };
                self.shard.record(msg.as_bytes(), el.at(None), stamp);
            }
            None => self
                .shard
                .malformed(el.at(None), "an Insights row without @message"),
        }
    }

    fn array_element(&mut self, el: &Element<'_>) {
        #[derive(Deserialize)]
        struct Row<'a> {
            #[serde(borrow, default, rename = "@message")]
            message: Option<&'a RawValue>,
            #[serde(borrow, default, rename = "@timestamp")]
            timestamp: Option<Cow<'a, str>>,
        }
        let text = el.raw.get();
        let row = match serde_json::from_str::<Row>(text) {
            Ok(row) => row,
            // Not an object with string fields: judge it as a record.
            Err(_) => return self.shard.record(text.as_bytes(), el.at(None), None),
        };
        let time = row.timestamp.as_deref().and_then(parse_insights_time);
        match row.message {
            None => self.shard.record(text.as_bytes(), el.at(None), None),
            Some(m) if m.get().starts_with('"') => {
                match serde_json::from_str::<Cow<str>>(m.get()) {
                    Ok(msg) => self.shard.record(msg.as_bytes(), el.at(None), time),
                    Err(e) => self.bad(el, e),
                }
            }
            Some(m) => self.shard.record(m.get().as_bytes(), el.at(None), time),
        }
    }

    /// Reads one or more JSON documents, each an object whose array `field`
    /// (or, with an empty field, a top-level array) holds the elements.
    /// Elements are framed by [`Scanner`]: one that is too large or not
    /// valid JSON is one malformed element, and the rest are read.
    fn documents(
        &mut self,
        r: &mut dyn BufRead,
        field: &'static str,
        mut on: impl FnMut(&mut Ctx<'s>, &Element<'_>),
    ) -> io::Result<()> {
        let mut s = Scanner::new(r);
        let mut doc = 0u64;
        let input = self.input;
        while let Some(first) = s.peek()? {
            let label = |what: String| Position {
                input,
                block: doc,
                line: u64::MAX,
                label: Some(if doc > 0 {
                    format!("document {}: {what}", doc + 1)
                } else {
                    what
                }),
            };
            let found = match (first, field.is_empty()) {
                (b'[', true) => {
                    self.elements(&mut s, field, doc, false, &mut on)?;
                    true
                }
                (b'{', false) => self.document(&mut s, field, doc, &mut on)?,
                _ => {
                    // Not a document: skip this value and say so.
                    let line = s.line;
                    s.value(0)?;
                    let what = format!(
                        "line {line}: not {}",
                        if field.is_empty() {
                            "a JSON array".to_string()
                        } else {
                            format!("a JSON object with an \"{field}\" array")
                        }
                    );
                    self.shard.malformed(label(what.clone()), what);
                    doc += 1;
                    continue;
                }
            };
            if !found {
                let what = format!("a document without an \"{field}\" array");
                self.shard.malformed(label(what.clone()), what);
            }
            doc += 1;
        }
        Ok(())
    }

    /// One object document: its keys, the `field` array's elements handed
    /// to `on`. Returns whether the array was found.
    fn document(
        &mut self,
        s: &mut Scanner<'_>,
        field: &'static str,
        doc: u64,
        on: &mut impl FnMut(&mut Ctx<'s>, &Element<'_>),
    ) -> io::Result<bool> {
        s.bump(); // `{`
        let (mut found, mut control) = (false, false);
        loop {
            match s.peek()? {
                None => {
                    self.shard.malformed(
                        self.doc_place(doc, s.line),
                        "cut off: the document does not end",
                    );
                    return Ok(found);
                }
                Some(b'}') => {
                    s.bump();
                    return Ok(found);
                }
                Some(b',') => s.bump(),
                Some(b'"') => {
                    let key = s.short_string(256)?;
                    if s.peek()? == Some(b':') {
                        s.bump();
                    }
                    match key.as_deref() {
                        Some(k) if k == field && s.peek()? == Some(b'[') => {
                            found = true;
                            if self.elements(s, field, doc, control, on)? {
                                return Ok(found);
                            }
                        }
                        Some("messageType") => {
                            let kind = s.short_string(64)?;
                            control = kind.as_deref() != Some("DATA_MESSAGE");
                        }
                        _ => {
                            s.value(0)?;
                        }
                    }
                }
                Some(_) => {
                    // Not a key: skip it and go on with the next.
                    let line = s.line;
                    s.value(0)?;
                    self.shard.malformed(
                        self.doc_place(doc, line),
                        "not a key of the document (invalid JSON)",
                    );
                }
            }
        }
    }

    fn doc_place(&self, doc: u64, line: u64) -> Position {
        Position {
            input: self.input,
            block: doc,
            line: u64::MAX,
            label: Some(format!("line {line}")),
        }
    }

    /// The elements of an array (the scanner is at its `[`). Returns true
    /// when the input ended inside the array (counted here, once).
    fn elements(
        &mut self,
        s: &mut Scanner<'_>,
        field: &'static str,
        doc: u64,
        control: bool,
        on: &mut impl FnMut(&mut Ctx<'s>, &Element<'_>),
    ) -> io::Result<bool> {
        s.bump(); // `[`
        let max = self.shard.settings.max_record_size;
        let mut index = 0u64;
        let empty: Box<RawValue> = RawValue::from_string("null".into()).expect("valid JSON");
        loop {
            match s.peek()? {
                None => {
                    let what = format!("cut off: the \"{field}\" array does not end");
                    self.shard.malformed(self.doc_place(doc, s.line), what);
                    return Ok(true);
                }
                Some(b']') => {
                    s.bump();
                    return Ok(false);
                }
                Some(b',') => s.bump(),
                Some(_) => {
                    let line = s.line;
                    let v = s.value(max)?;
                    let mut el = Element {
                        input: self.input,
                        doc,
                        index,
                        field,
                        control,
                        raw: &empty,
                    };
                    index += 1;
                    let why = if v.oversize {
                        "larger than --max-record-size".to_string()
                    } else if v.cut_off {
                        "cut off: the element does not end".to_string()
                    } else if v.broken_string {
                        format!("a string left open on line {line}")
                    } else {
                        match serde_json::from_slice::<&RawValue>(&v.bytes) {
                            Ok(raw) => {
                                el.raw = raw;
                                on(self, &el);
                                continue;
                            }
                            Err(e) => format!("not valid JSON (line {line}): {e}"),
                        }
                    };
                    self.shard.malformed(el.at(None), why);
                    if v.cut_off {
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// One Lambda event per line: `{"awslogs":{"data":"<base64 gzip>"}}`.
    fn lambda_events(&mut self, r: &mut dyn BufRead) -> io::Result<()> {
        #[derive(Deserialize)]
        struct Event<'a> {
            #[serde(borrow)]
            awslogs: Data<'a>,
        }
        #[derive(Deserialize)]
        struct Data<'a> {
            #[serde(borrow)]
            data: Cow<'a, str>,
        }
        let max = self.shard.settings.max_record_size;
        let mut line = Vec::new();
        let mut line_no = 0u64;
        loop {
            line.clear();
            let n = r.take(max as u64 + 1).read_until(b'\n', &mut line)?;
            if n == 0 {
                return Ok(());
            }
            line_no += 1;
            let at = |label: &str| Position {
                input: self.input,
                block: 0,
                line: line_no,
                label: Some(format!("line {line_no}{label}")),
            };
            if line.len() > max && line.last() != Some(&b'\n') {
                skip_line(r)?;
                self.shard
                    .malformed(at(""), "larger than --max-record-size");
                continue;
            }
            if line.trim_ascii().is_empty() {
                continue;
            }
            let payload = serde_json::from_slice::<Event>(&line)
                .map_err(|e| format!("not a Lambda CloudWatch Logs event: {e}"))
                .and_then(|ev| {
                    base64::engine::general_purpose::STANDARD
                        .decode(ev.awslogs.data.as_bytes())
                        .map_err(|e| format!("awslogs.data is not base64: {e}"))
                })
                .and_then(|gz| {
                    let mut out = Vec::new();
                    flate2::read::MultiGzDecoder::new(&gz[..])
                        .take(max as u64 + 1)
                        .read_to_end(&mut out)
                        .map_err(|e| format!("awslogs.data is not gzip: {e}"))?;
                    if out.len() > max {
                        return Err("awslogs.data inflates past --max-record-size".into());
                    }
                    Ok(out)
                });
            match payload {
                Ok(doc) => {
                    self.documents(&mut io::Cursor::new(doc), "logEvents", Ctx::log_event)?
                }
                Err(why) => self.shard.malformed(at(""), why),
            }
        }
    }

    /// A Logs Insights console CSV export: the `@message` column holds events.
    fn csv(&mut self, r: &mut dyn BufRead) -> io::Result<()> {
        let max = self.shard.settings.max_record_size;
        let budget = Rc::new(Cell::new(0u64));
        let limited = Budgeted {
            inner: r,
            used: Rc::clone(&budget),
            // A row, plus what the CSV reader buffers ahead of it.
            limit: max as u64 + (64 << 10),
        };
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(limited);
        let headers = match rdr.byte_headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(io::Error::other(e)),
        };
        let col = |name: &[u8]| headers.iter().position(|h| h.trim_ascii() == name);
        let (Some(msg_col), ts_col) = (col(b"@message"), col(b"@timestamp")) else {
            self.shard.malformed(
                Position {
                    input: self.input,
                    block: 0,
                    line: 1,
                    label: None,
                },
                "a CSV export without an @message column",
            );
            return Ok(());
        };
        let mut rec = csv::ByteRecord::new();
        loop {
            budget.set(0);
            let line = rdr.position().line();
            let at = Position {
                input: self.input,
                block: 0,
                line,
                label: None,
            };
            match rdr.read_byte_record(&mut rec) {
                Ok(false) => return Ok(()),
                Ok(true) => match rec.get(msg_col) {
                    Some(msg) => {
                        let time = ts_col
                            .and_then(|c| rec.get(c))
                            .and_then(|t| std::str::from_utf8(t).ok())
                            .and_then(parse_insights_time);
                        self.shard.record(msg, at, time);
                    }
                    None => self
                        .shard
                        .malformed(at, "a CSV row without an @message cell"),
                },
                Err(e) => match e.kind() {
                    csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::FileTooLarge => {
                        // A row past the limit: the reader cannot find the
                        // next row without reading it, so the rest is one
                        // malformed record, named.
                        self.shard.malformed(
                            at,
                            "a CSV row larger than --max-record-size (the rest of the input is not read)",
                        );
                        return Ok(());
                    }
                    csv::ErrorKind::Io(_) => return Err(io::Error::other(e)),
                    _ => self
                        .shard
                        .malformed(at, format!("not a valid CSV row: {e}")),
                },
            }
        }
    }
}

/// A reader that fails (`FileTooLarge`) once more than `limit` bytes have
/// been read since `used` was last reset: a CSV row is held whole by the
/// CSV reader, so its size is bounded here.
struct Budgeted<R> {
    inner: R,
    used: Rc<Cell<u64>>,
    limit: u64,
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.used.get() > self.limit {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "row too large"));
        }
        let n = self.inner.read(buf)?;
        self.used.set(self.used.get() + n as u64);
        Ok(n)
    }
}

/// Consumes up to and including the next newline, without holding it.
fn skip_line(r: &mut dyn BufRead) -> io::Result<()> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match memchr::memchr(b'\n', buf) {
            Some(i) => {
                r.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    }
}

fn millis_to_micros(ms: i64) -> Option<i64> {
    ms.checked_mul(1000)
}

/// `@timestamp` as Insights writes it (`2026-11-01 00:00:00.123`, UTC) or as
/// epoch milliseconds; RFC 3339 too.
pub fn parse_insights_time(t: &str) -> Option<i64> {
    let t = t.trim();
    if let Ok(ms) = t.parse::<i64>() {
        return millis_to_micros(ms);
    }
    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc().timestamp_micros())
        .or_else(|| parse_rfc3339_micros(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insights_timestamps_in_both_forms() {
        assert_eq!(
            parse_insights_time("2026-11-01 00:00:00.123"),
            Some(1_793_491_200_123_000)
        );
        assert_eq!(
            parse_insights_time("1793491200123"),
            Some(1_793_491_200_123_000)
        );
        assert_eq!(parse_insights_time("soon"), None);
    }
}
