//! The benchmark jobs on Tidewater: passthrough and keyed count here, the event-time jobs in
//! [`windows`] and [`join`].

mod join;
mod windows;

use std::time::Instant;

use tidewater::prelude::*;
use tidewater::Data;

use super::{keyed_count_checksum, passthrough_checksum, Job, Spec, StateBackend};
use crate::latency::Totals;
use crate::progress::Progress;
use crate::summary::RunStats;
use crate::workload::Event;

/// The rolling count and sum per key.
#[derive(Clone, Copy)]
struct CountAndSum;

/// The accumulator: count, sum, newest birth time (plain data, for either state backend).
impl AggregateFunction<Event> for CountAndSum {
    type Acc = [u64; 3];
    type Out = [u64; 3];

    fn create(&self) -> Self::Acc {
        [0; 3]
    }

    #[inline]
    fn add(&self, acc: &mut Self::Acc, event: Event) {
        acc[0] += 1;
        acc[1] += event.value;
        acc[2] = event.born_ns;
    }

    fn result(&self, acc: &Self::Acc) -> Self::Out {
        *acc
    }

    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc) {
        acc[0] += other[0];
        acc[1] += other[1];
        acc[2] = acc[2].max(other[2]);
    }
}

/// Runs `spec` on Tidewater with `config`.
pub fn run(spec: &Spec, config: JobConfig) -> anyhow::Result<RunStats> {
    let env = Env::new(config.shards(spec.shards));
    let totals = Totals::default();
    match spec.job {
        Job::Passthrough => {
            let mut recorder = totals.recorder();
            events(&env, spec).sink(move |event: Event| {
                recorder.record(event.born_ns, passthrough_checksum(event.key, event.value));
            });
        }
        Job::KeyedCount => {
            let mut recorder = totals.recorder();
            let keyed = events(&env, spec).key_by(|event: &Event| event.key);
            let counts = match spec.state {
                StateBackend::Heap => keyed.aggregate(CountAndSum),
                StateBackend::Mmap => keyed.aggregate_mapped(CountAndSum),
            };
            counts.name("count-and-sum").sink(
                move |(_key, [count, _sum, born_ns]): (u64, [u64; 3])| {
                    recorder.record(born_ns, keyed_count_checksum(count));
                },
            );
        }
        Job::SlidingCount => windows::sliding_count(&env, spec, &totals),
        Job::SessionCount => windows::session_count(&env, spec, &totals),
        Job::IntervalJoin => join::interval_join(&env, spec, &totals),
    }
    let started = Instant::now();
    let handle = env.execute_async()?;
    let metrics = handle.metrics().clone();
    let progress = Progress::start(spec.input_records(), move || metrics.source_records());
    let report = handle.join()?;
    drop(progress);
    Ok(RunStats {
        events: report.source_records,
        seconds: started.elapsed().as_secs_f64(),
        latency_ns: totals.histogram(),
        checksum: totals.checksum(),
        results: totals.records(),
        checkpoints: report.checkpoints,
        ready_s: report.ready.as_secs_f64(),
    })
}

/// The workload's events, from the engine's generator (throttled if `spec` says so).
fn events(env: &Env, spec: &Spec) -> DataStream<Event> {
    let workload = spec.workload;
    let source = Generator::new(spec.events, move |i| workload.event(i));
    let source = match spec.rate {
        Some(rate) => source.rate_limited(rate),
        None => source,
    };
    env.from_source(source).name("generator")
}

/// The engine's [`Generator`] and its split, with record `i` made by `make(i, position)`,
/// where `position` is `i`'s place (from 0) in its shard's part of the split: the event-time
/// jobs derive event time from it (see [`crate::event_time`]).
#[derive(Clone)]
struct PositionedGenerator<F> {
    count: u64,
    make: F,
    rate: Option<f64>,
}

impl<F> PositionedGenerator<F> {
    /// `count` records, throttled to `rate` records per second in all if given.
    fn new(count: u64, make: F, rate: Option<f64>) -> Self {
        Self { count, make, rate }
    }
}

impl<T, F> Source<T> for PositionedGenerator<F>
where
    T: Data,
    F: Fn(u64, u64) -> T + Clone + Send + Sync + 'static,
{
    fn split(&self, shard: usize, shards: usize) -> Box<dyn SourceSplit<T>> {
        // Where this shard's part starts, read from the engine's own split of the same count
        // so that the two cannot disagree.
        let mut first = Vec::with_capacity(1);
        Generator::new(self.count, |i| i)
            .split(shard, shards)
            .next_batch(&mut first, 1);
        let start = first.first().copied().unwrap_or(0);
        let make = self.make.clone();
        Generator::new(self.count, move |i| make(i, i - start)).split(shard, shards)
    }

    fn rate_limit(&self) -> Option<f64> {
        self.rate
    }
}
