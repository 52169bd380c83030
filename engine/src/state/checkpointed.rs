//! Keyed state in checkpoints: each state primitive writes its entries out (all of them, or
//! those written and removed since the newest completed checkpoint) and reads them back,
//! keeping only the keys its shard owns (so state restores onto another shard count), and a
//! process function names its state fields in a [`KeyedStates`] registry.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use super::{AggregatingState, ListState, MapState, ReducingState, StateData, ValueState};
use crate::operators::AggregateFunction;

/// A keyed state object that checkpoints can save, whole or incrementally, and restore.
///
/// The operator that holds the state decides, for all of its states at once, whether a
/// checkpoint saves everything or only the changes since the newest completed checkpoint:
/// it asks each state for [`changes_since`](Self::changes_since), then for a
/// [`snapshot`](Self::snapshot) of the kind it chose.
pub trait CheckpointedState<K> {
    /// How many entries were written or removed after checkpoint `completed`, and how many
    /// the state holds.
    fn changes_since(&mut self, completed: u64) -> (usize, usize);
    /// Encodes every entry (`base` is `None`) or the entries written and removed after
    /// checkpoint `base`; changes from now on count as after checkpoint `barrier`.
    fn snapshot(&mut self, barrier: u64, base: Option<u64>) -> Vec<u8>;
    /// Adds what one old shard saved, a full snapshot and the deltas on it (oldest first),
    /// keeping the keys `owns` accepts.
    fn restore(&mut self, chain: &[Vec<u8>], owns: &dyn Fn(&K) -> bool) -> Result<(), String>;
}

macro_rules! checkpointed_state {
    ($state:ident<$($param:ident),*> where $($bound:tt)*) => {
        impl<$($param),*> CheckpointedState<K> for $state<$($param),*>
        where
            K: StateData + Hash + Eq + Clone,
            $($bound)*
        {
            fn changes_since(&mut self, completed: u64) -> (usize, usize) {
                self.entries.changes_since(completed)
            }

            fn snapshot(&mut self, barrier: u64, base: Option<u64>) -> Vec<u8> {
                self.entries.snapshot(barrier, base)
            }

            fn restore(
                &mut self,
                chain: &[Vec<u8>],
                owns: &dyn Fn(&K) -> bool,
            ) -> Result<(), String> {
                self.entries.restore(chain, owns)
            }
        }
    };
}

checkpointed_state!(ValueState<K, V> where V: StateData);
checkpointed_state!(ListState<K, V> where V: StateData);
checkpointed_state!(MapState<K, MK, MV> where MK: StateData + Hash + Eq, MV: StateData);
checkpointed_state!(ReducingState<K, V, F> where V: StateData);
checkpointed_state!(AggregatingState<K, T, A> where A: AggregateFunction<T>, A::Acc: StateData);

/// The named keyed state of a process function, as it is saved in a checkpoint: each
/// state's snapshot, whole or a delta (as the checkpoint part that holds it says).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct NamedStates(pub(crate) Vec<(String, Vec<u8>)>);

/// One old shard's snapshots of one state: a whole one, then the deltas on it, oldest first.
type StateChain = Vec<Vec<u8>>;

/// Each name's chains (one per old shard), as a restore reads them.
pub(crate) type ChainsByName = HashMap<String, Vec<StateChain>>;

/// Where a process function names its keyed state fields, for checkpoints (see
/// `KeyedProcessFunction::states`): call [`register`](KeyedStates::register) once per field,
/// each with a name unique in the function, stable across versions of the job.
pub struct KeyedStates<'a, K> {
    mode: Mode<'a, K>,
}

enum Mode<'a, K> {
    /// Counting the changes after checkpoint `completed`, and the entries held.
    Count {
        completed: u64,
        changed: usize,
        held: usize,
    },
    /// Collecting each state's snapshot at `barrier`: whole, or a delta on `base`.
    Snapshot {
        barrier: u64,
        base: Option<u64>,
        parts: Vec<(String, Vec<u8>)>,
    },
    /// Restoring: each name's chains, one per old shard.
    Restore {
        parts: &'a ChainsByName,
        owns: &'a dyn Fn(&K) -> bool,
    },
}

impl<'a, K> KeyedStates<'a, K> {
    /// A registry that counts the changes after checkpoint `completed` (see
    /// [`counted`](Self::counted)).
    pub(crate) fn count(completed: u64) -> Self {
        Self {
            mode: Mode::Count {
                completed,
                changed: 0,
                held: 0,
            },
        }
    }

    /// The changes counted, and the entries held, over every state registered.
    pub(crate) fn counted(&self) -> (usize, usize) {
        match self.mode {
            Mode::Count { changed, held, .. } => (changed, held),
            _ => (0, 0),
        }
    }

    /// A registry that collects snapshots at `barrier`: whole, or deltas on `base`.
    pub(crate) fn snapshot(barrier: u64, base: Option<u64>) -> Self {
        Self {
            mode: Mode::Snapshot {
                barrier,
                base,
                parts: Vec::new(),
            },
        }
    }

    /// A registry that restores from `parts`, keeping the keys `owns` accepts.
    pub(crate) fn restore(parts: &'a ChainsByName, owns: &'a dyn Fn(&K) -> bool) -> Self {
        Self {
            mode: Mode::Restore { parts, owns },
        }
    }

