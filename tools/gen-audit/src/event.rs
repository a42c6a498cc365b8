//! One `audit.k8s.io/v1` Event, serialized the way the API server's Go
//! encoder writes it: fields in the Go structs' order, map keys sorted,
//! `&`, `<` and `>` escaped as `\u0026`, `\u003c` and `\u003e`.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub level: &'static str,
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub stage: &'static str,
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    pub verb: &'static str,
    pub user: User,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<User>,
    #[serde(rename = "sourceIPs")]
    pub source_ips: Vec<String>,
    pub user_agent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<ResponseStatus>,
    /// The body of the request, logged at the RequestResponse level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_object: Option<serde_json::Value>,
    /// Microseconds since the epoch.
    #[serde(serialize_with = "micro_time")]
    pub request_received_timestamp: i64,
    #[serde(serialize_with = "micro_time")]
    pub stage_timestamp: i64,
    pub annotations: BTreeMap<&'static str, String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<BTreeMap<&'static str, Vec<String>>>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_group: Option<&'static str>,
    pub api_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subresource: Option<&'static str>,
}

/// `metav1.Status`, as a response status.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ResponseStatus {
    #[serde(serialize_with = "empty_object")]
    pub metadata: (),
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub code: u16,
}

#[derive(Serialize)]
struct Empty {}

fn empty_object<S: Serializer>(_: &(), s: S) -> Result<S::Ok, S::Error> {
    Empty {}.serialize(s)
}

impl Event {
    pub fn is_secret(&self) -> bool {
        self.object_ref
            .as_ref()
            .is_some_and(|o| o.resource == "secrets")
    }

    pub fn code(&self) -> Option<u16> {
        self.response_status.as_ref().map(|s| s.code)
    }

    /// The user the request acted as.
    pub fn effective_user(&self) -> &str {
        &self
            .impersonated_user
            .as_ref()
            .unwrap_or(&self.user)
            .username
    }

    /// The compact JSON of the event, as a log line or CloudWatch message.
    pub fn to_json(&self) -> String {
        let mut buf = Vec::with_capacity(1024);
        self.write_json(&mut buf);
        String::from_utf8(buf).expect("serde_json writes UTF-8")
    }

    /// Appends the compact JSON line of the event (no newline) to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let start = out.len();
        serde_json::to_writer(&mut *out, self).expect("an event serializes");
        go_escape(out, start);
    }

    /// Appends the event pretty-printed with `indent`, each line after the
    /// first prefixed with `margin`.
    pub fn write_pretty(&self, out: &mut Vec<u8>, indent: &[u8], margin: &[u8]) {
        let mut one = Vec::with_capacity(2048);
        let fmt = serde_json::ser::PrettyFormatter::with_indent(indent);
        let mut ser = serde_json::Serializer::with_formatter(&mut one, fmt);
        self.serialize(&mut ser).expect("an event serializes");
        go_escape(&mut one, 0);
        for (i, line) in one.split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                out.push(b'\n');
                out.extend_from_slice(margin);
            }
            out.extend_from_slice(line);
        }
    }
}

/// Escapes `&`, `<` and `>` in `buf[start..]` as Go's encoder does. They can
/// only occur inside JSON strings, so every one of them is escaped.
fn go_escape(buf: &mut Vec<u8>, start: usize) {
    let Some(first) = memchr::memchr3(b'&', b'<', b'>', &buf[start..]) else {
        return;
    };
    let tail = buf.split_off(start + first);
    let mut from = 0;
    for at in memchr::memchr3_iter(b'&', b'<', b'>', &tail) {
        buf.extend_from_slice(&tail[from..at]);
        buf.extend_from_slice(match tail[at] {
            b'&' => b"\\u0026",
            b'<' => b"\\u003c",
            _ => b"\\u003e",
        });
        from = at + 1;
    }
    buf.extend_from_slice(&tail[from..]);
}

/// Kubernetes `MicroTime`: RFC 3339 with six fractional digits, in UTC.
pub fn micro_time_string(micros: i64) -> String {
    let mut buf = Vec::with_capacity(27);
    write_time(&mut buf, micros, b'T', 6);
    buf.push(b'Z');
    String::from_utf8(buf).expect("digits are ASCII")
}

pub fn to_datetime(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).expect("a time within chrono's range")
}

/// Appends `YYYY-MM-DD<sep>HH:MM:SS.` and `digits` fractional digits (3 or
/// 6). chrono's formatter parses its format string on every call; this is
/// most of a record's time otherwise.
pub fn write_time(buf: &mut Vec<u8>, micros: i64, sep: u8, digits: u32) {
    let t = to_datetime(micros);
    push_digits(buf, t.year() as u32, 4);
    buf.push(b'-');
    push_digits(buf, t.month(), 2);
    buf.push(b'-');
    push_digits(buf, t.day(), 2);
    buf.push(sep);
    push_digits(buf, t.hour(), 2);
    buf.push(b':');
    push_digits(buf, t.minute(), 2);
    buf.push(b':');
    push_digits(buf, t.second(), 2);
    buf.push(b'.');
    let frac = t.timestamp_subsec_micros() / 10u32.pow(6 - digits);
    push_digits(buf, frac, digits as usize);
}

fn push_digits(buf: &mut Vec<u8>, mut n: u32, width: usize) {
    let mut d = [b'0'; 6];
    for i in (0..width).rev() {
        d[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    buf.extend_from_slice(&d[..width]);
}

fn micro_time<S: Serializer>(micros: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&micro_time_string(*micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ampersands_and_angle_brackets_are_escaped_as_go_does() {
        let mut buf = b"keep&".to_vec();
        buf.extend_from_slice(br#"{"u":"/a?b=1&c=<2>"}"#);
        go_escape(&mut buf, 5);
        assert_eq!(
            std::str::from_utf8(&buf).unwrap(),
            r#"keep&{"u":"/a?b=1\u0026c=\u003c2\u003e"}"#
        );
    }

    #[test]
    fn micro_time_has_six_digits() {
        assert_eq!(
            micro_time_string(1_793_491_200_000_042),
            "2026-11-01T00:00:00.000042Z"
        );
    }
}
