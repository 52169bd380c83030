//! Windows against plain batch computations: tumbling, sliding and session windows on
//! out-of-order input (within the watermark bound) on 1, 2 and 4 shards; lateness and the
//! late-data side output; session merging; count triggers. Sliding and tumbling windows with
//! `aggregate` run on the sliced operator, which is also compared with the general one on
//! input with late records; `aggregate_local_global` is compared with both.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use tidewater::operators::window::{self, CountTrigger, TimeWindow, WindowAssigner, Windowed};
use tidewater::operators::{Count, OutputTag, Sum};
use tidewater::prelude::*;

/// (key, event time, value)
type Event = (u8, i64, i64);

const BOUND_MS: i64 = 3_000;

/// Input in arrival order: timestamps rise by a random step and jitter below the watermark
/// bound, so no record is later than the bound allows.
fn events() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec((0u8..4, 0i64..2_500, 0i64..BOUND_MS, -50i64..50), 0..250).prop_map(
        |steps| {
            let mut base = 0;
            steps
                .into_iter()
                .map(|(key, step, jitter, value)| {
                    base += step;
                    (key, base + jitter, value)
                })
                .collect()
        },
    )
}

fn assigners() -> impl Strategy<Value = WindowAssigner> {
    prop_oneof![
        (1u64..20).prop_map(|s| window::tumbling(Duration::from_millis(s * 500))),
        (1u64..6, 1u64..4).prop_map(|(slide, times)| window::sliding(
            Duration::from_millis(slide * 500 * times),
            Duration::from_millis(slide * 500)
        )),
        (1u64..10).prop_map(|g| window::session(Duration::from_millis(g * 700))),
    ]
}

/// The plain computation: (key, window) → (count, sum).
fn batch(events: &[Event], assigner: WindowAssigner) -> BTreeMap<(u8, TimeWindow), (u64, i64)> {
    let mut out = BTreeMap::new();
    match assigner {
        WindowAssigner::Session { gap, .. } => {
            let mut by_key: BTreeMap<u8, Vec<(i64, i64)>> = BTreeMap::new();
            for &(key, ts, value) in events {
                by_key.entry(key).or_default().push((ts, value));
            }
            for (key, mut records) in by_key {
                records.sort();
                let mut session: Option<(TimeWindow, u64, i64)> = None;
                for (ts, value) in records {
                    session = Some(match session {
                        Some((window, count, sum)) if ts < window.end => (
                            TimeWindow::new(window.start, window.end.max(ts + gap)),
                            count + 1,
                            sum + value,
                        ),
                        previous => {
                            if let Some((window, count, sum)) = previous {
                                out.insert((key, window), (count, sum));
                            }
                            (TimeWindow::new(ts, ts + gap), 1, value)
                        }
                    });
                }
                if let Some((window, count, sum)) = session {
                    out.insert((key, window), (count, sum));
                }
            }
        }
        _ => {
            for &(key, ts, value) in events {
                assigner.assign(ts, |window| {
                    let entry = out.entry((key, window)).or_insert((0, 0));
                    entry.0 += 1;
                    entry.1 += value;
                });
            }
        }
    }
    out
}

fn engine(
    events: &[Event],
    assigner: WindowAssigner,
    shards: usize,
) -> BTreeMap<(u8, TimeWindow), (u64, i64)> {
    let env = Env::new(
        JobConfig::default()
            .shards(shards)
            .pinning(Pinning::Never)
            .batch_size(8),
    );
    let keyed = env
        .from_collection(events.to_vec())
        .assign_timestamps(|e: &Event| e.1, BOUND_MS)
        .key_by(|e: &Event| e.0);
    // Sliding and tumbling event-time windows run on the sliced operator, sessions do not.
    let slice = match assigner {
        WindowAssigner::Sliding { size, slide, .. } => Some(gcd(size, slide)),
        WindowAssigner::Tumbling { size, .. } => Some(size),
        _ => None,
    };
    assert_eq!(
        keyed.window(assigner).slice_length(),
        slice.map(|ms| Duration::from_millis(ms as u64))
    );
    let counts = keyed.window(assigner).aggregate(Count).collect();
    let sums = keyed
        .window(assigner)
        .aggregate(Sum(|e: &Event| e.2))
        .collect();
    let report = env.execute().unwrap();
    let metrics_late = report.source_records; // read to keep the report used
    assert_eq!(metrics_late, events.len() as u64);
    let mut out: BTreeMap<(u8, TimeWindow), (u64, i64)> = BTreeMap::new();
    for Windowed { key, window, value } in counts.take() {
        let previous = out.insert((key, window), (value, 0));
        assert!(
            previous.is_none(),
            "window {window:?} of key {key} fired twice"
        );
    }
    for Windowed { key, window, value } in sums.take() {
        let entry = out
            .get_mut(&(key, window))
            .expect("sums and counts see the same windows");
        entry.1 = value;
    }
    out
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Input in arrival order where some records come later than the watermark bound allows.
fn events_with_late_ones() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec(
        (
            0u8..4,
            0i64..1_500,
            prop_oneof![3 => 0i64..1_000, 1 => -6_000i64..0],
            -50i64..50,
        ),
        0..200,
    )
    .prop_map(|steps| {
        let mut base = 0;
        steps
            .into_iter()
            .map(|(key, step, jitter, value)| {
                base += step;
                (key, base + jitter, value)
            })
            .collect()
    })
}

