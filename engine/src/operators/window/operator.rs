//! The window operator: per key, the open windows with their accumulators and trigger state;
//! timers per (key, window) for triggers and for cleanup after the allowed lateness.

use std::hash::Hash;

use hashbrown::HashMap;

use super::assigner::{TimeWindow, WindowAssigner, WindowTime};
use super::function::WindowFunction;
use super::trigger::{TimerRequest, Trigger, TriggerContext, TriggerResult};
use crate::metrics::{JobMetrics, ShardCounters};
use crate::operators::{
    enter, BoxOutput, OperatorId, Output, OutputTag, SideOutputs, TimeDomain, Timers, TimestampFn,
};
use crate::time::{processing_time_now, Timestamp};

/// One open window of one key.
struct Slot<A, S> {
    window: TimeWindow,
    acc: A,
    trigger: S,
}

/// Where a window operator reports dropped late records.
pub(crate) struct LateRecords<T> {
    pub(crate) tag: Option<OutputTag<T>>,
    pub(crate) metrics: std::sync::Arc<JobMetrics>,
    pub(crate) shard: usize,
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
    pub(crate) late: LateRecords<T>,
    pub(crate) next: BoxOutput<W::Out>,
    pub(crate) side: SideOutputs,
    pub(crate) state: WindowState<K, W::Acc, Tr::State>,
}

/// The mutable state of a window operator: windows, timers, watermark, and scratch buffers.
pub(crate) struct WindowState<K, A, S> {
    windows: HashMap<K, Vec<Slot<A, S>>>,
    timers: Timers<(K, TimeWindow)>,
    watermark: Timestamp,
    requests: Vec<TimerRequest>,
    assigned: Vec<TimeWindow>,
}

