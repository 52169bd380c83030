//! Savepoints: a job stopped with a savepoint on 4 shards and resumed from it on 2 and on 3
//! gives exactly the output of a run that was never stopped — keyed running counts, event-
//! time tumbling windows (open windows travel in the savepoint), a keyed process function
//! with timers and named keyed state, a CEP pattern (its buffered events and partial
//! matches travel in the savepoint), each key's state moving with its key group, and a
//! two-phase (local-global) sliding-window count of all records (each shard's partial
//! counts travel in the savepoint too).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tidewater::operators::cep::Pattern;
use tidewater::operators::window::{sliding, tumbling};
use tidewater::operators::{Context, KeyedProcessFunction, TimeDomain};
use tidewater::prelude::*;
use tidewater::state::{KeyedStates, ValueState};
use tidewater::JobHandle;
use tidewater_tests::{committed_lines, join_within};

const LIMIT: Duration = Duration::from_secs(60);
const EVENTS: u64 = 40_000;
const KEYS: u64 = 61;
/// Where the first run stops: record index (and event time, in ms).
const CUT: u64 = 17_321;

/// Record `i`: its key, and its event time `i` ms.
fn record(i: u64) -> (u64, i64) {
    ((i * 7 + i / 13) % KEYS, i as i64)
}

/// Per key, an event-time timer at the end of each second it has records in; each firing
/// emits (key, timer, how many timers of the key fired so far), counted in keyed state.
#[derive(Clone, Default)]
struct Seconds {
    fired: ValueState<u64, u64>,
}

impl KeyedProcessFunction<u64, (u64, i64), (u64, i64, u64)> for Seconds {
    fn states(&mut self, states: &mut KeyedStates<'_, u64>) {
        states.register("fired", &mut self.fired);
    }

    fn process_element(&mut self, record: (u64, i64), ctx: &mut Context<'_, u64, (u64, i64, u64)>) {
        ctx.register_event_time_timer((record.1 / 1000 + 1) * 1000);
    }

    fn on_timer(
        &mut self,
        time: Timestamp,
        _: TimeDomain,
        ctx: &mut Context<'_, u64, (u64, i64, u64)>,
    ) {
        let fired = self.fired.get_or_insert_with(ctx, || 0);
        *fired += 1;
        let fired = *fired;
        ctx.emit((*ctx.key(), time, fired));
    }
}

fn lines<T: std::fmt::Debug>(record: &T, buffer: &mut Vec<u8>) {
    buffer.extend_from_slice(format!("{record:?}\n").as_bytes());
}

/// Builds and starts the job over `events` records on `shards` with `checkpoints`, writing
/// under `out`.
fn start(out: &Path, shards: usize, events: u64, checkpoints: CheckpointConfig) -> JobHandle {
    let env = Env::new(
        JobConfig::default()
            .shards(shards)
            .pinning(Pinning::Never)
            .checkpointing(checkpoints.interval(Duration::from_millis(30))),
    );
    let records = env
        .from_source(Generator::new(events, record).rate_limited(60_000.0))
        .assign_timestamps(|record: &(u64, i64)| record.1, 0);
    let keyed = records.key_by(|record: &(u64, i64)| record.0);
    keyed
        .count()
        .sink_to_files(FileSink::new(out.join("counts"), lines::<(u64, u64)>));
    keyed
        .window(tumbling(Duration::from_millis(1000)))
        .aggregate(tidewater::operators::Count)
        .map(|w| (w.key, w.window.start, w.value))
        .sink_to_files(FileSink::new(out.join("windows"), lines::<(u64, i64, u64)>));
    records
        .key_by(|_: &(u64, i64)| ())
        .window(sliding(
            Duration::from_millis(1000),
            Duration::from_millis(250),
        ))
        .aggregate_local_global(tidewater::operators::Count)
        .map(|w| (w.window.start, w.value))
        .sink_to_files(FileSink::new(out.join("totals"), lines::<(i64, u64)>));
    keyed
        .process(Seconds::default())
        .sink_to_files(FileSink::new(out.join("timers"), lines::<(u64, i64, u64)>));
    // A key's records are ~61 ms apart: a match spans a few of them.
    let pattern = Pattern::begin("threes")
        .where_(|record: &(u64, i64)| record.1 % 3 == 0)
        .times_or_more(2)
        .followed_by("four")
        .where_(|record: &(u64, i64)| record.1 % 4 == 0)
        .within(Duration::from_millis(400));
    keyed
        .pattern(pattern)
        .matches()
        .map(|found| found.events)
        .sink_to_files(FileSink::new(
            out.join("patterns"),
            lines::<Vec<(u32, (u64, i64))>>,
        ));
    env.execute_async().unwrap()
}

/// Runs the job as [`start`] does, to its end.
fn run(
    out: &Path,
    shards: usize,
    events: u64,
    checkpoints: CheckpointConfig,
) -> tidewater::JobReport {
    join_within(start(out, shards, events, checkpoints), LIMIT).unwrap()
}

