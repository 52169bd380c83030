//! Checkpoints: Flink's asynchronous barrier snapshots, for exactly-once recovery.
//!
//! A [coordinator](coordinator) thread asks the sources for barrier `n` every interval. Each
//! source stage records its split's offset and sends the barrier down its chain, in order with
//! its records; a stage with several input channels *aligns*: it stops reading a channel that
//! delivered barrier `n` until every channel has. As the barrier passes an operator, the
//! operator copies its state into the stage's [`StageSnapshot`] (a copy in memory: the data
//! path never waits for the disk), and the stage hands the snapshot to the coordinator. The
//! coordinator writes each snapshot as one checksummed file, and once every stage of every
//! shard has acknowledged, writes the manifest atomically: only then is `n` complete, and only
//! then do the transactional sinks' files for `n` become visible.
//!
//! On restart with [`CheckpointConfig::restore`], the newest complete checkpoint whose files
//! all check out is chosen (a damaged one is skipped for the one before, with a warning),
//! the sources seek to its offsets and every operator starts from its state.
//!
//! - [`storage`]: the file operations, behind a trait tests can make fail.
//! - [`format`]: the checksummed framing of every file.
//! - [`manifest`]: what a checkpoint holds; atomic write; checks before use.
//! - `coordinator`: triggering, collecting acknowledgements, completing, retaining.
//! - `restore`: choosing the checkpoint to resume from.
//!
//! A stage that reaches the end of its input (a source stage whose split ran out, say) tells
//! the coordinator, and checkpoints go on without it (Flink's checkpoints after tasks
//! finished): each saves for it its sources' offsets at their end and nothing of its
//! flushed operators, and the first one commits its last output; a run restored from one
//! finds the stage finished. The job's end is a *final* checkpoint, taken when every stage
//! has finished, which commits the sinks' last files.
//!
//! What each operator saves: sources their split's offset; keyed aggregations their
//! entries (as deltas on the newest completed checkpoint: the keys or pages changed since,
//! see `state::chain`); windows (general and sliced) their open windows or slices, trigger state,
//! timers and watermark; keyed process functions their timers, watermark and the keyed state
//! they name in `states` (see [`crate::state::KeyedStates`]), broadcast functions also their
//! broadcast state; interval joins both buffers; the async operator lets the barrier pass
//! only once every request before it has completed. Keyed state is saved per key, and
//! restored keeping the keys the shard owns, so it can move to another shard count.
//! Non-keyed process functions keep no checkpointed state (their fields are not saved, as in
//! Flink).

pub(crate) mod coordinator;
pub mod crash;
pub mod format;
pub mod manifest;
pub mod paged;
pub(crate) mod restore;
pub(crate) mod shard;
pub mod storage;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use storage::{FsStorage, MemoryStorage, Storage};

/// Why a checkpoint could not be taken or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file operation failed.
    #[error("checkpoint file `{0}`: {1}")]
    Io(String, #[source] std::io::Error),
    /// A file is damaged: its framing, checksum or size is wrong.
    #[error("checkpoint file `{file}` is damaged at byte {offset}: {what}")]
    Corrupt {
        /// The file.
        file: String,
        /// Where the damage was noticed.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// State could not be encoded.
    #[error("cannot encode a checkpoint: {0}")]
    Encode(String),
    /// The checkpoint cannot be restored by this job.
    #[error("cannot restore checkpoint {checkpoint}: {why}")]
    Incompatible {
        /// The checkpoint.
        checkpoint: u64,
        /// Why.
        why: String,
    },
}

/// What a job does when a checkpoint fails (a full disk, an fsync error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCheckpointFailure {
    /// Log it, keep running on the previous complete checkpoint, and try again at the next
    /// interval (Flink's tolerable checkpoint failures, unbounded).
    Continue,
    /// Fail the job.
    FailJob,
}

/// How a job checkpoints (Flink's `CheckpointConfig`).
#[derive(Clone)]
pub struct CheckpointConfig {
    pub(crate) dir: PathBuf,
    pub(crate) interval: Duration,
    pub(crate) retain: usize,
    pub(crate) restore: bool,
    pub(crate) on_failure: OnCheckpointFailure,
    pub(crate) storage: Option<Arc<dyn Storage>>,
    pub(crate) stop_at: Option<(PathBuf, u64)>,
    pub(crate) from_savepoint: Option<PathBuf>,
}

impl std::fmt::Debug for CheckpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointConfig")
            .field("dir", &self.dir)
            .field("interval", &self.interval)
            .field("retain", &self.retain)
            .field("restore", &self.restore)
            .field("on_failure", &self.on_failure)
            .field("stop_at", &self.stop_at)
            .field("from_savepoint", &self.from_savepoint)
            .finish_non_exhaustive()
    }
}

