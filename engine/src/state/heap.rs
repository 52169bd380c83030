//! The heap backend: a hash map per shard and operator, for state that fits in memory.

use std::hash::Hash;

use hashbrown::hash_map::{HashMap, RawEntryMut};

use super::KeyedStore;

/// Keyed state in an in-memory hash map, hashed with a fast seeded hasher (foldhash): this map
/// never reaches disk and never decides placement.
#[derive(Debug)]
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
}
