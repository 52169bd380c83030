//! The heap backend: a hash map per shard and operator, for state that fits in memory.
//!
//! The store remembers per key the checkpoint epoch it was last written in, and, once it has
//! saved, the keys removed since: so a checkpoint saves either every entry or, as a delta on
//! the newest completed checkpoint, only the keys written and removed since (Flink's
//! incremental checkpoints of a changelog), as the [delta chain](super::chain) policy says.

use std::hash::Hash;

use hashbrown::hash_map::{HashMap, RawEntryMut};
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};

use super::chain::DeltaChain;
use super::KeyedStore;

/// The epoch a store starts in: the id of the first checkpoint barrier.
const FIRST_EPOCH: u64 = 1;

/// Keyed state in an in-memory hash map, hashed with a fast seeded hasher (foldhash): this map
/// never reaches disk and never decides placement.
#[derive(Debug, Clone)]
pub struct HeapStore<K, V> {
    map: HashMap<K, Tracked<V>>,
    /// Keys removed since the first save, each with the epoch it was removed in (before the
    /// first save none is needed: it saves everything).
    removed: Vec<(K, u64)>,
    /// The current epoch: the id of the next checkpoint barrier.
    epoch: u64,
    /// Whether the next save is a delta, and on which checkpoint.
    chain: DeltaChain,
}

/// A value and the epoch it was last written in.
#[derive(Debug, Clone)]
struct Tracked<V> {
    value: V,
    written_in: u64,
}

impl<K, V> Default for HeapStore<K, V> {
    fn default() -> Self {
        Self {
            map: HashMap::default(),
            removed: Vec::new(),
            epoch: FIRST_EPOCH,
            chain: DeltaChain::default(),
        }
    }
}

impl<K: Hash + Eq + Clone, V> HeapStore<K, V> {
    /// The value of `key`, mutably, if any.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let tracked = self.map.get_mut(key)?;
        tracked.written_in = self.epoch;
        Some(&mut tracked.value)
    }

    /// Sets the value of `key`, returning the one it replaces; the key is cloned only when
    /// it was absent.
    pub fn insert(&mut self, key: &K, value: V) -> Option<V> {
        let tracked = Tracked {
            value,
            written_in: self.epoch,
        };
        match self.map.raw_entry_mut().from_key(key) {
            RawEntryMut::Occupied(mut entry) => Some(entry.insert(tracked).value),
            RawEntryMut::Vacant(entry) => {
                entry.insert(key.clone(), tracked);
                None
            }
        }
    }

    /// Keeps only the keys for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let (epoch, removed) = (self.epoch, &mut self.removed);
        let track = epoch > FIRST_EPOCH;
        self.map.retain(|key, tracked| {
            let kept = keep(key, &tracked.value);
            if !kept && track {
                removed.push((key.clone(), epoch));
            }
            kept
        });
    }
}

impl<K: Hash + Eq + Clone + Serialize, V: Serialize> HeapStore<K, V> {
    /// Saves the store into a checkpoint part at barrier `barrier`, whole or as a delta on
    /// checkpoint `completed`, as its delta chain says (see [`encode`](Self::encode)).
    pub(crate) fn save(&mut self, barrier: u64, completed: u64) -> (Vec<u8>, Option<u64>) {
        let changed = self.changes_since(completed);
        let base = self.chain.next_save(completed, changed, self.map.len());
        (self.encode(barrier, base), base)
    }

    /// How many keys were written or removed after checkpoint `completed` (forgetting the
    /// removals it holds).
    pub(crate) fn changes_since(&mut self, completed: u64) -> usize {
        self.removed.retain(|(_, epoch)| *epoch > completed);
        self.written_since(completed).count() + self.removed.len()
    }

