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
    execute(
        spec.shards,
        pin,
        spec.events,
        move |worker, recorder, generated| match spec.job {
            Job::Passthrough => worker
                .dataflow::<(), _, _>(move |scope| passthrough(scope, &spec, generated, recorder)),
            Job::KeyedCount => worker
                .dataflow::<(), _, _>(move |scope| keyed_count(scope, &spec, generated, recorder)),
            Job::SlidingCount => worker.dataflow::<u64, _, _>(move |scope| {
                windows::sliding_count(scope, &spec, generated, recorder)
            }),
            Job::SessionCount | Job::IntervalJoin => unreachable!("refused above"),
        },
    )
}

/// Runs a timely computation on `workers` threads (pinned to a core each if `pin` and there
/// are enough cores): `build` makes each worker's dataflow, given the worker's [`Recorder`]
/// for its sink and the counter its source adds every generated event to. Reports progress
/// against `expected_events` while it runs.
pub(crate) fn execute<F>(
    workers: usize,
    pin: bool,
    expected_events: u64,
    build: F,
) -> anyhow::Result<RunStats>
where
    F: Fn(&mut Worker, Recorder, Arc<AtomicU64>) + Send + Sync + 'static,
{
    // Pin worker `w` to core `w` only when every worker gets a core of its own.
    let cores = core_affinity::get_core_ids()
        .filter(|cores| pin && cores.len() >= workers)
        .unwrap_or_default();
    let totals = Totals::default();
    let generated = Arc::new(AtomicU64::new(0));

    let started = Instant::now();
    let progress = {
        let generated = generated.clone();
        Progress::start(expected_events, move || generated.load(Ordering::Relaxed))
    };
    let guards = {
        let totals = totals.clone();
        let generated = generated.clone();
        timely::execute(Config::process(workers), move |worker: &mut Worker| {
            if let Some(&core) = cores.get(worker.index()) {
                core_affinity::set_for_current(core);
            }
            build(worker, totals.recorder(), generated.clone());
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
        checkpoints: Default::default(),
        ready_s: 0.0,
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

/// How the event indices are split among the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Split {
    /// Worker `w` of `W` takes the `w`-th of `W` contiguous ranges (as Tidewater's
    /// `Generator`).
    Contiguous,
    /// Worker `w` takes `w`, `w + W`, `w + 2W`, … (as the Nexmark sources).
    Interleaved,
}

impl Split {
    /// Worker `worker`'s part of `0..events`: `(first index, step, how many)`.
    fn part(self, events: u64, worker: usize, workers: usize) -> (u64, u64, u64) {
        let (worker, workers) = (worker as u64, workers as u64);
        match self {
            Split::Contiguous => {
                let at = |i: u64| (u128::from(events) * u128::from(i) / u128::from(workers)) as u64;
                (at(worker), 1, at(worker + 1) - at(worker))
            }
            Split::Interleaved => (
                worker,
                workers,
                events.saturating_sub(worker).div_ceil(workers),
            ),
        }
    }
}

/// What a worker's source makes: `events` split by `split`, paced to `rate` events/s in total
/// if throttled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SourcePlan {
    pub(crate) events: u64,
    pub(crate) rate: Option<f64>,
    pub(crate) split: Split,
}

impl From<&Spec> for SourcePlan {
    fn from(spec: &Spec) -> Self {
        Self {
            events: spec.events,
            rate: spec.rate,
            split: Split::Contiguous,
        }
    }
}

/// This worker's part of the events `0..plan.events`: event `index`, at `position` (from 0)
/// in the part, becomes a record at a timestamp by `make(index, position)`. Records go out in
/// containers of at most [`BATCH`], one per run of equal timestamps, under a capability
/// downgraded as the timestamps grow: `make`'s timestamps must not decrease with the index.
/// Paced to `plan.rate / workers` if throttled; every emitted event is added to `generated`.
pub(crate) fn generator<'scope, T, D, F>(
    scope: Scope<'scope, T>,
    plan: impl Into<SourcePlan>,
    generated: Arc<AtomicU64>,
    make: F,
) -> Stream<'scope, T, Vec<D>>
where
    T: Timestamp,
    D: Clone + 'static,
    F: Fn(u64, u64) -> (T, D) + 'static,
{
    let plan = plan.into();
    let workers = scope.peers();
    let (first, step, count) = plan.split.part(plan.events, scope.index(), workers);
    let mut next = 0;
    let per_second = plan.rate.map(|rate| rate / workers as f64);
    source::<_, CapacityContainerBuilder<Vec<D>>, _, _>(
        scope,
        "generator",
        move |capability, info| {
            let activator = scope.activator_for(info.address);
            let mut capability = Some(capability);
            let mut pace: Option<Throttle> = None;
            let mut batch = Vec::with_capacity(BATCH);
            move |output| {
                if next == count {
                    // Done (or nothing to do): dropping the capability lets the dataflow complete.
                    capability = None;
                    return;
                }
                let Some(held) = capability.as_mut() else {
                    return;
                };
                let room = (count - next).min(BATCH as u64) as usize;
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
                let positions = next..next + due as u64;
                if std::mem::size_of::<T>() == 0 {
                    // A zero-sized timestamp (`()`) has a single value, so there are no runs
                    // to split: one `extend`, as cheap as a source with no timestamps (a
                    // per-record `push` costs passthrough ~10%).
                    batch.extend(
                        positions.map(|position| make(first + position * step, position).1),
                    );
                } else {
                    for position in positions {
                        let (time, record) = make(first + position * step, position);
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
                if next == count {
                    capability = None;
                } else {
                    activator.activate();
                }
            }
        },
    )
}
