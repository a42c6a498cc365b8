//! The rules config (`alert --rules FILE`): per rule, by name, any of
//! `enabled`, `severity`, `threshold`, `window` and `allow`, entries added
//! to the rule's allowlist. An entry is a principal (a name or a
//! `prefix*`), or a table of any of `principal`, `namespace`, `user_agent`
//! (names or `prefix*`) and `cidr`, all of which must match, with an
//! optional `until = "YYYY-MM-DD"` after which it lapses. What is not
//! given keeps its default.
//!
//! ```toml
//! [bulk-secret-reads]
//! threshold = 20
//! window = "15m"
//! allow = [
//!   "system:serviceaccount:ci:deployer",
//!   { principal = "alice", cidr = "203.0.113.0/24", until = "2026-12-31" },
//!   { namespace = "sandbox" },
//! ]
//!
//! [scripting-client]
//! allow = [{ user_agent = "curl/*", cidr = "10.0.0.0/8" }]
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Allow, Rule, Severity};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleConfig {
    enabled: Option<bool>,
    severity: Option<Severity>,
    threshold: Option<usize>,
    window: Option<String>,
    #[serde(default)]
    allow: Vec<toml::Value>,
}

/// One allowlist entry of the file: a principal, or a table (see the
/// module comment).
fn allow_entry(value: toml::Value) -> Result<Allow, String> {
    let table = match value {
        toml::Value::String(p) => return Ok(Allow::principal(&p)),
        toml::Value::Table(t) => t,
        other => {
            return Err(format!(
                "expected a principal or a table such as {{ principal = \"alice\", cidr = \"10.0.0.0/8\" }}, found {}",
                other.type_str()
            ))
        }
    };
    let mut allow = Allow::default();
    for (key, value) in table {
        let toml::Value::String(text) = value else {
            return Err(format!("{key} must be a string"));
        };
        match key.as_str() {
            "principal" => allow.principal = Some(text),
            "namespace" => allow.namespace = Some(text),
            "user_agent" => allow.user_agent = Some(text),
            "cidr" => {
                let net = text
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("cidr {text:?} is not an address range like 10.0.0.0/8"))?;
                allow.cidr = Some(net);
            }
            "until" => {
                let date = chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                    .map_err(|_| format!("until {text:?} is not a date like 2026-12-31"))?;
                // Written back in full, so that dates compare as text.
                allow.until = Some(date.format("%Y-%m-%d").to_string());
            }
            _ => {
                return Err(format!(
                    "unknown key {key:?}: an entry has principal, namespace, user_agent, cidr and until"
                ))
            }
        }
    }
    if allow.principal.is_none()
        && allow.namespace.is_none()
        && allow.user_agent.is_none()
        && allow.cidr.is_none()
    {
        return Err(
            "an entry needs at least one of principal, namespace, user_agent and cidr".into(),
        );
    }
    Ok(allow)
}

/// The rules a config makes of `rules` on `today` (`YYYY-MM-DD`), and
/// warnings (allowlist entries that lapsed). An error names the file's
/// mistake and the fix.
pub fn apply(
    mut rules: Vec<Rule>,
    text: &str,
    today: &str,
) -> Result<(Vec<Rule>, Vec<String>), String> {
    let config: BTreeMap<String, RuleConfig> =
        toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => format!(
                "line {}: {}",
                text[..span.start.min(text.len())].matches('\n').count() + 1,
                e.message()
            ),
            None => e.message().to_owned(),
        })?;
    let mut warnings = Vec::new();
    for (name, c) in config {
        let Some(rule) = rules.iter_mut().find(|r| r.name == name) else {
            let known: Vec<&str> = super::defaults().iter().map(|r| r.name).collect();
            return Err(format!(
                "no rule named {name:?}: the rules are {}",
                known.join(", ")
            ));
        };
        if let Some(s) = c.severity {
            rule.severity = s;
        }
        if let Some(t) = c.threshold {
            if t == 0 {
                return Err(format!("{name}: threshold must be 1 or more"));
            }
            rule.threshold = t;
        }
        if let Some(w) = &c.window {
            let d =
                crate::timearg::parse_duration(w).map_err(|e| format!("{name}: window: {e}"))?;
            rule.window = d.as_millis() as i64;
        }
        for (i, value) in c.allow.into_iter().enumerate() {
            let a =
                allow_entry(value).map_err(|e| format!("{name}: allow entry {}: {e}", i + 1))?;
            match &a.until {
                Some(until) if until.as_str() < today => {
                    warnings.push(format!("{name}: the allowlist entry {a} lapsed on {until}"))
                }
                _ => rule.allow.push(a),
            }
        }
        rule.enabled = c.enabled.unwrap_or(rule.enabled);
    }
    Ok((rules, warnings))
}

/// The default rules with the changes of the rules file at `path` (none:
/// the defaults), and warnings; an error names the file and its mistake.
pub fn load(path: Option<&std::path::Path>) -> Result<(Vec<Rule>, Vec<String>), String> {
    let Some(path) = path else {
        return Ok((super::defaults(), Vec::new()));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read rules {}: {e}", path.display()))?;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (rules, warnings) = apply(super::defaults(), &text, &today)
        .map_err(|e| format!("rules {}: {e}", path.display()))?;
    let warnings = warnings
        .into_iter()
        .map(|w| format!("warning: rules {}: {w}", path.display()))
        .collect();
    Ok((rules, warnings))
}
