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

/// A duration that may be zero (`0s`).
pub fn parse_delay(text: &str) -> Result<std::time::Duration, String> {
    let secs = span_secs(text, "duration", "e.g. 0s, 30s, 2m")?;
    if secs < 0 {
        return Err(format!("duration {text:?} must not be negative"));
    }
    Ok(std::time::Duration::from_secs(secs as u64))
}

/// A point in time given on the command line, resolved against `now`.
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    // A date and time without a zone, or a date alone: say what is missing.
    let looks_dated = t.len() >= 10
        && t.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && t.as_bytes()[4] == b'-';
    if looks_dated {
        let naive = [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
        ]
        .iter()
        .any(|f| chrono::NaiveDateTime::parse_from_str(t, f).is_ok());
        if naive {
            return Err(format!(
                "time {text:?} has no time zone: add Z or an offset, e.g. {}Z or {}+02:00",
                t.replace(' ', "T"),
                t.replace(' ', "T")
            ));
        }
        if chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok() {
            return Err(format!(
                "time {text:?} is a date without a time: write e.g. {t}T00:00:00Z"
            ));
        }
        return Err(format!(
            "invalid time {text:?}: expected RFC 3339, e.g. 2026-11-01T09:30:00Z"
        ));
    }
    let secs = span_secs(
        t,
        "time",
        "an age such as 90m, 2h, 7d or an RFC 3339 time such as 2026-11-01T09:30:00Z",
    )
    .map_err(|e| {
        if e.contains(" unit in ") {
            format!(
                "invalid time {text:?}: use an age such as 90m, 2h, 7d (units s, m, h, d, w) \
                 or an RFC 3339 time such as 2026-11-01T09:30:00Z"
            )
        } else {
            e
        }
    })?;
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

    #[test]
    fn a_time_error_says_what_was_expected_with_an_example() {
        let now = Utc::now();
        let err = parse_time("2026-11-01T00:00:00", now).unwrap_err();
        assert_eq!(
            err,
            "time \"2026-11-01T00:00:00\" has no time zone: add Z or an offset, \
             e.g. 2026-11-01T00:00:00Z or 2026-11-01T00:00:00+02:00"
        );
        let err = parse_time("2026-11-01 09:30:00", now).unwrap_err();
        assert!(err.contains("add Z or an offset"), "{err}");
        let err = parse_time("2026-11-01", now).unwrap_err();
        assert!(err.contains("write e.g. 2026-11-01T00:00:00Z"), "{err}");
        let err = parse_time("5y", now).unwrap_err();
        assert!(
            err.contains("units s, m, h, d, w") && err.contains("2026-11-01T09:30:00Z"),
            "{err}"
        );
        let err = parse_time("yesterday", now).unwrap_err();
        assert!(err.contains("such as 2026-11-01T09:30:00Z"), "{err}");
    }
}
