//! Triggers: when a window's contents are emitted (fired) and when they are dropped (purged).

use std::any::Any;

use super::assigner::{TimeWindow, WindowAssigner, WindowTime};
use crate::time::Timestamp;

/// What a trigger decides for its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TriggerResult {
    /// Nothing happens.
    #[default]
    Continue,
    /// Emit the window's result; keep its contents.
    Fire,
    /// Drop the window's contents without emitting.
    Purge,
    /// Emit the window's result, then drop its contents.
    FireAndPurge,
}

impl TriggerResult {
    /// Whether the window's result is emitted.
    pub fn fires(self) -> bool {
        matches!(self, TriggerResult::Fire | TriggerResult::FireAndPurge)
    }

    /// Whether the window's contents are dropped.
    pub fn purges(self) -> bool {
        matches!(self, TriggerResult::Purge | TriggerResult::FireAndPurge)
    }
}

/// A timer a trigger asks for, for its (key, window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerRequest {
    RegisterEvent(Timestamp),
    RegisterProcessing(Timestamp),
    DeleteEvent(Timestamp),
    DeleteProcessing(Timestamp),
}

/// What a trigger sees and can do: the time, and timers for its (key, window).
pub struct TriggerContext<'a> {
    pub(crate) watermark: Timestamp,
    pub(crate) processing_time: Timestamp,
    pub(crate) requests: &'a mut Vec<TimerRequest>,
}

impl TriggerContext<'_> {
    /// The operator's watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The shard's processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.processing_time
    }

    /// Calls the trigger's `on_event_time` when the watermark reaches `time`.
    pub fn register_event_time_timer(&mut self, time: Timestamp) {
        self.requests.push(TimerRequest::RegisterEvent(time));
    }

    /// Calls the trigger's `on_processing_time` when the clock reaches `time`.
    pub fn register_processing_time_timer(&mut self, time: Timestamp) {
        self.requests.push(TimerRequest::RegisterProcessing(time));
    }

    /// Deletes an event-time timer of this window.
    pub fn delete_event_time_timer(&mut self, time: Timestamp) {
        self.requests.push(TimerRequest::DeleteEvent(time));
    }

    /// Deletes a processing-time timer of this window.
    pub fn delete_processing_time_timer(&mut self, time: Timestamp) {
        self.requests.push(TimerRequest::DeleteProcessing(time));
    }
}

