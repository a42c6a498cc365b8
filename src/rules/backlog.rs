//! The requests `alert` holds while its inputs are read, to evaluate them
//! in time order once they are all in (parallel readers and several
//! streams of the same hours do not deliver in time order). Only requests
//! a rule looks at are held (`rules::wanted`), packed: strings interned
//! once, a UUID auditID as a number, no origin. About 64 bytes a request
//! instead of several hundred.

use crate::audit::event::Stage;
use crate::audit::group::{Interner, Sym};
use crate::audit::origin::Origin;
use crate::audit::tap::Seen;

/// An auditID: a UUID as its number, anything else interned.
#[derive(Debug, Clone, Copy)]
enum AuditId {
    Uuid(u128),
    Text(Sym),
}

#[derive(Debug, Clone, Copy)]
struct Packed {
    time: i64,
    audit_id: AuditId,
    verb: Sym,
    namespace: Sym,
    name: Sym,
    subresource: Sym,
    user: Sym,
    impersonated_by: Sym,
    source_ip: Sym,
    user_agent: Sym,
    /// 0: none.
    code: u16,
    stage: Stage,
    payload: bool,
    anonymous: bool,
}

/// Packed requests (see the module comment).
#[derive(Default)]
pub struct Backlog {
    strings: Interner,
    items: Vec<Packed>,
}

/// A lowercase hyphenated UUID as its number, when `text` is one exactly
/// as it would be written back.
fn uuid(text: &str) -> Option<u128> {
    let u = uuid::Uuid::try_parse(text).ok()?;
    (u.hyphenated().to_string() == text).then(|| u.as_u128())
}

impl Backlog {
    /// Holds a request; one without a time is of no use to the rules.
    pub fn push(&mut self, s: Seen) {
        let Some(time) = s.time else { return };
        let st = &mut self.strings;
        let audit_id = match uuid(&s.audit_id) {
            Some(n) => AuditId::Uuid(n),
            None => AuditId::Text(st.intern(&s.audit_id)),
        };
        self.items.push(Packed {
            time,
            audit_id,
            verb: st.intern(&s.verb),
            namespace: st.intern_opt(s.namespace.as_deref()),
            name: st.intern_opt(s.name.as_deref()),
            subresource: st.intern_opt(s.subresource.as_deref()),
            user: st.intern(&s.user),
            impersonated_by: st.intern_opt(s.impersonated_by.as_deref()),
            source_ip: st.intern_opt(s.source_ip.as_deref()),
            user_agent: st.intern_opt(s.user_agent.as_deref()),
            code: s.code.unwrap_or(0),
            stage: s.stage,
            payload: s.payload,
            anonymous: s.anonymous,
        });
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The requests in time order (a stable sort: equal times keep the
    /// order they came in), unpacked one at a time.
    pub fn into_sorted(mut self) -> impl Iterator<Item = Seen> {
        self.items.sort_by_key(|p| p.time);
        let strings = self.strings;
        self.items.into_iter().map(move |p| {
            let text = |sym: Sym| strings.get(sym).map(str::to_owned);
            Seen {
                audit_id: match p.audit_id {
                    AuditId::Uuid(n) => uuid::Uuid::from_u128(n).hyphenated().to_string(),
                    AuditId::Text(sym) => text(sym).unwrap_or_default(),
                },
                time: Some(p.time),
                stage: p.stage,
                verb: text(p.verb).unwrap_or_default(),
                namespace: text(p.namespace),
                name: text(p.name),
                subresource: text(p.subresource),
                user: text(p.user).unwrap_or_default(),
                impersonated_by: text(p.impersonated_by),
                code: (p.code != 0).then_some(p.code),
                source_ip: text(p.source_ip),
                user_agent: text(p.user_agent),
                payload: p.payload,
                anonymous: p.anonymous,
                origin: Origin::default(),
            }
        })
    }
}

/// A backlog filled from a tap on a thread of its own while the inputs are
/// read, so the channel never holds more than a moment's requests.
pub struct Collecting {
    stop: crossbeam_channel::Sender<()>,
    handle: std::thread::JoinHandle<Backlog>,
}

impl Collecting {
    pub fn start(tap: crossbeam_channel::Receiver<Seen>) -> Collecting {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let handle = std::thread::spawn(move || {
            let mut backlog = Backlog::default();
            loop {
                crossbeam_channel::select! {
                    recv(tap) -> s => match s {
                        Ok(s) => backlog.push(s),
                        Err(_) => break,
                    },
                    recv(stopped) -> _ => {
                        backlog_rest(&mut backlog, &tap);
                        break;
                    }
                }
            }
            backlog
        });
        Collecting { stop, handle }
    }

    /// The backlog, once the inputs are read (what the tap holds still is
    /// taken too).
    pub fn finish(self) -> Backlog {
        let _ = self.stop.send(());
        self.handle
            .join()
            .expect("the collecting thread does not panic")
    }
}

fn backlog_rest(backlog: &mut Backlog, tap: &crossbeam_channel::Receiver<Seen>) {
    for s in tap.try_iter() {
        backlog.push(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(audit_id: &str, time: i64, name: Option<&str>) -> Seen {
        Seen {
            audit_id: audit_id.into(),
            time: Some(time),
            stage: Stage::ResponseComplete,
            verb: "get".into(),
            namespace: Some("prod".into()),
            name: name.map(Into::into),
            subresource: None,
            user: "bob".into(),
            impersonated_by: Some("admin".into()),
            code: Some(403),
            source_ip: Some("10.0.0.1".into()),
            user_agent: None,
            payload: true,
            anonymous: false,
            origin: Origin::default(),
        }
    }

    #[test]
    fn requests_come_back_whole_and_in_time_order() {
        let mut b = Backlog::default();
        let a = seen("0f8fad5b-d9cb-469f-a165-70867728950e", 30, Some("db"));
        let upper = seen("0F8FAD5B-D9CB-469F-A165-70867728950E", 10, None);
        let plain = seen("not-a-uuid", 20, Some("tls"));
        let mut no_time = seen("x", 0, None);
        no_time.time = None;
        for s in [a.clone(), upper.clone(), plain.clone(), no_time] {
            b.push(s);
        }
        assert_eq!(b.len(), 3, "a request without a time is of no use");
        let back: Vec<Seen> = b.into_sorted().collect();
        let key = |s: &Seen| format!("{s:?}");
        assert_eq!(
            back.iter().map(key).collect::<Vec<_>>(),
            [upper, plain, a].iter().map(key).collect::<Vec<_>>()
        );
    }
}
