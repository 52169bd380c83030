//! Local-global window aggregation (Flink SQL's two-phase aggregation, for the DataStream
//! API): each shard first folds its own records per key and slice, *before* the key-by
//! exchange, and sends one partial accumulator per key and slice once the watermark has
//! passed the slice; the shard owning the key merges the partials into its windows with the
//! sliced operator.
//!
//! When a few keys carry most records (a window keyed by a constant, by the window itself, or
//! by a hot auction) the exchange then carries a handful of partials per slice instead of
//! every record, and no single shard folds them all: q5's "hottest auction per window" sends
//! one partial per shard and window instead of one count per auction.
//!
//! Results are those of [`aggregate`](crate::api::WindowedStream::aggregate) on the sliced
//! operator: a window is the merge of its slices, whichever shard folded them, which the
//! sliced operator already requires not to depend on order. A partial stands for its slice's
//! records and carries the slice's start as its event time, so it falls in the same windows.
//! It leaves before the watermark that passes its slice (the watermark follows it on the same
//! channel), so it is never late downstream where its records would not have been; a record
//! arriving for a slice already sent becomes a second partial for that slice, counted in the
//! windows that have not fired yet, as the record itself would have been.

use std::collections::BTreeMap;
use std::hash::Hash;

use std::marker::PhantomData;

use hashbrown::hash_map::{Entry, HashMap};

use super::assigner::window_start;
use crate::checkpoint::restore::{owner, restored_parts};
use crate::checkpoint::StageSnapshot;
use crate::exchange::StableKey;
use crate::operators::{enter, AggregateFunction, BoxOutput, OperatorId, Output, TimestampFn};
use crate::runtime::ShardContext;
use crate::state::StateData;
use crate::time::Timestamp;

/// One shard's fold of a key's records in one slice, on its way to the key's owner.
#[derive(Debug, Clone)]
pub(crate) struct Partial<K, A> {
    /// The key.
    pub(crate) key: K,
    /// The slice's first millisecond: the partial's event time.
    pub(crate) slice_start: Timestamp,
    /// The fold of the shard's records of `key` in the slice.
    pub(crate) acc: A,
}

/// The slices of a stream as [`LocalAggregate`] cuts them: `length` ms, aligned to `offset`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SliceGrid {
    /// The slice length in ms.
    pub(crate) length: i64,
    /// The alignment offset in ms.
    pub(crate) offset: i64,
}

/// Open slices: by start, each key's accumulator.
type Slices<K, A> = BTreeMap<Timestamp, HashMap<K, A>>;

/// The local phase on one shard: folds records per key and slice, and sends each slice's
/// partials downstream once the watermark has passed the slice.
pub(crate) struct LocalAggregate<T, K, KF, F: AggregateFunction<T>> {
    /// The operator, for blaming panics.
    pub(crate) id: OperatorId,
    /// The key selector.
    pub(crate) key: KF,
    /// The records' event time.
    pub(crate) timestamp: TimestampFn<T>,
    /// How time is cut into slices.
    pub(crate) grid: SliceGrid,
    /// The aggregate function (its `add` folds records here; the global phase merges).
    pub(crate) function: F,
    /// The open slices.
    pub(crate) slices: Slices<K, F::Acc>,
    /// Partials per batch sent.
    pub(crate) batch: usize,
    /// The exchange towards the global phase.
    pub(crate) next: BoxOutput<Partial<K, F::Acc>>,
}

/// An open slice as a checkpoint holds it: its start and its `(key, accumulator)` entries.
type SavedSlice<K, A> = (Timestamp, Vec<(K, A)>);

/// A local phase's state as a checkpoint holds it: the open slices. (Its watermark need not
/// be saved: it only decides when slices leave, and the restored watermarks come again.)
type SavedLocal<K, A> = Vec<SavedSlice<K, A>>;