    /// Encodes the store at barrier `barrier`: every entry, as `Vec<(K, V)>`, or (`base`
    /// set) a delta on checkpoint `base`: the keys removed and the entries written after it,
    /// as `(Vec<K>, Vec<(K, V)>)`. Changes from now on count as after `barrier`.
    pub(crate) fn encode(&mut self, barrier: u64, base: Option<u64>) -> Vec<u8> {
        let encoded = match base {
            None => postcard::to_stdvec(&AllEntries(&self.map)),
            Some(base) => {
                let removed: Vec<&K> = (self.removed.iter())
                    .filter(|(_, epoch)| *epoch > base)
                    .map(|(key, _)| key)
                    .collect();
                let written: Vec<(&K, &V)> = self.written_since(base).collect();
                postcard::to_stdvec(&(removed, written))
            }
        };
        self.epoch = barrier + 1;
        encoded.unwrap_or_else(|e| panic!("cannot encode keyed state: {e}"))
    }

    /// The entries written after checkpoint `completed`.
    fn written_since(&self, completed: u64) -> impl Iterator<Item = (&K, &V)> {
        self.map
            .iter()
            .filter(move |(_, tracked)| tracked.written_in > completed)
            .map(|(key, tracked)| (key, &tracked.value))
    }
}

impl<K: Hash + Eq + Clone + DeserializeOwned, V: DeserializeOwned> HeapStore<K, V> {
    /// Adds what one old shard saved, a chain of [`save`](Self::save)'s parts (a full one,
    /// then its deltas, oldest first), keeping the keys `owns` accepts.
    pub(crate) fn restore_chain(
        &mut self,
        chain: &[impl AsRef<[u8]>],
        owns: &dyn Fn(&K) -> bool,
    ) -> Result<(), String> {
        let (full, deltas) = chain.split_first().ok_or("an empty delta chain")?;
        let entries: Vec<(K, V)> =
            postcard::from_bytes(full.as_ref()).map_err(|e| e.to_string())?;
        for (key, value) in entries.into_iter().filter(|(key, _)| owns(key)) {
            self.insert(&key, value);
        }
        for delta in deltas {
            let (removed, written): (Vec<K>, Vec<(K, V)>) =
                postcard::from_bytes(delta.as_ref()).map_err(|e| format!("a delta: {e}"))?;
            for key in &removed {
                self.map.remove(key);
            }
            for (key, value) in written.into_iter().filter(|(key, _)| owns(key)) {
                self.insert(&key, value);
            }
        }
        Ok(())
    }
}

/// A map's entries, serialized as a sequence of `(key, value)` pairs without copying them.
struct AllEntries<'a, K, V>(&'a HashMap<K, Tracked<V>>);

impl<K: Serialize, V: Serialize> Serialize for AllEntries<'_, K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|(key, tracked)| (key, &tracked.value)))
    }
}

