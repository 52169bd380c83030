//! The window operator: per key, the open windows with their accumulators and trigger state;
//! timers per (key, window) for triggers and for cleanup after the allowed lateness.
//!
//! Each open window remembers which timers it holds (usually one or two, inline), so that a
//! trigger asking for the same timer on every record, as the event-time trigger does, costs
//! a scan of that short list. The time index itself keeps no set of live timers: registering
//! is a push onto the bucket of its time, deleting only forgets the timer in its window, and
//! a timer coming due fires only if its window still holds it.

use std::hash::Hash;

use hashbrown::hash_map::{HashMap, RawEntryMut};
use smallvec::SmallVec;

use super::assigner::{TimeWindow, WindowAssigner, WindowTime};
use super::function::WindowFunction;
use super::trigger::{TimerRequest, Trigger, TriggerContext};
use crate::checkpoint::restore::{owner, restored_parts};
use crate::checkpoint::StageSnapshot;
use crate::exchange::StableKey;
use crate::metrics::{JobMetrics, ShardCounters};
use crate::operators::{
    enter, BoxOutput, OperatorId, Output, OutputTag, SideOutputs, TimeDomain, TimestampFn,
};
use crate::runtime::ShardContext;
use crate::state::StateData;
use crate::time::{processing_time_now, TimeIndex, Timestamp};

/// One open window of one key.
struct Slot<A, S> {
    window: TimeWindow,
    acc: A,
    trigger: S,
    /// The timers this window holds in the operator's time indexes.
    timers: SmallVec<[(TimeDomain, Timestamp); 2]>,
}

/// The operator's timers by time, per domain; entries are (key, window).
struct WindowTimers<K> {
    event: TimeIndex<(K, TimeWindow)>,
    processing: TimeIndex<(K, TimeWindow)>,
}

impl<K> WindowTimers<K> {
    fn index(&mut self, domain: TimeDomain) -> &mut TimeIndex<(K, TimeWindow)> {
        match domain {
            TimeDomain::EventTime => &mut self.event,
            TimeDomain::ProcessingTime => &mut self.processing,
        }
    }
}

/// Where a window operator reports dropped late records.
pub(crate) struct LateRecords<T> {
    /// The late-data side output, if the job asked for one.
    pub(crate) tag: Option<OutputTag<T>>,
    /// The job's metrics, which count late records per shard.
    pub(crate) metrics: std::sync::Arc<JobMetrics>,
    /// This operator's shard.
    pub(crate) shard: usize,
}

/// Where a window operator's results, late records and watermarks go; the same for the
/// general and the sliced operator.
pub(crate) struct WindowOutputs<T, O> {
    /// Where late records are counted and sent.
    pub(crate) late: LateRecords<T>,
    /// The downstream of the results.
    pub(crate) next: BoxOutput<O>,
    /// The operator's side outputs (the late-data one among them).
    pub(crate) side: SideOutputs,
    /// How many results go downstream in one batch (the job's batch size).
    pub(crate) batch: usize,
}

impl<T: 'static, O> WindowOutputs<T, O> {
    /// Counts `record` as late and sends it to the late-data side output, if there is one.
    pub(super) fn drop_late(&mut self, record: T) {
        ShardCounters::add(&self.late.metrics.shard(self.late.shard).late_records, 1);
        if let Some(tag) = &self.late.tag {
            self.side.emit(tag, record);
        }
    }

    /// Sends `out` downstream once it holds a full batch, leaving an empty one in its place:
    /// firing many windows at once then sends batches of the usual size rather than one
    /// vector of every result, which would be fresh memory each time.
    #[inline]
    pub(super) fn ship_full(&mut self, out: &mut Vec<O>) {
        if out.len() >= self.batch {
            let full = std::mem::replace(out, Vec::with_capacity(self.batch));
            self.next.push(full);
        }
    }

    /// Sends `out` downstream (if there is anything) and flushes the side outputs.
    pub(super) fn ship(&mut self, out: Vec<O>) {
        if !out.is_empty() {
            self.next.push(out);
        }
        self.side.flush();
    }

    /// Forwards `watermark` downstream and to the side outputs.
    pub(super) fn watermark(&mut self, watermark: Timestamp) {
        self.next.watermark(watermark);
        self.side.watermark(watermark);
    }

    /// Ends the downstream and the side outputs.
    pub(super) fn end(&mut self) {
        self.next.end();
        self.side.end();
    }

    /// Passes a checkpoint barrier downstream and to the side outputs.
    pub(super) fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        self.next.barrier(snapshot);
        self.side.barrier(snapshot);
    }
}

