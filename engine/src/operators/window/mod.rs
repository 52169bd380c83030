//! Windows: tumbling, sliding, session (merging) and global windows, in event or processing
//! time, with triggers, allowed lateness and a side output for late records.
//!
//! Per key, the operator keeps each open window's accumulator (the reduced record, an
//! aggregate's accumulator, or all records for `process`) and its trigger's state. Timers are
//! per (key, window): the trigger's own, and a cleanup timer at the window's end plus the
//! allowed lateness, when its state is dropped. A record is late when every window it
//! belongs to has been cleaned up; it then goes to the late-data side output, if there is one,
//! and is counted in `JobMetrics::late_records` either way.
//!
//! Sliding and tumbling event-time windows with an incremental function (`reduce`,
//! `aggregate`), the default (or event-time) trigger and no allowed lateness run on the sliced
//! operator instead (`sliced`): one accumulator per key and slice of `gcd(size, slide)`, the
//! slices listing the keys with records in them, and each key's slices merged into each
//! window as the watermark passes the window's end. Its results are the general operator's.
//!
//! Session windows merge when they overlap; windows that only touch (one ends where the next
//! starts) stay apart, so a record exactly one gap after the last starts a new session. (Flink
//! merges touching sessions; NEXMARK.md's q11 asks for this rule.)

mod assigner;
mod function;
mod local;
mod operator;
mod sliced;
mod trigger;

pub use assigner::{
    global, session, sliding, tumbling, window_start, TimeWindow, WindowAssigner, WindowTime,
};
pub(crate) use function::{AggregateWindow, ProcessWindow, ReduceWindow, WindowFunction};
pub use function::{ProcessWindowFunction, Windowed};
pub(crate) use local::{LocalAggregate, MergePartials, Partial};
pub(crate) use operator::{LateRecords, WindowOperator, WindowOutputs, WindowState};
pub(crate) use sliced::{SlicedState, SlicedWindowOperator, Slicing};
pub(crate) use trigger::fires_once_at_window_end;
pub use trigger::{
    CountTrigger, DefaultTrigger, EventTimeTrigger, ProcessingTimeTrigger, Trigger, TriggerContext,
    TriggerResult,
};
