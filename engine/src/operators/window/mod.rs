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
//! Session windows merge when they overlap; windows that only touch (one ends where the next
//! starts) stay apart, so a record exactly one gap after the last starts a new session. (Flink
//! merges touching sessions; NEXMARK.md's q11 asks for this rule.)

mod assigner;
mod function;
mod operator;
mod trigger;

pub use assigner::{
    global, session, sliding, tumbling, window_start, TimeWindow, WindowAssigner, WindowTime,
};
pub(crate) use function::{AggregateWindow, ProcessWindow, ReduceWindow, WindowFunction};
pub use function::{ProcessWindowFunction, Windowed};
pub(crate) use operator::{LateRecords, WindowOperator, WindowState};
pub use trigger::{
    CountTrigger, DefaultTrigger, EventTimeTrigger, ProcessingTimeTrigger, Trigger, TriggerContext,
    TriggerResult,
};
