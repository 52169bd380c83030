//! The benchmark jobs on timely-dataflow (the peer measured in the same run).
//!
//! Each job is the idiomatic timely program for what the Tidewater version computes: one
//! worker per shard (`Config::process`), a `source` operator per worker that generates its
//! contiguous part of the event indices in containers of at most [`BATCH`] records and
//! reschedules itself between batches, and sinks that feed a [`Recorder`]. Passthrough and
//! keyed count need no event time: their timestamp is `()`, so the only progress traffic is
//! the source's capability being dropped at the end. Sliding count ([`windows`]) uses the
//! event time as the timestamp, so the frontier plays the watermark's role.
//!
//! Session count and the interval join have no timely version.

mod windows;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::{Scope, Stream};
use timely::progress::Timestamp;
use timely::worker::Worker;
use timely::Config;

use tidewater::runtime::Throttle;

use super::{keyed_count_checksum, passthrough_checksum, Job, Spec};
use crate::latency::{Recorder, Totals};
use crate::progress::Progress;
use crate::summary::RunStats;

/// Records per container the source emits per activation (Tidewater's default batch size).
const BATCH: usize = 1024;

/// An event on the wire of an exchange: `(key, value, born_ns)`. Timely's exchange needs a
/// serde-serialisable record, which a tuple is and
/// [`Event`](crate::workload::Event) is not.
type Keyed = (u64, u64, u64);

/// A keyed-count result: `(key, count, sum, born_ns)`.
type Counted = (u64, u64, u64, u64);