/// A window operator's state as a checkpoint holds it: the watermark, and per key its open
/// windows, each with its accumulator, trigger state and the timers it holds.
type SavedWindows<K, A, S> = (
    Timestamp,
    Vec<(K, Vec<(TimeWindow, A, S, Vec<(TimeDomain, Timestamp)>)>)>,
);

impl<K, A, S> WindowState<K, A, S>
where
    K: StateData + StableKey + Hash + Eq + Clone,
    A: StateData,
    S: StateData,
{
    /// Adds the state to `snapshot` as `operator`'s.
    fn save(&self, snapshot: &mut StageSnapshot, operator: OperatorId) {
        let windows: Vec<_> = self
            .windows
            .iter()
            .map(|(key, slots)| {
                let slots: Vec<_> = slots
                    .iter()
                    .map(|slot| {
                        (
                            &slot.window,
                            &slot.acc,
                            &slot.trigger,
                            slot.timers.as_slice(),
                        )
                    })
                    .collect();
                (key, slots)
            })
            .collect();
        snapshot.add(operator.0, &(self.watermark, windows));
    }

    /// The state of the keys this shard owns in the restored checkpoint, if the job restored
    /// one (its watermark is the least of the old shards').
    pub(crate) fn restored(context: &ShardContext, operator: OperatorId) -> Self {
        let mut state = Self::default();
        let Some(parts) = restored_parts::<SavedWindows<K, A, S>>(context, operator) else {
            return state;
        };
        let owns = owner(context);
        state.watermark = parts
            .iter()
            .map(|(watermark, _)| *watermark)
            .min()
            .unwrap_or(Timestamp::MIN);
        for (key, slots) in parts.into_iter().flat_map(|(_, windows)| windows) {
            if !owns(&key) {
                continue;
            }
            let restored = slots
                .into_iter()
                .map(|(window, acc, trigger, timers)| {
                    for &(domain, time) in &timers {
                        state.timers.index(domain).push(time, (key.clone(), window));
                    }
                    Slot {
                        window,
                        acc,
                        trigger,
                        timers: timers.into_iter().collect(),
                    }
                })
                .collect();
            state.windows.insert(key, restored);
        }
        state
    }
}

/// The window operator of one shard.
pub(crate) struct WindowOperator<T, K, KF, W: WindowFunction<K, T>, Tr: Trigger<T>> {
    pub(crate) id: OperatorId,
    pub(crate) key: KF,
    pub(crate) assigner: WindowAssigner,
    pub(crate) timestamp: Option<TimestampFn<T>>,
    pub(crate) function: W,
    pub(crate) trigger: Tr,
    pub(crate) allowed_lateness: i64,
    pub(crate) outputs: WindowOutputs<T, W::Out>,
    pub(crate) state: WindowState<K, W::Acc, Tr::State>,
}

/// The mutable state of a window operator: windows, timers, watermark, and scratch buffers.
pub(crate) struct WindowState<K, A, S> {
    windows: HashMap<K, Vec<Slot<A, S>>>,
    timers: WindowTimers<K>,
    watermark: Timestamp,
    requests: Vec<TimerRequest>,
    assigned: Vec<TimeWindow>,
}

impl<K, A, S> Default for WindowState<K, A, S> {
    fn default() -> Self {
        Self {
            windows: HashMap::new(),
            timers: WindowTimers {
                event: TimeIndex::default(),
                processing: TimeIndex::default(),
            },
            watermark: Timestamp::MIN,
            requests: Vec::new(),
            assigned: Vec::new(),
        }
    }
}

