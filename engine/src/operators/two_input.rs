//! Two-input operators: connected streams with a co-process function, and a keyed stream
//! reading broadcast state.
//!
//! A two-input operator's watermark is the minimum of its two inputs' watermarks; its stage
//! combines them and calls [`TwoInput::watermark`] when that minimum advances.

use std::hash::Hash;

use super::process::{Context, ProcessCore, TimeDomain, TimestampFn};
use super::ClockTimers;
use crate::checkpoint::StageSnapshot;
use crate::state::{KeyedStates, StateData};

/// The name the broadcast state is saved under.
pub(crate) const BROADCAST_STATE: &str = "\u{0}broadcast";
use crate::time::Timestamp;

/// An operator with two inputs of different types, as its stage drives it.
pub(crate) trait TwoInput<A, B> {
    /// A batch from the first input.
    fn push_first(&mut self, batch: Vec<A>);
    /// A batch from the second input.
    fn push_second(&mut self, batch: Vec<B>);
    /// The combined watermark advanced.
    fn watermark(&mut self, watermark: Timestamp);
    /// Both inputs are over.
    fn end(&mut self);
    /// Checkpoint barrier on both inputs: snapshot, then pass it on.
    fn barrier(&mut self, snapshot: &mut StageSnapshot);
}

/// A boxed two-input operator, as its stage holds it.
pub(crate) type BoxTwoInput<A, B> = Box<dyn TwoInput<A, B>>;

