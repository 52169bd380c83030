//! Job metrics: counters that any thread may read while the job runs.
//!
//! Each shard updates its own cache-padded counters once per batch, so counting costs no
//! cross-core traffic on the record path.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

/// One shard's counters.
#[derive(Debug, Default)]
pub struct ShardCounters {
    /// Records emitted by this shard's sources.
    pub source_records: AtomicU64,
    /// Records taken by this shard's sinks.
    pub sink_records: AtomicU64,
    /// Records that came too late for every window they belonged to (Flink's
    /// `numLateRecordsDropped`); with a late-data side output they went there instead.
    pub late_records: AtomicU64,
}

impl ShardCounters {
    #[inline]
    pub(crate) fn add(counter: &AtomicU64, records: usize) {
        counter.fetch_add(records as u64, Ordering::Relaxed);
    }
}

/// The counters of a running or finished job.
#[derive(Debug)]
pub struct JobMetrics {
    shards: Box<[CachePadded<ShardCounters>]>,
    /// Checkpoints completed so far (the coordinator counts them).
    pub(crate) checkpoints_completed: AtomicU64,
    /// Checkpoints failed so far.
    pub(crate) checkpoints_failed: AtomicU64,
    /// When the job started.
    started: std::time::Instant,
    /// Nanoseconds from the start until the last shard had built its operators (restored
    /// its state) and could process records.
    ready_ns: AtomicU64,
}

impl JobMetrics {
    pub(crate) fn new(shards: usize) -> Self {
        Self {
            shards: (0..shards).map(|_| CachePadded::default()).collect(),
            checkpoints_completed: AtomicU64::new(0),
            checkpoints_failed: AtomicU64::new(0),
            started: std::time::Instant::now(),
            ready_ns: AtomicU64::new(0),
        }
    }

    /// A shard has built its operators (restored state included) and is ready to process.
    pub(crate) fn mark_ready(&self) {
        let elapsed = self.started.elapsed().as_nanos() as u64;
        self.ready_ns.fetch_max(elapsed, Ordering::AcqRel);
    }

    /// How long after the start every shard was ready to process records: the time a
    /// restore takes to map the state back (zero until then).
    pub fn ready_after(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.ready_ns.load(Ordering::Acquire))
    }

    /// Checkpoints completed so far.
    pub fn checkpoints_completed(&self) -> u64 {
        self.checkpoints_completed.load(Ordering::Acquire)
    }

    /// Checkpoints that failed so far.
    pub fn checkpoints_failed(&self) -> u64 {
        self.checkpoints_failed.load(Ordering::Acquire)
    }

    /// The counters of `shard`.
    pub fn shard(&self, shard: usize) -> &ShardCounters {
        &self.shards[shard]
    }

    /// Records emitted by all sources so far.
    pub fn source_records(&self) -> u64 {
        self.sum(|shard| &shard.source_records)
    }

    /// Records taken by all sinks so far.
    pub fn sink_records(&self) -> u64 {
        self.sum(|shard| &shard.sink_records)
    }

    /// Records too late for their windows so far.
    pub fn late_records(&self) -> u64 {
        self.sum(|shard| &shard.late_records)
    }

    fn sum(&self, counter: impl Fn(&ShardCounters) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|shard| counter(shard).load(Ordering::Relaxed))
            .sum()
    }
}
