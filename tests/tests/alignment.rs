//! Watermark alignment: a shard whose source runs ahead of another's in event time pauses
//! until the other catches up, so windows downstream do not pile up its records; an idle
//! shard holds no one back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tidewater::operators::window;
use tidewater::operators::Count;
use tidewater::prelude::*;
use tidewater_tests::join_within;

const RECORDS: u64 = 20_000;
const BATCH: usize = 64;
const LIMIT: Duration = Duration::from_secs(60);

/// Two shards, each with `RECORDS` records 1 ms of event time apart. Shard 0 reads freely
/// and counts what it has read; shard 1 has nothing until `release` says so, and notes how
/// far shard 0 had read meanwhile.
struct Uneven {
    read_by_fast: Arc<AtomicU64>,
    lead_while_held: Arc<AtomicU64>,
    /// Whether shard 1 may start, given how often it has been polled empty and how much
    /// shard 0 has read.
    release: fn(polls: u64, read_by_fast: u64) -> bool,
    idle_timeout: Option<Duration>,
}

struct Split {
    shard: usize,
    next: u64,
    polls: u64,
    read_by_fast: Arc<AtomicU64>,
    lead_while_held: Arc<AtomicU64>,
    release: fn(u64, u64) -> bool,
}

impl SourceSplit<(u64, i64)> for Split {
    fn next_batch(&mut self, out: &mut Vec<(u64, i64)>, max: usize) -> bool {
        let read_by_fast = self.read_by_fast.load(Ordering::SeqCst);
        if self.shard == 1 && self.next == 0 && !(self.release)(self.polls, read_by_fast) {
            self.polls += 1;
            self.lead_while_held
                .fetch_max(read_by_fast, Ordering::SeqCst);
            return true;
        }
        let stop = RECORDS.min(self.next + max as u64);
        out.extend((self.next..stop).map(|i| (i % 5, i as i64)));
        if self.shard == 0 {
            self.read_by_fast.store(stop, Ordering::SeqCst);
        }
        self.next = stop;
        self.next < RECORDS
    }

    fn offset(&self) -> u64 {
        self.next
    }

    fn seek(&mut self, offset: u64) {
        self.next = offset;
    }
}

impl Source<(u64, i64)> for Uneven {
    fn split(&self, shard: usize, _shards: usize) -> Box<dyn SourceSplit<(u64, i64)>> {
        Box::new(Split {
            shard,
            next: 0,
            polls: 0,
            read_by_fast: self.read_by_fast.clone(),
            lead_while_held: self.lead_while_held.clone(),
            release: self.release,
        })
    }

    fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }
}

/// Runs per-second counts over `source` on 2 shards with alignment allowing 100 ms; returns
/// the counts by window start.
fn run(source: Uneven) -> Vec<(i64, u64)> {
    let env = Env::new(
        JobConfig::default()
            .shards(2)
            .pinning(Pinning::Never)
            .batch_size(BATCH)
            .watermark_alignment(Duration::from_millis(100)),
    );
    let counts = env
        .from_source(source)
        .assign_timestamps(|record: &(u64, i64)| record.1, 0)
        .key_by(|_: &(u64, i64)| ())
        .window(window::tumbling(Duration::from_secs(1)))
        .aggregate(Count)
        .map(|counted| (counted.window.start, counted.value))
        .collect();
    let report = join_within(env.execute_async().unwrap(), LIMIT).unwrap();
    assert_eq!(report.source_records, 2 * RECORDS);
    let mut counts = counts.take();
    counts.sort();
    counts
}

/// Both shards' records, counted per second of event time.
fn expected() -> Vec<(i64, u64)> {
    (0..RECORDS as i64 / 1000)
        .map(|second| (second * 1000, 2000))
        .collect()
}

#[test]
fn a_shard_ahead_of_the_drift_waits_for_the_slow_one() {
    let (read_by_fast, lead_while_held) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let counts = run(Uneven {
        read_by_fast: read_by_fast.clone(),
        lead_while_held: lead_while_held.clone(),
        // Shard 1 starts after 50 empty polls (each after a 1 ms nap): time enough for
        // shard 0 to read everything, were it not held back.
        release: |polls, _| polls >= 50,
        idle_timeout: None,
    });
    // Shard 0's first batch puts it past the drift from shard 1, which has no watermark yet.
    let lead = lead_while_held.load(Ordering::SeqCst);
    assert!(
        lead <= BATCH as u64,
        "shard 0 read {lead} records while shard 1 had none"
    );
    assert_eq!(read_by_fast.load(Ordering::SeqCst), RECORDS);
    assert_eq!(counts, expected());
}

#[test]
fn an_idle_shard_does_not_hold_the_others_back() {
    let counts = run(Uneven {
        read_by_fast: Arc::new(AtomicU64::new(0)),
        lead_while_held: Arc::new(AtomicU64::new(0)),
        // Shard 1 has nothing until shard 0 has read everything: that happens only once
        // shard 1, idle after 5 ms, stops holding it back.
        release: |_, read_by_fast| read_by_fast == RECORDS,
        idle_timeout: Some(Duration::from_millis(5)),
    });
    // Shard 0's records all count; shard 1's came after shard 0's watermark had passed
    // most of them (late, dropped) — how many made it depends on timing.
    assert_eq!(counts.len(), expected().len());
    for ((start, count), (expected_start, _)) in counts.into_iter().zip(expected()) {
        assert_eq!(start, expected_start);
        assert!(
            (1000..=2000).contains(&count),
            "{count} records in second {start}"
        );
    }
}
