//! Aggregation state: the groups the rollup shows (one per `--by` key tuple,
//! or one per request with `--requests`), and the dedup table that counts
//! each request once.
//!
//! The dedup table is shared by every thread (sharded locks), so the first
//! record of a request seen anywhere adds it to a group and every later
//! record of it only updates its outcome. An entry is a 128-bit id and an
//! 8-byte outcome, so memory grows with secret requests by about 24 bytes
//! each; groups grow with distinct keys.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use rustc_hash::FxHashMap;

use super::event::Stage;
use super::rollup::{Key, Scope};

/// An interned string; 0 stands for "absent".
pub type Sym = u32;

/// What the rollup groups by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    /// One group per distinct tuple of these keys (at most six).
    By(Vec<Key>),
    /// One group per request.
    Requests,
}

/// The strings of one request, interned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Fields {
    pub namespace: Sym,
    pub name: Sym,
    pub subresource: Sym,
    pub user: Sym,
    pub impersonated_by: Sym,
    pub verb: Sym,
    pub source_ip: Sym,
    pub user_agent: Sym,
    /// The auditID when it is not a UUID (a UUID is the request id itself).
    pub audit_id_text: Sym,
}

impl Fields {
    pub fn key(&self, k: Key) -> Sym {
        match k {
            Key::Namespace => self.namespace,
            Key::Secret => self.name,
            Key::User => self.user,
            Key::Verb => self.verb,
            Key::SourceIp => self.source_ip,
            Key::UserAgent => self.user_agent,
        }
    }

    pub fn scope(&self) -> Scope {
        if self.name != 0 {
            Scope::Object
        } else if self.namespace != 0 {
            Scope::Namespace
        } else {
            Scope::Cluster
        }
    }

    pub fn remap(&self, m: impl Fn(Sym) -> Sym) -> Fields {
        Fields {
            namespace: m(self.namespace),
            name: m(self.name),
            subresource: m(self.subresource),
            user: m(self.user),
            impersonated_by: m(self.impersonated_by),
            verb: m(self.verb),
            source_ip: m(self.source_ip),
            user_agent: m(self.user_agent),
            audit_id_text: m(self.audit_id_text),
        }
    }
}

/// The key of a group: the `--by` symbols, or the request id's four words.
pub type GroupKey = [u32; 6];

pub fn group_key(grouping: &Grouping, fields: &Fields, id: u128) -> GroupKey {
    let mut key = [0; 6];
    match grouping {
        Grouping::By(keys) => {
            for (slot, &k) in key.iter_mut().zip(keys) {
                *slot = fields.key(k);
            }
        }
        Grouping::Requests => {
            for (i, slot) in key.iter_mut().take(4).enumerate() {
                *slot = (id >> (32 * i)) as u32;
            }
        }
    }
    key
}

/// Counts per symbol: a short list while small, a map beyond.
#[derive(Debug, Clone)]
pub enum Tally {
    Small(Vec<(Sym, u32)>),
    Large(Box<FxHashMap<Sym, u32>>),
}

impl Default for Tally {
    fn default() -> Tally {
        Tally::Small(Vec::new())
    }
}

impl Tally {
    const SMALL: usize = 16;

    pub fn add(&mut self, sym: Sym, n: u32) {
        match self {
            Tally::Small(v) => {
                if let Some(e) = v.iter_mut().find(|e| e.0 == sym) {
                    e.1 += n;
                } else if v.len() < Self::SMALL {
                    v.push((sym, n));
                } else {
                    let mut m: FxHashMap<Sym, u32> = v.drain(..).collect();
                    m.insert(sym, n);
                    *self = Tally::Large(Box::new(m));
                }
            }
            Tally::Large(m) => *m.entry(sym).or_default() += n,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Tally::Small(v) => v.len(),
            Tally::Large(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = (Sym, u32)> + '_> {
        match self {
            Tally::Small(v) => Box::new(v.iter().copied()),
            Tally::Large(m) => Box::new(m.iter().map(|(&k, &v)| (k, v))),
        }
    }
}

/// One group of requests.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// The fields of the group's first request: its key values, and with
    /// `--requests` the request itself.
    pub first: Fields,
    /// The first request's id (with `--requests`, the request's).
    pub id: Id,
    pub has_audit_id: bool,
    pub scope: Option<Scope>,
    pub verbs: Tally,
    pub requests: u64,
    /// Filled in from the dedup table once every record is read.
    pub denied: u64,
    /// With `--requests`: the request's outcome, once every record is read.
    pub code: u16,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub source_ips: Tally,
    pub user_agents: Tally,
    /// Distinct authenticated users who impersonated (few: a short list).
    pub impersonated_by: Vec<Sym>,
}

impl Group {
    pub fn new(first: Fields, id: u128, has_audit_id: bool) -> Group {
        Group {
            first,
            id: id_words(id),
            has_audit_id,
            ..Default::default()
        }
    }

