//! Aggregation state: the groups the rollup shows (one per `--by` key tuple,
//! or one per request with `--requests`), kept by [`Grouped`], the rollup's
//! consumer of the ledger (which counts each request once). Groups grow with
//! distinct keys, strings with distinct values.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashSet};

use super::compact::{id_from_words, id_words, Id, SortedTail};
use super::event::{is_denied, SecretAccess};
use super::key::{Key, Scope};
use super::ledger::{Consumer, Request};
use super::origin::Origin;

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
        scope(self.name != 0, self.namespace != 0)
    }
}

/// The widest part of the cluster a request can touch: one object when it
/// names a secret, else its namespace when it has one, else the cluster.
fn scope(named: bool, namespaced: bool) -> Scope {
    if named {
        Scope::Object
    } else if namespaced {
        Scope::Namespace
    } else {
        Scope::Cluster
    }
}

/// A group's key: a 128-bit hash of its `--by` values (each absent or a
/// length and its bytes), or with `--requests` the request id itself. Like a
/// hashed auditID, two keys that differ share a hash with odds of about one
/// in 2^128; in exchange a record of a known group is matched without
/// interning its key strings.
fn group_key(grouping: &Grouping, a: &SecretAccess<'_>, id: u128, scratch: &mut Vec<u8>) -> u128 {
    let Grouping::By(keys) = grouping else {
        return id;
    };
    scratch.clear();
    for &k in keys {
        let v = match k {
            Key::Namespace => a.namespace.as_deref(),
            Key::Secret => a.name.as_deref(),
            Key::User => Some(&*a.user),
            Key::Verb => Some(&*a.verb),
            Key::SourceIp => a.source_ip.as_deref(),
            Key::UserAgent => a.user_agent.as_deref(),
        };
        match v {
            None => scratch.push(0),
            Some(v) => {
                scratch.push(1);
                scratch.extend_from_slice(&(v.len() as u64).to_le_bytes());
                scratch.extend_from_slice(v.as_bytes());
            }
        }
    }
    xxhash_rust::xxh3::xxh3_128(scratch)
}

/// Where the group index looks for a key (a hash of key values, or a
/// request id from the input): hashed again under a per-process seed, so
/// crafted ids cannot share a probe sequence.
fn key_hash(key: Id) -> u64 {
    super::compact::id_hash(key)
}

/// Counts per symbol, in about 9 bytes each.
#[derive(Debug, Clone, Default)]
pub struct Tally(SortedTail<Sym, u32>);

impl Tally {
    pub fn add(&mut self, sym: Sym, n: u32) {
        match self.0.get_mut(sym) {
            Some(count) => *count += n,
            None => self.0.insert(sym, n),
        }
    }

    pub fn len(&self) -> usize {
        self.0.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (Sym, u32)> + '_ {
        self.0.entries.iter().copied()
    }
}

/// What a request adds to its group besides one to its count.
struct Seen {
    verb: Sym,
    scope: Scope,
    source_ip: Sym,
    user_agent: Sym,
    impersonated_by: Sym,
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
    fn add(&mut self, f: &Seen, time: Option<i64>) {
        self.requests += 1;
        self.verbs.add(f.verb, 1);
        self.scope = self.scope.max(Some(f.scope));
        self.see(time);
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

    fn see(&mut self, time: Option<i64>) {
        self.first_seen = match (self.first_seen, time) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_seen = self.last_seen.max(time);
    }
}

/// Strings interned once per run, end to end in one buffer: a symbol is a
/// string's position (from 1; 0 stands for "absent").
#[derive(Default, Clone)]
pub struct Interner {
    ids: HashTable<Sym>,
    text: String,
    /// Where each string ends in `text`.
    ends: Vec<u32>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Sym {
        let hash = FxBuildHasher.hash_one(s);
        if let Some(&id) = self.ids.find(hash, |&id| self.get(id) == Some(s)) {
            return id;
        }
        // Grow by an eighth, not double: memory tracks the strings.
        if self.text.capacity() - self.text.len() < s.len() {
            self.text.reserve_exact(self.text.len() / 8 + s.len() + 256);
        }
        if self.ends.len() == self.ends.capacity() {
            self.ends.reserve_exact(self.ends.len() / 8 + 64);
        }
        self.text.push_str(s);
        let end = u32::try_from(self.text.len()).expect("less than 4 GiB of distinct strings");
        self.ends.push(end);
        let id = self.ends.len() as Sym;
        let (text, ends) = (&self.text, &self.ends);
        self.ids.insert_unique(hash, id, |&id| {
            FxBuildHasher.hash_one(string_at(text, ends, id))
        });
        id
    }

    pub fn intern_opt(&mut self, s: Option<&str>) -> Sym {
        s.map_or(0, |s| self.intern(s))
    }