impl<K, A, S> Default for WindowState<K, A, S> {
    fn default() -> Self {
        Self {
            windows: HashMap::new(),
            timers: Timers::default(),
            watermark: Timestamp::MIN,
            requests: Vec::new(),
            assigned: Vec::new(),
        }
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
    fn is_event_time(&self) -> bool {
        self.assigner.time() == WindowTime::Event
    }

    /// When a window's state is dropped: after the allowed lateness in event time, at its end
    /// in processing time, never for the global window.
    fn cleanup_time(&self, window: &TimeWindow) -> Option<Timestamp> {
        if *window == TimeWindow::global() {
            None
        } else if self.is_event_time() {
            Some(window.max_timestamp().saturating_add(self.allowed_lateness))
        } else {
            Some(window.max_timestamp())
        }
    }

    fn is_late(&self, window: &TimeWindow) -> bool {
        self.is_event_time()
            && self
                .cleanup_time(window)
                .is_some_and(|cleanup| cleanup <= self.state.watermark)
    }

    fn process_record(&mut self, record: T, now: Timestamp, out: &mut Vec<W::Out>) {
        let timestamp = match &self.timestamp {
            Some(read) if self.is_event_time() => read(&record),
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
        assigned.retain(|window| !self.is_late(window));
        match assigned.split_last() {
            None => self.drop_late(record),
            Some((last, others)) => {
                for window in others {
                    self.add_to_window(&key, *window, record.clone(), timestamp, now, out);
                }
                self.add_to_window(&key, *last, record, timestamp, now, out);
            }
        }
        self.state.assigned = assigned;
    }

    fn drop_late(&mut self, record: T) {
        ShardCounters::add(&self.late.metrics.shard(self.late.shard).late_records, 1);
        if let Some(tag) = &self.late.tag {
            self.side.emit(tag, record);
        }
    }

    fn add_to_window(
        &mut self,
        key: &K,
        window: TimeWindow,
        record: T,
        timestamp: Timestamp,
        now: Timestamp,
        out: &mut Vec<W::Out>,
    ) {
        let slots = self.state.windows.entry(key.clone()).or_default();
        let index = match slots.iter().position(|slot| slot.window == window) {
            Some(index) => index,
            None => {
                slots.push(Slot {
                    window,
                    acc: self.function.create(),
                    trigger: Tr::State::default(),
                });
                slots.len() - 1
            }
        };
        let slot = &mut slots[index];
        let mut ctx = TriggerContext {
            watermark: self.state.watermark,
            processing_time: now,
            requests: &mut self.state.requests,
        };
        let result =
            self.trigger
                .on_element(&record, timestamp, &window, &mut slot.trigger, &mut ctx);
        self.function.add(&mut slot.acc, record);
        self.apply_timer_requests(key, window);
        if let Some(cleanup) = self.cleanup_time(&window) {
            self.timer_queue_of_windows()
                .register(&(key.clone(), window), cleanup);
        }
        self.act(key, window, result, out);
    }

    /// The queue cleanup timers go to: event time, or processing time for processing-time
    /// windows.
    fn timer_queue_of_windows(&mut self) -> &mut crate::time::TimerQueue<(K, TimeWindow)> {
        let domain = if self.is_event_time() {
            TimeDomain::EventTime
        } else {
            TimeDomain::ProcessingTime
        };
        self.state.timers.queue_mut(domain)
    }

    /// Merges `window` (a new session) with the key's overlapping sessions; returns the
    /// session the record belongs to.
    fn merge_into(&mut self, key: &K, window: TimeWindow, now: Timestamp) -> TimeWindow {
        let Some(slots) = self.state.windows.get_mut(key) else {
            return window;
        };
        let (overlapping, kept): (Vec<_>, Vec<_>) = std::mem::take(slots)
            .into_iter()
            .partition(|slot| slot.window.overlaps(&window));
        *slots = kept;
        if overlapping.is_empty() {
            return window;
        }
        let merged_window = overlapping
            .iter()
            .fold(window, |cover, slot| cover.cover(&slot.window));
        let mut merged = Slot {
            window: merged_window,
            acc: self.function.create(),
            trigger: Tr::State::default(),
        };
        for mut old in overlapping {
            let mut ctx = TriggerContext {
                watermark: self.state.watermark,
                processing_time: now,
                requests: &mut self.state.requests,
            };
            self.trigger.clear(&old.window, &mut old.trigger, &mut ctx);
            self.trigger
                .on_merge(&merged_window, &mut merged.trigger, old.trigger, &mut ctx);
            self.function.merge(&mut merged.acc, old.acc);
            if let Some(cleanup) = self.cleanup_time(&old.window) {
                self.timer_queue_of_windows()
                    .delete(&(key.clone(), old.window), cleanup);
            }
            self.apply_timer_requests_split(key, old.window, merged_window);
        }
        self.state
            .windows
            .get_mut(key)
            .expect("the key's slots were just taken from here")
            .push(merged);
        merged_window
    }

    /// Applies the trigger's timer requests for (key, window).
    fn apply_timer_requests(&mut self, key: &K, window: TimeWindow) {
        self.apply_timer_requests_split(key, window, window);
    }

    /// Applies requests during a merge: deletions address the old window, registrations the
    /// merged one.
    fn apply_timer_requests_split(&mut self, key: &K, deleted: TimeWindow, registered: TimeWindow) {
        for request in std::mem::take(&mut self.state.requests) {
            let timers = &mut self.state.timers;
            match request {
                TimerRequest::RegisterEvent(time) => timers
                    .queue_mut(TimeDomain::EventTime)
                    .register(&(key.clone(), registered), time),
                TimerRequest::RegisterProcessing(time) => timers
                    .queue_mut(TimeDomain::ProcessingTime)
                    .register(&(key.clone(), registered), time),
                TimerRequest::DeleteEvent(time) => timers
                    .queue_mut(TimeDomain::EventTime)
                    .delete(&(key.clone(), deleted), time),
                TimerRequest::DeleteProcessing(time) => timers
                    .queue_mut(TimeDomain::ProcessingTime)
                    .delete(&(key.clone(), deleted), time),
            }
        }
    }

    /// Fires and/or purges (key, window) as `result` says.
    fn act(&mut self, key: &K, window: TimeWindow, result: TriggerResult, out: &mut Vec<W::Out>) {
        if result == TriggerResult::Continue {
            return;
        }
        let Some(slots) = self.state.windows.get_mut(key) else {
            return;
        };
        let Some(index) = slots.iter().position(|slot| slot.window == window) else {
            return;
        };
        if result.fires() {
            self.function.emit(key, &window, &slots[index].acc, out);
        }
        if result.purges() {
            slots[index].acc = self.function.create();
        }
    }

    /// Drops (key, window) entirely.
    fn remove_window(&mut self, key: &K, window: TimeWindow, now: Timestamp) {
        let Some(slots) = self.state.windows.get_mut(key) else {
            return;
        };
        if let Some(index) = slots.iter().position(|slot| slot.window == window) {
            let mut slot = slots.swap_remove(index);
            if slots.is_empty() {
                self.state.windows.remove(key);
            }
            let mut ctx = TriggerContext {
                watermark: self.state.watermark,
                processing_time: now,
                requests: &mut self.state.requests,
            };
            self.trigger.clear(&window, &mut slot.trigger, &mut ctx);
            self.apply_timer_requests(key, window);
        }
    }

    /// Fires the timers of `domain` due at `limit`.
    fn fire(&mut self, domain: TimeDomain, limit: Timestamp, now: Timestamp) {
        enter(self.id);
        let mut out = Vec::new();
        while let Some((time, (key, window))) = self.state.timers.queue_mut(domain).pop_due(limit) {
            let Some(slot) = self
                .state
                .windows
                .get_mut(&key)
                .and_then(|slots| slots.iter_mut().find(|slot| slot.window == window))
            else {
                continue;
            };
            let mut ctx = TriggerContext {
                watermark: self.state.watermark,
                processing_time: now,
                requests: &mut self.state.requests,
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
            self.apply_timer_requests(&key, window);
            self.act(&key, window, result, &mut out);
            if self.cleanup_time(&window) == Some(time) {
                self.remove_window(&key, window, now);
            }
        }
        self.ship(out);
    }

    fn ship(&mut self, out: Vec<W::Out>) {
        if !out.is_empty() {
            self.next.push(out);
        }
        self.side.flush();
    }

    /// Fires the processing-time timers due at `now`.
    pub(crate) fn on_processing_time(&mut self, now: Timestamp) {
        self.fire(TimeDomain::ProcessingTime, now, now);
    }

    /// The earliest processing-time timer.
    pub(crate) fn next_processing_time(&self) -> Option<Timestamp> {
        self.state.timers.next_processing_time()
    }
}

impl<T, K, KF, W, Tr> Output<T> for WindowOperator<T, K, KF, W, Tr>
where
    T: Clone + 'static,
    K: Hash + Eq + Clone,
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
        self.ship(out);
    }

    fn watermark(&mut self, watermark: Timestamp) {
        self.state.watermark = watermark;
        self.fire(TimeDomain::EventTime, watermark, processing_time_now());
        self.next.watermark(watermark);
        self.side.watermark(watermark);
    }

    fn end(&mut self) {
        // Input is over: processing-time windows fire now rather than never.
        if !self.is_event_time() {
            self.fire(
                TimeDomain::ProcessingTime,
                Timestamp::MAX,
                processing_time_now(),
            );
        }
        self.next.end();
        self.side.end();
    }
}
