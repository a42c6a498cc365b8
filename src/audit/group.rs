//! Aggregation state: the groups the rollup shows (one per `--by` key tuple,
//! or one per request with `--requests`), and the request table that counts
//! each request once.
//!
//! One [`Table`] serves every thread of a run, so the first record of a
//! request seen anywhere adds it to a group and every later record of it
//! only updates its outcome. A request costs about 24 bytes (a 128-bit id
//! and its outcome); groups grow with distinct keys, strings with distinct
//! values.

use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use super::event::{SecretAccess, Stage};
use super::rollup::{is_denied, Key, Scope};

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

/// Strings interned once per run: each is stored once, and a symbol is
/// its position (from 1; 0 stands for "absent").
#[derive(Default)]
pub struct Interner {
    ids: HashTable<Sym>,
    strings: Vec<Box<str>>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Sym {
        let hash = FxBuildHasher.hash_one(s);
        let strings = &self.strings;
        let at = |id: Sym| &*strings[id as usize - 1];
        if let Some(&id) = self.ids.find(hash, |&id| at(id) == s) {
            return id;
        }
        self.strings.push(s.into());
        let id = self.strings.len() as Sym;
        let strings = &self.strings;
        self.ids.insert_unique(hash, id, |&id| {
            FxBuildHasher.hash_one(&*strings[id as usize - 1])
        });
        id
    }

    pub fn intern_opt(&mut self, s: Option<&str>) -> Sym {
        s.map_or(0, |s| self.intern(s))
    }

    /// The string of a symbol; `None` for 0.
    pub fn get(&self, id: Sym) -> Option<&str> {
        id.checked_sub(1).map(|i| &*self.strings[i as usize])
    }
}

/// A request's outcome as the request table keeps it.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    /// The group the request was counted in.
    group: u32,
    /// Response code of the latest stage that had one; 0 when none had.
    code: u16,
    code_stage: Stage,
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

#[derive(Debug, Clone, Copy)]
struct Entry {
    id: Id,
    outcome: Outcome,
}

/// Every request seen, in 24 bytes each and little more: buckets by id,
/// each a vector whose head is sorted (binary search) and whose short tail
/// is not (scanned), sorted in when it grows past an eighth of the head.
/// Vectors grow by an eighth, so memory stays near 24 bytes a request where
/// a hash map would use 30 to 55 and double at every resize.
struct Seen {
    buckets: Box<[Bucket]>,
}

#[derive(Default)]
struct Bucket {
    entries: Vec<Entry>,
    sorted: usize,
}

const SEEN_BUCKETS: usize = 1 << 12;

impl Default for Seen {
    fn default() -> Seen {
        Seen {
            buckets: (0..SEEN_BUCKETS).map(|_| Bucket::default()).collect(),
        }
    }
}

impl Seen {
    fn bucket(&mut self, id: Id) -> &mut Bucket {
        // Ids are UUIDs or hashes, but mix them anyway.
        let h = (id[0] ^ id[1].rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        &mut self.buckets[(h >> (64 - SEEN_BUCKETS.trailing_zeros())) as usize]
    }

    fn get_mut(&mut self, id: Id) -> Option<&mut Outcome> {
        let b = self.bucket(id);
        let (head, tail) = b.entries.split_at_mut(b.sorted);
        match head.binary_search_by(|e| e.id.cmp(&id)) {
            Ok(i) => Some(&mut head[i].outcome),
            Err(_) => tail.iter_mut().find(|e| e.id == id).map(|e| &mut e.outcome),
        }
    }

    /// Adds a request not seen before.
    fn insert(&mut self, id: Id, outcome: Outcome) {
        let b = self.bucket(id);
        let len = b.entries.len();
        if len == b.entries.capacity() {
            b.entries.reserve_exact(len / 8 + 4);
        }
        b.entries.push(Entry { id, outcome });
        if len + 1 - b.sorted > 8 + b.sorted / 8 {
            // A stable sort merges the sorted head with the sorted tail.
            b.entries.sort_by_key(|e| e.id);
            b.sorted = b.entries.len();
        }
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| &b.entries)
    }
}

