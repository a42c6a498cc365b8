//! Format detection from the first bytes of a decoded input.

use std::fmt;

/// The input formats `analyze` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// kube-apiserver audit log: one JSON event per line.
    Jsonl,
    /// CloudWatch Logs export to S3: `<ISO-8601 timestamp> <event>` lines.
    Cwexport,
    /// JSON objects one after another: pretty-printed events, or events
    /// concatenated with no separator (Firehose).
    JsonStream,
    /// An `audit.k8s.io` EventList document.
    Eventlist,
    /// `aws logs filter-log-events` output (one or more pages).
    Fle,
    /// `aws logs get-query-results` output.
    Insights,
    /// A Logs Insights console CSV export with an `@message` column.
    InsightsCsv,
    /// A JSON array of events or of Insights rows with `@message`.
    JsonArray,
    /// CloudWatch Logs subscription DATA_MESSAGE documents (as Firehose
    /// writes them to S3: gzip members, concatenated).
    FirehoseCwl,
    /// Lambda events `{"awslogs":{"data":"<base64 gzip>"}}`, one per line.
    LambdaEvent,
}

impl Format {
    pub const ALL: [Format; 10] = [
        Format::Jsonl,
        Format::Cwexport,
        Format::JsonStream,
        Format::Eventlist,
        Format::Fle,
        Format::Insights,
        Format::InsightsCsv,
        Format::JsonArray,
        Format::FirehoseCwl,
        Format::LambdaEvent,
    ];

    /// Other names a user may give the format.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Format::JsonStream => &["firehose"],
            _ => &[],
        }
    }

    /// What the format is, in a line.
    pub fn about(self) -> &'static str {
        match self {
            Format::Jsonl => "kube-apiserver audit log: one JSON event per line",
            Format::Cwexport => "CloudWatch Logs export to S3: `<ISO-8601 timestamp> <event>` lines",
            Format::JsonStream => "JSON objects one after another: pretty-printed events, or events concatenated with no separator (Firehose)",
            Format::Eventlist => "An `audit.k8s.io` EventList document",
            Format::Fle => "`aws logs filter-log-events` output (one or more pages)",
            Format::Insights => "`aws logs get-query-results` output",
            Format::InsightsCsv => "A Logs Insights console CSV export with an `@message` column",
            Format::JsonArray => "A JSON array of events or of Insights rows with `@message`",
            Format::FirehoseCwl => "CloudWatch Logs subscription DATA_MESSAGE documents (as Firehose writes them to S3: gzip members, concatenated)",
            Format::LambdaEvent => "Lambda events `{\"awslogs\":{\"data\":\"<base64 gzip>\"}}`, one per line",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Cwexport => "cwexport",
            Format::JsonStream => "json-stream",
            Format::Eventlist => "eventlist",
            Format::Fle => "fle",
            Format::Insights => "insights",
            Format::InsightsCsv => "insights-csv",
            Format::JsonArray => "json-array",
            Format::FirehoseCwl => "firehose-cwl",
            Format::LambdaEvent => "lambda-event",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the head of an input says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    Empty,
    Format(Format),
    Unrecognised(String),
}

/// Detects the format from the head of a decoded input. `complete` says the
/// head is the whole input.
pub fn sniff(head: &[u8], complete: bool) -> Sniffed {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let Some(first) = head.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Sniffed::Empty;
    };
    let body = &head[first..];
    match body[0] {
        b'{' => sniff_object(body, complete),
        b'[' => Sniffed::Format(Format::JsonArray),
        b'0'..=b'9' if is_timestamped_line(body) => Sniffed::Format(Format::Cwexport),
        _ => {
            let line = &body[..memchr::memchr(b'\n', body).unwrap_or(body.len())];
            if memchr::memmem::find(line, b"@message").is_some() {
                Sniffed::Format(Format::InsightsCsv)
            } else {
                Sniffed::Unrecognised(
                    "not JSON, a CloudWatch export, or an Insights CSV export".into(),
                )
            }
        }
    }
}

fn is_timestamped_line(body: &[u8]) -> bool {
    let Some(space) = memchr::memchr(b' ', &body[..body.len().min(64)]) else {
        return false;
    };
    body.get(4) == Some(&b'-')
        && body.get(10) == Some(&b'T')
        && std::str::from_utf8(&body[..space])
            .ok()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some()
}

