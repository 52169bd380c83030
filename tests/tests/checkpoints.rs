//! Checkpoints in process: fallback past damaged checkpoints, full disks and fsync errors,
//! power loss of the checkpoint storage, and the restores checkpoints refuse.
//!
//! The job: a keyed running count of generated records into the transactional file sink
//! (one `key count` line per record), checkpointed into a [`MemoryStorage`] that the tests
//! damage. Its exact output is known, so every restart is checked for lost and repeated
//! lines.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tidewater::checkpoint::manifest::{manifest_name, Manifest};
use tidewater::checkpoint::storage::{Fault, PowerLoss};
use tidewater::checkpoint::{MemoryStorage, OnCheckpointFailure, Storage};
use tidewater::operators::{Context, KeyedProcessFunction};
use tidewater::prelude::*;
use tidewater::state::{KeyedStates, ValueState};
use tidewater::{JobHandle, JobReport};
use tidewater_tests::{committed_lines, count_line, join_within, running_count_lines, wait_until};

const LIMIT: Duration = Duration::from_secs(60);
const EVENTS: u64 = 30_000;
const KEYS: u64 = 97;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tw-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Starts the counting job; `rate` throttles it so that it lives through several
/// checkpoints.
fn start(
    out: &Path,
    checkpoints: CheckpointConfig,
    rate: Option<f64>,
    shards: usize,
) -> Result<JobHandle, JobError> {
    let env = Env::new(
        JobConfig::default()
            .shards(shards)
            .pinning(Pinning::Never)
            .checkpointing(checkpoints),
    );
    let source = Generator::new(EVENTS, key_of);
    let source = match rate {
        Some(rate) => source.rate_limited(rate),
        None => source,
    };
    env.from_source(source)
        .key_by(|key: &u64| *key)
        .count()
        .sink_to_files(FileSink::new(out, count_line));
    env.execute_async()
}

fn config(storage: &Arc<MemoryStorage>) -> CheckpointConfig {
    CheckpointConfig::new("unused")
        .storage(storage.clone())
        .interval(Duration::from_millis(20))
}

/// The key of the counting job's record `i`.
fn key_of(i: u64) -> u64 {
    (i * 31 + i / 7) % KEYS
}

fn expected() -> Vec<String> {
    running_count_lines((0..EVENTS).map(key_of))
}

/// Asserts that the committed output is exactly the expected one, reporting lost and
/// repeated lines briefly.
fn assert_exact(out: &Path, case: &str) {
    let (mut got, want) = (committed_lines(out), expected());
    if got == want {
        return;
    }
    let mut missing = Vec::new();
    for line in &want {
        match got.iter().position(|g| g == line) {
            Some(at) => {
                got.swap_remove(at);
            }
            None => missing.push(line.clone()),
        }
    }
    missing.truncate(5);
    got.truncate(5);
    panic!("{case}: output not exact; lost (first 5): {missing:?}; repeated or extra (first 5): {got:?}");
}

/// Runs the job until `checkpoints` have completed, then cancels it (a crash, as far as the
/// checkpoint folder and the output are concerned).
fn run_and_cancel(out: &Path, storage: &Arc<MemoryStorage>, checkpoints: u64) {
    let handle = start(out, config(storage), Some(15_000.0), 2).unwrap();
    let metrics = handle.metrics().clone();
    wait_until("checkpoints", || {
        metrics.checkpoints_completed() >= checkpoints
    });
    handle.cancel();
    assert_eq!(join_within(handle, LIMIT).unwrap_err(), JobError::Cancelled);
}

/// Restarts the job from `storage` and runs it to its end.
fn restore(out: &Path, storage: &Arc<MemoryStorage>) -> JobReport {
    let handle = start(out, config(storage).restore(true), None, 2).unwrap();
    join_within(handle, LIMIT).unwrap()
}

