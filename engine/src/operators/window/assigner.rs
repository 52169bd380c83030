//! Window assigners: which windows a record belongs to.

use std::time::Duration;

use crate::time::Timestamp;

/// A window of time: `start` inclusive, `end` exclusive, in milliseconds since the epoch.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct TimeWindow {
    /// The first millisecond in the window.
    pub start: Timestamp,
    /// The first millisecond after the window.
    pub end: Timestamp,
}

impl TimeWindow {
    /// The window `[start, end)`.
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        Self { start, end }
    }

    /// The global window, which holds everything.
    pub fn global() -> Self {
        Self::new(Timestamp::MIN, Timestamp::MAX)
    }

    /// The largest timestamp in the window: when the event-time trigger fires it.
    pub fn max_timestamp(&self) -> Timestamp {
        self.end.saturating_sub(1)
    }

    /// Whether the two windows share a millisecond (touching windows do not).
    pub fn overlaps(&self, other: &TimeWindow) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The smallest window covering both.
    pub fn cover(&self, other: &TimeWindow) -> TimeWindow {
        TimeWindow::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// Which clock a window assigner reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowTime {
    /// The record's event time; windows fire as the watermark passes them.
    Event,
    /// The shard's wall clock at arrival; windows fire as the clock passes them.
    Processing,
}