/// Many records of two hot keys, most arriving after later ones of their key (up to 4 s out of
/// order, a few beyond the bound of 3 s): the sliced operator's slices get many entries for
/// older slices than their keys' newest.
fn hot_disordered_events() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec((0u8..2, 0i64..25, -4_000i64..0, -50i64..50), 300..1_500).prop_map(
        |steps| {
            let mut base = 4_000;
            steps
                .into_iter()
                .map(|(key, step, jitter, value)| {
                    base += step;
                    (key, base + jitter, value)
                })
                .collect()
        },
    )
}

/// Sliding windows of any size, slide and offset (so slices shorter than the slide, and
/// windows shorter than the slide with gaps between them), and tumbling windows.
fn sliceable_assigners() -> impl Strategy<Value = WindowAssigner> {
    let ms = Duration::from_millis;
    prop_oneof![
        (1u64..8_000, 1u64..4_000, 0u64..5_000).prop_map(move |(size, slide, offset)| {
            window::sliding(ms(size), ms(slide)).with_offset(ms(offset))
        }),
        (1u64..30, 1u64..10, 0u64..5).prop_map(move |(size, slide, offset)| window::sliding(
            ms(size * 250),
            ms(slide * 250)
        )
        .with_offset(ms(offset * 100))),
        (1u64..6_000, 0u64..3_000)
            .prop_map(move |(size, offset)| window::tumbling(ms(size)).with_offset(ms(offset))),
    ]
}

/// Results by (key, window) as (count, sum), and the late records, of windows computed by
/// `aggregate` on the sliced operator and by `process` on the general one, on one shard (so
/// that both see the same watermarks between the same records).
#[allow(clippy::type_complexity)]
fn sliced_and_general(
    events: &[Event],
    assigner: WindowAssigner,
    bound_ms: i64,
) -> [(Vec<(u8, TimeWindow, u64, i64)>, Vec<Event>); 2] {
    let env = Env::new(
        JobConfig::default()
            .shards(1)
            .pinning(Pinning::Never)
            .batch_size(3),
    );
    let late = OutputTag::<Event>::new("late");
    let keyed = env
        .from_collection(events.to_vec())
        .assign_timestamps(|e: &Event| e.1, bound_ms)
        .key_by(|e: &Event| e.0);
    let sliced = keyed.window(assigner).side_output_late_data(&late);
    assert!(sliced.slice_length().is_some());
    let counts = sliced.aggregate(Count);
    let sliced_late = counts.side_output(&late).collect();
    let counts = counts.collect();
    let sums = sliced
        .reduce(|a: Event, b: Event| (a.0, a.1.max(b.1), a.2 + b.2))
        .collect();
    let general = keyed.window(assigner).side_output_late_data(&late).process(
        |key: &u8, window: &TimeWindow, records: &[Event], out: &mut Vec<_>| {
            let sum = records.iter().map(|e| e.2).sum::<i64>();
            out.push((*key, *window, records.len() as u64, sum));
        },
    );
    let general_late = general.side_output(&late).collect();
    let general = general.collect();
    let handle = env.execute_async().unwrap();
    let metrics = handle.metrics().clone();
    handle.join().unwrap();

    let mut sliced: Vec<(u8, TimeWindow, u64, i64)> = counts
        .take()
        .into_iter()
        .map(|w| (w.key, w.window, w.value, 0))
        .collect();
    sliced.sort();
    let mut sums: Vec<(u8, TimeWindow, i64)> = sums
        .take()
        .into_iter()
        .map(|w| (w.key, w.window, w.value.2))
        .collect();
    sums.sort();
    assert_eq!(
        sums.len(),
        sliced.len(),
        "reduce and aggregate fire the same windows"
    );
    for (result, (key, window, sum)) in sliced.iter_mut().zip(sums) {
        assert_eq!((result.0, result.1), (key, window));
        result.3 = sum;
    }
    let mut general = general.take();
    general.sort();
    // Late records come in arrival order, and each operator counts its own: two sliced
    // ones (aggregate and reduce) and the general one.
    let (sliced_late, general_late) = (sliced_late.take(), general_late.take());
    assert_eq!(
        metrics.late_records(),
        (2 * sliced_late.len() + general_late.len()) as u64
    );
    [(sliced, sliced_late), (general, general_late)]
}

