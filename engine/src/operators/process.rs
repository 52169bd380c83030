//! Process functions: the lowest-level operators, with access to time, timers, keyed state
//! and side outputs (Flink's `ProcessFunction` and `KeyedProcessFunction`).

use std::hash::Hash;
use std::sync::Arc;

use super::side_output::{OutputTag, SideOutputs};
use super::{enter, BoxOutput, ClockTimers, OperatorId, Output};
use crate::checkpoint::restore::{owner, restored_chains};
use crate::checkpoint::StageSnapshot;
use crate::exchange::StableKey;
use crate::runtime::ShardContext;
use crate::state::{chains_by_name, DeltaChain, KeyedStates, NamedStates, StateData};
use crate::time::{processing_time_now, TimerQueue, Timestamp};

/// Reads a record's event time.
pub type TimestampFn<T> = Arc<dyn Fn(&T) -> Timestamp + Send + Sync>;

/// Which clock a timer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TimeDomain {
    /// Fired when the watermark passes the timer.
    EventTime,
    /// Fired when the shard's wall clock passes the timer.
    ProcessingTime,
}

/// A keyed operator's timers, per time domain.
#[derive(Debug, Clone)]
pub struct Timers<K> {
    pub(crate) event: TimerQueue<K>,
    pub(crate) processing: TimerQueue<K>,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Self {
            event: TimerQueue::default(),
            processing: TimerQueue::default(),
        }
    }
}

impl<K: Hash + Eq + Clone> Timers<K> {
    /// The queue of `domain`.
    pub(crate) fn queue_mut(&mut self, domain: TimeDomain) -> &mut TimerQueue<K> {
        match domain {
            TimeDomain::EventTime => &mut self.event,
            TimeDomain::ProcessingTime => &mut self.processing,
        }
    }

    /// The earliest processing-time timer.
    pub(crate) fn next_processing_time(&self) -> Option<Timestamp> {
        self.processing.next_time()
    }
}

/// What a process function sees while it handles a record or a timer.
pub struct Context<'a, K, O> {
    key: &'a K,
    timestamp: Option<Timestamp>,
    watermark: Timestamp,
    processing_time: Timestamp,
    timers: Option<&'a mut Timers<K>>,
    out: &'a mut Vec<O>,
    side: &'a mut SideOutputs,
}

impl<K: Hash + Eq + Clone, O> Context<'_, K, O> {
    /// The current key (`()` on a non-keyed stream).
    pub fn key(&self) -> &K {
        self.key
    }

    /// The event time of the record being processed (if the stream has timestamps), or the
    /// time of the timer firing.
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.timestamp
    }

    /// The operator's current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The shard's processing time (ms since the epoch), read once per batch.
    pub fn current_processing_time(&self) -> Timestamp {
        self.processing_time
    }

    /// Emits a record to the main output.
    #[inline]
    pub fn emit(&mut self, record: O) {
        self.out.push(record);
    }

    /// Emits a record to the side output `tag`.
    pub fn output<S: 'static>(&mut self, tag: &OutputTag<S>, record: S) {
        self.side.emit(tag, record);
    }

    /// Fires `on_timer` for the current key once the watermark reaches `time`.
    pub fn register_event_time_timer(&mut self, time: Timestamp) {
        let key = self.key;
        self.timers(TimeDomain::EventTime).register(key, time);
    }

    /// Fires `on_timer` for the current key once the wall clock reaches `time`.
    pub fn register_processing_time_timer(&mut self, time: Timestamp) {
        let key = self.key;
        self.timers(TimeDomain::ProcessingTime).register(key, time);
    }

    /// Deletes the current key's event-time timer at `time`.
    pub fn delete_event_time_timer(&mut self, time: Timestamp) {
        let key = self.key;
        self.timers(TimeDomain::EventTime).delete(key, time);
    }

    /// Deletes the current key's processing-time timer at `time`.
    pub fn delete_processing_time_timer(&mut self, time: Timestamp) {
        let key = self.key;
        self.timers(TimeDomain::ProcessingTime).delete(key, time);
    }

    fn timers(&mut self, domain: TimeDomain) -> &mut TimerQueue<K> {
        match self.timers.as_deref_mut() {
            Some(timers) => timers.queue_mut(domain),
            None => panic!("timers are only available on keyed streams (use key_by(..).process)"),
        }
    }
}

impl<K, O> crate::state::KeyScope<K> for Context<'_, K, O> {
    fn current_key(&self) -> &K {
        self.key
    }

    fn processing_time(&self) -> Timestamp {
        self.processing_time
    }
}