    /// The snapshots collected.
    pub(crate) fn into_snapshot(self) -> NamedStates {
        match self.mode {
            Mode::Snapshot { parts, .. } => NamedStates(parts),
            _ => NamedStates::default(),
        }
    }

    /// Saves `state` under `name`, or restores it from what was saved under `name` (state
    /// the checkpoint does not know stays empty).
    pub fn register(&mut self, name: &str, state: &mut impl CheckpointedState<K>) {
        match &mut self.mode {
            Mode::Count {
                completed,
                changed,
                held,
            } => {
                let (state_changed, state_held) = state.changes_since(*completed);
                *changed += state_changed;
                *held += state_held;
            }
            Mode::Snapshot {
                barrier,
                base,
                parts,
            } => parts.push((name.to_string(), state.snapshot(*barrier, *base))),
            Mode::Restore { parts, owns } => {
                for chain in parts.get(name).into_iter().flatten() {
                    if let Err(error) = state.restore(chain, *owns) {
                        panic!("cannot restore keyed state `{name}`: {error}");
                    }
                }
            }
        }
    }
}

impl<K> KeyedStates<'_, K> {
    /// Saves a whole (not keyed) value under `name`, in every snapshot, whole or delta: the
    /// same on every shard, such as broadcast state.
    pub(crate) fn save_whole<S: Serialize>(&mut self, name: &str, value: &S) {
        if let Mode::Snapshot { parts, .. } = &mut self.mode {
            let bytes = postcard::to_stdvec(value)
                .unwrap_or_else(|e| panic!("cannot encode state `{name}`: {e}"));
            parts.push((name.to_string(), bytes));
        }
    }

    /// Restores a whole value saved under `name` (the newest copy of the first old shard).
    pub(crate) fn restore_whole<S: serde::de::DeserializeOwned>(
        &mut self,
        name: &str,
        value: &mut S,
    ) {
        if let Mode::Restore { parts, .. } = &self.mode {
            let newest = parts
                .get(name)
                .and_then(|chains| chains.first())
                .and_then(|chain| chain.last());
            if let Some(bytes) = newest {
                *value = postcard::from_bytes(bytes)
                    .unwrap_or_else(|e| panic!("cannot restore state `{name}`: {e}"));
            }
        }
    }
}

/// Groups what old shards saved, each shard's named states of every link of its chain
/// (oldest first), into each name's chains.
pub(crate) fn chains_by_name(shards: impl IntoIterator<Item = Vec<NamedStates>>) -> ChainsByName {
    let mut grouped = ChainsByName::new();
    for links in shards {
        let mut chains: HashMap<String, StateChain> = HashMap::new();
        for NamedStates(parts) in links {
            for (name, bytes) in parts {
                chains.entry(name).or_default().push(bytes);
            }
        }
        for (name, chain) in chains {
            grouped.entry(name).or_default().push(chain);
        }
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::FixedScope;

    /// Saves `states` whole or as a delta, as their changes say (a third of the entries).
    fn save(
        barrier: u64,
        completed: u64,
        states: &mut impl FnMut(&mut KeyedStates<'_, u64>),
    ) -> (NamedStates, Option<u64>) {
        let mut count = KeyedStates::count(completed);
        states(&mut count);
        let (changed, held) = count.counted();
        let base = (completed > 0 && changed * 3 < held).then_some(completed);
        let mut saved = KeyedStates::snapshot(barrier, base);
        states(&mut saved);
        (saved.into_snapshot(), base)
    }

    #[test]
    fn state_round_trips_through_a_delta_keeping_only_owned_keys() {
        let mut counts = ValueState::<u64, u64>::new();
        let mut lists = MapState::<u64, String, u32>::new();
        for key in 0..10u64 {
            counts.update(&FixedScope::new(&key, 5), key * 10);
            lists.put(&FixedScope::new(&key, 5), format!("k{key}"), key as u32);
        }
        let (full, base) = save(1, 0, &mut |states| {
            states.register("counts", &mut counts);
            states.register("lists", &mut lists);
        });
        assert_eq!(base, None);
        counts.update(&FixedScope::new(&4, 7), 99);
        counts.clear(&FixedScope::new(&6, 7));
        let (delta, base) = save(2, 1, &mut |states| {
            states.register("counts", &mut counts);
            states.register("lists", &mut lists);
        });
        assert_eq!(base, Some(1), "2 of 20 entries changed");
        let counts_delta = &delta.0[0].1;
        assert!(counts_delta.len() < full.0[0].1.len() / 3);
        let grouped = chains_by_name([vec![full, delta]]);

        let mut restored = ValueState::<u64, u64>::new();
        let mut restored_lists = MapState::<u64, String, u32>::new();
        let even = |key: &u64| key.is_multiple_of(2);
        let mut registry = KeyedStates::restore(&grouped, &even);
        registry.register("counts", &mut restored);
        registry.register("lists", &mut restored_lists);
        for key in 0..10u64 {
            let scope = FixedScope::new(&key, 8);
            let expected = match key {
                4 => Some(99),
                6 => None,
                _ => Some(key * 10),
            };
            assert_eq!(
                restored.value(&scope).copied(),
                expected.filter(|_| even(&key))
            );
            let entry = restored_lists.get(&scope, &format!("k{key}")).copied();
            assert_eq!(entry, even(&key).then_some(key as u32));
        }
    }
}