fn sniff_object(body: &[u8], complete: bool) -> Sniffed {
    let scan = scan_top_keys(body);
    let has = |k: &str| scan.keys.iter().any(|x| x == k);
    if has("Items") || has("Level") && has("AuditID") {
        return Sniffed::Unrecognised(
            "JSON with Go field names (Items, Level, AuditID) instead of the audit.k8s.io API's (items, level, auditID)"
                .into(),
        );
    }
    if has("events") {
        return Sniffed::Format(Format::Fle);
    }
    if has("results") {
        return Sniffed::Format(Format::Insights);
    }
    if has("awslogs") {
        return Sniffed::Format(Format::LambdaEvent);
    }
    if has("logEvents") || has("messageType") {
        return Sniffed::Format(Format::FirehoseCwl);
    }
    if has("items") || scan.kind.as_deref() == Some("EventList") {
        return Sniffed::Format(Format::Eventlist);
    }
    // One object per line, or objects spread over lines / run together.
    let first_line_end = memchr::memchr(b'\n', body);
    match scan.end {
        Some(end) => {
            let rest = &body[end..];
            let rest_of_line = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
            let one_line = first_line_end.is_none_or(|nl| end <= nl);
            if one_line
                && rest_of_line.trim_ascii().is_empty()
                && (first_line_end.is_some() || complete)
            {
                Sniffed::Format(Format::Jsonl)
            } else {
                Sniffed::Format(Format::JsonStream)
            }
        }
        // The first object does not end within the head: a long line is
        // still a line when it is the head's only one.
        None if first_line_end.is_none() && !complete => Sniffed::Format(Format::Jsonl),
        None => Sniffed::Format(Format::JsonStream),
    }
}

struct TopKeys {
    keys: Vec<String>,
    kind: Option<String>,
    /// Offset just past the first object's closing brace, if it is in view.
    end: Option<usize>,
}

/// Walks the first JSON object of `body` and lists its top-level keys (and
/// the value of `kind`), stopping at its end or the end of the head.
fn scan_top_keys(body: &[u8]) -> TopKeys {
    let mut out = TopKeys {
        keys: Vec::new(),
        kind: None,
        end: None,
    };
    let mut depth = 0usize;
    let mut i = 0usize;
    let mut last_string: Option<(usize, usize)> = None;
    let mut pending_kind = false;
    while i < body.len() {
        match body[i] {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < body.len() && body[j] != b'"' {
                    j += if body[j] == b'\\' { 2 } else { 1 };
                }
                if j >= body.len() {
                    return out;
                }
                if depth == 1 && pending_kind {
                    out.kind = Some(String::from_utf8_lossy(&body[start..j]).into_owned());
                    pending_kind = false;
                }
                last_string = Some((start, j));
                i = j + 1;
                continue;
            }
            b':' if depth == 1 => {
                if let Some((s, e)) = last_string.take() {
                    let key = String::from_utf8_lossy(&body[s..e]).into_owned();
                    pending_kind = key == "kind";
                    out.keys.push(key);
                }
            }
            b'{' | b'[' => {
                depth += 1;
                pending_kind = false;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    out.end = Some(i + 1);
                    return out;
                }
            }
            b',' => {
                last_string = None;
                pending_kind = false;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(head: &str) -> Sniffed {
        sniff(head.as_bytes(), true)
    }

    #[test]
    fn detects_every_format_from_its_head() {
        let ev = r#"{"kind":"Event","auditID":"a","verb":"get"}"#;
        assert_eq!(f(&format!("{ev}\n{ev}\n")), Sniffed::Format(Format::Jsonl));
        assert_eq!(f(&format!("{ev}{ev}")), Sniffed::Format(Format::JsonStream));
        assert_eq!(
            f("{\n  \"kind\": \"Event\",\n  \"verb\": \"get\"\n}\n"),
            Sniffed::Format(Format::JsonStream)
        );
        assert_eq!(
            f("{\n \"kind\": \"EventList\", \"items\": [\n"),
            Sniffed::Format(Format::Eventlist)
        );
        assert_eq!(f("{\n    \"events\": [\n"), Sniffed::Format(Format::Fle));
        assert_eq!(
            f("{\n    \"results\": [\n"),
            Sniffed::Format(Format::Insights)
        );
        assert_eq!(
            f("{\"awslogs\": {\"data\": \"H4sI\"}}\n"),
            Sniffed::Format(Format::LambdaEvent)
        );
        assert_eq!(
            f("{\"messageType\": \"DATA_MESSAGE\", \"logEvents\": []}"),
            Sniffed::Format(Format::FirehoseCwl)
        );
        assert_eq!(
            f(&format!("2026-11-01T00:00:00.123Z {ev}\n")),
            Sniffed::Format(Format::Cwexport)
        );
        assert_eq!(
            f("@timestamp,@message\n"),
            Sniffed::Format(Format::InsightsCsv)
        );
        assert_eq!(
            f("[{\"@message\": \"{}\"}]"),
            Sniffed::Format(Format::JsonArray)
        );
        assert_eq!(f("  \n"), Sniffed::Empty);
    }

    #[test]
    fn go_field_names_are_unrecognised() {
        assert!(matches!(
            f("{\n  \"kind\": \"EventList\",\n  \"Items\": [\n"),
            Sniffed::Unrecognised(_)
        ));
        assert!(matches!(f("hello world\n"), Sniffed::Unrecognised(_)));
    }

    #[test]
    fn a_single_long_line_is_jsonl_when_the_head_is_cut() {
        assert_eq!(
            sniff(b"{\"kind\":\"Event\",\"x\":\"aaaa", false),
            Sniffed::Format(Format::Jsonl)
        );
    }
}
