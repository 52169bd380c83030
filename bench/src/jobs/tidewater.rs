//! The benchmark jobs on Tidewater.

use std::time::Instant;

use tidewater::prelude::*;

use super::{keyed_count_checksum, passthrough_checksum, Job, Spec};
use crate::latency::Totals;
use crate::progress::Progress;
use crate::summary::RunStats;
use crate::workload::Event;

/// The rolling count and sum per key.
#[derive(Clone, Copy)]
struct CountAndSum;

impl AggregateFunction<Event> for CountAndSum {
    type Acc = (u64, u64, u64);
    type Out = (u64, u64, u64);

    fn create(&self) -> Self::Acc {
        (0, 0, 0)
    }

    #[inline]
    fn add(&self, acc: &mut Self::Acc, event: Event) {
        acc.0 += 1;
        acc.1 += event.value;
        acc.2 = event.born_ns;
    }

    fn result(&self, acc: &Self::Acc) -> Self::Out {
        *acc
    }

    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc) {
        acc.0 += other.0;
        acc.1 += other.1;
        acc.2 = acc.2.max(other.2);
    }
}

/// Runs `spec` on Tidewater with `config`.
pub fn run(spec: &Spec, config: JobConfig) -> anyhow::Result<RunStats> {
    let env = Env::new(config.shards(spec.shards));
    let workload = spec.workload;
    let source = Generator::new(spec.events, move |i| workload.event(i));
    let source = match spec.rate {
        Some(rate) => source.rate_limited(rate),
        None => source,
    };
    let events = env.from_source(source).name("generator");
    let totals = Totals::default();
    match spec.job {
        Job::Passthrough => {
            let mut recorder = totals.recorder();
            events.sink(move |event: Event| {
                recorder.record(event.born_ns, passthrough_checksum(event.key, event.value));
            });
        }
        Job::KeyedCount => {
            let mut recorder = totals.recorder();
            events
                .key_by(|event: &Event| event.key)
                .aggregate(CountAndSum)
                .name("count-and-sum")
                .sink(
                    move |(_key, (count, _sum, born_ns)): (u64, (u64, u64, u64))| {
                        recorder.record(born_ns, keyed_count_checksum(count));
                    },
                );
        }
    }
    let started = Instant::now();
    let handle = env.execute_async()?;
    let metrics = handle.metrics().clone();
    let progress = Progress::start(spec.events, move || metrics.source_records());
    let report = handle.join()?;
    drop(progress);
    Ok(RunStats {
        events: report.source_records,
        seconds: started.elapsed().as_secs_f64(),
        latency_ns: totals.histogram(),
        checksum: totals.checksum(),
        results: totals.records(),
    })
}
