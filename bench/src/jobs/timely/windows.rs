//! Sliding count on timely-dataflow: event time is the timestamp, so an operator's input
//! frontier tells it which windows are complete, as Tidewater's watermark does.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Scope;

use super::generator;
use crate::event_time::EventClock;
use crate::jobs::{window_checksum, Spec, SLIDE_MS, SLIDING_SIZE_MS};
use crate::latency::Recorder;

/// An event on the wire of the exchange: `(key, born_ns)`; its event time is the timestamp.
type KeyedEvent = (u64, u64);

/// A window result: `(key, window start, count, latest born_ns)`.
type WindowCount = (u64, i64, u64, u64);

/// One open window on one worker: the capability to emit its results at, and per key the
/// count and the latest birth time of its events.
struct OpenWindow {
    capability: Capability<u64>,
    counts: hashbrown::HashMap<u64, (u64, u64)>,
}

/// The starts of the sliding windows holding `time`: `SLIDING_SIZE_MS / SLIDE_MS` of them,
/// aligned to 0 (and so starting before 0 for the first times), as Tidewater assigns them.
fn window_starts(time: i64) -> impl Iterator<Item = i64> {
    let (size, slide) = (SLIDING_SIZE_MS as i64, SLIDE_MS as i64);
    let last = time - time.rem_euclid(slide);
    (0..size / slide).map(move |k| last - k * slide)
}

/// Source (event time from the [`EventClock`] as the timestamp) → exchange by key → per
/// (key, window) count and latest birth, each window emitted when the input frontier passes
/// its last millisecond → sink recording one [`window_checksum`] per result.
pub(super) fn sliding_count(
    scope: Scope<'_, u64>,
    spec: &Spec,
    generated: Arc<AtomicU64>,
    mut recorder: Recorder,
) {
    let workload = spec.workload;
    let clock = EventClock::new(spec.shards);
    generator(scope, spec, generated, move |index, position| {
        let event = workload.event(index);
        (clock.time_ms(position), (event.key, event.born_ns))
    })
    .unary_frontier::<CapacityContainerBuilder<Vec<WindowCount>>, _, _, _>(
        // As in keyed count: mix the key so that the exchange's low bits spread it evenly.
        Exchange::new(|&(key, _): &KeyedEvent| key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32),
        "sliding-count",
        |_capability, _info| {
            // Open windows by their last millisecond (end - 1), the time the frontier must
            // pass before they are complete.
            let mut windows = BTreeMap::<u64, OpenWindow>::new();
            move |(input, frontier), output| {
                let port = output.output_index();
                input.for_each_stamp(|capability, containers| {
                    // The source sends every record under a capability for its own time.
                    let Some(&time) = capability.least() else {
                        return;
                    };
                    for records in containers {
                        for start in window_starts(time as i64) {
                            let last = (start + SLIDING_SIZE_MS as i64 - 1) as u64;
                            let window = windows.entry(last).or_insert_with(|| OpenWindow {
                                capability: capability.delayed(&last, port),
                                counts: hashbrown::HashMap::new(),
                            });
                            for &(key, born_ns) in records.iter() {
                                let acc = window.counts.entry(key).or_insert((0, 0));
                                acc.0 += 1;
                                acc.1 = acc.1.max(born_ns);
                            }
                        }
                    }
                });
                // Every window whose last millisecond the frontier has passed is complete.
                while let Some(entry) = windows.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (last, window) = entry.remove_entry();
                    let start = last as i64 + 1 - SLIDING_SIZE_MS as i64;
                    output.session(&window.capability).give_iterator(
                        window
                            .counts
                            .into_iter()
                            .map(|(key, (count, born_ns))| (key, start, count, born_ns)),
                    );
                }
            }
        },
    )
    .sink(Pipeline, "sink", move |(input, _frontier)| {
        input.for_each(|_capability, results| {
            for &(key, start, count, born_ns) in results.iter() {
                let end = start + SLIDING_SIZE_MS as i64;
                recorder.record(born_ns, window_checksum(key, start, end, count));
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_starts_match_tidewater_sliding_windows() {
        let assigner = tidewater::operators::window::sliding(
            std::time::Duration::from_millis(SLIDING_SIZE_MS),
            std::time::Duration::from_millis(SLIDE_MS),
        );
        for time in [0, 1, 1_999, 2_000, 11_000, 123_456] {
            let mut expected = Vec::new();
            assigner.assign(time, |window| expected.push(window.start));
            expected.sort_unstable();
            let mut got: Vec<i64> = window_starts(time).collect();
            got.sort_unstable();
            assert_eq!(got, expected, "time {time}");
        }
    }
}
