//! [`ReducingState`]: values folded pairwise into one per key (Flink's `ReducingState`).

use std::hash::Hash;

use super::ttl::{stamped_state_methods, StampedStore};
use super::KeyScope;

/// Values combined by a reduce function into one per key, as Flink's `ReducingState`: the
/// first value added is kept as is, and each later one is combined with it as
/// `reduce(so_far, value)`.
///
/// ```
/// use tidewater::state::{FixedScope, ReducingState};
///
/// let mut largest = ReducingState::<u32, i64, _>::new(|a: i64, b: i64| a.max(b));
/// let scope = FixedScope::new(&1, 0);
/// for reading in [3, 9, 4] {
///     largest.add(&scope, reading);
/// }
/// assert_eq!(largest.get(&scope), Some(&9));
/// ```
#[derive(Debug, Clone)]
pub struct ReducingState<K, V, F> {
    /// `None` only while `reduce` runs: the old value is moved into it.
    pub(super) entries: StampedStore<K, Option<V>>,
    reduce: F,
}

impl<K: Hash + Eq + Clone, V, F: Fn(V, V) -> V> ReducingState<K, V, F> {
    /// Empty state that combines values with `reduce`; values never expire.
    pub fn new(reduce: F) -> Self {
        Self {
            entries: StampedStore::default(),
            reduce,
        }
    }

    stamped_state_methods!("value");

    /// Folds `value` into the current key's value (an expired one is started over).
    pub fn add(&mut self, scope: &impl KeyScope<K>, value: V) {
        let slot = self.entries.write(scope, || None);
        *slot = Some(match slot.take() {
            Some(so_far) => (self.reduce)(so_far, value),
            None => value,
        });
    }

    /// The current key's value, if any value was added.
    pub fn get(&mut self, scope: &impl KeyScope<K>) -> Option<&V> {
        self.entries.read(scope)?.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::{FixedScope, StateTtl, TtlVisibility};

    #[test]
    fn folds_per_key_in_the_order_added() {
        // Not commutative: the order of the fold shows.
        let mut state = ReducingState::<u8, String, _>::new(|a: String, b: String| a + &b);
        for (key, word) in [(1, "a"), (2, "x"), (1, "b"), (1, "c"), (2, "y")] {
            state.add(&FixedScope::new(&key, 0), word.to_string());
        }
        assert_eq!(
            state.get(&FixedScope::new(&1, 0)).map(String::as_str),
            Some("abc")
        );
        assert_eq!(
            state.get(&FixedScope::new(&2, 0)).map(String::as_str),
            Some("xy")
        );
        state.clear(&FixedScope::new(&1, 0));
        assert_eq!(state.get(&FixedScope::new(&1, 0)), None);
        assert_eq!(state.get(&FixedScope::new(&3, 0)), None);
        assert_eq!(state.len_keys(), 1);
    }

    #[test]
    fn shard_clones_share_the_function_but_not_the_values() {
        let template = ReducingState::<u8, u64, _>::new(|a: u64, b: u64| a + b);
        let mut shard = template.clone();
        shard.add(&FixedScope::new(&1, 0), 2);
        shard.add(&FixedScope::new(&1, 0), 3);
        assert_eq!(shard.get(&FixedScope::new(&1, 0)), Some(&5));
        assert_eq!(template.len_keys(), 0);
    }

    #[test]
    fn expired_sum_is_not_folded_into() {
        let ttl = StateTtl::new(Duration::from_millis(10))
            .visibility(TtlVisibility::ReturnExpiredIfNotCleanedUp);
        let mut sums = ReducingState::<u8, u64, _>::new(|a: u64, b: u64| a + b).with_ttl(ttl);
        sums.add(&FixedScope::new(&1, 0), 5);
        sums.add(&FixedScope::new(&2, 5), 5);
        assert_eq!(
            sums.get(&FixedScope::new(&1, 10)),
            Some(&5),
            "stale but shown"
        );
        sums.add(&FixedScope::new(&1, 10), 1);
        assert_eq!(sums.get(&FixedScope::new(&1, 10)), Some(&1));
        // At 15 key 2 (last written at 5) has expired; key 1 (written at 10) has not.
        assert_eq!(sums.cleanup_expired(15), 1);
        assert_eq!(sums.get(&FixedScope::new(&2, 15)), None);
        assert_eq!(sums.len_keys(), 1);
    }
}
