//! Keyed state: what stateful operators remember per key, on the shard that owns the key.
//!
//! Every backend implements [`KeyedStore`]; operators are generic over it, so a backend's
//! lookups inline into the operator's loop. Only the shard that owns a key's key group ever
//! touches its state, so no store needs a lock.

mod heap;

pub use heap::HeapStore;

/// A map from key to value, owned by one shard.
pub trait KeyedStore<K, V> {
    /// The value of `key`, inserting `init()` first if there is none.
    fn get_or_insert_with(&mut self, key: &K, init: impl FnOnce() -> V) -> &mut V;
    /// The value of `key`, if any.
    fn get(&self, key: &K) -> Option<&V>;
    /// Removes `key`, returning its value.
    fn remove(&mut self, key: &K) -> Option<V>;
    /// The number of keys held.
    fn len(&self) -> usize;
    /// Whether no key is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
