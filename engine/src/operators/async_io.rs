//! Options of asynchronous I/O (Flink's `AsyncDataStream`): how many requests may be in
//! flight, in which order results leave, and what a timed-out request becomes.

use std::time::Duration;

use super::OutputTag;

/// The order results leave an async operator in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultOrder {
    /// In input order (Flink's `orderedWait`).
    Ordered,
    /// As they complete; watermarks still never overtake the records before them (Flink's
    /// `unorderedWait`).
    Unordered,
}

/// What a request that outlives its timeout becomes.
#[derive(Debug, Clone)]
pub enum TimeoutPolicy<T> {
    /// The job fails with an error naming the operator (Flink's default).
    Fail,
    /// The input record goes to this side output, and the job goes on.
    SideOutput(OutputTag<T>),
}

/// How an async operator runs its requests.
#[derive(Debug, Clone)]
pub struct AsyncOptions<T> {
    pub(crate) capacity: usize,
    pub(crate) timeout: Duration,
    pub(crate) order: ResultOrder,
    pub(crate) on_timeout: TimeoutPolicy<T>,
}

impl<T> AsyncOptions<T> {
    /// At most `capacity` requests in flight per shard (more input waits, which
    /// backpressures upstream), each given `timeout`; ordered results; timeouts fail the job.
    pub fn new(capacity: usize, timeout: Duration) -> Self {
        Self {
            capacity: capacity.max(1),
            timeout,
            order: ResultOrder::Ordered,
            on_timeout: TimeoutPolicy::Fail,
        }
    }

    /// Results leave in `order`.
    pub fn order(mut self, order: ResultOrder) -> Self {
        self.order = order;
        self
    }

    /// Timed-out requests become `policy`.
    pub fn on_timeout(mut self, policy: TimeoutPolicy<T>) -> Self {
        self.on_timeout = policy;
        self
    }
}
