//! The window jobs on Tidewater: sliding-count and session-count.

use std::time::Duration;

use tidewater::operators::window::{self, WindowAssigner, Windowed};
use tidewater::prelude::*;

use super::PositionedGenerator;
use crate::event_time::{Bursts, EventClock, Timed};
use crate::jobs::{window_checksum, Spec, SESSION_GAP_MS, SLIDE_MS, SLIDING_SIZE_MS};
use crate::latency::Totals;

/// A window's count and the latest birth time among its sampled events: the count is the
/// result, the birth time dates the result for latency (0 if no event of the window was
/// sampled, and then no latency is recorded).
#[derive(Clone, Copy)]
struct CountAndLatest;

impl AggregateFunction<Timed> for CountAndLatest {
    type Acc = (u64, u64);
    type Out = (u64, u64);

    fn create(&self) -> Self::Acc {
        (0, 0)
    }

    #[inline]
    fn add(&self, acc: &mut Self::Acc, event: Timed) {
        acc.0 += 1;
        acc.1 = acc.1.max(event.born_ns);
    }

    fn result(&self, acc: &Self::Acc) -> Self::Out {
        *acc
    }

    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc) {
        acc.0 += other.0;
        acc.1 = acc.1.max(other.1);
    }
}

/// Sliding windows of [`SLIDING_SIZE_MS`] every [`SLIDE_MS`], counting each key's events:
/// the workload's keys, times from the [`EventClock`].
pub(super) fn sliding_count(env: &Env, spec: &Spec, totals: &Totals) {
    let workload = spec.workload;
    let clock = EventClock::new(spec.shards);
    let make = move |index, position| {
        let event = workload.event(index);
        Timed {
            key: event.key,
            time_ms: clock.time_ms(position),
            born_ns: event.born_ns,
        }
    };
    let assigner = window::sliding(
        Duration::from_millis(SLIDING_SIZE_MS),
        Duration::from_millis(SLIDE_MS),
    );
    count_per_window(env, spec, totals, make, assigner, "sliding-count");
}

/// Session windows with a gap of [`SESSION_GAP_MS`], counting each session's events: keys
/// active in [`Bursts`], times from the [`EventClock`].
pub(super) fn session_count(env: &Env, spec: &Spec, totals: &Totals) {
    let workload = spec.workload;
    let clock = EventClock::new(spec.shards);
    let bursts = Bursts::new(workload.keys());
    let make = move |index, position| {
        let time_ms = clock.time_ms(position);
        Timed {
            key: bursts.key(time_ms, index),
            time_ms,
            born_ns: workload.born_ns(index),
        }
    };
    let assigner = window::session(Duration::from_millis(SESSION_GAP_MS));
    count_per_window(env, spec, totals, make, assigner, "session-count");
}

/// Generator (event `index` at `position` in its shard's part is `make(index, position)`) →
/// event time with a watermark bound of 0 (times are monotone per shard) → key_by → windows
/// of `assigner` → [`CountAndLatest`] → a sink recording one [`window_checksum`] per result.
fn count_per_window<F>(
    env: &Env,
    spec: &Spec,
    totals: &Totals,
    make: F,
    assigner: WindowAssigner,
    name: &str,
) where
    F: Fn(u64, u64) -> Timed + Clone + Send + Sync + 'static,
{
    let mut recorder = totals.recorder();
    env.from_source(PositionedGenerator::new(spec.events, make, spec.rate))
        .name("generator")
        .assign_timestamps(|event: &Timed| event.time_ms as Timestamp, 0)
        .key_by(|event: &Timed| event.key)
        .window(assigner)
        .aggregate(CountAndLatest)
        .name(name)
        .sink(move |result: Windowed<u64, (u64, u64)>| {
            let (count, born_ns) = result.value;
            let checksum =
                window_checksum(result.key, result.window.start, result.window.end, count);
            recorder.record(born_ns, checksum);
        });
}
