//! Two-input streams: connected streams with co-process functions, a keyed stream with
//! broadcast state, the interval join and the window join.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use super::Key;
use super::{DataStream, KeyedStream, WindowedStream};
use crate::exchange::outbox::{Broadcast, Forward};
use crate::operators::window::{DefaultTrigger, TimeWindow, WindowAssigner};
use crate::operators::{
    BoxTwoInput, CoProcess, CoProcessFunction, InputReaders, IntervalJoin, KeyedBroadcastProcess,
    KeyedBroadcastProcessFunction, KeyedCoProcess, KeyedCoProcessFunction, OperatorId, ProcessCore,
    Shared, TimestampFn, BROADCAST_STATE,
};
use crate::plan::{Data, ExchangeId, ShardBuilder};
use crate::runtime::two_input_stage;
use crate::state::StateData;

/// A new two-input stage receiving `first` and `second`, driving the operator `head(node)`
/// makes, where `node` is the stream the stage produces.
fn two_input<A: Data, B: Data, O: Data, H>(
    first: &DataStream<A>,
    operator: OperatorId,
    exchanges: (ExchangeId, ExchangeId),
    head: impl FnOnce(crate::plan::NodeId) -> H,
) -> DataStream<O>
where
    H: Fn(&mut ShardBuilder) -> BoxTwoInput<A, B> + Send + Sync + 'static,
{
    let graph = first.graph().clone();
    let node = graph.borrow_mut().add_node::<O>();
    let head = head(node);
    graph.borrow_mut().stages.push(Arc::new(move |builder| {
        two_input_stage::<A, B>(builder, &[exchanges.0], &[exchanges.1], &head)
    }));
    DataStream::new(graph, node, operator)
}

/// Two streams connected for a co-process function (Flink's `ConnectedStreams`).
pub struct ConnectedStreams<A, B> {
    first: DataStream<A>,
    second: DataStream<B>,
}

impl<A: Data> DataStream<A> {
    /// Connects two streams, possibly of different types, for a function that sees both.
    pub fn connect<B: Data>(&self, other: &DataStream<B>) -> ConnectedStreams<A, B> {
        ConnectedStreams {
            first: self.clone_handle(),
            second: other.clone_handle(),
        }
    }

    /// Joins with `other` in windows (Flink's `DataStream.join`): pick the keys with
    /// `where_`/`equal_to`, the windows with `window`, and the pair function with `apply`.
    pub fn join<B: Data>(&self, other: &DataStream<B>) -> JoinedStreams<A, B> {
        JoinedStreams {
            first: self.clone_handle(),
            second: other.clone_handle(),
        }
    }
}

impl<A: Data, B: Data> ConnectedStreams<A, B> {
    /// Partitions both inputs by key, so that records with equal keys meet on one shard.
    pub fn key_by<K, KA, KB>(
        &self,
        first_key: KA,
        second_key: KB,
    ) -> KeyedConnectedStreams<A, B, K, KA, KB>
    where
        K: Key,
        KA: Fn(&A) -> K + Clone + Send + Sync + 'static,
        KB: Fn(&B) -> K + Clone + Send + Sync + 'static,
    {
        KeyedConnectedStreams {
            first: self.first.key_by(first_key),
            second: self.second.key_by(second_key),
        }
    }

    /// Runs `function` over both inputs, each shard seeing its own parts of both.
    pub fn process<O: Data, F: CoProcessFunction<A, B, O>>(&self, function: F) -> DataStream<O> {
        let operator = self.first.graph().borrow_mut().add_operator("co-process");
        let exchanges = (
            self.first.exchange_into(operator, true, |_| Forward),
            self.second.exchange_into(operator, true, |_| Forward),
        );
        let times = (self.first.timestamps(), self.second.timestamps());
        two_input(&self.first, operator, exchanges, move |node| {
            move |builder: &mut ShardBuilder| {
                let side = builder.side_outputs(operator);
                Box::new(CoProcess {
                    core: ProcessCore::new(operator, builder.output::<O>(node), side),
                    first_time: times.0.clone(),
                    second_time: times.1.clone(),
                    function: function.clone(),
                }) as BoxTwoInput<A, B>
            }
        })
    }
}

