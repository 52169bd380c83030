//! `KeyedStream`: a stream partitioned by key, and the keyed rolling aggregations.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::ops::Add;
use std::rc::Rc;

use super::Key;
use super::{DataStream, WindowedStream};
use crate::exchange::outbox::{ByKey, Forward};
use crate::exchange::KeyGroups;
use crate::operators::cep::{Pattern, PatternStream};
use crate::operators::window::{DefaultTrigger, WindowAssigner};
use crate::operators::{
    AggregateFunction, BoxOutput, Count, KeyedAggregate, KeyedProcess, KeyedProcessFunction, Max,
    Min, OperatorId, ProcessCore, Reduce, Shared, Sum,
};
use crate::plan::{Data, ExchangeId, ShardBuilder};
use crate::runtime::ShardContext;
use crate::state::{restored_heap_store, restored_mmap_store, SavedStore, StateData};

/// A stream partitioned by key (Flink's `KeyedStream`): each key's records are processed on
/// the one shard that owns the key's key group, in the order that shard receives them.
pub struct KeyedStream<T, K, KF> {
    stream: DataStream<T>,
    key: KF,
    /// Every record is already on the shard that owns its key (a keyed ingress routes it
    /// there): keyed operators take it over a forward exchange, not the key-by mesh.
    partitioned: bool,
    keys: PhantomData<fn() -> K>,
}