/// The output of an uninterrupted run over `events` records on `shards`, under `dir`.
fn reference_output(dir: &Path, shards: usize, events: u64) -> Vec<Vec<String>> {
    let reference = run(
        &dir.join("reference"),
        shards,
        events,
        CheckpointConfig::new(dir.join("reference-ck")),
    );
    assert_eq!(reference.source_records, events);
    let expected = output(&dir.join("reference"));
    assert!(expected.iter().all(|lines| !lines.is_empty()));
    expected
}

/// The output folders.
const OUTPUTS: [&str; 5] = ["counts", "windows", "timers", "patterns", "totals"];

/// Each output folder's committed lines, sorted.
fn output(out: &Path) -> Vec<Vec<String>> {
    OUTPUTS
        .iter()
        .map(|name| committed_lines(&out.join(name)))
        .collect()
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn a_savepoint_on_4_shards_resumes_on_2_and_3_with_the_unscaled_result() {
    let dir: PathBuf = std::env::temp_dir().join(format!("tw-savepoint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    let expected = reference_output(&dir, 4, EVENTS);

    let stopped = run(
        &dir.join("first"),
        4,
        EVENTS,
        CheckpointConfig::new(dir.join("first-ck")).stop_with_savepoint(dir.join("savepoint"), CUT),
    );
    assert_eq!(stopped.source_records, CUT, "the sources stop at the cut");
    let savepoint = stopped
        .checkpoints
        .savepoint
        .expect("a savepoint was taken");

    for shards in [2, 3] {
        let out = dir.join(format!("resumed-{shards}"));
        copy_folder(&dir.join("first"), &out);
        let resumed = run(
            &out,
            shards,
            EVENTS,
            CheckpointConfig::new(dir.join(format!("resumed-{shards}-ck")))
                .from_savepoint(dir.join("savepoint")),
        );
        assert_eq!(resumed.checkpoints.restored_from, Some(savepoint));
        assert_eq!(resumed.source_records, EVENTS - CUT);
        assert_same_output(&out, &expected, &format!("on {shards} shards"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Asserts that the output under `out` is `expected`.
fn assert_same_output(out: &Path, expected: &[Vec<String>], case: &str) {
    for ((name, got), expected) in OUTPUTS.iter().zip(output(out)).zip(expected) {
        assert!(
            got == *expected,
            "{name} {case}: {} lines, expected {}",
            got.len(),
            expected.len()
        );
    }
}

/// A savepoint written by an earlier build of the job above, over [`FIXTURE_EVENTS`]
/// records stopped at [`FIXTURE_CUT`] on 4 shards, with the output its run had committed:
/// resuming it checks that the savepoint format stays readable by later builds. Written by
/// `write_savepoint_fixture`, to be run only when the format changes on purpose (with a new
/// `format::FORMAT_VERSION` and a new fixture beside this one).
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/savepoint-v1");
const FIXTURE_EVENTS: u64 = 4_000;
const FIXTURE_CUT: u64 = 1_733;

#[test]
#[ignore = "writes the savepoint fixture: run by hand when the savepoint format changes"]
fn write_savepoint_fixture() {
    let fixture = Path::new(FIXTURE);
    let _ = std::fs::remove_dir_all(fixture);
    let scratch = std::env::temp_dir().join(format!("tw-fixture-{}", std::process::id()));
    let stopped = run(
        &fixture.join("output"),
        4,
        FIXTURE_EVENTS,
        CheckpointConfig::new(scratch.join("checkpoints"))
            .stop_with_savepoint(fixture.join("savepoint"), FIXTURE_CUT),
    );
    assert_eq!(stopped.source_records, FIXTURE_CUT);
    std::fs::remove_dir_all(&scratch).unwrap();
}

#[test]
fn a_savepoint_of_an_earlier_build_resumes_with_the_unscaled_result() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("tw-old-savepoint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let expected = reference_output(&dir, 2, FIXTURE_EVENTS);
    // The fixture stays untouched: restoring takes the savepoint folder's lock.
    copy_folder(
        &Path::new(FIXTURE).join("savepoint"),
        &dir.join("savepoint"),
    );
    copy_folder(&Path::new(FIXTURE).join("output"), &dir.join("resumed"));
    let resumed = run(
        &dir.join("resumed"),
        3,
        FIXTURE_EVENTS,
        CheckpointConfig::new(dir.join("resumed-ck")).from_savepoint(dir.join("savepoint")),
    );
    assert!(resumed.checkpoints.restored_from.is_some());
    assert_eq!(resumed.source_records, FIXTURE_EVENTS - FIXTURE_CUT);
    assert_same_output(
        &dir.join("resumed"),
        &expected,
        "from the fixture, on 3 shards",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