/// Checkpoint `checkpoint`'s state files, largest first.
fn state_files(storage: &MemoryStorage, checkpoint: u64) -> Vec<String> {
    let prefix = format!("chk-{checkpoint:010}-");
    let mut files: Vec<String> = storage
        .list()
        .unwrap()
        .into_iter()
        .filter(|name| name.starts_with(&prefix))
        .collect();
    files.sort_by_key(|name| std::cmp::Reverse(storage.size(name).unwrap()));
    files
}

/// Every kind of damage to the newest checkpoint is detected, the one before is restored,
/// and the output is still exact.
#[test]
fn damaged_checkpoints_are_detected_and_skipped() {
    type Damage = fn(&MemoryStorage, u64);
    let campaign: [(&str, Damage); 8] = [
        ("bit flip", |s, id| {
            s.corrupt(&state_files(s, id)[0], |b| b[60] ^= 0x10)
        }),
        ("overwritten bytes", |s, id| {
            s.corrupt(&state_files(s, id)[0], |b| b[32..48].fill(0xAB))
        }),
        ("truncation", |s, id| {
            s.corrupt(&state_files(s, id)[0], |b| b.truncate(b.len() - 3))
        }),
        ("deleted file", |s, id| {
            s.remove(&state_files(s, id)[2]).unwrap()
        }),
        ("two files swapped", |s, id| {
            let files = state_files(s, id);
            let (a, b) = (s.read(&files[0]).unwrap(), s.read(&files[3]).unwrap());
            s.corrupt(&files[0], |bytes| *bytes = b);
            s.corrupt(&files[3], |bytes| *bytes = a);
        }),
        ("older valid version", |s, id| {
            // The same shard and stage's file of the checkpoint before.
            let newer = state_files(s, id)[0].clone();
            let older_name = newer.replace(&format!("{id:010}"), &format!("{:010}", id - 1));
            let older = s.read(&older_name).unwrap();
            s.corrupt(&newer, |bytes| *bytes = older);
        }),
        ("damaged manifest", |s, id| {
            s.corrupt(&manifest_name(id), |b| b[50] ^= 1)
        }),
        ("truncated manifest", |s, id| {
            s.corrupt(&manifest_name(id), |b| b.truncate(20))
        }),
    ];
    let mut detected = 0;
    for (name, damage) in campaign {
        let out = scratch("damage");
        let storage = Arc::new(MemoryStorage::new());
        run_and_cancel(&out, &storage, 3);
        let newest = Manifest::ids(&*storage).unwrap()[0];
        damage(&storage, newest);
        let report = restore(&out, &storage);
        let restored = report.checkpoints.restored_from.unwrap();
        assert!(
            restored < newest,
            "{name}: restored the damaged checkpoint {newest}"
        );
        detected += 1;
        assert_exact(&out, name);
        std::fs::remove_dir_all(&out).unwrap();
    }
    eprintln!(
        "corruption campaign: {detected} of {} damages detected",
        campaign.len()
    );
}

/// Power loss of the checkpoint storage (unsynced writes dropped, or torn) leaves a
/// complete checkpoint to resume from, with exact output.
#[test]
fn power_loss_of_the_checkpoint_storage_loses_nothing() {
    for model in [PowerLoss::DropUnsynced, PowerLoss::TearSectors] {
        let out = scratch("power");
        let storage = Arc::new(MemoryStorage::new());
        run_and_cancel(&out, &storage, 2);
        storage.lose_power(model);
        let report = restore(&out, &storage);
        assert!(report.checkpoints.restored_from.is_some(), "{model:?}");
        assert_exact(&out, &format!("{model:?}"));
        std::fs::remove_dir_all(&out).unwrap();
    }
}

