//! The rules config (`alert --rules FILE`): per rule, by name, any of
//! `enabled`, `severity`, `threshold`, `window` and `allow` (principals
//! added to the rule's allowlist, each a name, a `prefix*`, or
//! `{ principal = "...", until = "YYYY-MM-DD" }`, which lapses after that
//! day). What is not given keeps its default.
//!
//! ```toml
//! [bulk-secret-reads]
//! threshold = 20
//! window = "15m"
//! allow = ["system:serviceaccount:ci:deployer", { principal = "alice", until = "2026-12-31" }]
//!
//! [scripting-client]
//! enabled = false
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Rule, Severity};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleConfig {
    enabled: Option<bool>,
    severity: Option<Severity>,
    threshold: Option<usize>,
    window: Option<String>,
    #[serde(default)]
    allow: Vec<Allow>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Allow {
    Principal(String),
    Until { principal: String, until: String },
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
        for a in c.allow {
            match a {
                Allow::Principal(p) => rule.allow.push(p),
                Allow::Until { principal, until } => {
                    if chrono::NaiveDate::parse_from_str(&until, "%Y-%m-%d").is_err() {
                        return Err(format!(
                            "{name}: allow {principal:?}: until {until:?} is not a date like 2026-12-31"
                        ));
                    }
                    if until.as_str() >= today {
                        rule.allow.push(principal);
                    } else {
                        warnings.push(format!(
                            "{name}: the allowlist entry for {principal} lapsed on {until}"
                        ));
                    }
                }
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
