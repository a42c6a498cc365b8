//! What `tail` prints as requests arrive: one line per secret request (an
//! aligned line on a terminal, cut to its width; a JSON Lines object with
//! `"type": "request"`; a CSV row), each flushed as it comes.

use std::io::{self, Write};

use serde_json::{json, Value};

use super::sanitize::{csv_cell, sanitize};
use super::{json as jsonout, rfc3339, OutputFormat};
use crate::audit::event::is_denied;
use crate::audit::origin::Origin;
use crate::audit::tap::Seen;

/// A request to print, with where it came from.
pub struct Line<'a> {
    pub cluster: &'a str,
    pub late: bool,
    pub seen: &'a Seen,
}

const CSV_HEADER: [&str; 16] = [
    "CLUSTER",
    "TIME",
    "VERB",
    "NAMESPACE",
    "SECRET",
    "USER",
    "IMPERSONATED BY",
    "CODE",
    "SOURCE IP",
    "USER AGENT",
    "AUDIT ID",
    "LOG GROUP",
    "LOG STREAM",
    "EVENT ID",
    "INGESTION TIME",
    "LATE",
];

/// Prints requests one by one in a format.
pub struct Printer {
    format: OutputFormat,
    /// Show the cluster (several were asked for).
    clusters: bool,
    /// The terminal's width, when stdout is one.
    width: Option<usize>,
    color: bool,
    header: bool,
}

fn secret(s: &Seen) -> String {
    let name = s.name.as_deref().unwrap_or("*");
    match &s.subresource {
        Some(sub) => format!("{name}/{sub}"),
        None => name.to_owned(),
    }
}

fn scope(s: &Seen) -> &'static str {
    match (&s.name, &s.namespace) {
        (Some(_), _) => "object",
        (None, Some(_)) => "namespace",
        (None, None) => "cluster",
    }
}

fn event_of(o: &Origin) -> (String, String, String, Option<String>) {
    match o {
        Origin::Event(e) => (
            e.log_group.to_string(),
            e.log_stream.to_string(),
            e.event_id.clone(),
            chrono::DateTime::from_timestamp_millis(e.ingestion_time)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        ),
        Origin::File(_) => Default::default(),
    }
}

impl Printer {
    pub fn new(format: OutputFormat, clusters: bool) -> Printer {
        Printer {
            format,
            clusters,
            width: super::terminal_width(),
            color: super::color(),
            header: false,
        }
    }

    /// The JSON Lines object of a request: `analyze --requests`'s fields,
    /// then where it was read.
    pub fn json(line: &Line<'_>) -> Value {
        let s = line.seen;
        let (log_group, log_stream, event_id, ingestion_time) = event_of(&s.origin);
        json!({
            "type": "request",
            "cluster": line.cluster,
            "time": s.time.map(|t| rfc3339(t, true)),
            "verb": s.verb,
            "namespace": s.namespace.as_deref().unwrap_or("*"),
            "secret": s.name.as_deref().unwrap_or("*"),
            "subresource": s.subresource,
            "scope": scope(s),
            "user": s.user,
            "impersonated_by": s.impersonated_by,
            "code": s.code,
            "source_ip": s.source_ip,
            "user_agent": s.user_agent,
            "audit_id": s.audit_id,
            "log_group": log_group,
            "log_stream": log_stream,
            "event_id": event_id,
            "ingestion_time": ingestion_time,
            "late": line.late,
        })
    }

