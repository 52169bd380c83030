//! Keyed rolling aggregation: per key, fold every record into an accumulator held in keyed
//! state and emit the updated result (Flink's `KeyedStream.reduce/sum/min/max`).

use std::marker::PhantomData;
use std::ops::Add;

use super::{enter, BoxOutput, OperatorId, Output};
use crate::checkpoint::StageSnapshot;
use crate::state::SavedStore;
use crate::time::Timestamp;

/// An incremental aggregation, as Flink's `AggregateFunction`: records fold into an
/// accumulator, and the accumulator yields a result.
pub trait AggregateFunction<T>: Clone + Send + Sync + 'static {
    /// The accumulator kept per key.
    type Acc: 'static;
    /// The result emitted.
    type Out: 'static;
    /// A fresh accumulator.
    fn create(&self) -> Self::Acc;
    /// Folds one record in.
    fn add(&self, acc: &mut Self::Acc, record: T);
    /// The result so far.
    fn result(&self, acc: &Self::Acc) -> Self::Out;
    /// Folds `other` into `acc` (session windows merge their accumulators).
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
}

/// Sums a numeric field.
#[derive(Clone)]
pub struct Sum<F>(pub F);

impl<T, N, F> AggregateFunction<T> for Sum<F>
where
    N: Add<Output = N> + Copy + Default + 'static,
    F: Fn(&T) -> N + Clone + Send + Sync + 'static,
{
    type Acc = N;
    type Out = N;

    fn create(&self) -> N {
        N::default()
    }

    #[inline]
    fn add(&self, acc: &mut N, record: T) {
        *acc = *acc + (self.0)(&record);
    }

    fn result(&self, acc: &N) -> N {
        *acc
    }

    fn merge(&self, acc: &mut N, other: N) {
        *acc = *acc + other;
    }
}

/// Counts records.
#[derive(Clone, Copy)]
pub struct Count;

impl<T> AggregateFunction<T> for Count {
    type Acc = u64;
    type Out = u64;

    fn create(&self) -> u64 {
        0
    }

    #[inline]
    fn add(&self, acc: &mut u64, _record: T) {
        *acc += 1;
    }

    fn result(&self, acc: &u64) -> u64 {
        *acc
    }

    fn merge(&self, acc: &mut u64, other: u64) {
        *acc += other;
    }
}

/// The smallest value of a field.
#[derive(Clone)]
pub struct Min<F>(pub F);

/// The largest value of a field.
#[derive(Clone)]
pub struct Max<F>(pub F);

macro_rules! extremum {
    ($name:ident, $keep_new:expr) => {
        impl<F> $name<F> {
            #[inline]
            fn keep<N: PartialOrd>(&self, acc: &mut Option<N>, value: N) {
                let keep_new: fn(&N, &N) -> bool = $keep_new;
                if acc.as_ref().is_none_or(|current| keep_new(&value, current)) {
                    *acc = Some(value);
                }
            }
        }

        impl<T, N, F> AggregateFunction<T> for $name<F>
        where
            N: PartialOrd + Copy + 'static,
            F: Fn(&T) -> N + Clone + Send + Sync + 'static,
        {
            type Acc = Option<N>;
            type Out = N;

            fn create(&self) -> Option<N> {
                None
            }

            #[inline]
            fn add(&self, acc: &mut Option<N>, record: T) {
                let value = (self.0)(&record);
                self.keep(acc, value);
            }

            fn result(&self, acc: &Option<N>) -> N {
                acc.expect("a result is asked for only after a record was added")
            }

            fn merge(&self, acc: &mut Option<N>, other: Option<N>) {
                if let Some(value) = other {
                    self.keep(acc, value);
                }
            }
        }
    };
}
extremum!(Min, |new, current| new < current);
extremum!(Max, |new, current| new > current);

/// Combines records pairwise, as Flink's `ReduceFunction`.
#[derive(Clone)]
pub struct Reduce<F>(pub F);

impl<T, F> AggregateFunction<T> for Reduce<F>
where
    T: Clone + 'static,
    F: Fn(T, T) -> T + Clone + Send + Sync + 'static,
{
    type Acc = Option<T>;
    type Out = T;

    fn create(&self) -> Option<T> {
        None
    }

    #[inline]
    fn add(&self, acc: &mut Option<T>, record: T) {
        *acc = Some(match acc.take() {
            Some(current) => (self.0)(current, record),
            None => record,
        });
    }

    fn result(&self, acc: &Option<T>) -> T {
        acc.clone()
            .expect("a result is asked for only after a record was added")
    }

    fn merge(&self, acc: &mut Option<T>, other: Option<T>) {
        if let Some(other) = other {
            self.add(acc, other);
        }
    }
}

/// The rolling aggregate operator: emits `emit(key, result)` after every record.
pub(crate) struct KeyedAggregate<T, K, KF, A, S, E, O> {
    pub(crate) id: OperatorId,
    pub(crate) key: KF,
    pub(crate) function: A,
    pub(crate) store: S,
    pub(crate) emit: E,
    pub(crate) next: BoxOutput<O>,
    pub(crate) types: PhantomData<fn(T, K)>,
}

impl<T, K, KF, A, S, E, O> Output<T> for KeyedAggregate<T, K, KF, A, S, E, O>
where
    KF: FnMut(&T) -> K,
    A: AggregateFunction<T>,
    S: SavedStore<K, A::Acc>,
    E: Fn(K, A::Out) -> O,
{
    #[inline]
    fn push(&mut self, batch: Vec<T>) {
        enter(self.id);
        let mut out = Vec::with_capacity(batch.len());
        if S::PREFETCH {
            // Start every record's state load before the first is needed, so that their
            // cache (and TLB) misses overlap instead of coming one after another.
            for record in &batch {
                self.store.prefetch(&(self.key)(record));
            }
        }
        for record in batch {
            let key = (self.key)(&record);
            let acc = self
                .store
                .get_or_insert_with(&key, || self.function.create());
            self.function.add(acc, record);
            let result = self.function.result(acc);
            out.push((self.emit)(key, result));
        }
        self.next.push(out);
    }

    fn watermark(&mut self, watermark: Timestamp) {
        self.next.watermark(watermark);
    }

    fn end(&mut self) {
        self.next.end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        enter(self.id);
        self.store.save(snapshot, self.id);
        self.next.barrier(snapshot);
    }
}