/// Where records go: fixed-size, overlapping, per-key activity sessions, or one global window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowAssigner {
    /// Fixed-size, non-overlapping windows aligned to epoch 0 plus `offset`.
    Tumbling {
        /// The window length in ms.
        size: i64,
        /// The alignment offset in ms.
        offset: i64,
        /// The clock.
        time: WindowTime,
    },
    /// Windows of `size` starting every `slide`, so a record is in `size / slide` of them.
    Sliding {
        /// The window length in ms.
        size: i64,
        /// The distance between window starts in ms.
        slide: i64,
        /// The alignment offset in ms.
        offset: i64,
        /// The clock.
        time: WindowTime,
    },
    /// Per key, records less than `gap` apart share a session: `[first, last + gap)`.
    Session {
        /// The inactivity gap in ms.
        gap: i64,
        /// The clock.
        time: WindowTime,
    },
    /// One window for everything; it fires only through a trigger (such as a count).
    Global,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Tumbling windows of `size`, in event time (Flink's `TumblingEventTimeWindows.of`).
pub fn tumbling(size: Duration) -> WindowAssigner {
    WindowAssigner::Tumbling {
        size: millis(size).max(1),
        offset: 0,
        time: WindowTime::Event,
    }
}

/// Sliding windows of `size` every `slide`, in event time.
pub fn sliding(size: Duration, slide: Duration) -> WindowAssigner {
    WindowAssigner::Sliding {
        size: millis(size).max(1),
        slide: millis(slide).max(1),
        offset: 0,
        time: WindowTime::Event,
    }
}

/// Session windows closing after `gap` of inactivity per key, in event time.
pub fn session(gap: Duration) -> WindowAssigner {
    WindowAssigner::Session {
        gap: millis(gap).max(1),
        time: WindowTime::Event,
    }
}

/// The global window (use it with a trigger, such as [`CountTrigger`](super::CountTrigger)).
pub fn global() -> WindowAssigner {
    WindowAssigner::Global
}

impl WindowAssigner {
    /// The same windows on the processing-time clock.
    pub fn processing_time(self) -> Self {
        self.with_time(WindowTime::Processing)
    }

    /// The same windows shifted by `offset` from epoch alignment (e.g. for time zones).
    pub fn with_offset(mut self, new_offset: Duration) -> Self {
        match &mut self {
            WindowAssigner::Tumbling { offset, .. } | WindowAssigner::Sliding { offset, .. } => {
                *offset = millis(new_offset);
            }
            WindowAssigner::Session { .. } | WindowAssigner::Global => {}
        }
        self
    }

    fn with_time(mut self, clock: WindowTime) -> Self {
        match &mut self {
            WindowAssigner::Tumbling { time, .. }
            | WindowAssigner::Sliding { time, .. }
            | WindowAssigner::Session { time, .. } => *time = clock,
            WindowAssigner::Global => {}
        }
        self
    }

    /// The clock this assigner reads (the global window has none of its own; its triggers do).
    pub fn time(&self) -> WindowTime {
        match self {
            WindowAssigner::Tumbling { time, .. }
            | WindowAssigner::Sliding { time, .. }
            | WindowAssigner::Session { time, .. } => *time,
            WindowAssigner::Global => WindowTime::Event,
        }
    }

    /// Whether records need event timestamps (event-time windows other than the global one).
    pub fn needs_event_time(&self) -> bool {
        self.time() == WindowTime::Event && *self != WindowAssigner::Global
    }

    /// Whether windows of this assigner merge (sessions).
    pub fn is_merging(&self) -> bool {
        matches!(self, WindowAssigner::Session { .. })
    }

    /// Calls `each` with every window a record at `timestamp` belongs to (before merging).
    #[inline]
    pub fn assign(&self, timestamp: Timestamp, mut each: impl FnMut(TimeWindow)) {
        match *self {
            WindowAssigner::Tumbling { size, offset, .. } => {
                let start = window_start(timestamp, offset, size);
                each(TimeWindow::new(start, start.saturating_add(size)));
            }
            WindowAssigner::Sliding {
                size,
                slide,
                offset,
                ..
            } => {
                let last_start = window_start(timestamp, offset, slide);
                let mut start = last_start;
                while start > timestamp.saturating_sub(size) {
                    each(TimeWindow::new(start, start.saturating_add(size)));
                    start -= slide;
                }
            }
            WindowAssigner::Session { gap, .. } => {
                each(TimeWindow::new(timestamp, timestamp.saturating_add(gap)));
            }
            WindowAssigner::Global => each(TimeWindow::global()),
        }
    }
}

/// The start of the window of length `size` (aligned to `offset`) that holds `timestamp`, as
/// Flink's `TimeWindow.getWindowStartWithOffset`, correct for negative timestamps too.
pub fn window_start(timestamp: Timestamp, offset: i64, size: i64) -> Timestamp {
    timestamp - (timestamp - offset).rem_euclid(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(assigner: WindowAssigner, timestamp: Timestamp) -> Vec<TimeWindow> {
        let mut out = Vec::new();
        assigner.assign(timestamp, |w| out.push(w));
        out.sort();
        out
    }

    #[test]
    fn tumbling_windows_are_aligned_and_hold_their_start() {
        let assigner = tumbling(Duration::from_secs(10));
        assert_eq!(windows(assigner, 0), vec![TimeWindow::new(0, 10_000)]);
        assert_eq!(windows(assigner, 9_999), vec![TimeWindow::new(0, 10_000)]);
        assert_eq!(
            windows(assigner, 10_000),
            vec![TimeWindow::new(10_000, 20_000)]
        );
        assert_eq!(windows(assigner, -1), vec![TimeWindow::new(-10_000, 0)]);
    }

    #[test]
    fn sliding_windows_cover_the_record_size_over_slide_times() {
        let assigner = sliding(Duration::from_secs(10), Duration::from_secs(2));
        let got = windows(assigner, 11_000);
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|w| w.start <= 11_000 && 11_000 < w.end));
        assert_eq!(got[0], TimeWindow::new(2_000, 12_000));
        assert_eq!(got[4], TimeWindow::new(10_000, 20_000));
    }

    #[test]
    fn touching_windows_do_not_overlap() {
        let a = TimeWindow::new(0, 10);
        assert!(!a.overlaps(&TimeWindow::new(10, 20)));
        assert!(a.overlaps(&TimeWindow::new(9, 20)));
        assert_eq!(a.cover(&TimeWindow::new(5, 30)), TimeWindow::new(0, 30));
    }
}
