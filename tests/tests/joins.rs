//! Joins and two-input operators: interval and window joins against nested-loop joins
//! written here (on 1, 2 and 4 shards); keyed co-process functions; broadcast state.

use std::time::Duration;

use proptest::prelude::*;
use tidewater::operators::window::{self, TimeWindow, WindowAssigner};
use tidewater::operators::{
    Context, KeyedBroadcastProcessFunction, KeyedCoProcessFunction, TimeDomain,
};
use tidewater::prelude::*;
use tidewater::state::KeyedStates;
use tidewater::state::ValueState;

/// (key, event time, id)
type Event = (u8, i64, u32);

const BOUND_MS: i64 = 200;

/// Records in arrival order with times rising by random steps plus jitter under the bound.
fn side(ids: std::ops::Range<u32>) -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec((0u8..3, 0i64..60, 0i64..BOUND_MS), 0..80).prop_map(move |steps| {
        let mut base = 0;
        steps
            .into_iter()
            .zip(ids.clone())
            .map(|((key, step, jitter), id)| {
                base += step;
                (key, base + jitter, id)
            })
            .collect()
    })
}

fn config(shards: usize) -> JobConfig {
    JobConfig::default()
        .shards(shards)
        .pinning(Pinning::Never)
        .batch_size(4)
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

fn interval_join(
    left: &[Event],
    right: &[Event],
    bounds: (i64, i64),
    shards: usize,
) -> Vec<(u32, u32)> {
    let env = Env::new(config(shards));
    let left = env
        .from_collection(left.to_vec())
        .assign_timestamps(|e: &Event| e.1, BOUND_MS)
        .key_by(|e: &Event| e.0);
    let right = env
        .from_collection(right.to_vec())
        .assign_timestamps(|e: &Event| e.1, BOUND_MS)
        .key_by(|e: &Event| e.0);
    let pairs = left
        .interval_join(&right)
        .between(bounds.0, bounds.1)
        .process(|a: &Event, b: &Event| (a.2, b.2))
        .collect();
    env.execute().unwrap();
    sorted(pairs.take())
}

fn window_join(
    left: &[Event],
    right: &[Event],
    assigner: WindowAssigner,
    shards: usize,
) -> Vec<(u32, u32)> {
    let env = Env::new(config(shards));
    let left = env
        .from_collection(left.to_vec())
        .assign_timestamps(|e: &Event| e.1, BOUND_MS);
    let right = env
        .from_collection(right.to_vec())
        .assign_timestamps(|e: &Event| e.1, BOUND_MS);
    let pairs = left
        .join(&right)
        .where_(|e: &Event| e.0)
        .equal_to(|e: &Event| e.0)
        .window(assigner)
        .apply(|a: &Event, b: &Event| (a.2, b.2))
        .collect();
    env.execute().unwrap();
    sorted(pairs.take())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_interval_join_equals_a_nested_loop_join(
        left in side(0..1_000),
        right in side(1_000..2_000),
        lower in -150i64..100,
        width in 0i64..200,
    ) {
        let upper = lower + width;
        let expected = sorted(
            left.iter()
                .flat_map(|a| right.iter().map(move |b| (a, b)))
                .filter(|(a, b)| a.0 == b.0 && a.1 + lower <= b.1 && b.1 <= a.1 + upper)
                .map(|(a, b)| (a.2, b.2))
                .collect(),
        );
        for shards in [1, 2, 4] {
            prop_assert_eq!(&interval_join(&left, &right, (lower, upper), shards), &expected, "on {} shards", shards);
        }
    }

    #[test]
    fn the_window_join_equals_a_nested_loop_join(
        left in side(0..1_000),
        right in side(1_000..2_000),
        size in 1u64..8,
    ) {
        let assigner = window::tumbling(Duration::from_millis(size * 50));
        let window_of = |t: i64| {
            let mut found = None;
            assigner.assign(t, |w: TimeWindow| found = Some(w));
            found
        };
        let expected = sorted(
            left.iter()
                .flat_map(|a| right.iter().map(move |b| (a, b)))
                .filter(|(a, b)| a.0 == b.0 && window_of(a.1) == window_of(b.1))
                .map(|(a, b)| (a.2, b.2))
                .collect(),
        );
        for shards in [1, 2, 4] {
            prop_assert_eq!(&window_join(&left, &right, assigner, shards), &expected, "on {} shards", shards);
        }
    }
}

/// Pairs each key's order with its payment, whichever comes first: the two inputs share
/// keyed state.
#[derive(Clone, Default)]
struct OrderPayment {
    order: ValueState<u64, u64>,
    payment: ValueState<u64, u64>,
}

impl KeyedCoProcessFunction<u64, (u64, u64), (u64, u64), (u64, u64, u64)> for OrderPayment {
    fn states(&mut self, states: &mut KeyedStates<'_, u64>) {
        states.register("order", &mut self.order);
        states.register("payment", &mut self.payment);
    }

    fn process_first(&mut self, order: (u64, u64), ctx: &mut Context<'_, u64, (u64, u64, u64)>) {
        self.order.update(ctx, order.1);
        if let Some(&payment) = self.payment.value(ctx) {
            ctx.emit((order.0, order.1, payment));
        }
    }

    fn process_second(&mut self, payment: (u64, u64), ctx: &mut Context<'_, u64, (u64, u64, u64)>) {
        self.payment.update(ctx, payment.1);
        if let Some(&order) = self.order.value(ctx) {
            ctx.emit((payment.0, order, payment.1));
        }
    }
}

#[test]
fn connected_keyed_streams_share_state_per_key() {
    for shards in [1, 3] {
        let env = Env::new(config(shards));
        let orders = env.from_collection((0..500u64).map(|k| (k, k * 10)).collect());
        let payments = env.from_collection((0..500u64).rev().map(|k| (k, k + 1)).collect());
        let joined = orders
            .connect(&payments)
            .key_by(|o: &(u64, u64)| o.0, |p: &(u64, u64)| p.0)
            .process(OrderPayment::default())
            .collect();
        env.execute().unwrap();
        let joined = sorted(joined.take());
        assert_eq!(
            joined,
            (0..500).map(|k| (k, k * 10, k + 1)).collect::<Vec<_>>()
        );
    }
}

/// (key, event time, amount)
type Payment = (u64, i64, u64);

/// Flags amounts above the threshold a broadcast rule sets. A payment waits (in keyed
/// state, behind an event-time timer) until the watermark passes its time: by then every
/// rule with an earlier time has been applied on this shard, whatever the arrival order.
#[derive(Clone, Default)]
struct Threshold {
    pending: ValueState<u64, u64>,
}

impl KeyedBroadcastProcessFunction<u64, Payment, (i64, u64), (u64, u64, u64)> for Threshold {
    fn states(&mut self, states: &mut KeyedStates<'_, u64>) {
        states.register("pending", &mut self.pending);
    }

    type Broadcast = Option<u64>;

    fn process_element(
        &mut self,
        record: Payment,
        _limit: &Option<u64>,
        ctx: &mut Context<'_, u64, (u64, u64, u64)>,
    ) {
        self.pending.update(ctx, record.2);
        ctx.register_event_time_timer(record.1);
    }

    fn process_broadcast(
        &mut self,
        rule: (i64, u64),
        state: &mut Option<u64>,
        _ctx: &mut Context<'_, (), (u64, u64, u64)>,
    ) {
        *state = Some(rule.1);
    }

    fn on_timer(
        &mut self,
        _time: Timestamp,
        _domain: TimeDomain,
        limit: &Option<u64>,
        ctx: &mut Context<'_, u64, (u64, u64, u64)>,
    ) {
        let amount = self
            .pending
            .value(ctx)
            .copied()
            .expect("a timer follows a payment");
        let limit = limit.expect("the rule's time precedes every payment's");
        if amount > limit {
            let key = *ctx.key();
            ctx.emit((key, amount, limit));
        }
    }
}

#[test]
fn a_broadcast_rule_reaches_every_shard_for_the_records_after_it() {
    let env = Env::new(config(4));
    let rules = env
        .from_collection(vec![(0i64, 100u64)])
        .assign_timestamps(|r: &(i64, u64)| r.0, 0);
    let payments = env
        .from_collection(
            (0..400u64)
                .map(|i| (i, 1 + i as i64, if i % 2 == 0 { 150 } else { 50 }))
                .collect(),
        )
        .assign_timestamps(|p: &Payment| p.1, 0);
    let flagged = payments
        .key_by(|p: &Payment| p.0)
        .connect_broadcast(&rules)
        .process(Threshold::default())
        .collect();
    env.execute().unwrap();
    let flagged = flagged.take();
    // All 200 large amounts, from the keys of all four shards, were flagged by the rule.
    assert_eq!(flagged.len(), 200);
    assert!(flagged
        .iter()
        .all(|&(key, amount, limit)| key % 2 == 0 && amount == 150 && limit == 100));
}