/// Results by (key, window) as (count, sum) of `aggregate_local_global` and of `aggregate`
/// on the same input in one job on `shards`.
fn local_global_and_direct(
    events: &[Event],
    assigner: WindowAssigner,
    bound_ms: i64,
    shards: usize,
) -> [BTreeMap<(u8, TimeWindow), (u64, i64)>; 2] {
    let env = Env::new(
        JobConfig::default()
            .shards(shards)
            .pinning(Pinning::Never)
            .batch_size(3),
    );
    let keyed = env
        .from_collection(events.to_vec())
        .assign_timestamps(|e: &Event| e.1, bound_ms)
        .key_by(|e: &Event| e.0);
    let windows = keyed.window(assigner);
    let sum = Sum(|e: &Event| e.2);
    let local_global = (
        windows.aggregate_local_global(Count).collect(),
        windows.aggregate_local_global(sum.clone()).collect(),
    );
    let direct = (
        windows.aggregate(Count).collect(),
        windows.aggregate(sum).collect(),
    );
    env.execute().unwrap();
    [local_global, direct].map(|(counts, sums)| {
        let mut out = BTreeMap::new();
        for Windowed { key, window, value } in counts.take() {
            assert!(
                out.insert((key, window), (value, 0)).is_none(),
                "{window:?} of {key} fired twice"
            );
        }
        for Windowed { key, window, value } in sums.take() {
            out.get_mut(&(key, window))
                .expect("sums and counts fire alike")
                .1 = value;
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn local_global_aggregation_equals_the_batch_computation(
        events in events(),
        assigner in sliceable_assigners(),
    ) {
        let expected = batch(&events, assigner);
        for shards in [1, 2, 3] {
            let [local_global, direct] = local_global_and_direct(&events, assigner, BOUND_MS, shards);
            prop_assert_eq!(&local_global, &expected, "on {} shards", shards);
            prop_assert_eq!(&direct, &expected, "on {} shards", shards);
        }
    }

    /// Late records (dropped by one operator and not the other, or counted in fewer
    /// windows) would show here; on one shard both see the same watermarks between the
    /// same records.
    #[test]
    fn local_global_aggregation_equals_aggregate_with_late_records(
        events in events_with_late_ones(),
        assigner in sliceable_assigners(),
    ) {
        let [local_global, direct] = local_global_and_direct(&events, assigner, 500, 1);
        prop_assert_eq!(local_global, direct);
    }

    #[test]
    fn windows_equal_the_batch_computation(events in events(), assigner in assigners()) {
        let expected = batch(&events, assigner);
        for shards in [1, 2, 4] {
            prop_assert_eq!(&engine(&events, assigner, shards), &expected, "on {} shards", shards);
        }
    }

    #[test]
    fn sliced_windows_equal_the_general_operator_with_late_records(
        events in events_with_late_ones(),
        assigner in sliceable_assigners(),
    ) {
        let [sliced, general] = sliced_and_general(&events, assigner, 500);
        prop_assert_eq!(sliced, general);
    }

    #[test]
    fn sliced_windows_equal_the_general_operator_on_hot_keys_far_out_of_order(
        events in hot_disordered_events(),
        assigner in sliceable_assigners(),
    ) {
        let [sliced, general] = sliced_and_general(&events, assigner, 3_000);
        prop_assert_eq!(sliced, general);
    }
}

#[test]
fn records_beyond_the_allowed_lateness_go_to_the_side_output_and_are_counted() {
    // One record per batch, so that a watermark follows every record.
    let env = Env::new(JobConfig::default().shards(1).batch_size(1));
    let late = OutputTag::<Event>::new("late");
    let input: Vec<Event> = vec![
        (1, 1_000, 1),
        (1, 12_000, 10),  // watermark 11 999: [0, 10 000) fires with 1
        (1, 2_000, 2),    // late but within 5 s of lateness: fires again with 3
        (1, 16_000, 100), // watermark 15 999: [0, 10 000) is cleaned up
        (1, 3_000, 4),    // too late
        (1, 4_000, 8),    // too late
    ];
    let windows = env
        .from_collection(input)
        .assign_timestamps(|e: &Event| e.1, 0)
        .key_by(|e: &Event| e.0)
        .window(window::tumbling(Duration::from_secs(10)))
        .allowed_lateness(Duration::from_secs(5))
        .side_output_late_data(&late)
        .aggregate(Sum(|e: &Event| e.2));
    let late_records = windows.side_output(&late).collect();
    let results = windows.collect();
    let handle = env.execute_async().unwrap();
    let metrics = handle.metrics().clone();
    handle.join().unwrap();

    let first = TimeWindow::new(0, 10_000);
    let second = TimeWindow::new(10_000, 20_000);
    let results: Vec<(TimeWindow, i64)> = results
        .take()
        .into_iter()
        .map(|w| (w.window, w.value))
        .collect();
    assert_eq!(results, vec![(first, 1), (first, 3), (second, 110)]);
    assert_eq!(late_records.take(), vec![(1, 3_000, 4), (1, 4_000, 8)]);
    assert_eq!(metrics.late_records(), 2);
}

#[test]
fn only_event_time_sliding_or_tumbling_windows_with_the_event_time_trigger_are_sliced() {
    let env = Env::new(JobConfig::default().shards(1));
    let keyed = env
        .from_collection(vec![(1u8, 0i64, 0i64)])
        .assign_timestamps(|e: &Event| e.1, 0)
        .key_by(|e: &Event| e.0);
    let secs = Duration::from_secs;
    let sliding = window::sliding(secs(10), secs(4));
    assert_eq!(keyed.window(sliding).slice_length(), Some(secs(2)));
    assert_eq!(
        keyed
            .window(sliding)
            .trigger(window::EventTimeTrigger)
            .slice_length(),
        Some(secs(2))
    );
    assert_eq!(
        keyed.window(window::tumbling(secs(3))).slice_length(),
        Some(secs(3))
    );
    // Everything else keeps one accumulator per key and window.
    assert_eq!(
        keyed
            .window(sliding)
            .allowed_lateness(secs(1))
            .slice_length(),
        None
    );
    assert_eq!(
        keyed
            .window(sliding)
            .trigger(CountTrigger::of(2))
            .slice_length(),
        None
    );
    let processing = sliding.processing_time();
    assert_eq!(keyed.window(processing).slice_length(), None);
    assert_eq!(
        keyed
            .window(sliding)
            .trigger(window::DefaultTrigger::for_assigner(&processing))
            .slice_length(),
        None
    );
    assert_eq!(keyed.window(window::session(secs(1))).slice_length(), None);
    assert_eq!(keyed.window(window::global()).slice_length(), None);
}

#[test]
fn sliced_windows_drop_exactly_the_records_whose_last_window_has_fired() {
    // One record per batch, so that a watermark (the largest time so far - 1) follows every
    // record. Windows of 10 s every 5 s: a record is in two of them.
    let env = Env::new(JobConfig::default().shards(1).batch_size(1));
    let late = OutputTag::<Event>::new("late");
    let input: Vec<Event> = vec![
        (1, 3_000, 1),
        (2, 15_000, 10), // watermark 14 999: every window up to [5 000, 15 000) fires
        (1, 9_999, 100), // in [0, 10 000) and [5 000, 15 000): too late
        (1, 10_000, 1_000), // [5 000, 15 000) has fired, [10 000, 20 000) has not
        (2, 4_999, 10_000), // in [-5 000, 5 000) and [0, 10 000): too late
        (1, 30_000, 0),  // watermark 29 999; the rest fire at the end of the input
    ];
    let windows = env
        .from_collection(input)
        .assign_timestamps(|e: &Event| e.1, 0)
        .key_by(|e: &Event| e.0)
        .window(window::sliding(
            Duration::from_secs(10),
            Duration::from_secs(5),
        ))
        .side_output_late_data(&late);
    assert_eq!(windows.slice_length(), Some(Duration::from_secs(5)));
    let sums = windows.aggregate(Sum(|e: &Event| e.2));
    let late_records = sums.side_output(&late).collect();
    let sums = sums.collect();
    let handle = env.execute_async().unwrap();
    let metrics = handle.metrics().clone();
    handle.join().unwrap();

    let mut sums: Vec<(u8, TimeWindow, i64)> = sums
        .take()
        .into_iter()
        .map(|w| (w.key, w.window, w.value))
        .collect();
    sums.sort();
    let w = |start: i64| TimeWindow::new(start, start + 10_000);
    assert_eq!(
        sums,
        vec![
            (1, w(-5_000), 1),
            (1, w(0), 1),
            (1, w(10_000), 1_000),
            (1, w(25_000), 0),
            (1, w(30_000), 0),
            (2, w(10_000), 10),
            (2, w(15_000), 10),
        ]
    );
    assert_eq!(
        late_records.take(),
        vec![(1, 9_999, 100), (2, 4_999, 10_000)]
    );
    assert_eq!(metrics.late_records(), 2);
}

#[test]
fn an_out_of_order_record_bridging_two_sessions_merges_them() {
    let env = Env::new(JobConfig::default().shards(2).pinning(Pinning::Never));
    // Sessions [0, 10 000) and [15 000, 25 000) of key 7 are bridged by 8 000, whose window
    // [8 000, 18 000) overlaps both; key 9's sessions stay apart (touching only).
    let input: Vec<Event> = vec![
        (7, 0, 1),
        (9, 0, 1),
        (7, 15_000, 1),
        (9, 10_000, 1),
        (7, 8_000, 1),
    ];
    let sessions = env
        .from_collection(input)
        .assign_timestamps(|e: &Event| e.1, 20_000)
        .key_by(|e: &Event| e.0)
        .window(window::session(Duration::from_secs(10)))
        .aggregate(Count)
        .collect();
    env.execute().unwrap();
    let mut sessions: Vec<_> = sessions
        .take()
        .into_iter()
        .map(|w| (w.key, w.window, w.value))
        .collect();
    sessions.sort();
    assert_eq!(
        sessions,
        vec![
            (7, TimeWindow::new(0, 25_000), 3),
            (9, TimeWindow::new(0, 10_000), 1),
            (9, TimeWindow::new(10_000, 20_000), 1),
        ]
    );
}

#[test]
fn a_purging_count_trigger_on_the_global_window_fires_every_n_records() {
    let env = Env::new(JobConfig::default().shards(2).pinning(Pinning::Never));
    let batches = env
        .from_collection((0..100i64).collect())
        .key_by(|x: &i64| x % 2)
        .window(window::global())
        .trigger(CountTrigger::of(10).purging())
        .process(
            |key: &i64, _window: &TimeWindow, records: &[i64], out: &mut Vec<(i64, usize, i64)>| {
                out.push((*key, records.len(), records.iter().sum()));
            },
        )
        .collect();
    env.execute().unwrap();
    let batches = batches.take();
    assert_eq!(
        batches.len(),
        10,
        "50 records per key make 5 firings per key"
    );
    assert!(batches.iter().all(|(_, len, _)| *len == 10));
    let total: i64 = batches.iter().map(|(_, _, sum)| sum).sum();
    assert_eq!(total, (0..100).sum());
}

#[test]
fn processing_time_windows_fire_everything_by_the_end() {
    let env = Env::new(JobConfig::default().shards(2).pinning(Pinning::Never));
    let counts = env
        .generate(5_000, |i| i)
        .key_by(|x: &u64| x % 3)
        .window(window::tumbling(Duration::from_millis(20)).processing_time())
        .aggregate(Count)
        .collect();
    env.execute().unwrap();
    let total: u64 = counts.take().iter().map(|w| w.value).sum();
    assert_eq!(total, 5_000);
}