/// A full disk fails checkpoints without a visible manifest; the job runs on, and once
/// there is space again the next checkpoint completes.
#[test]
fn a_full_disk_fails_checkpoints_until_space_returns() {
    let out = scratch("full");
    let storage = Arc::new(MemoryStorage::new());
    let handle = start(&out, config(&storage), Some(15_000.0), 2).unwrap();
    let metrics = handle.metrics().clone();
    wait_until("a first checkpoint", || {
        metrics.checkpoints_completed() >= 1
    });
    storage.inject(Some(Fault::DiskFull));
    let manifests_before = Manifest::ids(&*storage).unwrap().len();
    wait_until("failed checkpoints", || metrics.checkpoints_failed() >= 2);
    let completed_while_full = metrics.checkpoints_completed();
    assert!(Manifest::ids(&*storage).unwrap().len() <= manifests_before);
    assert!(
        storage
            .list()
            .unwrap()
            .iter()
            .all(|name| !name.ends_with(".tmp")),
        "a failed checkpoint left a temporary manifest"
    );
    storage.inject(None);
    wait_until("a checkpoint after the disk freed", || {
        metrics.checkpoints_completed() > completed_while_full
    });
    let report = join_within(handle, LIMIT).unwrap();
    assert!(report.checkpoints.failed >= 2);
    assert_exact(&out, "restart");
    std::fs::remove_dir_all(&out).unwrap();
}

/// Configured to, a job fails with its first failed checkpoint, and says why.
#[test]
fn a_failed_fsync_fails_the_job_when_configured_to() {
    let out = scratch("fsync");
    let storage = Arc::new(MemoryStorage::new());
    storage.inject(Some(Fault::SyncFails));
    let checkpoints = config(&storage).on_failure(OnCheckpointFailure::FailJob);
    let handle = start(&out, checkpoints, Some(15_000.0), 2).unwrap();
    match join_within(handle, LIMIT).unwrap_err() {
        JobError::Checkpoint(message) => assert!(message.contains("fsync"), "{message}"),
        other => panic!("expected a checkpoint failure, got {other}"),
    }
    assert!(Manifest::ids(&*storage).unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&out);
}

/// Starting afresh on a folder with checkpoints, or resuming with another shard count, is
/// refused with a clear error; resuming a finished job does nothing.
#[test]
fn restores_that_cannot_be_right_are_refused() {
    let out = scratch("refuse");
    let storage = Arc::new(MemoryStorage::new());
    run_and_cancel(&out, &storage, 1);
    let error = start(&out, config(&storage), None, 2).err().unwrap();
    assert!(error.to_string().contains("holds checkpoints"), "{error}");
    let error = start(&out, config(&storage).restore(true), None, 3)
        .err()
        .unwrap();
    assert!(error.to_string().contains("taken with 2 shards"), "{error}");

    let finished = restore(&out, &storage);
    assert_exact(&out, "restart");
    let again = restore(&out, &storage);
    assert_eq!(again.source_records, 0, "a finished job runs nothing");
    assert!(again.checkpoints.restored_from > finished.checkpoints.restored_from);
    assert_exact(&out, "restart");
    std::fs::remove_dir_all(&out).unwrap();
}

/// 40 000 keys once each, then the first 50 keys over and over (in each half of the
/// records, as each of the two shards generates one half): a store's checkpoints during the
/// hot part save only those keys (the heap store) or the few pages they live on (the
/// memory-mapped one), as deltas on a full image.
fn hot_record(i: u64) -> u64 {
    if i % 40_000 < 20_000 {
        i
    } else {
        i % 50
    }
}

const HOT_EVENTS: u64 = 80_000;

/// Where the hot-key job keeps its counts.
#[derive(Debug, Clone, Copy)]
enum Counts {
    /// A rolling count in the heap store.
    Heap,
    /// A rolling count in the memory-mapped store.
    Mapped,
    /// A process function's `ValueState`, cleared when a count reaches [`RESET_AT`].
    ProcessState,
}

/// The count at which [`Counts::ProcessState`] clears a key's state (so the state also has
/// removals to checkpoint).
const RESET_AT: u64 = 300;

/// A running count per key in keyed state, cleared once it reaches [`RESET_AT`].
#[derive(Clone, Default)]
struct ResettingCount {
    count: ValueState<u64, u64>,
}

impl KeyedProcessFunction<u64, u64, (u64, u64)> for ResettingCount {
    fn states(&mut self, states: &mut KeyedStates<'_, u64>) {
        states.register("count", &mut self.count);
    }

