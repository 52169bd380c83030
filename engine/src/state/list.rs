//! [`ListState`]: a list of values per key (Flink's `ListState`).

use std::hash::Hash;

use super::ttl::{stamped_state_methods, StampedStore};
use super::KeyScope;

/// A list of values per key, as Flink's `ListState`.
///
/// With a TTL, the time-to-live applies to a key's whole list: adding one element renews them
/// all, and the list expires as one. (Flink applies TTL to each element on its own; per-key
/// expiry costs one timestamp a key rather than one an element, and suits lists that are
/// filled and drained together, such as buffers awaiting a timer.) An empty list is no state:
/// the key is dropped.
///
/// ```
/// use tidewater::state::{FixedScope, ListState};
///
/// let mut buffer = ListState::<u32, &str>::new();
/// let scope = FixedScope::new(&7, 0);
/// buffer.add(&scope, "a");
/// buffer.add_all(&scope, ["b", "c"]);
/// assert_eq!(buffer.get(&scope), ["a", "b", "c"]);
/// ```
#[derive(Debug, Clone)]
pub struct ListState<K, V> {
    pub(super) entries: StampedStore<K, Vec<V>>,
}

impl<K, V> Default for ListState<K, V> {
    fn default() -> Self {
        Self {
            entries: StampedStore::default(),
        }
    }
}

impl<K: Hash + Eq + Clone, V> ListState<K, V> {
    /// Empty state whose lists never expire.
    pub fn new() -> Self {
        Self::default()
    }

    stamped_state_methods!("list");

    /// The current key's list, in the order added; empty if there is none.
    pub fn get(&mut self, scope: &impl KeyScope<K>) -> &[V] {
        self.entries.read(scope).map_or(&[], Vec::as_slice)
    }

    /// Appends `value` to the current key's list.
    pub fn add(&mut self, scope: &impl KeyScope<K>, value: V) {
        self.entries.write(scope, Vec::new).push(value);
    }

    /// Appends `values` to the current key's list; adding none changes nothing (not even the
    /// TTL).
    pub fn add_all(&mut self, scope: &impl KeyScope<K>, values: impl IntoIterator<Item = V>) {
        let mut values = values.into_iter().peekable();
        if values.peek().is_some() {
            self.entries.write(scope, Vec::new).extend(values);
        }
    }

    /// Replaces the current key's list with `values`; an empty `values` clears it.
    pub fn update(&mut self, scope: &impl KeyScope<K>, values: Vec<V>) {
        if values.is_empty() {
            self.entries.clear(scope);
        } else {
            self.entries.put(scope, values);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::{FixedScope, StateTtl, TtlVisibility};

    #[test]
    fn lists_are_scoped_per_key() {
        let mut state = ListState::<u32, char>::new();
        let (one, two) = (FixedScope::new(&1, 0), FixedScope::new(&2, 0));
        state.add(&one, 'a');
        state.add(&two, 'x');
        state.add(&one, 'b');
        assert_eq!(state.get(&one), ['a', 'b']);
        assert_eq!(state.get(&two), ['x']);
        state.clear(&two);
        assert!(state.get(&two).is_empty());
        assert_eq!(state.get(&one), ['a', 'b']);
        assert_eq!(state.len_keys(), 1);
    }

    #[test]
    fn add_all_appends_and_update_replaces() {
        let mut state = ListState::<u32, u32>::new();
        let scope = FixedScope::new(&1, 0);
        state.add_all(&scope, 0..3);
        state.add_all(&scope, []);
        state.add(&scope, 3);
        assert_eq!(state.get(&scope), [0, 1, 2, 3]);
        state.update(&scope, vec![9]);
        assert_eq!(state.get(&scope), [9]);
        state.update(&scope, Vec::new());
        assert_eq!(state.len_keys(), 0, "an empty update clears the key");
        state.add_all(&scope, []);
        assert_eq!(state.len_keys(), 0, "adding nothing creates no state");
    }

    #[test]
    fn list_expires_as_a_whole_and_restarts_on_add() {
        let ttl = StateTtl::new(Duration::from_millis(50))
            .visibility(TtlVisibility::ReturnExpiredIfNotCleanedUp);
        let mut state = ListState::<u32, u32>::new().with_ttl(ttl);
        let key = 3;
        state.add(&FixedScope::new(&key, 0), 1);
        state.add(&FixedScope::new(&key, 40), 2);
        // The add at 40 renewed the whole list, element 1 included.
        assert_eq!(state.get(&FixedScope::new(&key, 89)), [1, 2]);
        // Expired at 90 but not cleaned up: still visible under this visibility.
        assert_eq!(state.get(&FixedScope::new(&key, 95)), [1, 2]);
        // A write never builds on the stale list.
        state.add(&FixedScope::new(&key, 95), 3);
        assert_eq!(state.get(&FixedScope::new(&key, 95)), [3]);
    }
}
