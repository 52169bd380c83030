//! The benchmark jobs, each written once per engine.

pub mod tidewater;
pub mod timely;

use crate::workload::Workload;

/// Which job to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Job {
    /// Source → sink: what the engine costs per record with no shuffle.
    Passthrough,
    /// Source → key_by → rolling count and sum per key → sink.
    KeyedCount,
}

impl Job {
    /// The name in the summary's `query` field.
    pub fn name(self) -> &'static str {
        match self {
            Job::Passthrough => "passthrough",
            Job::KeyedCount => "keyed-count",
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