/// Two keyed streams connected for a keyed co-process function.
pub struct KeyedConnectedStreams<A, B, K, KA, KB> {
    first: KeyedStream<A, K, KA>,
    second: KeyedStream<B, K, KB>,
}

impl<A, B, K, KA, KB> KeyedConnectedStreams<A, B, K, KA, KB>
where
    A: Data,
    B: Data,
    K: Key,
    KA: Fn(&A) -> K + Clone + Send + Sync + 'static,
    KB: Fn(&B) -> K + Clone + Send + Sync + 'static,
{
    /// Runs `function` over both inputs with shared keyed state and timers (Flink's
    /// `KeyedCoProcessFunction`).
    pub fn process<O: Data, F: KeyedCoProcessFunction<K, A, B, O>>(
        &self,
        function: F,
    ) -> DataStream<O> {
        let operator = self
            .first
            .stream()
            .graph()
            .borrow_mut()
            .add_operator("co-process");
        let exchanges = (
            self.first.exchange(operator),
            self.second.exchange(operator),
        );
        let keys = (self.first.key().clone(), self.second.key().clone());
        let times = (
            self.first.stream().timestamps(),
            self.second.stream().timestamps(),
        );
        two_input(self.first.stream(), operator, exchanges, move |node| {
            move |builder: &mut ShardBuilder| {
                let side = builder.side_outputs(operator);
                let mut core = ProcessCore::new(operator, builder.output::<O>(node), side);
                let mut function = function.clone();
                core.restore(&builder.context, |states| function.states(states));
                let process = Rc::new(RefCell::new(KeyedCoProcess {
                    core,
                    inputs: InputReaders {
                        first_key: keys.0.clone(),
                        second_key: keys.1.clone(),
                        first_time: times.0.clone(),
                        second_time: times.1.clone(),
                    },
                    function,
                }));
                builder.add_processing_timers(process.clone());
                Box::new(Shared(process)) as BoxTwoInput<A, B>
            }
        })
    }
}

/// A keyed stream connected to a broadcast stream (Flink's `BroadcastConnectedStream`).
pub struct BroadcastConnectedStream<A, B, K, KA> {
    keyed: KeyedStream<A, K, KA>,
    broadcast: DataStream<B>,
}

impl<A, K, KA> KeyedStream<A, K, KA>
where
    A: Data,
    K: Key,
    KA: Fn(&A) -> K + Clone + Send + Sync + 'static,
{
    /// Connects `broadcast`, whose every record reaches every shard, to this keyed stream:
    /// the broadcast side writes state that every shard holds and the keyed side reads.
    pub fn connect_broadcast<B: Data>(
        &self,
        broadcast: &DataStream<B>,
    ) -> BroadcastConnectedStream<A, B, K, KA> {
        BroadcastConnectedStream {
            keyed: self.clone_handle(),
            broadcast: broadcast.clone_handle(),
        }
    }

    /// Joins with `other` by key and time (Flink's `intervalJoin`): choose the bounds with
    /// [`IntervalJoinBuilder::between`]. Both streams need timestamps.
    pub fn interval_join<B, KB>(
        &self,
        other: &KeyedStream<B, K, KB>,
    ) -> IntervalJoinBuilder<A, B, K, KA, KB>
    where
        B: Data,
        KB: Fn(&B) -> K + Clone + Send + Sync + 'static,
    {
        IntervalJoinBuilder {
            left: self.clone_handle(),
            right: other.clone_handle(),
            bounds: (0, 0),
        }
    }
}

