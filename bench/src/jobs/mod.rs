//! The benchmark jobs, each written once per engine.

pub mod tidewater;
pub mod timely;

use crate::workload::{splitmix64, Workload};

/// Which job to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Job {
    /// Source → sink: what the engine costs per record with no shuffle.
    Passthrough,
    /// Source → key_by → rolling count and sum per key → sink.
    KeyedCount,
    /// Source → event time → key_by → sliding windows of [`SLIDING_SIZE_MS`] every
    /// [`SLIDE_MS`] → count per key and window → sink.
    SlidingCount,
    /// Source with per-key bursts → event time → key_by → session windows with a gap of
    /// [`SESSION_GAP_MS`] → count per session → sink.
    SessionCount,
    /// Orders and payments → key_by order id → interval join of each order with the payments
    /// `0..=JOIN_UPPER_MS` after it → one result per pair → sink.
    IntervalJoin,
}

impl Job {
    /// The name in the summary's `query` field.
    pub fn name(self) -> &'static str {
        match self {
            Job::Passthrough => "passthrough",
            Job::KeyedCount => "keyed-count",
            Job::SlidingCount => "sliding-count",
            Job::SessionCount => "session-count",
            Job::IntervalJoin => "interval-join",
        }
    }
}

/// Everything a job run needs to know, engine-independent.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The job.
    pub job: Job,
    /// Events to generate.
    pub events: u64,
    /// Shards (workers).
    pub shards: usize,
    /// Total events per second, if throttled.
    pub rate: Option<f64>,
    /// The event generator.
    pub workload: Workload,
    /// Where keyed state lives (Tidewater).
    pub state: StateBackend,
}

/// Where Tidewater keeps keyed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum StateBackend {
    /// Hash maps on the heap.
    #[default]
    Heap,
    /// A memory-mapped file per shard, checkpointed by changed pages.
    Mmap,
}

impl Spec {
    /// Records the sources emit in all: `events`, except for the interval join, whose
    /// `events / 2` orders and as many payments make `events` rounded down to even.
    pub fn input_records(&self) -> u64 {
        match self.job {
            Job::IntervalJoin => self.events / 2 * 2,
            _ => self.events,
        }
    }
}

/// The length of the sliding-count job's windows, in ms.
pub const SLIDING_SIZE_MS: u64 = 10_000;

/// How often a sliding-count window starts, in ms: each event is in
/// `SLIDING_SIZE_MS / SLIDE_MS` = 5 windows.
pub const SLIDE_MS: u64 = 2_000;

/// The session-count job's inactivity gap, in ms (see [`Bursts`](crate::event_time::Bursts)
/// for how the events spread over keys and time).
pub const SESSION_GAP_MS: u64 = 500;

/// An order joins the payments of its id from its own time to this many ms after it
/// (`between(0, JOIN_UPPER_MS)`); every payment comes less than
/// [`MAX_PAYMENT_DELAY_MS`](crate::event_time::MAX_PAYMENT_DELAY_MS) after its order, so
/// each order joins exactly its one payment.
pub const JOIN_UPPER_MS: u64 = 2_000;

/// The checksum contribution of one window result: `count` of `key`'s events in the window
/// `[start, end)`.
///
/// The low 32 bits carry the count and the high 32 bits a fingerprint of the whole result, so
/// that the total's low 32 bits are the sum of the counts (modulo 2³²: for sliding-count,
/// 5 × the events; for session-count, the events) and its high bits change if any result's
/// key, window or count does. The sum does not depend on the order results arrive in.
#[inline]
pub fn window_checksum(key: u64, start: i64, end: i64, count: u64) -> u64 {
    let fingerprint =
        splitmix64(key ^ splitmix64(start as u64 ^ splitmix64(end as u64 ^ splitmix64(count))));
    (fingerprint << 32).wrapping_add(count)
}

/// The checksum contribution of one interval-join pair: 1, so the total is the number of
/// pairs (every order has one payment, so that is the number of orders).
#[inline]
pub fn join_pair_checksum() -> u64 {
    1
}

/// The checksum contribution of one passthrough result: its key and value.
#[inline]
pub fn passthrough_checksum(key: u64, value: u64) -> u64 {
    key.wrapping_mul(31).wrapping_add(value)
}

/// The checksum contribution of one keyed-count result. The running count emitted per record
/// adds up to `1 + 2 + … + n` per key whatever order the key's records arrive in, so the total
/// is the same for every engine and shard count.
#[inline]
pub fn keyed_count_checksum(count: u64) -> u64 {
    count
}
