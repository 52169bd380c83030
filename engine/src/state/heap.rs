//! The heap backend: a hash map per shard and operator, for state that fits in memory.

use std::hash::Hash;

use hashbrown::hash_map::{HashMap, RawEntryMut};

use super::KeyedStore;

/// Keyed state in an in-memory hash map, hashed with a fast seeded hasher (foldhash): this map
/// never reaches disk and never decides placement.
#[derive(Debug, Clone)]
pub struct HeapStore<K, V> {
    map: HashMap<K, V>,
}

impl<K, V> Default for HeapStore<K, V> {
    fn default() -> Self {
        Self {
            map: HashMap::default(),
        }
    }
}

impl<K: Hash + Eq + Clone, V> HeapStore<K, V> {
    /// The value of `key`, mutably, if any.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    /// Sets the value of `key`, returning the one it replaces; the key is cloned only when
    /// it was absent.
    pub fn insert(&mut self, key: &K, value: V) -> Option<V> {
        match self.map.raw_entry_mut().from_key(key) {
            RawEntryMut::Occupied(mut entry) => Some(entry.insert(value)),
            RawEntryMut::Vacant(entry) => {
                entry.insert(key.clone(), value);
                None
            }
        }
    }

    /// Keeps only the keys for which `keep` holds (it may also change their values).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.map.retain(|key, value| keep(key, value));
    }
}

impl<K: Hash + Eq + Clone, V> KeyedStore<K, V> for HeapStore<K, V> {
    #[inline]
    fn get_or_insert_with(&mut self, key: &K, init: impl FnOnce() -> V) -> &mut V {
        // One hash and one probe either way; the key is cloned only when inserted.
        match self.map.raw_entry_mut().from_key(key) {
            RawEntryMut::Occupied(entry) => entry.into_mut(),
            RawEntryMut::Vacant(entry) => entry.insert(key.clone(), init()).1,
        }
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key)
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn iter<'a>(&'a self) -> impl ExactSizeIterator<Item = (&'a K, &'a V)>
    where
        K: 'a,
        V: 'a,
    {
        self.map.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