    /// The string of a symbol; `None` for 0.
    pub fn get(&self, id: Sym) -> Option<&str> {
        (id != 0).then(|| string_at(&self.text, &self.ends, id))
    }
}

fn string_at<'a>(text: &'a str, ends: &[u32], id: Sym) -> &'a str {
    let i = id as usize - 1;
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    &text[start..ends[i] as usize]
}

/// The rollup's consumer of the ledger: the groups, their strings, and with
/// `--requests` where each request's first record came from.
#[derive(Clone)]
pub struct Grouped {
    pub grouping: Grouping,
    pub strings: Interner,
    pub groups: Vec<Group>,
    /// With `--requests`: the origin of each group's (request's) first
    /// record, by group.
    pub origins: Vec<Origin>,
    /// Groups by key ([`group_key`]).
    index: HashTable<(Id, u32)>,
    /// Where a key is assembled to be hashed.
    scratch: Vec<u8>,
    /// The few verbs there are, interned, so a record's verb is found without
    /// a lookup in `strings`.
    verbs: Vec<(Box<str>, Sym)>,
    /// Over every request, for the headline: distinct users and namespaces
    /// (kept only when the groups' keys do not say), and requests on every
    /// namespace's secrets at once.
    pub users: FxHashSet<Sym>,
    pub namespaces: FxHashSet<Sym>,
    pub cluster_wide: u64,
}

impl Grouped {
    pub fn new(grouping: Grouping) -> Grouped {
        Grouped {
            grouping,
            strings: Interner::default(),
            groups: Vec::new(),
            origins: Vec::new(),
            index: HashTable::default(),
            scratch: Vec::new(),
            verbs: Vec::new(),
            users: FxHashSet::default(),
            namespaces: FxHashSet::default(),
            cluster_wide: 0,
        }
    }

    /// Whether each group holds one value of `key`, so the groups say which
    /// values there were.
    pub fn keyed_by(&self, key: Key) -> bool {
        match &self.grouping {
            Grouping::By(keys) => keys.contains(&key),
            Grouping::Requests => true,
        }
    }

    /// A verb's symbol. There are about ten verbs, looked up here in a short
    /// list; past 32 distinct ones the interner answers.
    fn verb(&mut self, verb: &str) -> Sym {
        if let Some(&(_, sym)) = self.verbs.iter().find(|v| *v.0 == *verb) {
            return sym;
        }
        let sym = self.strings.intern(verb);
        if self.verbs.len() < 32 {
            self.verbs.push((verb.into(), sym));
        }
        sym
    }
}

impl Consumer for Grouped {
    /// The group the request was counted in.
    type Token = u32;

    /// Adds a request to the group of its key values, made on first sight.
    fn begin(&mut self, r: &Request<'_>) -> u32 {
        let a = r.access;
        let seen = Seen {
            verb: self.verb(&a.verb),
            scope: scope(a.name.is_some(), a.namespace.is_some()),
            source_ip: self.strings.intern_opt(a.source_ip.as_deref()),
            user_agent: self.strings.intern_opt(a.user_agent.as_deref()),
            impersonated_by: self.strings.intern_opt(a.impersonated_by.as_deref()),
        };
        if a.namespace.is_none() && a.name.is_none() {
            self.cluster_wide += 1;
        }
        if !self.keyed_by(Key::User) {
            let user = self.strings.intern(&a.user);
            self.users.insert(user);
        }
        if !self.keyed_by(Key::Namespace) && a.namespace.is_some() {
            let namespace = self.strings.intern_opt(a.namespace.as_deref());
            self.namespaces.insert(namespace);
        }
        let key = id_words(group_key(&self.grouping, a, r.id, &mut self.scratch));
        let group = match self.index.find(key_hash(key), |e| e.0 == key) {
            Some(&(_, g)) => g,
            None => {
                let g = u32::try_from(self.groups.len()).expect("fewer than 2^32 groups");
                if self.groups.len() == self.groups.capacity() {
                    // By an eighth, not double: memory tracks the groups.
                    self.groups.reserve_exact(self.groups.len() / 8 + 16);
                }
                let s = &mut self.strings;
                let first = Fields {
                    namespace: s.intern_opt(a.namespace.as_deref()),
                    name: s.intern_opt(a.name.as_deref()),
                    subresource: s.intern_opt(a.subresource.as_deref()),
                    user: s.intern(&a.user),
                    impersonated_by: seen.impersonated_by,
                    verb: seen.verb,
                    source_ip: seen.source_ip,
                    user_agent: seen.user_agent,
                    audit_id_text: s.intern_opt(r.audit_id_text),
                };
                self.groups
                    .push(Group::new(first, r.id, a.audit_id.is_some()));
                if self.grouping == Grouping::Requests {
                    self.origins.push(r.origin.clone());
                }
                self.index
                    .insert_unique(key_hash(key), (key, g), |e| key_hash(e.0));
                g
            }
        };
        self.groups[group as usize].add(&seen, a.time);
        group
    }