/// When windows are dropped: after the allowed lateness in event time, at their end in
/// processing time, never for the global window.
#[derive(Clone, Copy)]
pub(super) struct Cleanup {
    /// The clock windows are dropped by.
    pub(super) domain: TimeDomain,
    /// How long event-time windows are kept after their end.
    pub(super) allowed_lateness: i64,
}

impl Cleanup {
    /// When `window` is dropped (never for the global window).
    fn time(&self, window: &TimeWindow) -> Option<Timestamp> {
        if *window == TimeWindow::global() {
            None
        } else if self.domain == TimeDomain::EventTime {
            Some(window.max_timestamp().saturating_add(self.allowed_lateness))
        } else {
            Some(window.max_timestamp())
        }
    }

    /// Whether `window` is already gone at `watermark` (only event-time windows are ever late).
    pub(super) fn is_late(&self, window: &TimeWindow, watermark: Timestamp) -> bool {
        self.domain == TimeDomain::EventTime
            && self
                .time(window)
                .is_some_and(|cleanup| cleanup <= watermark)
    }
}

/// Registers (or forgets) timers for `slot` of `key` as the trigger asked.
fn apply_requests<K: Clone, A, S>(
    requests: &mut Vec<TimerRequest>,
    timers: &mut WindowTimers<K>,
    key: &K,
    slot: &mut Slot<A, S>,
) {
    for request in requests.drain(..) {
        let (domain, time, hold) = match request {
            TimerRequest::RegisterEvent(time) => (TimeDomain::EventTime, time, true),
            TimerRequest::RegisterProcessing(time) => (TimeDomain::ProcessingTime, time, true),
            TimerRequest::DeleteEvent(time) => (TimeDomain::EventTime, time, false),
            TimerRequest::DeleteProcessing(time) => (TimeDomain::ProcessingTime, time, false),
        };
        hold_timer(timers, key, slot, domain, time, hold);
    }
}

/// Makes `slot` hold (or stop holding) the timer `(domain, time)`.
fn hold_timer<K: Clone, A, S>(
    timers: &mut WindowTimers<K>,
    key: &K,
    slot: &mut Slot<A, S>,
    domain: TimeDomain,
    time: Timestamp,
    hold: bool,
) {
    let held = slot
        .timers
        .iter()
        .position(|timer| *timer == (domain, time));
    match (hold, held) {
        (true, None) => {
            slot.timers.push((domain, time));
            timers.index(domain).push(time, (key.clone(), slot.window));
        }
        // The index entry stays; it is skipped when it comes due.
        (false, Some(index)) => {
            slot.timers.swap_remove(index);
        }
        _ => {}
    }
}

