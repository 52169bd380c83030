//! Keyed state in checkpoints: each state primitive writes its entries out and reads them
//! back, keeping only the keys its shard owns (so state restores onto another shard count),
//! and a process function names its state fields in a [`KeyedStates`] registry.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use super::ttl::StampedStore;
use super::{AggregatingState, ListState, MapState, ReducingState, StateData, ValueState};
use crate::operators::AggregateFunction;

/// A keyed state object that checkpoints can save and restore.
pub trait CheckpointedState<K> {
    /// Encodes every entry.
    fn snapshot(&self) -> Vec<u8>;
    /// Adds the entries of a snapshot (one old shard's) whose key `owns` accepts.
    fn restore(&mut self, bytes: &[u8], owns: &dyn Fn(&K) -> bool) -> Result<(), String>;
}

impl<K: StateData + Hash + Eq + Clone, V: StateData> StampedStore<K, V> {
    /// Every entry as `(key, value, last access)`.
    pub(super) fn snapshot(&self) -> Vec<u8> {
        postcard::to_stdvec(&self.entries_for_snapshot())
            .unwrap_or_else(|e| panic!("cannot encode keyed state: {e}"))
    }

    /// Adds the owned entries of `bytes`.
    pub(super) fn restore(
        &mut self,
        bytes: &[u8],
        owns: &dyn Fn(&K) -> bool,
    ) -> Result<(), String> {
        let entries: Vec<(K, V, crate::time::Timestamp)> =
            postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
        for (key, value, last_access) in entries {
            if owns(&key) {
                self.restore_entry(&key, value, last_access);
            }
        }
        Ok(())
    }
}

macro_rules! checkpointed_state {
    ($state:ident<$($param:ident),*> where $($bound:tt)*) => {
        impl<$($param),*> CheckpointedState<K> for $state<$($param),*>
        where
            K: StateData + Hash + Eq + Clone,
            $($bound)*
        {
            fn snapshot(&self) -> Vec<u8> {
                self.entries.snapshot()
            }

            fn restore(&mut self, bytes: &[u8], owns: &dyn Fn(&K) -> bool) -> Result<(), String> {
                self.entries.restore(bytes, owns)
            }
        }
    };
}

checkpointed_state!(ValueState<K, V> where V: StateData);
checkpointed_state!(ListState<K, V> where V: StateData);
checkpointed_state!(MapState<K, MK, MV> where MK: StateData + Hash + Eq, MV: StateData);
checkpointed_state!(ReducingState<K, V, F> where V: StateData);
checkpointed_state!(AggregatingState<K, T, A> where A: AggregateFunction<T>, A::Acc: StateData);

/// The named keyed state of a process function, as it is saved in a checkpoint.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct NamedStates(pub(crate) Vec<(String, Vec<u8>)>);

/// Where a process function names its keyed state fields, for checkpoints (see
/// `KeyedProcessFunction::states`): call [`register`](KeyedStates::register) once per field,
/// each with a name unique in the function, stable across versions of the job.
pub struct KeyedStates<'a, K> {
    mode: Mode<'a, K>,
}

enum Mode<'a, K> {
    /// Collecting each state's snapshot.
    Snapshot(Vec<(String, Vec<u8>)>),
    /// Restoring: each name's snapshots, one per old shard.
    Restore {
        parts: &'a HashMap<String, Vec<Vec<u8>>>,
        owns: &'a dyn Fn(&K) -> bool,
    },
}

impl<'a, K> KeyedStates<'a, K> {
    /// A registry that collects snapshots.
    pub(crate) fn snapshot() -> Self {
        Self {
            mode: Mode::Snapshot(Vec::new()),
        }
    }

    /// A registry that restores from `parts`, keeping the keys `owns` accepts.
    pub(crate) fn restore(
        parts: &'a HashMap<String, Vec<Vec<u8>>>,
        owns: &'a dyn Fn(&K) -> bool,
    ) -> Self {
        Self {
            mode: Mode::Restore { parts, owns },
        }
    }

    /// The snapshots collected.
    pub(crate) fn into_snapshot(self) -> NamedStates {
        match self.mode {
            Mode::Snapshot(parts) => NamedStates(parts),
            Mode::Restore { .. } => NamedStates::default(),
        }
    }

    /// Saves `state` under `name`, or restores it from what was saved under `name` (state
    /// the checkpoint does not know stays empty).
    pub fn register(&mut self, name: &str, state: &mut impl CheckpointedState<K>) {
        match &mut self.mode {
            Mode::Snapshot(parts) => parts.push((name.to_string(), state.snapshot())),
            Mode::Restore { parts, owns } => {
                for bytes in parts.get(name).into_iter().flatten() {
                    if let Err(error) = state.restore(bytes, *owns) {
                        panic!("cannot restore keyed state `{name}`: {error}");
                    }
                }
            }
        }
    }
}

impl<K> KeyedStates<'_, K> {
    /// Saves a whole (not keyed) value under `name`: the same on every shard, such as
    /// broadcast state.
    pub(crate) fn save_whole<S: Serialize>(&mut self, name: &str, value: &S) {
        if let Mode::Snapshot(parts) = &mut self.mode {
            let bytes = postcard::to_stdvec(value)
                .unwrap_or_else(|e| panic!("cannot encode state `{name}`: {e}"));
            parts.push((name.to_string(), bytes));
        }
    }

    /// Restores a whole value saved under `name` (from the first old shard's copy).
    pub(crate) fn restore_whole<S: serde::de::DeserializeOwned>(
        &mut self,
        name: &str,
        value: &mut S,
    ) {
        if let Mode::Restore { parts, .. } = &self.mode {
            if let Some(bytes) = parts.get(name).and_then(|copies| copies.first()) {
                *value = postcard::from_bytes(bytes)
                    .unwrap_or_else(|e| panic!("cannot restore state `{name}`: {e}"));
            }
        }
    }
}

/// Groups the named states of several old shards by name.
pub(crate) fn by_name(
    shards: impl IntoIterator<Item = NamedStates>,
) -> HashMap<String, Vec<Vec<u8>>> {
    let mut grouped: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for NamedStates(parts) in shards {
        for (name, bytes) in parts {
            grouped.entry(name).or_default().push(bytes);
        }
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::FixedScope;

    #[test]
    fn state_round_trips_keeping_only_owned_keys() {
        let mut counts = ValueState::<u64, u64>::new();
        let mut lists = MapState::<u64, String, u32>::new();
        for key in 0..10u64 {
            counts.update(&FixedScope::new(&key, 5), key * 10);
            lists.put(&FixedScope::new(&key, 5), format!("k{key}"), key as u32);
        }
        let mut saved = KeyedStates::snapshot();
        saved.register("counts", &mut counts);
        saved.register("lists", &mut lists);
        let grouped = by_name([saved.into_snapshot()]);

        let mut restored = ValueState::<u64, u64>::new();
        let mut restored_lists = MapState::<u64, String, u32>::new();
        let even = |key: &u64| key.is_multiple_of(2);
        let mut registry = KeyedStates::restore(&grouped, &even);
        registry.register("counts", &mut restored);
        registry.register("lists", &mut restored_lists);
        for key in 0..10u64 {
            let scope = FixedScope::new(&key, 6);
            let expected = even(&key).then_some(key * 10);
            assert_eq!(restored.value(&scope).copied(), expected);
            let entry = restored_lists.get(&scope, &format!("k{key}")).copied();
            assert_eq!(entry, even(&key).then_some(key as u32));
        }
    }
}
