//! Every named crash point under the simulated power-loss model: the job runs in process on
//! a `MemoryStorage`, the crash point (armed in process) panics the thread that reaches it,
//! the job is stopped as a crashed process would be, the checkpoint storage loses power
//! (writes since their last fsync dropped, or torn to whole sectors), and a restart with
//! `restore` must give exactly the output of an uninterrupted run. (`crash.rs` covers the
//! same points under the process-kill model.)
//!
//! One test: crash points are armed for the whole process.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tidewater::checkpoint::crash::{arm_in_process, crashed, CRASH_POINTS};
use tidewater::checkpoint::storage::PowerLoss;
use tidewater::checkpoint::{MemoryStorage, Storage};
use tidewater::prelude::*;
use tidewater::JobHandle;
use tidewater_tests::{committed_lines, count_line, join_within, running_count_lines, wait_until};

const LIMIT: Duration = Duration::from_secs(60);
const EVENTS: u64 = 20_000;
const KEYS: u64 = 53;

fn start(out: &Path, storage: &Arc<MemoryStorage>, restore: bool) -> Result<JobHandle, JobError> {
    let checkpoints = CheckpointConfig::new("unused")
        .storage(storage.clone() as Arc<dyn Storage>)
        .interval(Duration::from_millis(20))
        .restore(restore);
    let env = Env::new(
        JobConfig::default()
            .shards(2)
            .pinning(Pinning::Never)
            .checkpointing(checkpoints),
    );
    let source = Generator::new(EVENTS, |i| (i * 13 + i / 5) % KEYS);
    let source = if restore {
        source
    } else {
        source.rate_limited(20_000.0)
    };
    env.from_source(source)
        .key_by(|key: &u64| *key)
        .count()
        .sink_to_files(FileSink::new(out, count_line));
    env.execute_async()
}

fn expected() -> Vec<String> {
    running_count_lines((0..EVENTS).map(|i| (i * 13 + i / 5) % KEYS))
}

/// Stops a job as a crash would (its result does not matter).
fn stop(handle: JobHandle) {
    handle.cancel();
    let _ = join_within(handle, LIMIT);
}

#[test]
fn every_crash_point_under_power_loss_loses_and_repeats_nothing() {
    let mut cases = 0;
    for point in CRASH_POINTS {
        for model in [PowerLoss::DropUnsynced, PowerLoss::TearSectors] {
            let out = std::env::temp_dir()
                .join(format!("tw-power-{}-{point}-{model:?}", std::process::id()));
            let _ = std::fs::remove_dir_all(&out);
            let storage = Arc::new(MemoryStorage::new());
            if point == "during-recovery" {
                let handle = start(&out, &storage, false).unwrap();
                let metrics = handle.metrics().clone();
                wait_until("checkpoints", || metrics.checkpoints_completed() >= 2);
                stop(handle);
                storage.lose_power(model);
                arm_in_process(Some((point, 1)));
                let attempt = std::panic::catch_unwind(|| start(&out, &storage, true));
                assert!(attempt.is_err(), "{point}: the restore was to crash");
            } else {
                arm_in_process(Some((point, 3)));
                let handle = start(&out, &storage, false).unwrap();
                wait_until(point, crashed);
                stop(handle);
            }
            arm_in_process(None);
            storage.lose_power(model);
            let report = join_within(start(&out, &storage, true).unwrap(), LIMIT)
                .unwrap_or_else(|e| panic!("{point}, {model:?}: the restart failed: {e}"));
            assert!(
                report.source_records > 0,
                "{point}, {model:?}: the restart read nothing"
            );
            assert!(
                committed_lines(&out) == expected(),
                "{point}, {model:?}: the output after the restart is not exact"
            );
            std::fs::remove_dir_all(&out).unwrap();
            cases += 1;
        }
    }
    eprintln!("{cases} crash point × power-loss cases, each exact after the restart");
}