impl<A, B, K, KA> BroadcastConnectedStream<A, B, K, KA>
where
    A: Data,
    B: Data,
    K: Key,
    KA: Fn(&A) -> K + Clone + Send + Sync + 'static,
{
    /// Runs `function`: keyed records with read access to the broadcast state, broadcast
    /// records with write access on every shard.
    pub fn process<O: Data, F: KeyedBroadcastProcessFunction<K, A, B, O>>(
        &self,
        function: F,
    ) -> DataStream<O> {
        let operator = self
            .keyed
            .stream()
            .graph()
            .borrow_mut()
            .add_operator("broadcast-process");
        let exchanges = (
            self.keyed.exchange(operator),
            self.broadcast.exchange_into(operator, false, |_| Broadcast),
        );
        let key = self.keyed.key().clone();
        let times = (
            self.keyed.stream().timestamps(),
            self.broadcast.timestamps(),
        );
        two_input(self.keyed.stream(), operator, exchanges, move |node| {
            move |builder: &mut ShardBuilder| {
                let side = builder.side_outputs(operator);
                let mut core = ProcessCore::new(operator, builder.output::<O>(node), side);
                let mut function = function.clone();
                let mut state = F::Broadcast::default();
                core.restore(&builder.context, |states| {
                    function.states(states);
                    states.restore_whole(BROADCAST_STATE, &mut state);
                });
                let process = Rc::new(RefCell::new(KeyedBroadcastProcess {
                    core,
                    key: key.clone(),
                    first_time: times.0.clone(),
                    second_time: times.1.clone(),
                    function,
                    state,
                }));
                builder.add_processing_timers(process.clone());
                Box::new(Shared(process)) as BoxTwoInput<A, B>
            }
        })
    }
}

/// An interval join being set up.
pub struct IntervalJoinBuilder<A, B, K, KA, KB> {
    left: KeyedStream<A, K, KA>,
    right: KeyedStream<B, K, KB>,
    bounds: (i64, i64),
}

impl<A, B, K, KA, KB> IntervalJoinBuilder<A, B, K, KA, KB>
where
    A: Data,
    B: Data,
    K: Key,
    KA: Fn(&A) -> K + Clone + Send + Sync + 'static,
    KB: Fn(&B) -> K + Clone + Send + Sync + 'static,
{
    /// A left record at `t` joins right records at `t + lower_ms ..= t + upper_ms`.
    pub fn between(mut self, lower_ms: i64, upper_ms: i64) -> Self {
        assert!(
            lower_ms <= upper_ms,
            "interval join bounds: lower {lower_ms} > upper {upper_ms}"
        );
        self.bounds = (lower_ms, upper_ms);
        self
    }

    /// Emits `function(left, right)` for every joined pair.
    pub fn process<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        A: StateData,
        B: StateData,
        F: FnMut(&A, &B) -> O + Clone + Send + Sync + 'static,
    {
        let times: (TimestampFn<A>, TimestampFn<B>) = match (self.left.stream().timestamps(), self.right.stream().timestamps()) {
            (Some(left), Some(right)) => (left, right),
            _ => panic!("an interval join needs timestamps on both streams: call assign_timestamps(..) before key_by(..)"),
        };
        let operator = self
            .left
            .stream()
            .graph()
            .borrow_mut()
            .add_operator("interval-join");
        let exchanges = (self.left.exchange(operator), self.right.exchange(operator));
        let keys = (self.left.key().clone(), self.right.key().clone());
        let bounds = self.bounds;
        two_input(self.left.stream(), operator, exchanges, move |node| {
            move |builder: &mut ShardBuilder| {
                let mut join = IntervalJoin::new(
                    operator,
                    keys.clone(),
                    times.clone(),
                    bounds,
                    function.clone(),
                    builder.output::<O>(node),
                    builder.context.metrics.clone(),
                    builder.shard(),
                );
                join.restore(&builder.context);
                Box::new(join) as BoxTwoInput<A, B>
            }
        })
    }
}

/// A record of either input of a window join.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Either<A, B> {
    /// From the first input.
    First(A),
    /// From the second input.
    Second(B),
}

/// Two streams to be joined in windows.
pub struct JoinedStreams<A, B> {
    first: DataStream<A>,
    second: DataStream<B>,
}