impl<T, K, KF, W, Tr> WindowOperator<T, K, KF, W, Tr>
where
    T: Clone + 'static,
    K: Hash + Eq + Clone,
    KF: FnMut(&T) -> K,
    W: WindowFunction<K, T>,
    Tr: Trigger<T>,
{
    fn cleanup(&self) -> Cleanup {
        Cleanup {
            domain: match self.assigner.time() {
                WindowTime::Event => TimeDomain::EventTime,
                WindowTime::Processing => TimeDomain::ProcessingTime,
            },
            allowed_lateness: self.allowed_lateness,
        }
    }

    fn process_record(&mut self, record: T, now: Timestamp, out: &mut Vec<W::Out>) {
        let cleanup = self.cleanup();
        let timestamp = match &self.timestamp {
            Some(read) if cleanup.domain == TimeDomain::EventTime => read(&record),
            // The API refuses event-time windows on a stream without timestamps.
            _ => now,
        };
        let key = (self.key)(&record);
        let mut assigned = std::mem::take(&mut self.state.assigned);
        assigned.clear();
        self.assigner
            .assign(timestamp, |window| assigned.push(window));
        if self.assigner.is_merging() {
            if let Some(window) = assigned.pop() {
                let merged = self.merge_into(&key, window, now);
                assigned.push(merged);
            }
        }
        let watermark = self.state.watermark;
        assigned.retain(|window| !cleanup.is_late(window, watermark));
        if assigned.is_empty() {
            self.outputs.drop_late(record);
        } else {
            self.add_to_windows(&key, &assigned, record, timestamp, now, out);
        }
        self.state.assigned = assigned;
    }

    /// Adds `record` to each of `windows` of `key`, running the trigger and acting on it.
    fn add_to_windows(
        &mut self,
        key: &K,
        windows: &[TimeWindow],
        record: T,
        timestamp: Timestamp,
        now: Timestamp,
        out: &mut Vec<W::Out>,
    ) {
        let cleanup = self.cleanup();
        let WindowState {
            windows: all,
            timers,
            watermark,
            requests,
            ..
        } = &mut self.state;
        let slots = match all.raw_entry_mut().from_key(key) {
            RawEntryMut::Occupied(entry) => entry.into_mut(),
            RawEntryMut::Vacant(entry) => entry.insert(key.clone(), Vec::new()).1,
        };
        let mut record = Some(record);
        for (index, window) in windows.iter().enumerate() {
            let element = if index + 1 < windows.len() {
                record.clone()
            } else {
                record.take()
            }
            .expect("the record is moved only into the last window");
            let position = slots.iter().position(|slot| slot.window == *window);
            let slot = match position {
                Some(position) => &mut slots[position],
                None => {
                    slots.push(Slot {
                        window: *window,
                        acc: self.function.create(),
                        trigger: Tr::State::default(),
                        timers: SmallVec::new(),
                    });
                    let slot = slots.last_mut().expect("just pushed");
                    if let Some(time) = cleanup.time(window) {
                        hold_timer(timers, key, slot, cleanup.domain, time, true);
                    }
                    slot
                }
            };
            let mut ctx = TriggerContext {
                watermark: *watermark,
                processing_time: now,
                requests,
            };
            let result =
                self.trigger
                    .on_element(&element, timestamp, window, &mut slot.trigger, &mut ctx);
            self.function.add(&mut slot.acc, element);
            apply_requests(requests, timers, key, slot);
            if result.fires() {
                self.function.emit(key, window, &slot.acc, out);
            }
            if result.purges() {
                slot.acc = self.function.create();
            }
        }
    }

    /// Merges `window` (a new session) with the key's overlapping sessions; returns the
    /// session the record belongs to.
    fn merge_into(&mut self, key: &K, window: TimeWindow, now: Timestamp) -> TimeWindow {
        let cleanup = self.cleanup();
        let WindowState {
            windows: all,
            timers,
            watermark,
            requests,
            ..
        } = &mut self.state;
        let Some(slots) = all.get_mut(key) else {
            return window;
        };
        // Most records start no session or extend one: look before moving anything.
        if !slots.iter().any(|slot| slot.window.overlaps(&window)) {
            return window;
        }
        let overlapping: SmallVec<[Slot<W::Acc, Tr::State>; 2]> = slots
            .extract_if(.., |slot| slot.window.overlaps(&window))
            .collect();
        let merged_window = overlapping
            .iter()
            .fold(window, |cover, slot| cover.cover(&slot.window));
        let mut merged = Slot {
            window: merged_window,
            acc: self.function.create(),
            trigger: Tr::State::default(),
            timers: SmallVec::new(),
        };
        for old in overlapping {
            // The old windows' timers are forgotten with them (their index entries are
            // skipped when due); the merged window registers its own below.
            let mut ctx = TriggerContext {
                watermark: *watermark,
                processing_time: now,
                requests,
            };
            self.trigger
                .on_merge(&merged_window, &mut merged.trigger, old.trigger, &mut ctx);
            self.function.merge(&mut merged.acc, old.acc);
        }
        // Only registrations make sense for the merged window.
        requests.retain(|request| {
            matches!(
                request,
                TimerRequest::RegisterEvent(_) | TimerRequest::RegisterProcessing(_)
            )
        });
        apply_requests(requests, timers, key, &mut merged);
        if let Some(time) = cleanup.time(&merged_window) {
            hold_timer(timers, key, &mut merged, cleanup.domain, time, true);
        }
        slots.push(merged);
        merged_window
    }

    /// Fires the timers of `domain` due at `limit`.
    fn fire(&mut self, domain: TimeDomain, limit: Timestamp, now: Timestamp) {
        enter(self.id);
        let mut out = Vec::new();
        while let Some((time, due)) = self.state.timers.index(domain).pop_due(limit) {
            for (key, window) in due {
                self.fire_one(domain, time, &key, window, now, &mut out);
                self.outputs.ship_full(&mut out);
            }
        }
        self.outputs.ship(out);
    }

    /// Fires the timer `(domain, time)` of `window` of `key`, if the window still holds it.
    fn fire_one(
        &mut self,
        domain: TimeDomain,
        time: Timestamp,
        key: &K,
        window: TimeWindow,
        now: Timestamp,
        out: &mut Vec<W::Out>,
    ) {
        let cleanup = self.cleanup();
        let WindowState {
            windows: all,
            timers,
            watermark,
            requests,
            ..
        } = &mut self.state;
        let Some(slots) = all.get_mut(key) else {
            return;
        };
        let Some(position) = slots.iter().position(|slot| slot.window == window) else {
            return;
        };
        let slot = &mut slots[position];
        let Some(held) = slot
            .timers
            .iter()
            .position(|timer| *timer == (domain, time))
        else {
            return;
        };
        slot.timers.swap_remove(held);
        let mut ctx = TriggerContext {
            watermark: *watermark,
            processing_time: now,
            requests,
        };
        let result = match domain {
            TimeDomain::EventTime => {
                self.trigger
                    .on_event_time(time, &window, &mut slot.trigger, &mut ctx)
            }
            TimeDomain::ProcessingTime => {
                self.trigger
                    .on_processing_time(time, &window, &mut slot.trigger, &mut ctx)
            }
        };
        apply_requests(requests, timers, key, slot);
        if result.fires() {
            self.function.emit(key, &window, &slot.acc, out);
        }
        if result.purges() {
            slot.acc = self.function.create();
        }
        if cleanup.time(&window) == Some(time) {
            // The window is gone; its remaining timers are skipped when they come due.
            let mut gone = slots.swap_remove(position);
            let mut ctx = TriggerContext {
                watermark: *watermark,
                processing_time: now,
                requests,
            };
            self.trigger.clear(&window, &mut gone.trigger, &mut ctx);
            requests.clear();
            if slots.is_empty() {
                all.remove(key);
            }
        }
    }

    /// Fires the processing-time timers due at `now`.
    pub(crate) fn on_processing_time(&mut self, now: Timestamp) {
        self.fire(TimeDomain::ProcessingTime, now, now);
    }

    /// The earliest processing-time timer.
    pub(crate) fn next_processing_time(&self) -> Option<Timestamp> {
        self.state.timers.processing.next_time()
    }
}