impl<K: Hash + Eq + Clone, V> KeyedStore<K, V> for HeapStore<K, V> {
    #[inline]
    fn get_or_insert_with(&mut self, key: &K, init: impl FnOnce() -> V) -> &mut V {
        // One hash and one probe either way; the key is cloned only when inserted.
        let written_in = self.epoch;
        let tracked = match self.map.raw_entry_mut().from_key(key) {
            RawEntryMut::Occupied(entry) => {
                let tracked = entry.into_mut();
                tracked.written_in = written_in;
                tracked
            }
            RawEntryMut::Vacant(entry) => {
                let value = init();
                entry.insert(key.clone(), Tracked { value, written_in }).1
            }
        };
        &mut tracked.value
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|tracked| &tracked.value)
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        let (key, tracked) = self.map.remove_entry(key)?;
        if self.epoch > FIRST_EPOCH {
            self.removed.push((key, self.epoch));
        }
        Some(tracked.value)
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn iter<'a>(&'a self) -> impl ExactSizeIterator<Item = (&'a K, &'a V)>
    where
        K: 'a,
        V: 'a,
    {
        self.map.iter().map(|(key, tracked)| (key, &tracked.value))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// The chain that ends with the part saved at `barrier`: its bases back to a full part.
    fn chain_to(parts: &BTreeMap<u64, (Vec<u8>, Option<u64>)>, barrier: u64) -> Vec<Vec<u8>> {
        let mut chain = Vec::new();
        let mut at = Some(barrier);
        while let Some(id) = at {
            let (bytes, base) = &parts[&id];
            chain.push(bytes.clone());
            at = *base;
        }
        chain.reverse();
        chain
    }

    fn sorted(store: &HeapStore<u64, u64>) -> Vec<(u64, u64)> {
        let mut entries: Vec<(u64, u64)> = store.iter().map(|(k, v)| (*k, *v)).collect();
        entries.sort_unstable();
        entries
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Through writes, removals, filtering and checkpoints that complete or fail, the
        /// chain each save ends restores exactly the store as it was at that barrier.
        #[test]
        fn every_save_restores_through_its_chain(
            steps in proptest::collection::vec((0u64..80, 0u8..8), 1..1500)
        ) {
            let mut store = HeapStore::<u64, u64>::default();
            let mut parts = BTreeMap::new();
            let (mut barrier, mut completed) = (0, 0);
            for (key, op) in steps {
                match op {
                    0..=3 => *store.get_or_insert_with(&key, || 0) += 1,
                    4 => {
                        store.remove(&key);
                    }
                    5 => {
                        store.insert(&key, 7);
                    }
                    6 if key < 4 => store.retain(|k, v| (k + v) % 5 != key),
                    _ => {
                        barrier += 1;
                        parts.insert(barrier, store.save(barrier, completed));
                        // A third of the checkpoints fail: deltas stay on the older base.
                        if key % 3 != 0 {
                            completed = barrier;
                        }
                        let mut restored = HeapStore::default();
                        restored.restore_chain(&chain_to(&parts, barrier), &|_| true).unwrap();
                        prop_assert_eq!(sorted(&restored), sorted(&store));
                    }
                }
            }
        }
    }

    #[test]
    fn a_delta_holds_only_the_keys_written_and_removed_since_its_base() {
        let mut store = HeapStore::<u64, u64>::default();
        for key in 0..10_000 {
            store.insert(&key, key);
        }
        let (full, base) = store.save(1, 0);
        assert_eq!(base, None);
        for key in 0..100 {
            *store.get_or_insert_with(&key, || 0) += 1;
        }
        store.remove(&5_000);
        let (delta, base) = store.save(2, 1);
        assert_eq!(base, Some(1));
        let (removed, written): (Vec<u64>, Vec<(u64, u64)>) = postcard::from_bytes(&delta).unwrap();
        assert_eq!(removed, [5_000]);
        assert_eq!(written.len(), 100);
        assert!(
            delta.len() * 50 < full.len(),
            "{} vs {} bytes",
            delta.len(),
            full.len()
        );
        let mut restored = HeapStore::<u64, u64>::default();
        restored
            .restore_chain(&[full, delta], &|key| key % 2 == 0)
            .unwrap();
        assert_eq!(restored.len(), 4_999);
        assert_eq!(restored.get(&0), Some(&1));
        assert_eq!(restored.get(&1), None, "not owned");
        assert_eq!(restored.get(&5_000), None, "removed");
    }

    #[test]
    fn inserts_once_then_updates_in_place() {
        let mut store = HeapStore::<String, u64>::default();
        *store.get_or_insert_with(&"a".into(), || 10) += 1;
        *store.get_or_insert_with(&"a".into(), || 99) += 1;
        assert_eq!(store.get(&"a".into()), Some(&12));
        assert_eq!(store.len(), 1);
        assert_eq!(store.remove(&"a".into()), Some(12));
        assert!(store.is_empty());
    }

    #[test]
    fn insert_replaces_and_retain_filters() {
        let mut store = HeapStore::<u32, u32>::default();
        assert_eq!(store.insert(&1, 10), None);
        assert_eq!(store.insert(&1, 11), Some(10));
        store.insert(&2, 20);
        *store.get_mut(&2).unwrap() += 1;
        store.retain(|key, _| *key != 1);
        assert_eq!(store.get(&1), None);
        assert_eq!(store.get(&2), Some(&21));
        assert_eq!(store.len(), 1);
    }
}
