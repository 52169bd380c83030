//! The event-time jobs' checksums against results computed directly from the workload, with
//! no engine: sliding windows and sessions per key by sorting, pairs by construction.

use std::collections::HashMap;

use tidewater::{JobConfig, Pinning};
use tidewater_bench::event_time::{Bursts, EventClock};
use tidewater_bench::jobs::{self, window_checksum, Job, Spec, SESSION_GAP_MS};
use tidewater_bench::jobs::{SLIDE_MS, SLIDING_SIZE_MS};
use tidewater_bench::summary::RunStats;
use tidewater_bench::workload::Workload;

/// Events per run: odd, so that the join rounds down to even.
const EVENTS: u64 = 60_001;
/// Distinct keys (500 × 2 s / 10 s = 100 active at a time in the session job).
const KEYS: u64 = 500;

/// A run of `job` on `shards` shards, unthrottled.
fn spec(job: Job, shards: usize) -> Spec {
    Spec {
        job,
        events: EVENTS,
        shards,
        rate: None,
        workload: Workload::new(KEYS, 64),
        state: Default::default(),
    }
}

/// Runs `spec` on Tidewater, unpinned (the tests share the machine).
fn tidewater(spec: &Spec) -> RunStats {
    let config = JobConfig::default().pinning(Pinning::Never);
    jobs::tidewater::run(spec, config).expect("the Tidewater job runs")
}

/// Every event as `(index, position in its shard's part)`, with the engines' split.
fn positions(shards: usize) -> impl Iterator<Item = (u64, u64)> {
    let part = move |i: usize| (u128::from(EVENTS) * i as u128 / shards as u128) as u64;
    (0..shards).flat_map(move |s| (part(s)..part(s + 1)).map(move |i| (i, i - part(s))))
}

/// The sum of `window_checksum` over `(key, start, end) → count`, and the number of windows.
fn total(windows: &HashMap<(u64, i64, i64), u64>) -> (u64, u64) {
    let checksum = windows
        .iter()
        .map(|(&(key, start, end), &count)| window_checksum(key, start, end, count))
        .fold(0u64, u64::wrapping_add);
    (checksum, windows.len() as u64)
}

/// The sliding-count checksum and result count, computed directly.
fn sliding_reference(shards: usize) -> (u64, u64) {
    let workload = Workload::new(KEYS, 64);
    let clock = EventClock::new(shards);
    let (size, slide) = (SLIDING_SIZE_MS as i64, SLIDE_MS as i64);
    let mut windows = HashMap::new();
    for (index, position) in positions(shards) {
        let key = workload.event(index).key;
        let time = clock.time_ms(position) as i64;
        let mut start = time - time.rem_euclid(slide);
        while start > time - size {
            *windows.entry((key, start, start + size)).or_insert(0) += 1;
            start -= slide;
        }
    }
    total(&windows)
}

/// The session-count checksum and result count, computed directly.
fn session_reference(shards: usize) -> (u64, u64) {
    let workload = Workload::new(KEYS, 64);
    let clock = EventClock::new(shards);
    let bursts = Bursts::new(workload.keys());
    let mut times: HashMap<u64, Vec<i64>> = HashMap::new();
    for (index, position) in positions(shards) {
        let time = clock.time_ms(position);
        times
            .entry(bursts.key(time, index))
            .or_default()
            .push(time as i64);
    }
    let gap = SESSION_GAP_MS as i64;
    let mut windows = HashMap::new();
    for (key, mut times) in times {
        times.sort_unstable();
        let (mut first, mut last, mut count) = (times[0], times[0], 0);
        for time in times {
            // Sessions `[t, t + gap)` merge when they overlap; touching ones stay apart.
            if time >= last + gap {
                windows.insert((key, first, last + gap), count);
                (first, count) = (time, 0);
            }
            last = time;
            count += 1;
        }
        windows.insert((key, first, last + gap), count);
    }
    total(&windows)
}

/// Both engines, one and two shards: the same windows and counts as the direct computation.
#[test]
fn sliding_count_matches_the_reference_on_both_engines() {
    for shards in [1, 2] {
        let expected = sliding_reference(shards);
        let spec = spec(Job::SlidingCount, shards);
        let got = tidewater(&spec);
        assert_eq!(
            (got.checksum, got.results),
            expected,
            "Tidewater, {shards} shards"
        );
        assert_eq!(got.checksum & 0xFFFF_FFFF, 5 * EVENTS);
        let got = jobs::timely::run(&spec, false).expect("the timely job runs");
        assert_eq!(
            (got.checksum, got.results),
            expected,
            "timely, {shards} shards"
        );
    }
}

/// Sessions (with merges across shards' interleaved records) as the direct computation.
#[test]
fn session_count_matches_the_reference() {
    for shards in [1, 2] {
        let expected = session_reference(shards);
        let got = tidewater(&spec(Job::SessionCount, shards));
        assert_eq!((got.checksum, got.results), expected, "{shards} shards");
        assert_eq!(got.checksum & 0xFFFF_FFFF, EVENTS);
    }
}

/// Every order joins exactly its one payment, and nothing else.
#[test]
fn interval_join_pairs_each_order_with_its_payment() {
    for shards in [1, 2] {
        let spec = spec(Job::IntervalJoin, shards);
        let got = tidewater(&spec);
        assert_eq!(got.events, spec.input_records());
        assert_eq!((got.checksum, got.results), (EVENTS / 2, EVENTS / 2));
    }
}

/// Jobs with no timely version fail clearly rather than run something else.
#[test]
fn timely_refuses_the_jobs_it_has_no_version_of() {
    for job in [Job::SessionCount, Job::IntervalJoin] {
        assert!(jobs::timely::run(&spec(job, 1), false).is_err());
    }
}