/// Runs `spec` on timely-dataflow with one worker per shard, pinned if `pin`.
pub fn run(spec: &Spec, pin: bool) -> anyhow::Result<RunStats> {
    anyhow::ensure!(
        matches!(
            spec.job,
            Job::Passthrough | Job::KeyedCount | Job::SlidingCount
        ),
        "{} has no timely version: run it with --engine tidewater",
        spec.job.name()
    );
    let spec = *spec;
    let workers = spec.shards;
    // Pin worker `w` to core `w` only when every worker gets a core of its own.
    let cores = core_affinity::get_core_ids()
        .filter(|cores| pin && cores.len() >= workers)
        .unwrap_or_default();
    let totals = Totals::default();
    let generated = Arc::new(AtomicU64::new(0));

    let started = Instant::now();
    let progress = {
        let generated = generated.clone();
        Progress::start(spec.events, move || generated.load(Ordering::Relaxed))
    };
    let guards = {
        let totals = totals.clone();
        let generated = generated.clone();
        timely::execute(Config::process(workers), move |worker: &mut Worker| {
            if let Some(&core) = cores.get(worker.index()) {
                core_affinity::set_for_current(core);
            }
            let recorder = totals.recorder();
            let generated = generated.clone();
            match spec.job {
                Job::Passthrough => worker.dataflow::<(), _, _>(move |scope| {
                    passthrough(scope, &spec, generated, recorder)
                }),
                Job::KeyedCount => worker.dataflow::<(), _, _>(move |scope| {
                    keyed_count(scope, &spec, generated, recorder)
                }),
                Job::SlidingCount => worker.dataflow::<u64, _, _>(move |scope| {
                    windows::sliding_count(scope, &spec, generated, recorder)
                }),
                Job::SessionCount | Job::IntervalJoin => unreachable!("refused above"),
            }
        })
        .map_err(|e| anyhow::anyhow!("timely failed to start: {e}"))?
    };
    // Joining the workers drops their dataflows and with them every `Recorder`, which merges
    // into `totals`: only after this are the totals complete.
    for result in guards.join() {
        result.map_err(|e| anyhow::anyhow!("a timely worker panicked: {e}"))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(progress);
    Ok(RunStats {
        events: generated.load(Ordering::Relaxed),
        seconds,
        latency_ns: totals.histogram(),
        checksum: totals.checksum(),
        results: totals.records(),
    })
}

/// Source → sink on the same worker, no exchange.
fn passthrough(
    scope: Scope<'_, ()>,
    spec: &Spec,
    generated: Arc<AtomicU64>,
    mut recorder: Recorder,
) {
    let workload = spec.workload;
    generator(scope, spec, generated, move |index, _position| {
        ((), workload.event(index))
    })
    .sink(Pipeline, "sink", move |(input, _frontier)| {
        input.for_each(|_capability, events| {
            for event in events.iter() {
                recorder.record(event.born_ns, passthrough_checksum(event.key, event.value));
            }
        });
    });
}

/// Source → exchange by key → rolling count and sum per key → sink.
fn keyed_count(
    scope: Scope<'_, ()>,
    spec: &Spec,
    generated: Arc<AtomicU64>,
    mut recorder: Recorder,
) {
    let workload = spec.workload;
    generator(
        scope,
        spec,
        generated,
        move |index, _position| -> ((), Keyed) {
            let event = workload.event(index);
            ((), (event.key, event.value, event.born_ns))
        },
    )
    .unary::<CapacityContainerBuilder<Vec<Counted>>, _, _, _>(
        // The exchange routes by the low bits of the hash: mix the key so that any key
        // distribution spreads evenly (a multiply and a shift, ~1 ns).
        Exchange::new(|&(key, _, _): &Keyed| key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32),
        "count-and-sum",
        |_capability, _info| {
            // Per key: (count, sum). hashbrown's default hasher is foldhash, as Tidewater's
            // heap state uses.
            let mut state = hashbrown::HashMap::<u64, (u64, u64)>::new();
            let mut out = Vec::with_capacity(BATCH);
            move |input, output| {
                input.for_each(|capability, records| {
                    out.extend(records.drain(..).map(|(key, value, born_ns)| {
                        let acc = state.entry(key).or_insert((0, 0));
                        acc.0 += 1;
                        acc.1 += value;
                        (key, acc.0, acc.1, born_ns)
                    }));
                    output.session(&capability).give_container(&mut out);
                    // The container may come back with anything in it (or recycled).
                    out.clear();
                });
            }
        },
    )
    .sink(Pipeline, "sink", move |(input, _frontier)| {
        input.for_each(|_capability, results| {
            for &(_key, count, _sum, born_ns) in results.iter() {
                recorder.record(born_ns, keyed_count_checksum(count));
            }
        });
    });
}

/// This worker's part of the events `0..spec.events`: event `index`, at `position` (from 0)
/// in the part, becomes a record at a timestamp by `make(index, position)`. Records go out in
/// containers of at most [`BATCH`], one per run of equal timestamps, under a capability
/// downgraded as the timestamps grow: `make`'s timestamps must not decrease with the index.
/// Paced to `spec.rate / workers` if throttled; every emitted event is added to `generated`.
fn generator<'scope, T, D, F>(
    scope: Scope<'scope, T>,
    spec: &Spec,
    generated: Arc<AtomicU64>,
    make: F,
) -> Stream<'scope, T, Vec<D>>
where
    T: Timestamp,
    D: Clone + 'static,
    F: Fn(u64, u64) -> (T, D) + 'static,
{
    let workers = scope.peers();
    let worker = scope.index();
    // The same contiguous split as Tidewater's `Generator`.
    let part = |i: usize| (u128::from(spec.events) * i as u128 / workers as u128) as u64;
    let (start, end) = (part(worker), part(worker + 1));
    let mut next = start;
    let per_second = spec.rate.map(|rate| rate / workers as f64);
    source::<_, CapacityContainerBuilder<Vec<D>>, _, _>(
        scope,
        "generator",
        move |capability, info| {
            let activator = scope.activator_for(info.address);
            let mut capability = Some(capability);
            let mut pace: Option<Throttle> = None;
            let mut batch = Vec::with_capacity(BATCH);
            move |output| {
                if next == end {
                    // Done (or nothing to do): dropping the capability lets the dataflow complete.
                    capability = None;
                    return;
                }
                let Some(held) = capability.as_mut() else {
                    return;
                };
                let room = (end - next).min(BATCH as u64) as usize;
                let due = match per_second {
                    // The clock starts at the first activation, when the dataflow runs.
                    Some(rate) => match pace.get_or_insert_with(|| Throttle::new(rate)).due(room) {
                        Ok(due) => due,
                        Err(wait) => {
                            activator.activate_after(wait);
                            return;
                        }
                    },
                    None => room,
                };
                let indices = next..next + due as u64;
                if std::mem::size_of::<T>() == 0 {
                    // A zero-sized timestamp (`()`) has a single value, so there are no runs
                    // to split: one `extend`, as cheap as a source with no timestamps (a
                    // per-record `push` costs passthrough ~10%).
                    batch.extend(indices.map(|index| make(index, index - start).1));
                } else {
                    for index in indices {
                        let (time, record) = make(index, index - start);
                        if time != *held.time() {
                            if !batch.is_empty() {
                                output.session(held).give_container(&mut batch);
                                // The container may come back with anything in it (or recycled).
                                batch.clear();
                                batch.reserve(BATCH);
                            }
                            held.downgrade(&time);
                        }
                        batch.push(record);
                    }
                }
                output.session(held).give_container(&mut batch);
                batch.clear();
                batch.reserve(BATCH);
                next += due as u64;
                if let Some(pace) = pace.as_mut() {
                    pace.emitted(due);
                }
                generated.fetch_add(due as u64, Ordering::Relaxed);
                if next == end {
                    capability = None;
                } else {
                    activator.activate();
                }
            }
        },
    )
}