impl<T, K, KF, F> LocalAggregate<T, K, KF, F>
where
    K: Hash + Eq + Clone + StableKey + StateData,
    F: AggregateFunction<T>,
    F::Acc: StateData,
{
    /// The open slices this shard takes over from the restored checkpoint, if the job
    /// restored one: those of the keys it owns, from whichever shard held them (a partial
    /// goes to its key's owner anyway; two old shards' folds of one key and slice are
    /// merged).
    pub(crate) fn restored(
        context: &ShardContext,
        operator: OperatorId,
        function: &F,
    ) -> Slices<K, F::Acc> {
        let mut slices = Slices::new();
        let Some(parts) = restored_parts::<SavedLocal<K, F::Acc>>(context, operator) else {
            return slices;
        };
        let owns = owner(context);
        for (start, entries) in parts.into_iter().flatten() {
            let keys = slices.entry(start).or_default();
            for (key, acc) in entries.into_iter().filter(|(key, _)| owns(key)) {
                match keys.entry(key) {
                    Entry::Occupied(mut held) => function.merge(held.get_mut(), acc),
                    Entry::Vacant(free) => {
                        free.insert(acc);
                    }
                }
            }
        }
        slices
    }
}

impl<T, K, KF, F> LocalAggregate<T, K, KF, F>
where
    K: Hash + Eq + Clone,
    KF: Fn(&T) -> K,
    F: AggregateFunction<T>,
{
    /// Sends the partials of every slice for which `done(start)` holds, oldest first.
    fn send_slices(&mut self, done: impl Fn(Timestamp) -> bool) {
        let mut out = Vec::with_capacity(self.batch);
        while let Some(entry) = self.slices.first_entry() {
            if !done(*entry.key()) {
                break;
            }
            let (slice_start, keys) = entry.remove_entry();
            for (key, acc) in keys {
                out.push(Partial {
                    key,
                    slice_start,
                    acc,
                });
                if out.len() == self.batch {
                    self.next
                        .push(std::mem::replace(&mut out, Vec::with_capacity(self.batch)));
                }
            }
        }
        if !out.is_empty() {
            self.next.push(out);
        }
    }
}

impl<T, K, KF, F> Output<T> for LocalAggregate<T, K, KF, F>
where
    K: Hash + Eq + Clone + StableKey + StateData,
    KF: Fn(&T) -> K,
    F: AggregateFunction<T>,
    F::Acc: StateData,
{
    fn push(&mut self, batch: Vec<T>) {
        enter(self.id);
        let SliceGrid { length, offset } = self.grid;
        // Time-ordered input mostly stays in one slice: keep its map at hand.
        let mut current: Option<(Timestamp, &mut HashMap<K, F::Acc>)> = None;
        for record in batch {
            let start = window_start((self.timestamp)(&record), offset, length);
            if current.as_ref().is_none_or(|(open, _)| *open != start) {
                current = Some((start, self.slices.entry(start).or_default()));
            }
            let Some((_, keys)) = current.as_mut() else {
                unreachable!("set just above")
            };
            let key = (self.key)(&record);
            let acc = keys.entry(key).or_insert_with(|| self.function.create());
            self.function.add(acc, record);
        }
    }

    fn watermark(&mut self, watermark: Timestamp) {
        enter(self.id);
        let length = self.grid.length;
        // A slice is complete once the watermark reaches its last millisecond.
        self.send_slices(|start| start.saturating_add(length - 1) <= watermark);
        self.next.watermark(watermark);
    }

    fn end(&mut self) {
        enter(self.id);
        self.send_slices(|_| true);
        self.next.end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        let slices: Vec<SavedSlice<&K, &F::Acc>> = self
            .slices
            .iter()
            .map(|(start, keys)| (*start, keys.iter().collect()))
            .collect();
        snapshot.add(self.id.0, &slices);
        self.next.barrier(snapshot);
    }
}

/// The global phase's function: merges partials with `F::merge` and gives `F`'s result.
pub(crate) struct MergePartials<F, T> {
    /// The aggregate function of records of type `T`.
    pub(crate) function: F,
    pub(crate) records: PhantomData<fn(T)>,
}

impl<F: Clone, T> Clone for MergePartials<F, T> {
    fn clone(&self) -> Self {
        Self {
            function: self.function.clone(),
            records: PhantomData,
        }
    }
}

impl<T, K, F> AggregateFunction<Partial<K, F::Acc>> for MergePartials<F, T>
where
    F: AggregateFunction<T>,
    T: 'static,
    K: 'static,
{
    type Acc = F::Acc;
    type Out = F::Out;

    fn create(&self) -> F::Acc {
        self.function.create()
    }

    fn add(&self, acc: &mut F::Acc, partial: Partial<K, F::Acc>) {
        self.function.merge(acc, partial.acc);
    }

    fn result(&self, acc: &F::Acc) -> F::Out {
        self.function.result(acc)
    }

    fn merge(&self, acc: &mut F::Acc, other: F::Acc) {
        self.function.merge(acc, other);
    }
}