    /// Counts a request's final outcome in its group.
    fn settle(&mut self, group: u32, code: u16) {
        let group = &mut self.groups[group as usize];
        group.denied += is_denied(code) as u64;
        group.code = code;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::event::Stage;

    #[test]
    fn a_tally_counts_each_symbol_once_small_or_large() {
        for distinct in [5u32, 20, 5000] {
            let mut t = Tally::default();
            // Symbols in a scrambled order, each added three times.
            for round in 0..3 {
                for i in 0..distinct {
                    t.add((i * 7919 + round) % distinct + 1, 1);
                }
            }
            assert_eq!(t.len(), distinct as usize);
            assert!(t.iter().all(|(_, n)| n == 3));
            assert!(t.0.entries.capacity() <= distinct as usize * 9 / 8 + 8);
        }
    }

    #[test]
    fn interned_strings_come_back_as_they_went_in() {
        let mut i = Interner::default();
        let words: Vec<String> = (0..3000)
            .map(|n| format!("s{n}"))
            .chain(["".into(), "é\u{1b}".into()])
            .collect();
        let syms: Vec<Sym> = words.iter().map(|w| i.intern(w)).collect();
        for (w, &s) in words.iter().zip(&syms) {
            assert_eq!(i.intern(w), s);
            assert_eq!(i.get(s), Some(w.as_str()));
        }
        assert_eq!(i.get(0), None);
    }

    fn access<'a>(
        namespace: Option<&'a str>,
        name: Option<&'a str>,
        user: &'a str,
    ) -> SecretAccess<'a> {
        SecretAccess {
            audit_id: None,
            stage: Stage::ResponseComplete,
            verb: "get".into(),
            namespace: namespace.map(Into::into),
            name: name.map(Into::into),
            subresource: None,
            user: user.into(),
            impersonated_by: None,
            source_ip: None,
            user_agent: None,
            code: Some(200),
            time: None,
            has_payload: false,
            anonymous: false,
        }
    }

    #[test]
    fn group_keys_tell_values_apart_and_requests_key_on_the_id() {
        let by = Grouping::By(crate::audit::key::DEFAULT_KEYS.to_vec());
        let mut scratch = Vec::new();
        let mut key = |a: &SecretAccess<'_>| group_key(&by, a, 1, &mut scratch);
        let same = key(&access(Some("ns"), Some("db"), "alice"));
        assert_eq!(same, key(&access(Some("ns"), Some("db"), "alice")));
        // Where one value ends and the next begins, and absent from empty.
        assert_ne!(same, key(&access(Some("nsd"), Some("b"), "alice")));
        assert_ne!(
            key(&access(None, Some("db"), "alice")),
            key(&access(Some(""), Some("db"), "alice"))
        );
        assert_ne!(
            key(&access(None, Some("x"), "")),
            key(&access(Some("x"), None, ""))
        );

        let a = access(None, None, "");
        let mut scratch = Vec::new();
        assert_eq!(
            group_key(&Grouping::Requests, &a, 1 << 70, &mut scratch),
            1 << 70
        );
    }

    #[test]
    fn a_request_adds_to_the_group_of_its_key_and_its_outcome_settles_there() {
        let mut t = Grouped::new(Grouping::By(crate::audit::key::DEFAULT_KEYS.to_vec()));
        let origin = Origin::default();
        let mut begin = |id: u128, a: &SecretAccess<'_>| {
            t.begin(&Request {
                id,
                audit_id_text: None,
                access: a,
                origin: &origin,
            })
        };
        let first = begin(1, &access(Some("ns"), Some("db"), "alice"));
        let second = begin(2, &access(Some("ns"), Some("db"), "alice"));
        let bob = begin(3, &access(Some("ns"), Some("db"), "bob"));
        assert_eq!((first, second, bob), (0, 0, 1));
        t.settle(first, 403);
        t.settle(second, 200);
        assert_eq!(t.groups.len(), 2);
        let (alice, bob) = (&t.groups[0], &t.groups[1]);
        assert_eq!((alice.requests, alice.denied, bob.requests), (2, 1, 1));
        assert_eq!(t.strings.get(alice.first.user), Some("alice"));
        assert_eq!(t.strings.get(bob.first.user), Some("bob"));
        let verbs: Vec<_> = alice
            .verbs
            .iter()
            .map(|(v, n)| (t.strings.get(v), n))
            .collect();
        assert_eq!(verbs, [(Some("get"), 2)]);
        assert!(
            t.origins.is_empty(),
            "origins are kept with --requests only"
        );
    }
}