    fn process_element(&mut self, record: u64, ctx: &mut Context<'_, u64, (u64, u64)>) {
        let count = self.count.value(ctx).copied().unwrap_or(0) + 1;
        if count == RESET_AT {
            self.count.clear(ctx);
        } else {
            self.count.update(ctx, count);
        }
        ctx.emit((record, count));
    }
}

/// Counts the hot records per key, as `counts` says.
fn start_hot(
    out: &Path,
    checkpoints: CheckpointConfig,
    rate: Option<f64>,
    counts: Counts,
) -> JobHandle {
    let env = Env::new(
        JobConfig::default()
            .shards(2)
            .pinning(Pinning::Never)
            .checkpointing(checkpoints),
    );
    let source = Generator::new(HOT_EVENTS, hot_record);
    let source = match rate {
        Some(rate) => source.rate_limited(rate),
        None => source,
    };
    let keyed = env.from_source(source).key_by(|key: &u64| *key);
    let counts = match counts {
        Counts::Heap => keyed.count(),
        Counts::Mapped => keyed.aggregate_mapped(tidewater::operators::Count),
        Counts::ProcessState => keyed.process(ResettingCount::default()),
    };
    counts.sink_to_files(FileSink::new(out, count_line));
    env.execute_async().unwrap()
}

#[test]
fn a_mapped_store_restores_through_its_delta_chain() {
    restores_through_a_delta_chain(Counts::Mapped);
}

#[test]
fn a_heap_store_restores_through_its_delta_chain() {
    restores_through_a_delta_chain(Counts::Heap);
}

#[test]
fn process_function_state_restores_through_its_delta_chain() {
    restores_through_a_delta_chain(Counts::ProcessState);
}

