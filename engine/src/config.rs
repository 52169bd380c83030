//! Job configuration.

use std::time::Duration;

use crate::checkpoint::CheckpointConfig;
use crate::error::JobError;
use crate::exchange::partition::DEFAULT_MAX_KEY_GROUPS;

/// Whether shards are pinned to cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pinning {
    /// Pin shard `i` to the `i`-th core when there are at least as many cores as shards;
    /// otherwise leave them unpinned (tests with more shards than cores).
    Auto,
    /// Pin, and refuse to start if there are more shards than cores.
    Always,
    /// Never pin.
    Never,
}

/// How a job runs: shard count, batching, flow control.
#[derive(Debug, Clone)]
pub struct JobConfig {
    pub(crate) shards: usize,
    pub(crate) pinning: Pinning,
    pub(crate) max_key_groups: u32,
    pub(crate) batch_size: usize,
    pub(crate) channel_credits: usize,
    pub(crate) spin_before_park: Duration,
    pub(crate) buffer_timeout: Duration,
    pub(crate) batching: Batching,
    pub(crate) io_memory: usize,
    pub(crate) checkpointing: Option<CheckpointConfig>,
    pub(crate) state_dir: std::path::PathBuf,
    pub(crate) watermark_alignment: Option<Duration>,
}

impl Default for JobConfig {
    fn default() -> Self {
        Self {
            shards: available_cores(),
            pinning: Pinning::Auto,
            max_key_groups: DEFAULT_MAX_KEY_GROUPS,
            batch_size: 1024,
            channel_credits: 8,
            spin_before_park: Duration::from_micros(50),
            buffer_timeout: Duration::from_micros(100),
            batching: Batching::Throughput,
            io_memory: 64 << 10,
            checkpointing: None,
            state_dir: std::env::temp_dir().join("tidewater-state"),
            watermark_alignment: None,
        }
    }
}

/// How records are batched between stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Batching {
    /// Batches fill up to the batch size; a partial batch ships when its stage runs out of
    /// input or after the buffer timeout. Most records per second.
    #[default]
    Throughput,
    /// Additionally, after every input batch a stage ships each partial batch whose receiver
    /// has taken everything sent before: a waiting receiver gets records at once, a busy one
    /// still gets batches. Lowest latency at moderate load.
    Latency,
}

/// The number of cores this process may run on.
pub fn available_cores() -> usize {
    core_affinity::get_core_ids().map_or(1, |ids| ids.len().max(1))
}

impl JobConfig {
    /// The number of shards (parallelism). Default: one per available core.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// Whether shards are pinned to cores. Default: [`Pinning::Auto`].
    pub fn pinning(mut self, pinning: Pinning) -> Self {
        self.pinning = pinning;
        self
    }

    /// The number of key groups, the unit in which keyed state moves between shards.
    /// Default 4096. It is fixed for the life of a job's state.
    pub fn max_key_groups(mut self, groups: u32) -> Self {
        self.max_key_groups = groups;
        self
    }

    /// Records per batch on exchanges. Default 1024.
    pub fn batch_size(mut self, records: usize) -> Self {
        self.batch_size = records;
        self
    }

    /// Batch slots (credits) per channel. Default 8.
    pub fn channel_credits(mut self, credits: usize) -> Self {
        self.channel_credits = credits;
        self
    }

    /// How long an idle shard spins before it sleeps: longer lowers wake-up latency and burns
    /// more CPU. Default 50 µs.
    pub fn spin_before_park(mut self, spin: Duration) -> Self {
        self.spin_before_park = spin;
        self
    }

    /// Aligns the shards' watermarks (Flink's `withWatermarkAlignment`): a source whose
    /// shard's watermark, as `assign_timestamps` on the source's stage makes it, runs more
    /// than `max_drift` ahead of the slowest shard's pauses reading until the others catch
    /// up. Without it, a shard that is a little faster than another for a whole run piles
    /// up state in every window and join downstream, since they keep its records until the
    /// slow shard's watermark passes them. Shards whose source is idle (see
    /// `Source::idle_timeout`) or over hold no one back. Default: off.
    pub fn watermark_alignment(mut self, max_drift: Duration) -> Self {
        self.watermark_alignment = Some(max_drift);
        self
    }

    /// Throughput-first or latency-first batching (see [`Batching`]). Default: throughput.
    pub fn batching(mut self, batching: Batching) -> Self {
        self.batching = batching;
        self
    }

    /// The longest a partial batch waits for more records before it is shipped anyway while
    /// its stage is busy (Flink's buffer timeout; an idle stage ships at once). Default 100 µs:
    /// it bounds the batching delay without shrinking batches under full load.
    pub fn buffer_timeout(mut self, timeout: Duration) -> Self {
        self.buffer_timeout = timeout;
        self
    }

    /// Takes checkpoints as `checkpoints` says (Flink's `enableCheckpointing`). Default: none.
    pub fn checkpointing(mut self, checkpoints: CheckpointConfig) -> Self {
        self.checkpointing = Some(checkpoints);
        self
    }

    /// Where memory-mapped state files live (working files, removed when the job ends; the
    /// durable copy is in the checkpoints). Default: `tidewater-state` in the temp folder.
    pub fn state_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.state_dir = dir.into();
        self
    }

    /// How the job checkpoints, if it does.
    pub fn checkpoint_config(&self) -> Option<&CheckpointConfig> {
        self.checkpointing.as_ref()
    }

    /// The number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards
    }

    /// The most records one exchange edge can hold in its channels:
    /// `shards² × credits × batch_size` (the ring slot count is a power of two at least
    /// `credits`).
    pub fn exchange_capacity_records(&self) -> usize {
        self.shards * self.shards * self.channel_credits.next_power_of_two() * self.batch_size
    }

    pub(crate) fn validate(&self) -> Result<(), JobError> {
        let fail = |message: String| Err(JobError::Config(message));
        if self.shards == 0 || self.shards > usize::from(u16::MAX) {
            return fail(format!("shards must be 1..=65535, got {}", self.shards));
        }
        if self.max_key_groups == 0 || (self.max_key_groups as usize) < self.shards {
            return fail(format!(
                "max_key_groups ({}) must be at least the number of shards ({})",
                self.max_key_groups, self.shards
            ));
        }
        if self.batch_size == 0 || self.channel_credits == 0 {
            return fail("batch_size and channel_credits must be at least 1".into());
        }
        if self.pinning == Pinning::Always && self.shards > available_cores() {
            return fail(format!(
                "cannot pin {} shards to {} cores",
                self.shards,
                available_cores()
            ));
        }
        Ok(())
    }

    /// The core shard `shard` is pinned to, if any.
    pub(crate) fn core_of(&self, shard: usize) -> Option<usize> {
        let pin = match self.pinning {
            Pinning::Never => false,
            Pinning::Always => true,
            Pinning::Auto => self.shards <= available_cores(),
        };
        if !pin {
            return None;
        }
        core_affinity::get_core_ids().and_then(|ids| ids.get(shard).map(|id| id.id))
    }
}