/// Decides when a window fires (Flink's `Trigger`). Its `State` is kept per key and window.
pub trait Trigger<T>: Clone + Send + Sync + 'static {
    /// Per (key, window) state, such as a count.
    type State: Default + crate::state::StateData + 'static;

    /// A record was added to `window`.
    fn on_element(
        &self,
        record: &T,
        timestamp: Timestamp,
        window: &TimeWindow,
        state: &mut Self::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult;

    /// An event-time timer of `window` fired at `time`.
    fn on_event_time(
        &self,
        time: Timestamp,
        window: &TimeWindow,
        state: &mut Self::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult;

    /// A processing-time timer of `window` fired at `time`.
    fn on_processing_time(
        &self,
        time: Timestamp,
        window: &TimeWindow,
        state: &mut Self::State,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult;

    /// Session windows merged into `window`; `merged` is the state of one merged window,
    /// folded into `state` (called once per merged window).
    fn on_merge(
        &self,
        window: &TimeWindow,
        state: &mut Self::State,
        merged: Self::State,
        ctx: &mut TriggerContext<'_>,
    );

    /// The window is going away: delete its timers.
    fn clear(&self, window: &TimeWindow, state: &mut Self::State, ctx: &mut TriggerContext<'_>);
}

/// Fires a window once the watermark passes its end, and again for every late record
/// admitted by the allowed lateness (Flink's `EventTimeTrigger`).
#[derive(Debug, Clone, Copy, Default)]
pub struct EventTimeTrigger;

impl<T> Trigger<T> for EventTimeTrigger {
    type State = ();

    fn on_element(
        &self,
        _record: &T,
        _timestamp: Timestamp,
        window: &TimeWindow,
        _state: &mut (),
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if window.max_timestamp() <= ctx.current_watermark() {
            TriggerResult::Fire
        } else {
            ctx.register_event_time_timer(window.max_timestamp());
            TriggerResult::Continue
        }
    }

    fn on_event_time(
        &self,
        time: Timestamp,
        window: &TimeWindow,
        _state: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if time == window.max_timestamp() {
            TriggerResult::Fire
        } else {
            TriggerResult::Continue
        }
    }

    fn on_processing_time(
        &self,
        _time: Timestamp,
        _window: &TimeWindow,
        _state: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    fn on_merge(
        &self,
        window: &TimeWindow,
        _state: &mut (),
        _merged: (),
        ctx: &mut TriggerContext<'_>,
    ) {
        if window.max_timestamp() > ctx.current_watermark() {
            ctx.register_event_time_timer(window.max_timestamp());
        }
    }

    fn clear(&self, window: &TimeWindow, _state: &mut (), ctx: &mut TriggerContext<'_>) {
        ctx.delete_event_time_timer(window.max_timestamp());
    }
}

/// Fires a window once the wall clock passes its end (Flink's `ProcessingTimeTrigger`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessingTimeTrigger;

impl<T> Trigger<T> for ProcessingTimeTrigger {
    type State = ();

    fn on_element(
        &self,
        _record: &T,
        _timestamp: Timestamp,
        window: &TimeWindow,
        _state: &mut (),
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        ctx.register_processing_time_timer(window.max_timestamp());
        TriggerResult::Continue
    }

    fn on_event_time(
        &self,
        _time: Timestamp,
        _window: &TimeWindow,
        _state: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    fn on_processing_time(
        &self,
        _time: Timestamp,
        _window: &TimeWindow,
        _state: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Fire
    }

    fn on_merge(
        &self,
        window: &TimeWindow,
        _state: &mut (),
        _merged: (),
        ctx: &mut TriggerContext<'_>,
    ) {
        ctx.register_processing_time_timer(window.max_timestamp());
    }

    fn clear(&self, window: &TimeWindow, _state: &mut (), ctx: &mut TriggerContext<'_>) {
        ctx.delete_processing_time_timer(window.max_timestamp());
    }
}

/// Fires every `count` records (Flink's `CountTrigger`); with [`purging`](Self::purging),
/// drops the contents after each firing.
#[derive(Debug, Clone, Copy)]
pub struct CountTrigger {
    count: u64,
    purge: bool,
}

impl CountTrigger {
    /// Fires every `count` records.
    pub fn of(count: u64) -> Self {
        Self {
            count: count.max(1),
            purge: false,
        }
    }

    /// Purges the window after every firing (Flink's `PurgingTrigger.of(CountTrigger.of(n))`).
    pub fn purging(mut self) -> Self {
        self.purge = true;
        self
    }
}

impl<T> Trigger<T> for CountTrigger {
    type State = u64;

    fn on_element(
        &self,
        _record: &T,
        _timestamp: Timestamp,
        _window: &TimeWindow,
        seen: &mut u64,
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        *seen += 1;
        if *seen < self.count {
            return TriggerResult::Continue;
        }
        *seen = 0;
        if self.purge {
            TriggerResult::FireAndPurge
        } else {
            TriggerResult::Fire
        }
    }

    fn on_event_time(
        &self,
        _time: Timestamp,
        _window: &TimeWindow,
        _seen: &mut u64,
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    fn on_processing_time(
        &self,
        _time: Timestamp,
        _window: &TimeWindow,
        _seen: &mut u64,
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    fn on_merge(
        &self,
        _window: &TimeWindow,
        seen: &mut u64,
        merged: u64,
        _ctx: &mut TriggerContext<'_>,
    ) {
        *seen += merged;
    }

    fn clear(&self, _window: &TimeWindow, seen: &mut u64, _ctx: &mut TriggerContext<'_>) {
        *seen = 0;
    }
}

/// The trigger a windowed stream uses unless told otherwise: event time for event-time
/// windows, processing time for processing-time windows, never for the global window.
#[derive(Debug, Clone, Copy)]
pub struct DefaultTrigger {
    time: Option<WindowTime>,
}

impl DefaultTrigger {
    /// The default trigger of `assigner`.
    pub fn for_assigner(assigner: &WindowAssigner) -> Self {
        Self {
            time: (*assigner != WindowAssigner::Global).then(|| assigner.time()),
        }
    }
}

/// Whether `trigger` is the event-time trigger, or the default trigger of event-time windows
/// (which is the same): it fires a window when the watermark passes the window's end, and
/// otherwise only for late records within the allowed lateness. With no allowed lateness,
/// each window then fires once, with the records it holds when the watermark passes its end,
/// which is what the sliced operator computes.
pub(crate) fn fires_once_at_window_end<T, Tr: Trigger<T>>(trigger: &Tr) -> bool {
    let trigger: &dyn Any = trigger;
    trigger.is::<EventTimeTrigger>()
        || trigger
            .downcast_ref::<DefaultTrigger>()
            .is_some_and(|default| default.time == Some(WindowTime::Event))
}

macro_rules! delegate {
    ($self:ident, $method:ident($($arg:expr),*)) => {
        match $self.time {
            Some(WindowTime::Event) => <EventTimeTrigger as Trigger<T>>::$method(&EventTimeTrigger, $($arg),*),
            Some(WindowTime::Processing) => {
                <ProcessingTimeTrigger as Trigger<T>>::$method(&ProcessingTimeTrigger, $($arg),*)
            }
            None => Default::default(),
        }
    };
}

impl<T> Trigger<T> for DefaultTrigger {
    type State = ();

    fn on_element(
        &self,
        record: &T,
        timestamp: Timestamp,
        window: &TimeWindow,
        state: &mut (),
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        delegate!(self, on_element(record, timestamp, window, state, ctx))
    }

    fn on_event_time(
        &self,
        time: Timestamp,
        window: &TimeWindow,
        state: &mut (),
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        delegate!(self, on_event_time(time, window, state, ctx))
    }

    fn on_processing_time(
        &self,
        time: Timestamp,
        window: &TimeWindow,
        state: &mut (),
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        delegate!(self, on_processing_time(time, window, state, ctx))
    }

    fn on_merge(
        &self,
        window: &TimeWindow,
        state: &mut (),
        merged: (),
        ctx: &mut TriggerContext<'_>,
    ) {
        delegate!(self, on_merge(window, state, merged, ctx))
    }

    fn clear(&self, window: &TimeWindow, state: &mut (), ctx: &mut TriggerContext<'_>) {
        delegate!(self, clear(window, state, ctx))
    }
}
