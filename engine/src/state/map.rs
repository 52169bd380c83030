//! [`MapState`]: a map per key (Flink's `MapState`).

use std::hash::Hash;

use hashbrown::HashMap;

use super::ttl::{stamped_state_methods, StampedStore};
use super::KeyScope;

/// A map from `MK` to `MV` per key, as Flink's `MapState`.
///
/// With a TTL, the time-to-live applies to a key's whole map: any write (`put`, `remove` of a
/// live map) renews every entry in it, and the map expires as one. (Flink applies TTL to each
/// map entry on its own; per-key expiry costs one timestamp a key rather than one an entry.)
/// An empty map is no state: the key is dropped.
///
/// ```
/// use tidewater::state::{FixedScope, MapState};
///
/// let mut per_page = MapState::<u32, String, u64>::new();
/// let scope = FixedScope::new(&7, 0);
/// per_page.put(&scope, "/home".into(), 1);
/// assert_eq!(per_page.get(&scope, &"/home".into()), Some(&1));
/// assert_eq!(per_page.len(&scope), 1);
/// ```
#[derive(Debug, Clone)]
pub struct MapState<K, MK, MV> {
    pub(super) entries: StampedStore<K, HashMap<MK, MV>>,
}

impl<K, MK, MV> Default for MapState<K, MK, MV> {
    fn default() -> Self {
        Self {
            entries: StampedStore::default(),
        }
    }
}

impl<K: Hash + Eq + Clone, MK: Hash + Eq, MV> MapState<K, MK, MV> {
    /// Empty state whose maps never expire.
    pub fn new() -> Self {
        Self::default()
    }

    stamped_state_methods!("map");

    /// The value of `map_key` in the current key's map.
    pub fn get(&mut self, scope: &impl KeyScope<K>, map_key: &MK) -> Option<&MV> {
        self.entries.read(scope)?.get(map_key)
    }

    /// Sets `map_key` to `value` in the current key's map.
    pub fn put(&mut self, scope: &impl KeyScope<K>, map_key: MK, value: MV) {
        self.entries
            .write(scope, HashMap::new)
            .insert(map_key, value);
    }

    /// Removes `map_key` from the current key's map, returning its value. On a live map this
    /// is a write (it renews the TTL) even if `map_key` was absent.
    pub fn remove(&mut self, scope: &impl KeyScope<K>, map_key: &MK) -> Option<MV> {
        let (removed, now_empty) = self
            .entries
            .modify(scope, |map| (map.remove(map_key), map.is_empty()))?;
        if now_empty {
            self.entries.clear(scope);
        }
        removed
    }

    /// Whether the current key's map holds `map_key`.
    pub fn contains(&mut self, scope: &impl KeyScope<K>, map_key: &MK) -> bool {
        self.entries
            .read(scope)
            .is_some_and(|map| map.contains_key(map_key))
    }

    /// The current key's entries, in no particular order.
    pub fn iter(&mut self, scope: &impl KeyScope<K>) -> impl Iterator<Item = (&MK, &MV)> + '_ {
        self.entries.read(scope).into_iter().flatten()
    }

    /// How many entries the current key's map holds.
    pub fn len(&mut self, scope: &impl KeyScope<K>) -> usize {
        self.entries.read(scope).map_or(0, HashMap::len)
    }

    /// Whether the current key's map is empty (or absent).
    pub fn is_empty(&mut self, scope: &impl KeyScope<K>) -> bool {
        self.len(scope) == 0
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::{FixedScope, StateTtl};

    #[test]
    fn maps_are_scoped_per_key() {
        let mut state = MapState::<&str, &str, i32>::new();
        let (left, right) = (FixedScope::new(&"left", 0), FixedScope::new(&"right", 0));
        state.put(&left, "x", 1);
        state.put(&right, "x", 2);
        state.put(&right, "y", 3);
        assert_eq!(state.get(&left, &"x"), Some(&1));
        assert_eq!(state.get(&left, &"y"), None);
        assert!(state.contains(&right, &"y"));
        assert_eq!((state.len(&left), state.len(&right)), (1, 2));
        let mut entries: Vec<_> = state.iter(&right).map(|(k, v)| (*k, *v)).collect();
        entries.sort_unstable();
        assert_eq!(entries, [("x", 2), ("y", 3)]);
        state.clear(&right);
        assert!(state.is_empty(&right));
        assert_eq!(state.get(&left, &"x"), Some(&1));
    }

    #[test]
    fn put_overwrites_and_removing_the_last_entry_drops_the_key() {
        let mut state = MapState::<u8, u8, u8>::new();
        let scope = FixedScope::new(&0, 0);
        state.put(&scope, 1, 10);
        state.put(&scope, 1, 11);
        state.put(&scope, 2, 20);
        assert_eq!(state.remove(&scope, &1), Some(11));
        assert_eq!(state.remove(&scope, &1), None);
        assert_eq!(state.len_keys(), 1);
        assert_eq!(state.remove(&scope, &2), Some(20));
        assert_eq!(state.len_keys(), 0);
        assert_eq!(state.remove(&FixedScope::new(&9, 0), &1), None);
        assert_eq!(state.len_keys(), 0, "remove creates no state");
    }

    #[test]
    fn remove_renews_a_live_map_but_not_an_expired_one() {
        let mut state =
            MapState::<u8, u8, u8>::new().with_ttl(StateTtl::new(Duration::from_secs(10)));
        let key = 1;
        state.put(&FixedScope::new(&key, 0), 1, 1);
        state.put(&FixedScope::new(&key, 0), 2, 2);
        assert_eq!(state.remove(&FixedScope::new(&key, 9_000), &1), Some(1));
        assert_eq!(state.get(&FixedScope::new(&key, 18_999), &2), Some(&2));
        assert_eq!(state.remove(&FixedScope::new(&key, 19_000), &2), None);
        assert_eq!(state.len_keys(), 0);
    }
}
