//! What `alert --sns-topic-arn` publishes: a subject and a body a person
//! can read, the finding's JSON after them, and attributes a subscription
//! can filter on. A message stays under SNS's 256 KB: the longest lists
//! (secrets, namespaces, audit ids) are cut, each with a count of what was
//! cut; stdout keeps them whole.

use serde_json::{json, Value};

use crate::output::sanitize::sanitize;
use crate::rules::{Finding, Severity};

/// SNS's limit on a message, less room for the attributes.
pub const MAX_BODY: usize = 250 * 1024;
/// SNS's limit on a subject.
const MAX_SUBJECT: usize = 100;

/// One message, ready for the AWS layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub subject: String,
    pub body: String,
    pub attributes: Vec<(&'static str, String)>,
    /// The deduplication id on a FIFO topic.
    pub dedup_id: String,
}

/// A subject SNS takes: printable ASCII, one line, at most 100 characters.
fn subject(text: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.len() > MAX_SUBJECT {
        s.truncate(MAX_SUBJECT - 3);
        s.push_str("...");
    }
    s
}

/// A text of at most 4 KiB (the head of a message stays small whatever a
/// principal's name holds), cut on a character boundary.
fn clip(text: &str) -> String {
    const MAX: usize = 4096;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// The finding's JSON, its longest lists cut until it fits `room` bytes.
fn fitted(f: &Finding, room: usize) -> String {
    let mut v = serde_json::to_value(f).expect("a finding serializes");
    loop {
        let text = serde_json::to_string_pretty(&v).expect("JSON serializes");
        if text.len() <= room {
            return text;
        }
        let longest = ["secrets", "namespaces", "audit_ids"]
            .into_iter()
            .max_by_key(|k| v[*k].as_array().map_or(0, Vec::len))
            .expect("three lists");
        let Some(list) = v[longest].as_array_mut().filter(|l| l.len() > 1) else {
            // Nothing left to cut: the summary alone.
            return json!({"rule": f.rule, "dedup_key": f.dedup_key, "summary": f.summary})
                .to_string();
        };
        let keep = list.len() / 2;
        let cut = list.len() - keep;
        list.truncate(keep);
        let counter = format!("{longest}_omitted");
        let before = v[&counter].as_u64().unwrap_or(0);
        v[&counter] = Value::from(before + cut as u64);
    }
}

/// The message of one finding.
pub fn finding(f: &Finding, cluster: &str) -> Notice {
    let head = format!(
        "{} {}\n\n{}\n\nprincipal: {}\nsource IP: {}\nrequests: {}\nfrom {} to {}\ndedup key: {}\n\n",
        f.severity.name().to_uppercase(),
        f.rule,
        clip(&sanitize(&f.summary)),
        clip(&sanitize(&f.principal)),
        sanitize(f.source_ip.as_deref().unwrap_or("-")),
        f.requests,
        f.first_seen,
        f.last_seen,
        f.dedup_key
    );
    let json = fitted(f, MAX_BODY.saturating_sub(head.len()));
    Notice {
        subject: subject(&format!(
            "[{}] {}: {} on {cluster}",
            f.severity.name(),
            f.rule,
            f.principal
        )),
        body: head + &json,
        attributes: vec![
            ("rule", f.rule.to_owned()),
            ("severity", f.severity.name().to_owned()),
            ("cluster", cluster.to_owned()),
        ],
        dedup_id: f.dedup_key.clone(),
    }
}

/// One message instead of many, when a run finds more than it may send.
pub fn digest(findings: &[Finding], cluster: &str, limit: usize) -> Notice {
    let worst = findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Low);
    let mut body = format!(
        "{} findings on {cluster}, more than the {limit} a run sends one by one; \
         each is on the run's standard output, and in the list below.\n\n",
        findings.len()
    );
    let mut listed = 0;
    for f in findings {
        let line = format!(
            "{} {} {} {} {}\n",
            f.severity.name(),
            f.rule,
            clip(&sanitize(&f.principal)),
            f.first_seen,
            f.dedup_key
        );
        if body.len() + line.len() > MAX_BODY - 100 {
            break;
        }
        body.push_str(&line);
        listed += 1;
    }
    if listed < findings.len() {
        body.push_str(&format!("... and {} more\n", findings.len() - listed));
    }
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for f in findings {
        h.update(f.dedup_key.as_bytes());
    }
    Notice {
        subject: subject(&format!(
            "[{}] {} secret-audit findings on {cluster}",
            worst.name(),
            findings.len()
        )),
        body,
        attributes: vec![
            ("rule", "digest".to_owned()),
            ("severity", worst.name().to_owned()),
            ("cluster", cluster.to_owned()),
        ],
        dedup_id: format!("{:032x}", h.digest128()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding_with(secrets: usize) -> Finding {
        Finding {
            rule: "bulk-secret-reads",
            severity: Severity::High,
            cluster: "prod".into(),
            principal: "arn:aws:sts::123456789012:assumed-role/OnCall/carol\u{7}".into(),
            source_ip: Some("203.0.113.77".into()),
            namespaces: vec!["prod".into()],
            secrets: (0..secrets)
                .map(|i| format!("prod/secret-{i:06}-{}", "x".repeat(40)))
                .collect(),
            first_seen: "2026-11-02T11:02:08Z".into(),
            last_seen: "2026-11-02T11:16:08Z".into(),
            requests: secrets as u64,
            audit_ids: vec!["a".into(); 10],
            dedup_key: "7b6d99beed92bbfd10f69e76bead2f43".into(),
            summary: "bulk-secret-reads: carol read many secrets".into(),
            key: "carol".into(),
            span_ms: (0, 0),
        }
    }

    #[test]
    fn a_message_reads_well_and_carries_its_attributes() {
        let n = finding(&finding_with(3), "prod");
        assert_eq!(
            n.subject,
            "[high] bulk-secret-reads: arn:aws:sts::123456789012:assumed-role/OnCall/carol? on prod"
        );
        assert!(n
            .body
            .starts_with("HIGH bulk-secret-reads\n\nbulk-secret-reads: carol read many secrets\n"));
        assert!(!n.body.contains('\u{7}'), "no control character");
        let json: Value = serde_json::from_str(&n.body[n.body.find("\n{").unwrap() + 1..]).unwrap();
        assert_eq!(json["dedup_key"], "7b6d99beed92bbfd10f69e76bead2f43");
        assert_eq!(json["secrets"].as_array().unwrap().len(), 3);
        assert_eq!(
            n.attributes,
            vec![
                ("rule", "bulk-secret-reads".to_string()),
                ("severity", "high".to_string()),
                ("cluster", "prod".to_string())
            ]
        );
        assert_eq!(n.dedup_id, "7b6d99beed92bbfd10f69e76bead2f43");
    }

    #[test]
    fn a_finding_too_big_for_sns_is_cut_with_a_count() {
        let n = finding(&finding_with(20_000), "prod");
        assert!(n.body.len() <= MAX_BODY, "{}", n.body.len());
        let json: Value = serde_json::from_str(&n.body[n.body.find("\n{").unwrap() + 1..]).unwrap();
        let kept = json["secrets"].as_array().unwrap().len() as u64;
        assert_eq!(kept + json["secrets_omitted"].as_u64().unwrap(), 20_000);
        assert!(kept > 1000, "as much as fits: {kept}");
    }

    #[test]
    fn a_digest_lists_every_finding_it_can_and_counts_the_rest() {
        let many: Vec<Finding> = (0..30).map(|_| finding_with(1)).collect();
        let d = digest(&many, "prod", 20);
        assert_eq!(d.subject, "[high] 30 secret-audit findings on prod");
        assert_eq!(d.body.matches("bulk-secret-reads arn:").count(), 30);
        assert!(d.body.starts_with("30 findings on prod, more than the 20"));
        assert_eq!(d.attributes[0], ("rule", "digest".to_string()));
    }
}