/// A function over a keyed stream with timers and keyed state (Flink's
/// `KeyedProcessFunction`). Each shard runs its own clone; keep keyed state in fields of
/// the state types of [`crate::state`] and access it through the context.
pub trait KeyedProcessFunction<K, I, O>: Clone + Send + Sync + 'static {
    /// Handles one record.
    fn process_element(&mut self, record: I, ctx: &mut Context<'_, K, O>);

    /// Handles a timer of the current key firing at `timestamp`.
    fn on_timer(&mut self, timestamp: Timestamp, domain: TimeDomain, ctx: &mut Context<'_, K, O>) {
        let _ = (timestamp, domain, ctx);
    }

    /// Names the keyed state fields for checkpoints: `states.register("name", &mut
    /// self.field)` for each (a function without keyed state registers nothing). Called at
    /// every checkpoint barrier and once when the job restores a checkpoint.
    fn states(&mut self, states: &mut KeyedStates<'_, K>);
}

/// A function over a non-keyed stream (Flink's `ProcessFunction`): time and side outputs,
/// no timers or keyed state.
pub trait ProcessFunction<I, O>: Clone + Send + Sync + 'static {
    /// Handles one record.
    fn process_element(&mut self, record: I, ctx: &mut Context<'_, (), O>);
}

/// Everything a process operator holds besides its function.
pub(crate) struct ProcessCore<K, O> {
    pub(crate) id: OperatorId,
    pub(crate) timers: Timers<K>,
    pub(crate) watermark: Timestamp,
    pub(crate) next: BoxOutput<O>,
    pub(crate) side: SideOutputs,
    /// Whether the next checkpoint saves the keyed state whole or its changes.
    chain: DeltaChain,
}

impl<K: Hash + Eq + Clone, O> ProcessCore<K, O> {
    pub(crate) fn new(id: OperatorId, next: BoxOutput<O>, side: SideOutputs) -> Self {
        Self {
            id,
            timers: Timers::default(),
            watermark: Timestamp::MIN,
            next,
            side,
            chain: DeltaChain::default(),
        }
    }

    /// Runs `handle` for every record of `batch` with its key's context, then ships the
    /// output.
    pub(crate) fn each_record<I>(
        &mut self,
        batch: Vec<I>,
        timestamp: Option<&TimestampFn<I>>,
        mut key_of: impl FnMut(&I) -> K,
        mut handle: impl FnMut(I, &mut Context<'_, K, O>),
    ) {
        enter(self.id);
        let now = processing_time_now();
        let mut out = Vec::new();
        for record in batch {
            let key = key_of(&record);
            let mut ctx = Context {
                key: &key,
                timestamp: timestamp.map(|f| f(&record)),
                watermark: self.watermark,
                processing_time: now,
                timers: Some(&mut self.timers),
                out: &mut out,
                side: &mut self.side,
            };
            handle(record, &mut ctx);
        }
        self.ship(out);
    }

    /// Runs `handle` for every record of `batch` with a context that has no key (and so no
    /// timers), then ships the output.
    pub(crate) fn each_unkeyed<I>(
        &mut self,
        batch: Vec<I>,
        timestamp: Option<&TimestampFn<I>>,
        mut handle: impl FnMut(I, &mut Context<'_, (), O>),
    ) {
        enter(self.id);
        let now = processing_time_now();
        let mut out = Vec::new();
        for record in batch {
            let mut ctx = Context {
                key: &(),
                timestamp: timestamp.map(|f| f(&record)),
                watermark: self.watermark,
                processing_time: now,
                timers: None,
                out: &mut out,
                side: &mut self.side,
            };
            handle(record, &mut ctx);
        }
        self.ship(out);
    }

    /// Fires every timer of `domain` at or before `limit`, in time order.
    pub(crate) fn fire(
        &mut self,
        domain: TimeDomain,
        limit: Timestamp,
        mut on_timer: impl FnMut(Timestamp, &mut Context<'_, K, O>),
    ) {
        enter(self.id);
        let now = processing_time_now();
        let mut out = Vec::new();
        while let Some((time, key)) = self.timers.queue_mut(domain).pop_due(limit) {
            let mut ctx = Context {
                key: &key,
                timestamp: Some(time),
                watermark: self.watermark,
                processing_time: now,
                timers: Some(&mut self.timers),
                out: &mut out,
                side: &mut self.side,
            };
            on_timer(time, &mut ctx);
        }
        self.ship(out);
    }

    fn ship(&mut self, out: Vec<O>) {
        if !out.is_empty() {
            self.next.push(out);
        }
        self.side.flush();
    }

    /// Advances the watermark: fires due event-time timers with `on_timer`, then forwards it.
    pub(crate) fn advance_watermark(
        &mut self,
        watermark: Timestamp,
        on_timer: impl FnMut(Timestamp, &mut Context<'_, K, O>),
    ) {
        // After a restore the operator starts at its saved watermark, which the inputs'
        // first watermarks may not have reached yet.
        let watermark = watermark.max(self.watermark);
        self.watermark = watermark;
        self.fire(TimeDomain::EventTime, watermark, on_timer);
        self.next.watermark(watermark);
        self.side.watermark(watermark);
    }

    pub(crate) fn end(&mut self) {
        self.next.end();
        self.side.end();
    }

    /// Passes a checkpoint barrier on, to the main and the side outputs.
    pub(crate) fn pass_barrier(&mut self, snapshot: &mut StageSnapshot) {
        self.next.barrier(snapshot);
        self.side.barrier(snapshot);
    }
}

/// What a keyed process operator saves: its watermark (restored with it, so that replayed
/// records meet the watermark they met before), its event-time and processing-time timers,
/// and its function's named keyed state. The state is saved whole or, in a delta on an
/// earlier checkpoint, only its changes since; the watermark and timers always whole.
type SavedProcess<K> = (
    Timestamp,
    Vec<(Timestamp, K)>,
    Vec<(Timestamp, K)>,
    NamedStates,
);

impl<K: StateData + Hash + Eq + Clone, O> ProcessCore<K, O> {
    /// Saves the timers and the function's keyed state (which `register` names: it is
    /// called twice, to count the state's changes, then to save it whole or as a delta, as
    /// the operator's delta chain says), then passes the barrier on.
    pub(crate) fn checkpoint(
        &mut self,
        snapshot: &mut StageSnapshot,
        mut register: impl FnMut(&mut KeyedStates<'_, K>),
    ) {
        enter(self.id);
        let mut count = KeyedStates::count(snapshot.completed);
        register(&mut count);
        let (changed, held) = count.counted();
        let base = self.chain.next_save(snapshot.completed, changed, held);
        let mut states = KeyedStates::snapshot(snapshot.checkpoint, base);
        register(&mut states);
        let saved = (
            self.watermark,
            self.timers.event.live(),
            self.timers.processing.live(),
            states.into_snapshot(),
        );
        snapshot.add_on(self.id.0, &saved, base);
        self.pass_barrier(snapshot);
    }

    /// Restores the timers of the keys this shard owns from the restored checkpoint (if
    /// any), and the function's keyed state through `register`.
    pub(crate) fn restore(
        &mut self,
        context: &ShardContext,
        register: impl FnOnce(&mut KeyedStates<'_, K>),
    ) where
        K: StableKey,
    {
        let Some(chains) = restored_chains::<SavedProcess<K>>(context, self.id) else {
            return;
        };
        let owns = owner(context);
        let mut named = Vec::new();
        let mut watermark: Option<Timestamp> = None;
        for chain in chains {
            // The watermark and timers of the newest part; the state of every part.
            let mut states = Vec::with_capacity(chain.len());
            let mut newest = None;
            for (saved_watermark, event, processing, link_states) in chain {
                states.push(link_states);
                newest = Some((saved_watermark, event, processing));
            }
            named.push(states);
            let Some((saved_watermark, event, processing)) = newest else {
                continue;
            };
            watermark = Some(watermark.map_or(saved_watermark, |w| w.min(saved_watermark)));
            for (domain, timers) in [
                (TimeDomain::EventTime, event),
                (TimeDomain::ProcessingTime, processing),
            ] {
                for (time, key) in timers.into_iter().filter(|(_, key)| owns(key)) {
                    self.timers.queue_mut(domain).register(&key, time);
                }
            }
        }
        self.watermark = watermark.unwrap_or(Timestamp::MIN);
        let grouped = chains_by_name(named);
        register(&mut KeyedStates::restore(&grouped, &owns));
    }
}

/// The operator running a [`KeyedProcessFunction`].
pub(crate) struct KeyedProcess<I, K, KF, F, O> {
    pub(crate) core: ProcessCore<K, O>,
    pub(crate) timestamp: Option<TimestampFn<I>>,
    pub(crate) key: KF,
    pub(crate) function: F,
}

impl<I, K, KF, F, O> ClockTimers for KeyedProcess<I, K, KF, F, O>
where
    K: Hash + Eq + Clone,
    F: KeyedProcessFunction<K, I, O>,
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

impl<I, K, KF, F, O> Output<I> for KeyedProcess<I, K, KF, F, O>
where
    K: StateData + Hash + Eq + Clone,
    KF: FnMut(&I) -> K,
    F: KeyedProcessFunction<K, I, O>,
{
    fn push(&mut self, batch: Vec<I>) {
        let function = &mut self.function;
        self.core.each_record(
            batch,
            self.timestamp.as_ref(),
            &mut self.key,
            |record, ctx| function.process_element(record, ctx),
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

/// The operator running a [`ProcessFunction`].
pub(crate) struct Process<I, F, O> {
    pub(crate) core: ProcessCore<(), O>,
    pub(crate) timestamp: Option<TimestampFn<I>>,
    pub(crate) function: F,
}

impl<I, F: ProcessFunction<I, O>, O> Output<I> for Process<I, F, O> {
    fn push(&mut self, batch: Vec<I>) {
        let function = &mut self.function;
        self.core
            .each_unkeyed(batch, self.timestamp.as_ref(), |record, ctx| {
                function.process_element(record, ctx)
            });
    }

    fn watermark(&mut self, watermark: Timestamp) {
        self.core.advance_watermark(watermark, |_, _| {});
    }

    fn end(&mut self) {
        self.core.end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        // A non-keyed function keeps no state that checkpoints cover (as in Flink, where a
        // `ProcessFunction`'s fields are not checkpointed either).
        self.core.pass_barrier(snapshot);
    }
}
