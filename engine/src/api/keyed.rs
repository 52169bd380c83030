//! `KeyedStream`: a stream partitioned by key, and the keyed rolling aggregations.

use std::hash::Hash;
use std::marker::PhantomData;
use std::ops::Add;

use super::DataStream;
use crate::exchange::outbox::ByKey;
use crate::exchange::{KeyGroups, StableKey};
use crate::operators::{AggregateFunction, Count, KeyedAggregate, Max, Min, Reduce, Sum};
use crate::plan::{Data, ShardBuilder};
use crate::state::HeapStore;

/// A stream partitioned by key (Flink's `KeyedStream`): each key's records are processed on
/// the one shard that owns the key's key group, in the order that shard receives them.
pub struct KeyedStream<T, K, KF> {
    stream: DataStream<T>,
    key: KF,
    keys: PhantomData<fn() -> K>,
}

impl<T, K, KF> KeyedStream<T, K, KF>
where
    T: Data,
    K: Data + Hash + Eq + StableKey,
    KF: Fn(&T) -> K + Clone + Send + Sync + 'static,
{
    pub(crate) fn new(stream: DataStream<T>, key: KF) -> Self {
        Self {
            stream,
            key,
            keys: PhantomData,
        }
    }

    /// Folds each key's records with `function` and emits `(key, result)` after every record.
    pub fn aggregate<A>(&self, function: A) -> DataStream<(K, A::Out)>
    where
        A: AggregateFunction<T>,
        A::Out: Data,
    {
        self.rolling("aggregate", function, |key, result| (key, result))
    }

    /// Combines each key's records pairwise and emits the combined record after every record.
    pub fn reduce<F>(&self, f: F) -> DataStream<T>
    where
        F: Fn(T, T) -> T + Clone + Send + Sync + 'static,
    {
        self.rolling("reduce", Reduce(f), |_key, reduced| reduced)
    }

    /// The keyed rolling aggregation operator behind a new exchange, emitting
    /// `emit(key, result)` after every record.
    fn rolling<A, O>(&self, kind: &str, function: A, emit: fn(K, A::Out) -> O) -> DataStream<O>
    where
        A: AggregateFunction<T>,
        O: Data,
    {
        let operator = self.stream.graph().borrow_mut().add_operator(kind);
        let key = self.key.clone();
        let exchange = self
            .stream
            .exchange_into(operator, false, move |builder: &ShardBuilder| {
                let config = &builder.context.config;
                ByKey {
                    key: key.clone(),
                    groups: KeyGroups::new(config.max_key_groups, builder.context.shards),
                }
            });
        let key = self.key.clone();
        self.stream.receive(operator, vec![exchange], move |node| {
            move |builder: &mut ShardBuilder| {
                Box::new(KeyedAggregate {
                    id: operator,
                    key: key.clone(),
                    function: function.clone(),
                    store: HeapStore::default(),
                    emit,
                    next: builder.output::<O>(node),
                    types: PhantomData,
                }) as _
            }
        })
    }

    /// The running sum of `field` per key.
    pub fn sum<N, F>(&self, field: F) -> DataStream<(K, N)>
    where
        N: Data + Add<Output = N> + Copy + Default,
        F: Fn(&T) -> N + Clone + Send + Sync + 'static,
    {
        self.aggregate(Sum(field))
    }

    /// The running minimum of `field` per key.
    pub fn min<N, F>(&self, field: F) -> DataStream<(K, N)>
    where
        N: Data + PartialOrd + Copy,
        F: Fn(&T) -> N + Clone + Send + Sync + 'static,
    {
        self.aggregate(Min(field))
    }

    /// The running maximum of `field` per key.
    pub fn max<N, F>(&self, field: F) -> DataStream<(K, N)>
    where
        N: Data + PartialOrd + Copy,
        F: Fn(&T) -> N + Clone + Send + Sync + 'static,
    {
        self.aggregate(Max(field))
    }

    /// The running count of records per key.
    pub fn count(&self) -> DataStream<(K, u64)> {
        self.aggregate(Count)
    }
}