fn restores_through_a_delta_chain(counts: Counts) {
    let out = scratch(&format!("{counts:?}"));
    let storage = Arc::new(MemoryStorage::new());
    let handle = start_hot(&out, config(&storage), Some(40_000.0), counts);
    let metrics = handle.metrics().clone();
    wait_until("the hot half", || metrics.source_records() > 60_000);
    // Until the newest checkpoint is a delta on a delta (a full image is taken now and then,
    // once the deltas add up to half the store).
    wait_until("a chain of deltas", || {
        let Some(&newest) = Manifest::ids(&*storage).unwrap().first() else {
            return false;
        };
        Manifest::read(&*storage, newest).is_ok_and(|manifest| {
            let bases: std::collections::BTreeSet<_> = manifest
                .inherited
                .iter()
                .map(|(name, _)| name[..14].to_string())
                .collect();
            let delta: u64 = manifest.files.iter().map(|(_, size)| size).sum();
            let base: u64 = manifest.inherited.iter().map(|(_, size)| size).sum();
            // Deltas on deltas, each small next to the files it applies on.
            bases.len() >= 2 && delta * 4 < base
        })
    });
    handle.cancel();
    assert_eq!(join_within(handle, LIMIT).unwrap_err(), JobError::Cancelled);
    let newest = Manifest::ids(&*storage).unwrap()[0];

    let report = join_within(
        start_hot(&out, config(&storage).restore(true), None, counts),
        LIMIT,
    )
    .unwrap();
    assert_eq!(report.checkpoints.restored_from, Some(newest));
    let mut seen = std::collections::HashMap::new();
    let mut expected: Vec<String> = (0..HOT_EVENTS)
        .map(|i| {
            let key = hot_record(i);
            let count = seen.entry(key).or_insert(0u64);
            *count += 1;
            let line = format!("{key} {count}");
            if matches!(counts, Counts::ProcessState) && *count == RESET_AT {
                *count = 0;
            }
            line
        })
        .collect();
    expected.sort();
    assert!(
        committed_lines(&out) == expected,
        "the restored job's output is not exact ({counts:?})"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

/// A checkpoint folder that cannot be created (its parent is a file) fails the job at its
/// start with an error naming the folder, before any record is processed.
#[test]
fn an_unwritable_checkpoint_folder_fails_the_start_clearly() {
    let parent = std::env::temp_dir().join(format!("tw-ckpt-{}-not-a-folder", std::process::id()));
    std::fs::write(&parent, b"a file, not a folder").unwrap();
    let folder = parent.join("checkpoints");
    let out = scratch("unwritable");
    let error = start(&out, CheckpointConfig::new(&folder), None, 2)
        .err()
        .expect("the job must not start");
    let message = error.to_string();
    assert!(
        matches!(error, JobError::Checkpoint(_)) && message.contains(&folder.display().to_string()),
        "{message}"
    );
    std::fs::remove_file(&parent).unwrap();
}

/// Records shard 0 reads (throttled, it runs for seconds) and shard 1 reads (it ends at once)
/// in [`Uneven`].
const LONG: u64 = 24_000;
const SHORT: u64 = 300;

/// The counting job's keys, split unevenly: shard 0 reads records `0..LONG`, shard 1 the
/// next [`SHORT`], so that shard 1's source ends long before shard 0's.
#[derive(Clone)]
struct Uneven;

/// The record indexes of one shard of [`Uneven`], from `next` to `end`.
struct UnevenSplit {
    next: u64,
    start: u64,
    end: u64,
}

impl Source<u64> for Uneven {
    fn split(&self, shard: usize, shards: usize) -> Box<dyn SourceSplit<u64>> {
        assert_eq!(shards, 2, "two shards");
        let (start, end) = if shard == 0 {
            (0, LONG)
        } else {
            (LONG, LONG + SHORT)
        };
        Box::new(UnevenSplit {
            next: start,
            start,
            end,
        })
    }

    fn rate_limit(&self) -> Option<f64> {
        Some(15_000.0)
    }
}

impl SourceSplit<u64> for UnevenSplit {
    fn next_batch(&mut self, out: &mut Vec<u64>, max: usize) -> bool {
        let until = self.end.min(self.next + max as u64);
        out.extend((self.next..until).map(key_of));
        self.next = until;
        self.next < self.end
    }

    fn offset(&self) -> u64 {
        self.next - self.start
    }

    fn seek(&mut self, offset: u64) {
        self.next = self.start + offset;
    }
}

fn start_uneven(out: &Path, checkpoints: CheckpointConfig) -> JobHandle {
    let env = Env::new(
        JobConfig::default()
            .shards(2)
            .pinning(Pinning::Never)
            .checkpointing(checkpoints),
    );
    env.from_source(Uneven)
        .key_by(|key: &u64| *key)
        .count()
        .sink_to_files(FileSink::new(out, count_line));
    env.execute_async().unwrap()
}

/// Once one shard's source has ended, checkpoints go on while the other runs (Flink's
/// checkpoints after tasks finished): a crash then loses nothing checkpointed since, and the
/// restored ended source reads nothing again.
#[test]
fn checkpoints_go_on_after_a_source_ends() {
    let out = scratch("uneven");
    let storage = Arc::new(MemoryStorage::new());
    let handle = start_uneven(&out, config(&storage));
    let metrics = handle.metrics().clone();
    wait_until("shard 1's source to end", || {
        metrics.shard(1).source_records.load(Ordering::Acquire) == SHORT
    });
    let after_end = metrics.checkpoints_completed() + 3;
    wait_until("checkpoints after it", || {
        metrics.checkpoints_completed() >= after_end
    });
    assert!(
        metrics.shard(0).source_records.load(Ordering::Acquire) < LONG,
        "shard 0 still runs"
    );
    handle.cancel();
    assert_eq!(join_within(handle, LIMIT).unwrap_err(), JobError::Cancelled);

    let report = join_within(start_uneven(&out, config(&storage).restore(true)), LIMIT).unwrap();
    assert!(report.checkpoints.restored_from >= Some(after_end));
    assert!(report.source_records < LONG, "shard 1 read nothing again");
    let expected = running_count_lines((0..LONG + SHORT).map(key_of));
    assert!(committed_lines(&out) == expected, "the output is not exact");
    std::fs::remove_dir_all(&out).unwrap();
}