    pub fn id(&self) -> u128 {
        id_from_words(self.id)
    }

    fn impersonated(&mut self, sym: Sym) {
        if !self.impersonated_by.contains(&sym) {
            self.impersonated_by.push(sym);
        }
    }

    /// Adds one request.
    pub fn add(&mut self, f: &Fields, time: Option<i64>) {
        self.requests += 1;
        self.verbs.add(f.verb, 1);
        self.scope = self.scope.max(Some(f.scope()));
        self.see(time, time);
        if f.source_ip != 0 {
            self.source_ips.add(f.source_ip, 1);
        }
        if f.user_agent != 0 {
            self.user_agents.add(f.user_agent, 1);
        }
        if f.impersonated_by != 0 {
            self.impersonated(f.impersonated_by);
        }
    }

    fn see(&mut self, first: Option<i64>, last: Option<i64>) {
        self.first_seen = match (self.first_seen, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_seen = self.last_seen.max(last);
    }

    /// Folds another group (its symbols already remapped) into this one.
    pub fn absorb(&mut self, o: &Group, m: impl Fn(Sym) -> Sym) {
        self.requests += o.requests;
        self.denied += o.denied;
        self.scope = self.scope.max(o.scope);
        self.see(o.first_seen, o.last_seen);
        for (s, n) in o.verbs.iter() {
            self.verbs.add(m(s), n);
        }
        for (s, n) in o.source_ips.iter() {
            self.source_ips.add(m(s), n);
        }
        for (s, n) in o.user_agents.iter() {
            self.user_agents.add(m(s), n);
        }
        self.impersonated_by
            .extend(o.impersonated_by.iter().map(|&s| m(s)));
    }
}

/// A request's outcome as the dedup table keeps it.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// The shard (thread) that counted the request, and its group there.
    pub group: u32,
    /// Response code of the latest stage that had one; 0 when none had.
    pub code: u16,
    pub owner: u8,
    pub code_stage: Stage,
}

/// A 128-bit request id as two words: 8-byte alignment keeps a table entry
/// at 24 bytes (a `u128` key would pad it to 32).
pub type Id = [u64; 2];

pub fn id_words(id: u128) -> Id {
    [id as u64, (id >> 64) as u64]
}

pub fn id_from_words(w: Id) -> u128 {
    (w[1] as u128) << 64 | w[0] as u128
}

const DEDUP_SHARDS: usize = 64;

/// The request table shared by every thread of a run.
pub struct Dedup {
    shards: Box<[Mutex<FxHashMap<Id, Slot>>]>,
    owners: AtomicU32,
}

impl Default for Dedup {
    fn default() -> Dedup {
        Dedup {
            shards: (0..DEDUP_SHARDS).map(|_| Mutex::default()).collect(),
            owners: AtomicU32::new(0),
        }
    }
}

impl std::fmt::Debug for Dedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dedup")
    }
}

impl Dedup {
    /// A new owner id for a shard.
    pub fn owner(&self) -> u8 {
        let id = self.owners.fetch_add(1, Ordering::Relaxed);
        u8::try_from(id).expect("at most 256 shards (threads are capped)")
    }

    pub fn owners(&self) -> usize {
        self.owners.load(Ordering::Relaxed) as usize
    }

    /// The part of the table that holds `id`.
    pub fn lock(&self, id: Id) -> MutexGuard<'_, FxHashMap<Id, Slot>> {
        // Ids are UUIDs or hashes: their low bits are uniform.
        let shard = (id[0] as usize) % DEDUP_SHARDS;
        self.shards[shard].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every request's outcome; call once all readers are done.
    pub fn for_each(&self, mut f: impl FnMut(&Slot)) {
        for shard in self.shards.iter() {
            shard
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .for_each(&mut f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_past_its_small_form() {
        let mut t = Tally::default();
        for i in 0..40u32 {
            t.add(i % 20, 1);
        }
        assert_eq!(t.len(), 20);
        assert!(matches!(t, Tally::Large(_)));
        assert!(t.iter().all(|(_, n)| n == 2));
    }

    #[test]
    fn a_dedup_entry_is_24_bytes() {
        assert_eq!(std::mem::size_of::<(Id, Slot)>(), 24);
        assert_eq!(id_from_words(id_words(u128::MAX - 5)), u128::MAX - 5);
    }

    #[test]
    fn request_groups_key_on_the_id() {
        let f = Fields::default();
        let a = group_key(&Grouping::Requests, &f, 1 << 70);
        let b = group_key(&Grouping::Requests, &f, 1 << 71);
        assert_ne!(a, b);
    }
}