    /// Writes a finding the moment its episode qualifies: a JSON Lines
    /// object with `"type": "finding"`, or a line that stands out; CSV
    /// streams requests only.
    pub fn finding(&mut self, w: &mut dyn Write, f: &crate::rules::Finding) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => {
                let mut v = serde_json::to_value(f).map_err(io::Error::other)?;
                if let Some(m) = v.as_object_mut() {
                    m.insert("type".into(), "finding".into());
                }
                jsonout::write_line(&mut *w, &v)?;
            }
            OutputFormat::Csv => return Ok(()),
            _ => {
                let text = sanitize(&format!(
                    "FINDING {} {}",
                    f.severity.name().to_uppercase(),
                    f.summary
                ))
                .into_owned();
                if self.color {
                    writeln!(w, "\u{1b}[1;33m{text}\u{1b}[0m")?;
                } else {
                    writeln!(w, "{text}")?;
                }
            }
        }
        w.flush()
    }

    /// Writes one request and flushes it.
    pub fn request(&mut self, w: &mut dyn Write, line: &Line<'_>) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => {
                jsonout::write_line(&mut *w, &Printer::json(line))?;
            }
            OutputFormat::Csv => self.csv(w, line)?,
            _ => self.text(w, line)?,
        }
        w.flush()
    }

    fn csv(&mut self, w: &mut dyn Write, line: &Line<'_>) -> io::Result<()> {
        if !self.header {
            self.header = true;
            writeln!(w, "{}", CSV_HEADER.join(","))?;
        }
        let s = line.seen;
        let (log_group, log_stream, event_id, ingestion) = event_of(&s.origin);
        let cells = [
            line.cluster.to_owned(),
            s.time.map(|t| rfc3339(t, true)).unwrap_or_default(),
            s.verb.clone(),
            s.namespace.clone().unwrap_or_else(|| "*".into()),
            secret(s),
            s.user.clone(),
            s.impersonated_by.clone().unwrap_or_default(),
            s.code.map(|c| c.to_string()).unwrap_or_default(),
            s.source_ip.clone().unwrap_or_default(),
            s.user_agent.clone().unwrap_or_default(),
            s.audit_id.clone(),
            log_group,
            log_stream,
            event_id,
            ingestion.unwrap_or_default(),
            line.late.to_string(),
        ];
        let quoted: Vec<String> = cells
            .iter()
            .map(|c| {
                let c = csv_cell(c);
                if c.contains([',', '"', '\n']) {
                    format!("\"{}\"", c.replace('"', "\"\""))
                } else {
                    c.into_owned()
                }
            })
            .collect();
        writeln!(w, "{}", quoted.join(","))
    }

    /// An aligned line: time, verb, namespace/secret, user, code, source IP,
    /// user agent; cut to the terminal's width; a denial stands out.
    fn text(&mut self, w: &mut dyn Write, line: &Line<'_>) -> io::Result<()> {
        let s = line.seen;
        let time = s
            .time
            .map(|t| rfc3339(t, false))
            .unwrap_or_else(|| "-".repeat(20));
        let user = match &s.impersonated_by {
            Some(by) => format!("{} (as {by})", s.user),
            None => s.user.clone(),
        };
        let denied = s.code.is_some_and(is_denied);
        let code = match s.code {
            Some(c) if denied => format!("{c} DENIED"),
            Some(c) => c.to_string(),
            None => "-".into(),
        };
        let target = format!("{}/{}", s.namespace.as_deref().unwrap_or("*"), secret(s));
        let mut text = String::new();
        if self.clusters {
            text.push_str(&format!("{:<12} ", line.cluster));
        }
        text.push_str(&format!(
            "{time}  {:<6} {:<40} {:<44} {:<10} {:<15} {}",
            s.verb,
            target,
            user,
            code,
            s.source_ip.as_deref().unwrap_or("-"),
            s.user_agent.as_deref().unwrap_or("-"),
        ));
        if line.late {
            text.push_str("  (late)");
        }
        let mut text = sanitize(text.trim_end()).into_owned();
        if let Some(width) = self.width {
            if text.chars().count() > width {
                text = text.chars().take(width.saturating_sub(1)).collect();
                text.push('…');
            }
        }
        if denied && self.color {
            writeln!(w, "\u{1b}[1;31m{text}\u{1b}[0m")
        } else {
            writeln!(w, "{text}")
        }
    }
}
