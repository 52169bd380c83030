//! Process functions: event-time timers fire once, in order, never before the watermark;
//! processing-time timers fire on the clock; side outputs carry what the function routes.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use tidewater::operators::{Context, KeyedProcessFunction, OutputTag, ProcessFunction, TimeDomain};
use tidewater::prelude::*;
use tidewater::state::KeyedStates;

/// (key, event time)
type Event = (u8, i64);

/// Registers a timer 100 ms after each record's time; reports every firing as
/// (key, timer time, watermark at firing).
#[derive(Clone)]
struct Delayed;

impl KeyedProcessFunction<u8, Event, (u8, i64, i64)> for Delayed {
    fn states(&mut self, _states: &mut KeyedStates<'_, u8>) {}

    fn process_element(&mut self, record: Event, ctx: &mut Context<'_, u8, (u8, i64, i64)>) {
        assert_eq!(ctx.timestamp(), Some(record.1));
        ctx.register_event_time_timer(record.1 + 100);
    }

    fn on_timer(
        &mut self,
        time: Timestamp,
        domain: TimeDomain,
        ctx: &mut Context<'_, u8, (u8, i64, i64)>,
    ) {
        assert_eq!(domain, TimeDomain::EventTime);
        let firing = (*ctx.key(), time, ctx.current_watermark());
        ctx.emit(firing);
    }
}

fn events() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec((0u8..5, 0i64..400, 0i64..500), 0..200).prop_map(|steps| {
        let mut base = 0;
        steps
            .into_iter()
            .map(|(key, step, jitter)| {
                base += step;
                (key, base + jitter)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn event_time_timers_fire_once_in_order_and_not_before_the_watermark(events in events()) {
        for shards in [1, 2, 4] {
            let env = Env::new(JobConfig::default().shards(shards).pinning(Pinning::Never).batch_size(4));
            let fired = env
                .from_collection(events.clone())
                .assign_timestamps(|e: &Event| e.1, 500)
                .key_by(|e: &Event| e.0)
                .process(Delayed)
                .collect();
            env.execute().unwrap();
            let fired = fired.take();
            let expected: BTreeSet<(u8, i64)> = events.iter().map(|&(k, t)| (k, t + 100)).collect();
            let got: Vec<(u8, i64)> = fired.iter().map(|&(k, t, _)| (k, t)).collect();
            let unique: BTreeSet<(u8, i64)> = got.iter().copied().collect();
            prop_assert_eq!(got.len(), unique.len(), "a timer fired twice");
            prop_assert_eq!(&unique, &expected);
            for &(_, time, watermark) in &fired {
                prop_assert!(watermark >= time, "timer {} fired at watermark {}", time, watermark);
            }
            let mut per_key: BTreeMap<u8, Vec<i64>> = BTreeMap::new();
            for &(key, time, _) in &fired {
                per_key.entry(key).or_default().push(time);
            }
            for times in per_key.values() {
                prop_assert!(times.windows(2).all(|w| w[0] < w[1]), "out of order: {:?}", times);
            }
        }
    }
}

/// Splits records: even ones to the main output, odd ones to a side output.
#[derive(Clone)]
struct Splitter {
    odd: OutputTag<u64>,
}

impl ProcessFunction<u64, u64> for Splitter {
    fn process_element(&mut self, record: u64, ctx: &mut Context<'_, (), u64>) {
        if record.is_multiple_of(2) {
            ctx.emit(record);
        } else {
            ctx.output(&self.odd, record);
        }
    }
}

#[test]
fn side_outputs_carry_what_the_function_routes_there() {
    let env = Env::new(JobConfig::default().shards(2).pinning(Pinning::Never));
    let odd = OutputTag::new("odd");
    let evens = env
        .generate(1_000, |i| i)
        .process(Splitter { odd: odd.clone() });
    let odds = evens.side_output(&odd).rebalance().collect();
    let evens = evens.collect();
    env.execute().unwrap();
    let mut evens = evens.take();
    let mut odds = odds.take();
    evens.sort_unstable();
    odds.sort_unstable();
    assert_eq!(evens, (0..1_000).filter(|x| x % 2 == 0).collect::<Vec<_>>());
    assert_eq!(odds, (0..1_000).filter(|x| x % 2 == 1).collect::<Vec<_>>());
}

/// On its key's first record, asks for a processing-time timer 20 ms later; reports the
/// registration and firing times.
#[derive(Clone)]
struct Alarm {
    armed: tidewater::state::ValueState<u64, Timestamp>,
}

impl KeyedProcessFunction<u64, u64, (u64, Timestamp, Timestamp)> for Alarm {
    fn states(&mut self, states: &mut KeyedStates<'_, u64>) {
        states.register("armed", &mut self.armed);
    }

    fn process_element(
        &mut self,
        _record: u64,
        ctx: &mut Context<'_, u64, (u64, Timestamp, Timestamp)>,
    ) {
        if self.armed.value(ctx).is_none() {
            let due = ctx.current_processing_time() + 20;
            self.armed.update(ctx, due);
            ctx.register_processing_time_timer(due);
        }
    }

    fn on_timer(
        &mut self,
        time: Timestamp,
        domain: TimeDomain,
        ctx: &mut Context<'_, u64, (u64, Timestamp, Timestamp)>,
    ) {
        assert_eq!(domain, TimeDomain::ProcessingTime);
        let fired = (*ctx.key(), time, ctx.current_processing_time());
        ctx.emit(fired);
    }
}

#[test]
fn processing_time_timers_fire_once_when_the_clock_passes_them() {
    let env = Env::new(JobConfig::default().shards(2).pinning(Pinning::Never));
    // 4 000 records at 20 000 per second last at least 200 ms, long past every timer.
    let fired = env
        .from_source(Generator::new(4_000, |i| i).rate_limited(20_000.0))
        .key_by(|x: &u64| x % 4)
        .process(Alarm {
            armed: Default::default(),
        })
        .collect();
    env.execute().unwrap();
    let mut fired = fired.take();
    fired.sort_unstable();
    assert_eq!(
        fired.iter().map(|f| f.0).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    for (_, due, at) in fired {
        assert!(at >= due, "fired at {at}, before its time {due}");
    }
}
