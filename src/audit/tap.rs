//! The stream's consumer of the ledger: each secret request handed on once,
//! when it is first seen with an outcome (its first record with a response
//! code, or its settling), so `tail` prints it as it happens. Without a
//! receiver (`analyze`) it does nothing.

use crossbeam_channel::Sender;

use super::event::Stage;
use super::ledger::{Consumer, Request};
use super::origin::Origin;

/// A request as a stream shows it: its first record's fields and outcome.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The auditID, or a hash of the record when it has none.
    pub audit_id: String,
    pub time: Option<i64>,
    pub stage: Stage,
    pub verb: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    pub user: String,
    pub impersonated_by: Option<String>,
    /// The response code, when the request had one.
    pub code: Option<u16>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Its first record carried a request or response body.
    pub payload: bool,
    /// `system:anonymous` or in the group `system:unauthenticated`.
    pub anonymous: bool,
    pub origin: Origin,
}

impl Seen {
    fn of(r: &Request<'_>) -> Seen {
        let a = r.access;
        let own = |s: &Option<std::borrow::Cow<'_, str>>| s.as_deref().map(str::to_owned);
        Seen {
            audit_id: match (&a.audit_id, r.audit_id_text) {
                (Some(id), _) => id.to_string(),
                (None, Some(text)) => text.to_owned(),
                (None, None) => format!("{:032x}", r.id),
            },
            time: a.time,
            stage: a.stage,
            verb: a.verb.to_string(),
            namespace: own(&a.namespace),
            name: own(&a.name),
            subresource: own(&a.subresource),
            user: a.user.to_string(),
            impersonated_by: own(&a.impersonated_by),
            code: a.code,
            source_ip: own(&a.source_ip),
            user_agent: own(&a.user_agent),
            payload: a.has_payload,
            anonymous: a.anonymous,
            origin: r.origin.clone(),
        }
    }
}

/// A token for a request already handed on.
const HANDED: u32 = u32::MAX;

/// Which requests a tap hands on (the rest it drops once their outcome is
/// known).
#[derive(Clone)]
pub struct Keep(pub std::sync::Arc<dyn Fn(&Seen) -> bool + Send + Sync>);

impl std::fmt::Debug for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keep")
    }
}

/// Hands each request to a receiver once (see the module comment).
#[derive(Debug, Clone, Default)]
pub struct Tap {
    out: Option<Sender<Seen>>,
    keep: Option<Keep>,
    /// Requests seen without a response code yet, by slot.
    waiting: Vec<Option<Seen>>,
    free: Vec<u32>,
}

impl Tap {
    /// A tap that hands requests to `out`.
    pub fn to(out: Sender<Seen>) -> Tap {
        Tap {
            out: Some(out),
            ..Tap::default()
        }
    }

    /// This tap, handing on only the requests `keep` accepts.
    pub fn keeping(self, keep: Keep) -> Tap {
        Tap {
            keep: Some(keep),
            ..self
        }
    }

    fn send(&self, seen: Seen) {
        if self.keep.as_ref().is_some_and(|k| !(k.0)(&seen)) {
            return;
        }
        if let Some(out) = &self.out {
            // The receiver gone means the run is ending: nothing to print to.
            let _ = out.send(seen);
        }
    }
}

impl Consumer for Tap {
    /// A slot of a request waiting for its outcome, or [`HANDED`].
    type Token = u32;

    fn begin(&mut self, r: &Request<'_>) -> u32 {
        if self.out.is_none() {
            return HANDED;
        }
        let seen = Seen::of(r);
        if seen.code.is_some() {
            self.send(seen);
            return HANDED;
        }
        match self.free.pop() {
            Some(slot) => {
                self.waiting[slot as usize] = Some(seen);
                slot
            }
            None => {
                self.waiting.push(Some(seen));
                (self.waiting.len() - 1) as u32
            }
        }
    }

    fn settle(&mut self, token: u32, code: u16) {
        if token == HANDED {
            return;
        }
        if let Some(mut seen) = self.waiting[token as usize].take() {
            seen.code = (code != 0).then_some(code);
            self.free.push(token);
            self.send(seen);
        }
    }
}