impl<T, K, KF> KeyedStream<T, K, KF>
where
    T: Data,
    K: Key,
    KF: Fn(&T) -> K + Clone + Send + Sync + 'static,
{
    pub(crate) fn new(stream: DataStream<T>, key: KF) -> Self {
        Self {
            stream,
            key,
            partitioned: false,
            keys: PhantomData,
        }
    }

    /// `stream`, whose records are already on the shards that own their keys.
    pub(crate) fn partitioned(stream: DataStream<T>, key: KF) -> Self {
        Self {
            partitioned: true,
            ..Self::new(stream, key)
        }
    }

    /// Another handle on the same keyed stream.
    pub(crate) fn clone_handle(&self) -> Self {
        Self {
            stream: self.stream.clone_handle(),
            key: self.key.clone(),
            partitioned: self.partitioned,
            keys: PhantomData,
        }
    }

    /// Folds each key's records with `function` and emits `(key, result)` after every record.
    pub fn aggregate<A>(&self, function: A) -> DataStream<(K, A::Out)>
    where
        A: AggregateFunction<T>,
        A::Acc: StateData,
        A::Out: Data,
    {
        self.rolling("aggregate", function, |key, result| (key, result))
    }

    /// Runs `function` on every record with its key's timers and keyed state (Flink's
    /// `KeyedStream.process`).
    pub fn process<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        F: KeyedProcessFunction<K, T, O>,
    {
        let operator = self.stream.graph().borrow_mut().add_operator("process");
        let exchange = self.exchange(operator);
        let key = self.key.clone();
        let timestamps = self.stream.timestamps();
        self.stream.receive(operator, vec![exchange], move |node| {
            move |builder: &mut ShardBuilder| {
                let side = builder.side_outputs(operator);
                let next = builder.output::<O>(node);
                let mut core = ProcessCore::new(operator, next, side);
                let mut function = function.clone();
                core.restore(&builder.context, |states| function.states(states));
                let process = Rc::new(RefCell::new(KeyedProcess {
                    core,
                    timestamp: timestamps.clone(),
                    key: key.clone(),
                    function,
                }));
                builder.add_processing_timers(process.clone());
                Box::new(Shared(process)) as BoxOutput<T>
            }
        })
    }

    /// Looks for `pattern` in each key's events, in event time (Flink's `CEP.pattern`): see
    /// [`crate::operators::cep`]. Finish with [`PatternStream::matches`].
    pub fn pattern(&self, pattern: Pattern<T>) -> PatternStream<T, K, KF>
    where
        T: StateData + Sync,
        K: Sync,
    {
        PatternStream::new(self.clone_handle(), pattern)
    }

    /// Cuts the keyed stream into the windows `assigner` makes (Flink's `window`).
    pub fn window(&self, assigner: WindowAssigner) -> WindowedStream<T, K, KF, DefaultTrigger> {
        WindowedStream::new(self.clone_handle(), assigner)
    }

    /// The stream being keyed.
    pub(crate) fn stream(&self) -> &DataStream<T> {
        &self.stream
    }

    /// The key selector.
    pub(crate) fn key(&self) -> &KF {
        &self.key
    }

    /// The exchange that brings every record to the shard owning its key, fed by this
    /// stream and named after `operator`.
    pub(crate) fn exchange(&self, operator: OperatorId) -> ExchangeId {
        if self.partitioned {
            return self.stream.exchange_into(operator, true, |_| Forward);
        }
        let key = self.key.clone();
        self.stream
            .exchange_into(operator, false, move |builder: &ShardBuilder| {
                let config = &builder.context.config;
                ByKey {
                    key: key.clone(),
                    groups: KeyGroups::new(config.max_key_groups, builder.context.shards),
                }
            })
    }

    /// Combines each key's records pairwise and emits the combined record after every record.
    pub fn reduce<F>(&self, f: F) -> DataStream<T>
    where
        T: StateData,
        F: Fn(T, T) -> T + Clone + Send + Sync + 'static,
    {
        self.rolling("reduce", Reduce(f), |_key, reduced| reduced)
    }

    /// [`aggregate`](Self::aggregate) with the accumulators in the memory-mapped state
    /// backend (a file per shard in [`JobConfig::state_dir`](crate::JobConfig::state_dir)):
    /// state may exceed memory, reads and updates happen in place in the mapping, and a
    /// checkpoint writes only the pages changed since the last one. Keys and accumulators
    /// must be plain fixed-size data (`bytemuck::Pod`: integers, floats, arrays of them,
    /// `#[repr(C)]` structs deriving `Pod`).
    pub fn aggregate_mapped<A>(&self, function: A) -> DataStream<(K, A::Out)>
    where
        K: bytemuck::Pod,
        A: AggregateFunction<T>,
        A::Acc: bytemuck::Pod,
        A::Out: Data,
    {
        self.rolling_in(
            "aggregate-mapped",
            function,
            |key, result| (key, result),
            restored_mmap_store,
        )
    }

    /// The keyed rolling aggregation operator behind a new exchange, emitting
    /// `emit(key, result)` after every record, on the heap backend.
    fn rolling<A, O>(&self, kind: &str, function: A, emit: fn(K, A::Out) -> O) -> DataStream<O>
    where
        A: AggregateFunction<T>,
        A::Acc: StateData,
        O: Data,
    {
        self.rolling_in(kind, function, emit, restored_heap_store)
    }

    /// The keyed rolling aggregation operator, with the store `store` makes on each shard.
    fn rolling_in<A, O, S>(
        &self,
        kind: &str,
        function: A,
        emit: fn(K, A::Out) -> O,
        store: fn(&ShardContext, OperatorId) -> S,
    ) -> DataStream<O>
    where
        A: AggregateFunction<T>,
        O: Data,
        S: SavedStore<K, A::Acc> + 'static,
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
                    store: store(&builder.context, operator),
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
        N: Data + StateData + Add<Output = N> + Copy + Default,
        F: Fn(&T) -> N + Clone + Send + Sync + 'static,
    {
        self.aggregate(Sum(field))
    }

    /// The running minimum of `field` per key.
    pub fn min<N, F>(&self, field: F) -> DataStream<(K, N)>
    where
        N: Data + StateData + PartialOrd + Copy,
        F: Fn(&T) -> N + Clone + Send + Sync + 'static,
    {
        self.aggregate(Min(field))
    }

    /// The running maximum of `field` per key.
    pub fn max<N, F>(&self, field: F) -> DataStream<(K, N)>
    where
        N: Data + StateData + PartialOrd + Copy,
        F: Fn(&T) -> N + Clone + Send + Sync + 'static,
    {
        self.aggregate(Max(field))
    }

    /// The running count of records per key.
    pub fn count(&self) -> DataStream<(K, u64)> {
        self.aggregate(Count)
    }
}