impl<A: Data, B: Data> JoinedStreams<A, B> {
    /// The first input's key.
    pub fn where_<K, KA>(self, first_key: KA) -> JoinWhere<A, B, K, KA>
    where
        KA: Fn(&A) -> K + Clone + Send + Sync + 'static,
    {
        JoinWhere {
            joined: self,
            first_key,
            keys: PhantomData,
        }
    }
}

/// A window join with its first key chosen.
pub struct JoinWhere<A, B, K, KA> {
    joined: JoinedStreams<A, B>,
    first_key: KA,
    keys: PhantomData<fn() -> K>,
}

impl<A: Data, B: Data, K, KA> JoinWhere<A, B, K, KA>
where
    K: Key,
    KA: Fn(&A) -> K + Clone + Send + Sync + 'static,
{
    /// The second input's key, and the windows the join happens in.
    pub fn equal_to<KB>(self, second_key: KB) -> JoinEqual<A, B, K, KA, KB>
    where
        KB: Fn(&B) -> K + Clone + Send + Sync + 'static,
    {
        JoinEqual {
            where_: self,
            second_key,
        }
    }
}

/// A window join with both keys chosen.
pub struct JoinEqual<A, B, K, KA, KB> {
    where_: JoinWhere<A, B, K, KA>,
    second_key: KB,
}

impl<A: Data, B: Data, K, KA, KB> JoinEqual<A, B, K, KA, KB>
where
    K: Key,
    KA: Fn(&A) -> K + Clone + Send + Sync + 'static,
    KB: Fn(&B) -> K + Clone + Send + Sync + 'static,
{
    /// The windows pairs are formed in: every pair of a first and a second record with
    /// equal keys in the same window joins. Both streams need timestamps for event-time
    /// windows.
    #[allow(clippy::type_complexity)]
    pub fn window(
        self,
        assigner: WindowAssigner,
    ) -> WindowJoin<A, B, K, impl Fn(&Either<A, B>) -> K + Clone + Send + Sync + 'static> {
        let JoinedStreams { first, second } = self.where_.joined;
        let times = (first.timestamps(), second.timestamps());
        let merged = first.map(Either::First).union(&second.map(Either::Second));
        let merged = match times {
            (Some(first_time), Some(second_time)) => {
                let read: TimestampFn<Either<A, B>> = Arc::new(move |record| match record {
                    Either::First(a) => first_time(a),
                    Either::Second(b) => second_time(b),
                });
                merged.with_timestamps(Some(read))
            }
            _ => merged,
        };
        let (first_key, second_key) = (self.where_.first_key, self.second_key);
        let key = move |record: &Either<A, B>| match record {
            Either::First(a) => first_key(a),
            Either::Second(b) => second_key(b),
        };
        WindowJoin {
            windowed: merged.key_by(key).window(assigner),
        }
    }
}

/// A window join ready for its pair function.
pub struct WindowJoin<A, B, K, KF> {
    windowed: WindowedStream<Either<A, B>, K, KF, DefaultTrigger>,
}

impl<A: Data + StateData, B: Data + StateData, K, KF> WindowJoin<A, B, K, KF>
where
    K: Key,
    KF: Fn(&Either<A, B>) -> K + Clone + Send + Sync + 'static,
{
    /// Emits `function(first, second)` for every pair with equal keys in one window (Flink's
    /// `JoinFunction`), when the window fires.
    pub fn apply<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        F: Fn(&A, &B) -> O + Clone + Send + Sync + 'static,
    {
        self.windowed.process(
            move |_key: &K, _window: &TimeWindow, records: &[Either<A, B>], out: &mut Vec<O>| {
                let firsts = records.iter().filter_map(|record| match record {
                    Either::First(a) => Some(a),
                    Either::Second(_) => None,
                });
                for a in firsts {
                    for record in records {
                        if let Either::Second(b) = record {
                            out.push(function(a, b));
                        }
                    }
                }
            },
        )
    }
}
