//! Field indexes: the fields the bundled queries filter with `=` or `IN`,
//! kept in each audit log group's index policy so that a report scans only
//! the events that can match (FACTS.md). Pure: policy documents in, the
//! document to write (or nothing) out.
//!
//! What CloudWatch Logs does (PutIndexPolicy, DescribeIndexPolicies):
//! a log group has at most one policy of its own, and putting one replaces
//! it whole; a log group's own policy overrides every account-level one
//! ("that log group uses only that policy"); a policy holds at most 20
//! fields (`Fields`, and `FieldsV2` entries of type `FIELD_INDEX` or
//! `FACET`), each at most 100 characters.
//!
//! So setup merges, never replaces: the fields already indexed stay (and
//! any other part of the document, such as `FieldsV2`), ours are added once,
//! and when the log group had no policy of its own, the account-level
//! fields that applied to it are carried in, so creating the log group's
//! policy takes nothing away. What setup added and carried is kept in a tag
//! of the log group ([`Ledger`]), so that teardown removes exactly that.

use serde_json::{Map, Value};

use crate::insights::lang::{BinOp, Expr, Op};

/// Fields a policy may hold.
pub const MAX_FIELDS: usize = 20;

/// The log group tags that say what setup did to its index policy: the
/// fields it added, the account-level fields it carried in (each list
/// space-separated) and whether it created the policy. Tag values allow
/// only letters, digits, spaces and `_ . : / = + - @`, 256 at most.
pub const TAG_ADDED: &str = "secret-audit:field-index-added";
pub const TAG_CARRIED: &str = "secret-audit:field-index-carried";
pub const TAG_CREATED: &str = "secret-audit:field-index-created";
pub const LEDGER_TAGS: [&str; 3] = [TAG_ADDED, TAG_CARRIED, TAG_CREATED];
const MAX_TAG_VALUE: usize = 256;

/// The fields the bundled queries compare with `=` or `IN` in a `filter`
/// (CloudWatch indexes `@logStream` itself), in order of first use.
pub fn wanted() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for q in crate::insights::bundled() {
        let (stages, _) = crate::insights::lang::parse(&q.body);
        for s in &stages {
            let Op::Filter(e) = &s.op else { continue };
            e.walk(&mut |x| {
                let field = match x {
                    Expr::Bin(BinOp::Eq, a, _) | Expr::In(a, _) => match &**a {
                        Expr::Field(f, _) => Some(f),
                        _ => None,
                    },
                    _ => None,
                };
                if let Some(f) = field.filter(|f| !f.starts_with('@')) {
                    if !out.contains(f) {
                        out.push(f.clone());
                    }
                }
            });
        }
    }
    out
}

/// Where the policy that applies to a log group comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The log group's own.
    LogGroup,
    /// An account-level policy that applies to it.
    Account,
}

/// The index policy that applies to a log group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub source: Source,
    pub document: String,
    /// When it last changed (epoch milliseconds): `filterIndex` sees only
    /// events indexed after that.
    pub updated_ms: Option<i64>,
}

/// What setup did to a log group's policy: the fields it added, the
/// account-level fields it carried in, and whether it created the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub added: Vec<String>,
    pub carried: Vec<String>,
    pub created: bool,
}

impl Ledger {
    /// The tags that record it. Carried fields a tag cannot hold (too many,
    /// or characters a tag value refuses) are not recorded, and the ledger
    /// then says setup did not create the policy: teardown keeps them in
    /// the log group's policy rather than guess.
    pub fn to_tags(&self) -> Vec<(&'static str, String)> {
        let fits = |v: &str| {
            v.len() <= MAX_TAG_VALUE
                && v.chars()
                    .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
        };
        let carried = self.carried.join(" ");
        let (carried, created) = if fits(&carried) {
            (carried, self.created)
        } else {
            (String::new(), false)
        };
        vec![
            (TAG_ADDED, self.added.join(" ")),
            (TAG_CARRIED, carried),
            (TAG_CREATED, if created { "yes" } else { "no" }.to_owned()),
        ]
    }

    /// The ledger the tags record, if they do.
    pub fn from_tags(get: impl Fn(&str) -> Option<String>) -> Option<Ledger> {
        let list = |v: String| v.split_whitespace().map(str::to_owned).collect();
        Some(Ledger {
            added: list(get(TAG_ADDED)?),
            carried: get(TAG_CARRIED).map(list).unwrap_or_default(),
            created: get(TAG_CREATED).as_deref() == Some("yes"),
        })
    }
}

/// A log group's index state: the policy that applies, and the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexState {
    pub log_group: String,
    /// False when the endpoint has no index-policy API (the emulator).
    pub supported: bool,
    pub policy: Option<Policy>,
    pub ledger: Option<Ledger>,
}

/// A write to a log group's index policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexWrite {
    /// Put this document as the log group's own policy, then tag the
    /// ledger (`None`: remove the tag).
    Put {
        document: String,
        ledger: Option<Ledger>,
    },
    /// Delete the log group's own policy (the account-level one, if any,
    /// applies again) and its ledger tag.
    Delete,
    /// Only the ledger tag is left (someone removed the policy).
    Untag,
}