impl<T, K, KF, W, Tr> Output<T> for WindowOperator<T, K, KF, W, Tr>
where
    T: Clone + 'static,
    K: StateData + StableKey + Hash + Eq + Clone,
    W::Acc: StateData,
    KF: FnMut(&T) -> K,
    W: WindowFunction<K, T>,
    Tr: Trigger<T>,
{
    fn push(&mut self, batch: Vec<T>) {
        enter(self.id);
        let now = processing_time_now();
        let mut out = Vec::new();
        for record in batch {
            self.process_record(record, now, &mut out);
        }
        self.outputs.ship(out);
    }

    fn watermark(&mut self, watermark: Timestamp) {
        // A restored operator starts at its saved watermark.
        let watermark = watermark.max(self.state.watermark);
        self.state.watermark = watermark;
        self.fire(TimeDomain::EventTime, watermark, processing_time_now());
        self.outputs.watermark(watermark);
    }

    fn end(&mut self) {
        // Input is over: processing-time windows fire now rather than never.
        if self.cleanup().domain == TimeDomain::ProcessingTime {
            self.fire(
                TimeDomain::ProcessingTime,
                Timestamp::MAX,
                processing_time_now(),
            );
        }
        self.outputs.end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        enter(self.id);
        self.state.save(snapshot, self.id);
        self.outputs.barrier(snapshot);
    }
}