impl CheckpointConfig {
    /// Checkpoints into the folder `dir` (created if needed, locked while the job runs)
    /// every second, keeping the newest 3, starting afresh.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            interval: Duration::from_secs(1),
            retain: 3,
            restore: false,
            on_failure: OnCheckpointFailure::Continue,
            storage: None,
            stop_at: None,
            from_savepoint: None,
        }
    }

    /// Stops the job with a savepoint (Flink's stop-with-savepoint): every source stops at
    /// the global position `position` (a generator's record index, a file's byte offset —
    /// see [`Source::split_range`](crate::connectors::Source::split_range)), then a full
    /// snapshot is written into the empty folder `dir`, its output committed, and the job
    /// ends successfully without flushing its windows. Every source must support positions.
    pub fn stop_with_savepoint(mut self, dir: impl Into<PathBuf>, position: u64) -> Self {
        self.stop_at = Some((dir.into(), position));
        self
    }

    /// Starts from the savepoint in `dir` (on any shard count: keyed state moves with its
    /// key groups, and the sources start at the savepoint's stop position). A checkpoint of
    /// this run, when told to restore, takes precedence.
    pub fn from_savepoint(mut self, dir: impl Into<PathBuf>) -> Self {
        self.from_savepoint = Some(dir.into());
        self
    }

    /// The time between the completion of one checkpoint and the start of the next.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How many complete checkpoints to keep (at least 2, so that a damaged newest one
    /// still leaves one to fall back on).
    pub fn retain(mut self, checkpoints: usize) -> Self {
        self.retain = checkpoints.max(2);
        self
    }

    /// Whether to resume from the newest complete checkpoint in the folder (Flink's restore
    /// from a retained checkpoint); with none there, the job starts afresh.
    pub fn restore(mut self, restore: bool) -> Self {
        self.restore = restore;
        self
    }

    /// What a failed checkpoint does to the job. Default: [`OnCheckpointFailure::Continue`].
    pub fn on_failure(mut self, policy: OnCheckpointFailure) -> Self {
        self.on_failure = policy;
        self
    }

    /// Uses `storage` instead of the folder (tests inject faults this way).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Opens the storage: the given one, or the locked folder.
    pub(crate) fn open_storage(&self) -> Result<Arc<dyn Storage>, CheckpointError> {
        match &self.storage {
            Some(storage) => Ok(storage.clone()),
            None => FsStorage::open(&self.dir)
                .map(|storage| Arc::new(storage) as Arc<dyn Storage>)
                .map_err(|e| CheckpointError::Io(self.dir.display().to_string(), e)),
        }
    }
}

/// One operator's state in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StatePart {
    /// The operator (its index in the job).
    pub(crate) operator: u32,
    /// Its encoded state (as one byte string: copied, not encoded byte by byte).
    #[serde(with = "serde_bytes")]
    pub(crate) bytes: Vec<u8>,
    /// For a delta (a paged store's changed pages): the checkpoint whose part of the same
    /// operator and shard it applies on.
    pub(crate) base: Option<u64>,
}

/// What one stage on one shard contributes to a checkpoint, gathered as the barrier passes
/// its operators.
#[derive(Debug, Default)]
pub(crate) struct StageSnapshot {
    /// The checkpoint (0 for the final one, which carries only commits).
    pub(crate) checkpoint: u64,
    /// The newest checkpoint known complete when the barrier passed, which incremental
    /// state may save a delta on (0: save everything — always so for a savepoint, which must
    /// stand alone).
    pub(crate) completed: u64,
    /// The operators' state.
    pub(crate) parts: Vec<StatePart>,
    /// The transactional sinks' files to commit when the checkpoint completes.
    pub(crate) commits: Vec<PathBuf>,
}

impl StageSnapshot {
    /// An empty snapshot for `checkpoint`.
    pub(crate) fn new(checkpoint: u64) -> Self {
        Self {
            checkpoint,
            ..Self::default()
        }
    }

    /// Adds `value`, encoded, as the state of `operator`.
    pub(crate) fn add<S: Serialize>(&mut self, operator: u32, value: &S) {
        self.add_on(operator, value, None);
    }

    /// Adds `value`, encoded, as the state of `operator`: whole, or a delta on checkpoint
    /// `base`.
    pub(crate) fn add_on<S: Serialize>(&mut self, operator: u32, value: &S, base: Option<u64>) {
        let bytes = postcard::to_stdvec(value)
            .unwrap_or_else(|e| panic!("cannot encode the operator's state: {e}"));
        self.add_bytes(operator, bytes, base);
    }

    /// Adds already encoded state of `operator`: whole, or a delta on checkpoint `base`.
    pub(crate) fn add_bytes(&mut self, operator: u32, bytes: Vec<u8>, base: Option<u64>) {
        self.parts.push(StatePart {
            operator,
            bytes,
            base,
        });
    }
}

/// The stage files of one checkpoint, as written (read back in place by `restore`).
#[derive(Debug, Serialize)]
pub(crate) struct StageFile {
    pub(crate) shard: u32,
    pub(crate) stage: u32,
    pub(crate) parts: Vec<StatePart>,
}

/// What a job's checkpoints did.
#[derive(Debug, Clone, Default)]
pub struct CheckpointStats {
    /// Checkpoints completed (the final one included).
    pub completed: u64,
    /// Checkpoints that failed (I/O errors) or were abandoned.
    pub failed: u64,
    /// Bytes written to the checkpoint folder.
    pub bytes_written: u64,
    /// Per completed checkpoint, from the request to the durable manifest.
    pub durations: Vec<Duration>,
    /// Per completed checkpoint, the bytes it wrote.
    pub sizes: Vec<u64>,
    /// The checkpoint the job resumed from, if it restored one.
    pub restored_from: Option<u64>,
    /// The savepoint the job stopped with, if it did.
    pub savepoint: Option<u64>,
}

impl CheckpointStats {
    /// Counts a completed checkpoint that took `duration` and wrote `bytes`.
    pub(crate) fn record(&mut self, duration: Duration, bytes: u64) {
        self.completed += 1;
        self.bytes_written += bytes;
        self.durations.push(duration);
        self.sizes.push(bytes);
    }

    /// The `q`-quantile (0..=1) of the checkpoint durations, if any completed.
    pub fn duration_quantile(&self, q: f64) -> Option<Duration> {
        let mut sorted = self.durations.clone();
        sorted.sort_unstable();
        let last = sorted.len().checked_sub(1)?;
        Some(sorted[((last as f64) * q.clamp(0.0, 1.0)).round() as usize])
    }
}
