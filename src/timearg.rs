//! The one time grammar of the command line. A span is a whole number with
//! a unit, `s`, `m`, `h`, `d` or `w` (a bare number is seconds): durations
//! (`--operation-timeout 60s`, `--period 5m`) are spans, and `--since` /
//! `--until` take a span counted back from now (`90m`, `2h`, `7d`) or an
//! RFC 3339 time. A window's start must come before its end.

use chrono::{DateTime, Utc};

const UNITS: [(&str, i64); 5] = [
    ("s", 1),
    ("m", 60),
    ("h", 3600),
    ("d", 86_400),
    ("w", 7 * 86_400),
];

/// Seconds of a span such as `90m`; `what` names it in errors.
fn span_secs(text: &str, what: &str, example: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("invalid {what} {text:?}: use {example}"))?;
    let (_, secs) = UNITS
        .iter()
        .find(|(u, _)| *u == unit || unit.is_empty() && *u == "s")
        .ok_or_else(|| format!("invalid {what} unit in {text:?}: use s, m, h, d or w"))?;
    n.checked_mul(*secs)
        .ok_or_else(|| format!("{what} {text:?} is out of range"))
}

/// A duration: a positive span.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let secs = span_secs(text, "duration", "e.g. 30s, 5m, 1h")?;
    if secs <= 0 {
        return Err(format!("duration {text:?} must be positive"));
    }
    Ok(std::time::Duration::from_secs(secs as u64))
}

/// A point in time given on the command line, resolved against `now`.
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    let secs = span_secs(t, "time", "an age such as 90m, 2h, 7d or an RFC 3339 time")?;
    chrono::TimeDelta::try_seconds(secs)
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| format!("time {text:?} is out of range"))
}

/// A window's start and end; `None` is open.
pub type Window = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// `--since` and `--until`, either open; given both, the start must come
/// before the end.
pub fn parse_window(
    since: Option<&str>,
    until: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Window, String> {
    let start = since.map(|t| parse_time(t, now)).transpose()?;
    let end = until.map(|t| parse_time(t, now)).transpose()?;
    if let (Some(s), Some(e)) = (start, end) {
        if s >= e {
            return Err(format!(
                "--since ({}) must be before --until ({})",
                s.to_rfc3339(),
                e.to_rfc3339()
            ));
        }
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_ages_count_back_from_now() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_time("90m", now).unwrap().to_rfc3339(),
            "2026-11-28T10:30:00+00:00"
        );
        assert_eq!(
            parse_time("7d", now).unwrap().to_rfc3339(),
            "2026-11-21T12:00:00+00:00"
        );
        assert_eq!(
            parse_time("2026-11-02T00:00:00Z", now)
                .unwrap()
                .to_rfc3339(),
            "2026-11-02T00:00:00+00:00"
        );
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("5y", now).is_err());
        assert_eq!(
            parse_time("1w", now).unwrap(),
            parse_time("7d", now).unwrap()
        );
        assert_eq!(
            parse_time("120", now).unwrap(),
            parse_time("2m", now).unwrap()
        );
    }

    #[test]
    fn durations_and_ages_share_one_grammar() {
        for (text, secs) in [
            ("30", 30),
            ("30s", 30),
            ("5m", 300),
            ("2h", 7200),
            ("1d", 86_400),
            ("1w", 604_800),
        ] {
            assert_eq!(parse_duration(text).unwrap().as_secs(), secs, "{text}");
        }
        assert!(parse_duration("0s").unwrap_err().contains("positive"));
        assert!(parse_duration("5y").unwrap_err().contains("unit"));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999w")
            .unwrap_err()
            .contains("out of range"));
    }

    #[test]
    fn a_window_starts_before_it_ends() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(parse_window(Some("2h"), Some("3h"), now)
            .unwrap_err()
            .contains("must be before"));
        assert!(parse_window(Some("2h"), Some("2h"), now).is_err());
        let (s, e) = parse_window(Some("3h"), None, now).unwrap();
        assert_eq!(
            (s.unwrap().to_rfc3339(), e),
            ("2026-11-28T09:00:00+00:00".into(), None)
        );
        assert_eq!(parse_window(None, None, now).unwrap(), (None, None));
    }
}