/// A function over two connected keyed streams, with shared keyed state and timers (Flink's
/// `KeyedCoProcessFunction`): both inputs' records of one key meet on one shard.
pub trait KeyedCoProcessFunction<K, A, B, O>: Clone + Send + Sync + 'static {
    /// Handles a record of the first input.
    fn process_first(&mut self, record: A, ctx: &mut Context<'_, K, O>);
    /// Handles a record of the second input.
    fn process_second(&mut self, record: B, ctx: &mut Context<'_, K, O>);
    /// Handles a timer of the current key.
    fn on_timer(&mut self, timestamp: Timestamp, domain: TimeDomain, ctx: &mut Context<'_, K, O>) {
        let _ = (timestamp, domain, ctx);
    }

    /// Names the keyed state fields for checkpoints, as
    /// [`KeyedProcessFunction::states`](super::KeyedProcessFunction::states) does.
    fn states(&mut self, states: &mut KeyedStates<'_, K>);
}

/// A function over a keyed stream and a broadcast stream (Flink's
/// `KeyedBroadcastProcessFunction`): every shard holds the same broadcast state, which the
/// broadcast side writes and the keyed side reads — rules, thresholds, model weights.
pub trait KeyedBroadcastProcessFunction<K, A, B, O>: Clone + Send + Sync + 'static {
    /// The state every shard holds a copy of (checkpointed, and restored on every shard
    /// from one copy).
    type Broadcast: Default + StateData + 'static;
    /// Handles a keyed record; the broadcast state is read-only here.
    fn process_element(&mut self, record: A, state: &Self::Broadcast, ctx: &mut Context<'_, K, O>);
    /// Handles a broadcast record, which every shard sees; update the state here.
    fn process_broadcast(
        &mut self,
        record: B,
        state: &mut Self::Broadcast,
        ctx: &mut Context<'_, (), O>,
    );
    /// Handles a timer of the current key.
    fn on_timer(
        &mut self,
        timestamp: Timestamp,
        domain: TimeDomain,
        state: &Self::Broadcast,
        ctx: &mut Context<'_, K, O>,
    ) {
        let _ = (timestamp, domain, state, ctx);
    }

    /// Names the keyed state fields for checkpoints, as
    /// [`KeyedProcessFunction::states`](super::KeyedProcessFunction::states) does (the
    /// broadcast state is saved without it).
    fn states(&mut self, states: &mut KeyedStates<'_, K>);
}

/// How each input reads its key and event time.
pub(crate) struct InputReaders<A, B, KA, KB> {
    pub(crate) first_key: KA,
    pub(crate) second_key: KB,
    pub(crate) first_time: Option<TimestampFn<A>>,
    pub(crate) second_time: Option<TimestampFn<B>>,
}

/// The operator running a [`KeyedCoProcessFunction`].
pub(crate) struct KeyedCoProcess<A, B, K, KA, KB, F, O> {
    pub(crate) core: ProcessCore<K, O>,
    pub(crate) inputs: InputReaders<A, B, KA, KB>,
    pub(crate) function: F,
}

impl<A, B, K, KA, KB, F, O> ClockTimers for KeyedCoProcess<A, B, K, KA, KB, F, O>
where
    K: Hash + Eq + Clone,
    F: KeyedCoProcessFunction<K, A, B, O>,
{
    fn on_processing_time(&mut self, now: Timestamp) {
        let function = &mut self.function;
        self.core
            .fire(TimeDomain::ProcessingTime, now, |time, ctx| {
                function.on_timer(time, TimeDomain::ProcessingTime, ctx)
            });
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.core.timers.next_processing_time()
    }
}

impl<A, B, K, KA, KB, F, O> TwoInput<A, B> for KeyedCoProcess<A, B, K, KA, KB, F, O>
where
    K: StateData + Hash + Eq + Clone,
    KA: FnMut(&A) -> K,
    KB: FnMut(&B) -> K,
    F: KeyedCoProcessFunction<K, A, B, O>,
{
    fn push_first(&mut self, batch: Vec<A>) {
        let function = &mut self.function;
        let inputs = &mut self.inputs;
        self.core.each_record(
            batch,
            inputs.first_time.as_ref(),
            &mut inputs.first_key,
            |record, ctx| function.process_first(record, ctx),
        );
    }

    fn push_second(&mut self, batch: Vec<B>) {
        let function = &mut self.function;
        let inputs = &mut self.inputs;
        self.core.each_record(
            batch,
            inputs.second_time.as_ref(),
            &mut inputs.second_key,
            |record, ctx| function.process_second(record, ctx),
        );
    }

    fn watermark(&mut self, watermark: Timestamp) {
        let function = &mut self.function;
        self.core.advance_watermark(watermark, |time, ctx| {
            function.on_timer(time, TimeDomain::EventTime, ctx)
        });
    }

    fn end(&mut self) {
        self.core.end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        let function = &mut self.function;
        self.core
            .checkpoint(snapshot, |states| function.states(states));
    }
}

/// The operator running a [`KeyedBroadcastProcessFunction`]: the first input is keyed, the
/// second is broadcast to every shard.
pub(crate) struct KeyedBroadcastProcess<
    A,
    B,
    K,
    KA,
    F: KeyedBroadcastProcessFunction<K, A, B, O>,
    O,
> {
    pub(crate) core: ProcessCore<K, O>,
    pub(crate) key: KA,
    pub(crate) first_time: Option<TimestampFn<A>>,
    pub(crate) second_time: Option<TimestampFn<B>>,
    pub(crate) function: F,
    pub(crate) state: F::Broadcast,
}

impl<A, B, K, KA, F, O> ClockTimers for KeyedBroadcastProcess<A, B, K, KA, F, O>
where
    K: Hash + Eq + Clone,
    F: KeyedBroadcastProcessFunction<K, A, B, O>,
{
    fn on_processing_time(&mut self, now: Timestamp) {
        let (function, state) = (&mut self.function, &self.state);
        self.core
            .fire(TimeDomain::ProcessingTime, now, |time, ctx| {
                function.on_timer(time, TimeDomain::ProcessingTime, state, ctx)
            });
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.core.timers.next_processing_time()
    }
}

impl<A, B, K, KA, F, O> TwoInput<A, B> for KeyedBroadcastProcess<A, B, K, KA, F, O>
where
    K: StateData + Hash + Eq + Clone,
    KA: FnMut(&A) -> K,
    F: KeyedBroadcastProcessFunction<K, A, B, O>,
{
    fn push_first(&mut self, batch: Vec<A>) {
        let (function, state) = (&mut self.function, &self.state);
        self.core.each_record(
            batch,
            self.first_time.as_ref(),
            &mut self.key,
            |record, ctx| function.process_element(record, state, ctx),
        );
    }

    fn push_second(&mut self, batch: Vec<B>) {
        let (function, state) = (&mut self.function, &mut self.state);
        self.core
            .each_unkeyed(batch, self.second_time.as_ref(), |record, ctx| {
                function.process_broadcast(record, state, ctx)
            });
    }

    fn watermark(&mut self, watermark: Timestamp) {
        let (function, state) = (&mut self.function, &self.state);
        self.core.advance_watermark(watermark, |time, ctx| {
            function.on_timer(time, TimeDomain::EventTime, state, ctx)
        });
    }

    fn end(&mut self) {
        self.core.end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        let (function, state) = (&mut self.function, &self.state);
        self.core.checkpoint(snapshot, |states| {
            function.states(states);
            states.save_whole(BROADCAST_STATE, state);
        });
    }
}

/// A function over two connected, non-keyed streams (Flink's `CoProcessFunction`).
pub trait CoProcessFunction<A, B, O>: Clone + Send + Sync + 'static {
    /// Handles a record of the first input.
    fn process_first(&mut self, record: A, ctx: &mut Context<'_, (), O>);
    /// Handles a record of the second input.
    fn process_second(&mut self, record: B, ctx: &mut Context<'_, (), O>);
}

/// The operator running a [`CoProcessFunction`].
pub(crate) struct CoProcess<A, B, F, O> {
    pub(crate) core: ProcessCore<(), O>,
    pub(crate) first_time: Option<TimestampFn<A>>,
    pub(crate) second_time: Option<TimestampFn<B>>,
    pub(crate) function: F,
}

impl<A, B, F: CoProcessFunction<A, B, O>, O> TwoInput<A, B> for CoProcess<A, B, F, O> {
    fn push_first(&mut self, batch: Vec<A>) {
        let function = &mut self.function;
        self.core
            .each_unkeyed(batch, self.first_time.as_ref(), |record, ctx| {
                function.process_first(record, ctx)
            });
    }

    fn push_second(&mut self, batch: Vec<B>) {
        let function = &mut self.function;
        self.core
            .each_unkeyed(batch, self.second_time.as_ref(), |record, ctx| {
                function.process_second(record, ctx)
            });
    }

    fn watermark(&mut self, watermark: Timestamp) {
        self.core.advance_watermark(watermark, |_, _| {});
    }

    fn end(&mut self) {
        self.core.end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        // Non-keyed: no state that checkpoints cover, as for `ProcessFunction`.
        self.core.pass_barrier(snapshot);
    }
}