/// A document that is not an index policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("the index policy of {log_group} is not a JSON object with `Fields`: {why}")]
    Unreadable { log_group: String, why: String },
    #[error(
        "the index policy of {log_group} would hold {count} fields with secret-audit's \
         ({fields}); CloudWatch allows {MAX_FIELDS}: remove some of its fields, or run setup \
         with --no-field-index"
    )]
    TooMany {
        log_group: String,
        count: usize,
        fields: String,
    },
}

fn object(log_group: &str, doc: &str) -> Result<Map<String, Value>, IndexError> {
    let unreadable = |why: String| IndexError::Unreadable {
        log_group: log_group.to_owned(),
        why,
    };
    match serde_json::from_str::<Value>(doc).map_err(|e| unreadable(e.to_string()))? {
        Value::Object(m) => Ok(m),
        _ => Err(unreadable("not an object".into())),
    }
}

/// Which of a document's fields to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listed {
    /// The fields it indexes: `Fields`, and `FieldsV2` entries of type
    /// `FIELD_INDEX` (a `FACET` is not an index `=` can use).
    Indexes,
    /// Every field it names, facets too: what the quota of 20 counts.
    All,
}

/// A document's fields: `Fields`, then `FieldsV2`'s keys, as `listed` says.
fn fields_of(doc: &Map<String, Value>, listed: Listed) -> Vec<String> {
    let mut out: Vec<String> = doc
        .get("Fields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if let Some(v2) = doc.get("FieldsV2").and_then(Value::as_object) {
        for (k, v) in v2 {
            let facet = v.get("type").and_then(Value::as_str) == Some("FACET");
            let listed = listed == Listed::All || !facet;
            if listed && !out.contains(k) {
                out.push(k.clone());
            }
        }
    }
    out
}

/// The fields a policy indexes.
pub fn indexed_fields(p: &Policy) -> Vec<String> {
    match serde_json::from_str::<Value>(&p.document) {
        Ok(Value::Object(m)) => fields_of(&m, Listed::Indexes),
        _ => Vec::new(),
    }
}

/// The fields a log group's policy indexes now (empty without one).
pub fn indexed(state: &IndexState) -> Vec<String> {
    state
        .policy
        .as_ref()
        .map(indexed_fields)
        .unwrap_or_default()
}

/// What setup writes so that the log group indexes `wanted`: `None` when
/// its own policy already does.
pub fn merge(state: &IndexState, wanted: &[String]) -> Result<Option<IndexWrite>, IndexError> {
    let lg = &state.log_group;
    let (mut doc, own) = match &state.policy {
        Some(p) => (object(lg, &p.document)?, p.source == Source::LogGroup),
        None => (Map::new(), false),
    };
    let present = fields_of(&doc, Listed::Indexes);
    let missing: Vec<String> = wanted
        .iter()
        .filter(|w| !present.contains(w))
        .cloned()
        .collect();
    if missing.is_empty() {
        // Indexed already, by its own policy or an account-level one.
        return Ok(None);
    }
    // An account-level document is carried into the log group's own whole
    // (its name and other policy-level parts are not the document's).
    let mut list: Vec<Value> = doc
        .get("Fields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    list.extend(missing.iter().map(|f| Value::String(f.clone())));
    doc.insert("Fields".into(), Value::Array(list));
    let count = fields_of(&doc, Listed::All).len();
    if count > MAX_FIELDS {
        return Err(IndexError::TooMany {
            log_group: lg.clone(),
            count,
            fields: wanted.join(", "),
        });
    }
    let ledger = if own {
        let before = state.ledger.clone().unwrap_or_default();
        let mut added = before.added;
        added.extend(
            missing
                .into_iter()
                .filter(|m| !added.contains(m))
                .collect::<Vec<_>>(),
        );
        Ledger { added, ..before }
    } else {
        // Creating the log group's own policy: an older ledger (of a
        // policy since deleted) no longer says anything.
        Ledger {
            added: missing,
            carried: present,
            created: true,
        }
    };
    Ok(Some(IndexWrite::Put {
        document: Value::Object(doc).to_string(),
        ledger: Some(ledger),
    }))
}

/// What teardown writes to take back exactly what setup added: `None`
/// when setup added nothing there.
pub fn unmerge(state: &IndexState) -> Result<Option<IndexWrite>, IndexError> {
    let Some(ledger) = &state.ledger else {
        return Ok(None);
    };
    let Some(p) = state
        .policy
        .as_ref()
        .filter(|p| p.source == Source::LogGroup)
    else {
        return Ok(Some(IndexWrite::Untag));
    };
    let mut doc = object(&state.log_group, &p.document)?;
    if let Some(Value::Array(list)) = doc.get_mut("Fields") {
        list.retain(|v| {
            v.as_str()
                .is_none_or(|f| !ledger.added.iter().any(|a| a == f))
        });
    }
    let left = fields_of(&doc, Listed::All);
    let only_carried =
        left.iter().all(|f| ledger.carried.contains(f)) && doc.keys().all(|k| k == "Fields");
    if left.is_empty() || (ledger.created && only_carried) {
        // Back to no policy of its own: the account-level one applies again.
        return Ok(Some(IndexWrite::Delete));
    }
    Ok(Some(IndexWrite::Put {
        document: Value::Object(doc).to_string(),
        ledger: None,
    }))
}

/// The wanted fields a log group does not index (what `status` reports).
pub fn drift(state: &IndexState, wanted: &[String]) -> Vec<String> {
    let have = indexed(state);
    wanted
        .iter()
        .filter(|w| !have.contains(w))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