/// Every secret request of a run and the groups they fall in, shared by all
/// threads. A thread takes the lock only for a record about a secret (a few
/// in a hundred), so threads seldom wait, and nothing is merged at the end.
#[derive(Default)]
pub struct Requests(Mutex<Table>);

impl std::fmt::Debug for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Requests")
    }
}

impl Requests {
    pub fn lock(&self) -> MutexGuard<'_, Table> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The groups, their strings, and every request's outcome.
#[derive(Default)]
pub struct Table {
    pub strings: Interner,
    pub groups: Vec<Group>,
    index: FxHashMap<GroupKey, u32>,
    seen: Seen,
}

impl Table {
    /// Counts one record of request `id`: the first record of a request adds
    /// it to its group, later ones only move its outcome.
    pub fn add(
        &mut self,
        grouping: &Grouping,
        id: u128,
        a: &SecretAccess<'_>,
        audit_id_text: Option<&str>,
    ) {
        let words = id_words(id);
        if let Some(o) = self.seen.get_mut(words) {
            if a.code.is_some() && a.stage >= o.code_stage {
                o.code = a.code.unwrap_or(0);
                o.code_stage = a.stage;
            }
            return;
        }
        let s = &mut self.strings;
        let fields = Fields {
            namespace: s.intern_opt(a.namespace.as_deref()),
            name: s.intern_opt(a.name.as_deref()),
            subresource: s.intern_opt(a.subresource.as_deref()),
            user: s.intern(&a.user),
            impersonated_by: s.intern_opt(a.impersonated_by.as_deref()),
            verb: s.intern(&a.verb),
            source_ip: s.intern_opt(a.source_ip.as_deref()),
            user_agent: s.intern_opt(a.user_agent.as_deref()),
            audit_id_text: s.intern_opt(audit_id_text),
        };
        let key = group_key(grouping, &fields, id);
        let group = match self.index.get(&key) {
            Some(&g) => g,
            None => {
                let g = u32::try_from(self.groups.len()).expect("fewer than 2^32 groups");
                self.groups
                    .push(Group::new(fields, id, a.audit_id.is_some()));
                self.index.insert(key, g);
                g
            }
        };
        self.groups[group as usize].add(&fields, a.time);
        let (code, code_stage) = match a.code {
            Some(c) => (c, a.stage),
            None => (0, Stage::Unknown),
        };
        self.seen.insert(
            words,
            Outcome {
                group,
                code,
                code_stage,
            },
        );
    }

    /// Applies every request's final outcome to its group and lets the
    /// request table go. Call once, after the last record.
    pub fn finish(&mut self) {
        for e in std::mem::take(&mut self.seen).entries() {
            let group = &mut self.groups[e.outcome.group as usize];
            group.denied += is_denied(e.outcome.code) as u64;
            group.code = e.outcome.code;
        }
        self.index = FxHashMap::default();
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
    fn a_request_entry_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 24);
        assert_eq!(id_from_words(id_words(u128::MAX - 5)), u128::MAX - 5);
    }

    #[test]
    fn the_request_table_finds_what_it_holds_and_stays_compact() {
        let id = |i: u64| [i.wrapping_mul(0x2545_f491_4f6c_dd1d), i];
        let mut seen = Seen::default();
        let n = 200_000u64;
        for i in (0..n).step_by(2) {
            let outcome = Outcome {
                group: i as u32,
                code: 200,
                code_stage: Stage::ResponseComplete,
            };
            assert!(seen.get_mut(id(i)).is_none());
            seen.insert(id(i), outcome);
        }
        for i in 0..n {
            match seen.get_mut(id(i)) {
                Some(o) => assert_eq!((i % 2, o.group), (0, i as u32)),
                None => assert_eq!(i % 2, 1, "request {i} lost"),
            }
        }
        assert_eq!(seen.entries().count() as u64, n / 2);
        let capacity: usize = seen.buckets.iter().map(|b| b.entries.capacity()).sum();
        assert!(capacity as u64 <= n / 2 * 9 / 8 + 4 * SEEN_BUCKETS as u64);
    }

    #[test]
    fn request_groups_key_on_the_id() {
        let f = Fields::default();
        let a = group_key(&Grouping::Requests, &f, 1 << 70);
        let b = group_key(&Grouping::Requests, &f, 1 << 71);
        assert_ne!(a, b);
    }
}
