//! Compact maps for the audit core, where memory must track the entries:
//! [`SortedTail`] for the small per-group tallies and [`IdMap`] for the
//! request ids the ledger deduplicates by.

/// A small map in little more than its entries' size: a vector whose head
/// is sorted (binary search) and whose short tail is not (scanned), sorted
/// in once it outgrows the square root of the head. It grows by an eighth
/// at a time (at least four entries, so small ones are not reallocated at
/// every other insert), where a hash map would use a third to twice as much
/// again and double at every resize, so memory tracks the entries.
#[derive(Debug, Clone)]
pub struct SortedTail<K, V> {
    pub(super) entries: Vec<(K, V)>,
    sorted: usize,
}

impl<K, V> Default for SortedTail<K, V> {
    fn default() -> Self {
        SortedTail {
            entries: Vec::new(),
            sorted: 0,
        }
    }
}

impl<K: Ord + Copy, V> SortedTail<K, V> {
    fn position(&self, key: K) -> Option<usize> {
        let (head, tail) = self.entries.split_at(self.sorted);
        match head.binary_search_by(|e| e.0.cmp(&key)) {
            Ok(i) => Some(i),
            Err(_) => tail
                .iter()
                .position(|e| e.0 == key)
                .map(|i| self.sorted + i),
        }
    }

    pub fn get_mut(&mut self, key: K) -> Option<&mut V> {
        let i = self.position(key)?;
        Some(&mut self.entries[i].1)
    }

    /// Adds a key not in the map.
    pub fn insert(&mut self, key: K, value: V) {
        let len = self.entries.len();
        if len == self.entries.capacity() {
            self.entries.reserve_exact((len / 8).max(4));
        }
        self.entries.push((key, value));
        if len + 1 - self.sorted > 8 + self.sorted.isqrt() {
            // A stable sort merges the sorted head with the sorted tail.
            self.entries.sort_by_key(|e| e.0);
            self.sorted = self.entries.len();
        }
    }

    pub fn remove(&mut self, key: K) -> Option<V> {
        let i = self.position(key)?;
        Some(if i < self.sorted {
            self.sorted -= 1;
            self.entries.remove(i).1
        } else {
            self.entries.swap_remove(i).1
        })
    }
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

/// A hash of an id (a UUID from the input, or a hash of input) under a
/// seed drawn once per process: ids crafted to share bits cannot pile into
/// one bucket or one probe sequence and make a run quadratic.
pub fn id_hash(id: Id) -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(0u64)
    });
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&id[0].to_le_bytes());
    bytes[8..].copy_from_slice(&id[1].to_le_bytes());
    xxhash_rust::xxh3::xxh3_64_with_seed(&bytes, seed)
}

/// Values by request id, in 4096 [`SortedTail`] buckets.
pub struct IdMap<V> {
    buckets: Box<[SortedTail<Id, V>]>,
}

const ID_BUCKETS: usize = 1 << 12;

impl<V> Default for IdMap<V> {
    fn default() -> IdMap<V> {
        IdMap {
            buckets: (0..ID_BUCKETS).map(|_| SortedTail::default()).collect(),
        }
    }
}

impl<V> IdMap<V> {
    fn bucket(&mut self, id: Id) -> &mut SortedTail<Id, V> {
        let h = id_hash(id);
        &mut self.buckets[(h >> (64 - ID_BUCKETS.trailing_zeros())) as usize]
    }

    pub fn get_mut(&mut self, id: Id) -> Option<&mut V> {
        self.bucket(id).get_mut(id)
    }

    /// Adds an id not in the map.
    pub fn insert(&mut self, id: Id, value: V) {
        self.bucket(id).insert(id, value)
    }

    pub fn remove(&mut self, id: Id) -> Option<V> {
        self.bucket(id).remove(id)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.buckets.iter().flat_map(|b| &b.entries).map(|e| &e.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_words() {
        assert_eq!(id_from_words(id_words(u128::MAX - 5)), u128::MAX - 5);
    }

    #[test]
    fn the_id_map_finds_what_it_holds_and_stays_compact() {
        let id = |i: u64| [i.wrapping_mul(0x2545_f491_4f6c_dd1d), i];
        let mut map: IdMap<u64> = IdMap::default();
        let n = 200_000u64;
        for i in (0..n).step_by(2) {
            assert!(map.get_mut(id(i)).is_none());
            map.insert(id(i), i);
        }
        for i in 0..n {
            match map.get_mut(id(i)) {
                Some(v) => assert_eq!((i % 2, *v), (0, i)),
                None => assert_eq!(i % 2, 1, "id {i} lost"),
            }
        }
        // Removing from sorted heads and unsorted tails keeps the rest.
        for i in (0..n).step_by(6) {
            assert_eq!(map.remove(id(i)), Some(i));
            assert_eq!(map.remove(id(i)), None);
        }
        for i in (0..n).step_by(2) {
            assert_eq!(map.get_mut(id(i)).is_some(), i % 6 != 0, "id {i}");
        }
        assert_eq!(map.values().count() as u64, n / 2 - n.div_ceil(6));
        let capacity: usize = map.buckets.iter().map(|b| b.entries.capacity()).sum();
        assert!(capacity as u64 <= n / 2 * 9 / 8 + 4 * ID_BUCKETS as u64);
    }
}
