//! Event time: timestamps and watermarks.
//!
//! Timestamps are milliseconds since the Unix epoch, as in Flink. A watermark `w` on a channel
//! promises that no record with a timestamp `<= w` follows on it; an operator's watermark is
//! the minimum over its input channels ([`WatermarkCombiner`]), and a finished channel no
//! longer holds it back.

mod timers;
mod watermark;

pub use timers::{TimeIndex, TimerQueue};
pub use watermark::{BoundedOutOfOrderness, WatermarkCombiner};

/// Event time in milliseconds since the Unix epoch.
pub type Timestamp = i64;

/// The shard's processing time: the wall clock, in milliseconds since the Unix epoch.
pub fn processing_time_now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as Timestamp)
}
