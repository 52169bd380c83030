//! [`ValueState`]: one value per key (Flink's `ValueState`).

use std::hash::Hash;

use super::ttl::{stamped_state_methods, StampedStore};
use super::KeyScope;

/// One value per key, as Flink's `ValueState`.
///
/// ```
/// use tidewater::state::{FixedScope, ValueState};
///
/// let mut last_seen = ValueState::<String, u64>::new();
/// let alice = "alice".to_string();
/// let scope = FixedScope::new(&alice, 0);
/// assert_eq!(last_seen.value(&scope), None);
/// last_seen.update(&scope, 42);
/// *last_seen.get_or_insert_with(&scope, || 0) += 1;
/// assert_eq!(last_seen.value(&scope), Some(&43));
/// ```
#[derive(Debug, Clone)]
pub struct ValueState<K, V> {
    pub(super) entries: StampedStore<K, V>,
}

impl<K, V> Default for ValueState<K, V> {
    fn default() -> Self {
        Self {
            entries: StampedStore::default(),
        }
    }
}

impl<K: Hash + Eq + Clone, V> ValueState<K, V> {
    /// Empty state whose values never expire.
    pub fn new() -> Self {
        Self::default()
    }

    stamped_state_methods!("value");

    /// The current key's value, if any (and, with a TTL, if visible).
    pub fn value(&mut self, scope: &impl KeyScope<K>) -> Option<&V> {
        self.entries.read(scope)
    }

    /// Sets the current key's value.
    pub fn update(&mut self, scope: &impl KeyScope<K>, value: V) {
        self.entries.put(scope, value);
    }

    /// The current key's value for changing in place, set to `init()` first if there is none
    /// (or it has expired). Counts as a write for the TTL.
    pub fn get_or_insert_with(
        &mut self,
        scope: &impl KeyScope<K>,
        init: impl FnOnce() -> V,
    ) -> &mut V {
        self.entries.write(scope, init)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::{FixedScope, StateTtl, TtlUpdate};

    #[test]
    fn values_are_scoped_per_key() {
        let (a, b) = ("a".to_string(), "b".to_string());
        let mut state = ValueState::<String, i32>::new();
        state.update(&FixedScope::new(&a, 0), 1);
        assert_eq!(state.value(&FixedScope::new(&b, 0)), None);
        state.update(&FixedScope::new(&b, 0), 2);
        assert_eq!(state.value(&FixedScope::new(&a, 0)), Some(&1));
        assert_eq!(state.value(&FixedScope::new(&b, 0)), Some(&2));
        state.clear(&FixedScope::new(&a, 0));
        assert_eq!(state.value(&FixedScope::new(&a, 0)), None);
        assert_eq!(state.value(&FixedScope::new(&b, 0)), Some(&2));
        assert_eq!(state.len_keys(), 1);
    }

    #[test]
    fn update_replaces_and_get_or_insert_with_changes_in_place() {
        let mut state = ValueState::<u8, Vec<u8>>::new();
        let scope = FixedScope::new(&7, 0);
        state.get_or_insert_with(&scope, Vec::new).push(1);
        state.get_or_insert_with(&scope, || vec![99]).push(2);
        assert_eq!(state.value(&scope).map(Vec::as_slice), Some(&[1, 2][..]));
        state.update(&scope, vec![3]);
        assert_eq!(state.value(&scope).map(Vec::as_slice), Some(&[3][..]));
    }

    #[test]
    fn clones_of_empty_state_are_independent() {
        let template = ValueState::<u8, u8>::new();
        let (mut shard0, mut shard1) = (template.clone(), template.clone());
        shard0.update(&FixedScope::new(&1, 0), 10);
        assert_eq!(shard1.value(&FixedScope::new(&1, 0)), None);
        assert_eq!(template.len_keys(), 0);
    }

    #[test]
    fn in_place_counter_restarts_after_expiry() {
        let ttl = StateTtl::new(Duration::from_secs(1)).update_on(TtlUpdate::OnReadAndWrite);
        let mut visits = ValueState::<u8, u32>::new().with_ttl(ttl);
        for now in [0, 900, 1_800] {
            *visits.get_or_insert_with(&FixedScope::new(&1, now), || 0) += 1;
        }
        assert_eq!(visits.value(&FixedScope::new(&1, 2_700)), Some(&3));
        // The read at 2700 renewed it until 3700.
        assert_eq!(visits.value(&FixedScope::new(&1, 3_699)), Some(&3));
        // The read at 3699 renewed it until 4699; after that it starts over.
        *visits.get_or_insert_with(&FixedScope::new(&1, 5_000), || 0) += 1;
        assert_eq!(visits.value(&FixedScope::new(&1, 5_000)), Some(&1));
    }
}
