//! Keyed state: what stateful operators remember per key, on the shard that owns the key.
//!
//! Every backend implements [`KeyedStore`]; operators are generic over it, so a backend's
//! lookups inline into the operator's loop. Only the shard that owns a key's key group ever
//! touches its state, so no store needs a lock.
//!
//! On top of the stores sit Flink's keyed state primitives, for user functions to keep as
//! fields: [`ValueState`], [`ListState`], [`MapState`], [`ReducingState`] and
//! [`AggregatingState`]. Each shard gets its own (empty) clone, and every access names the
//! [`KeyScope`] it runs in, which gives the current key and the processing time; state is
//! always that of the current key. Each can take a [`StateTtl`] (Flink's `StateTtlConfig`):
//! entries not accessed for the TTL read as absent, and `cleanup_expired` drops them so an
//! operator can bound its memory. TTL applies to a key's whole entry, including a whole list
//! or map, where Flink applies it per element.
//!
//! ```
//! use std::time::Duration;
//! use tidewater::state::{FixedScope, StateTtl, ValueState};
//!
//! let mut last = ValueState::<&str, u64>::new().with_ttl(StateTtl::new(Duration::from_secs(1)));
//! last.update(&FixedScope::new(&"a", 0), 1);
//! assert_eq!(last.value(&FixedScope::new(&"a", 999)), Some(&1));
//! assert_eq!(last.value(&FixedScope::new(&"b", 999)), None);
//! assert_eq!(last.value(&FixedScope::new(&"a", 1_000)), None);
//! ```

mod aggregating;
mod chain;
mod checkpointed;
mod heap;
mod list;
mod map;
mod mmap;
mod reducing;
mod saved;
mod scope;
mod ttl;
mod value;

pub use aggregating::AggregatingState;
pub(crate) use chain::DeltaChain;
pub use chain::MAX_CHAIN;
pub(crate) use checkpointed::{chains_by_name, NamedStates};
pub use checkpointed::{CheckpointedState, KeyedStates};
pub use heap::HeapStore;
pub use list::ListState;
pub use map::MapState;
pub use mmap::{MmapStore, PAGE};
pub use reducing::ReducingState;
pub(crate) use saved::{restored_heap_store, restored_mmap_store, SavedStore};
pub use scope::{FixedScope, KeyScope};
pub use ttl::{StateTtl, TtlUpdate, TtlVisibility};
pub use value::ValueState;

/// What keyed state and keys must be to be checkpointed: encodable and decodable with serde
/// (derive `Serialize` and `Deserialize`). Implemented for every such type.
pub trait StateData: serde::Serialize + serde::de::DeserializeOwned {}

impl<T: serde::Serialize + serde::de::DeserializeOwned> StateData for T {}

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
    /// Every key with its value, in no particular order (checkpoints write them out).
    fn iter<'a>(&'a self) -> impl ExactSizeIterator<Item = (&'a K, &'a V)>
    where
        K: 'a,
        V: 'a;
    /// Whether no key is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether [`prefetch`](Self::prefetch) does anything: operators skip the extra pass
    /// over a batch when it does not.
    const PREFETCH: bool = false;

    /// Starts loading the memory `key`'s entry lives in, ahead of an access.
    #[inline]
    fn prefetch(&self, key: &K) {
        let _ = key;
    }
}
