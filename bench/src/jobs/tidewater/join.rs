//! The interval-join job on Tidewater: orders joined with their payments.

use tidewater::prelude::*;

use super::PositionedGenerator;
use crate::event_time::{payment_delay_ms, EventClock, Timed, MAX_PAYMENT_DELAY_MS};
use crate::jobs::{join_pair_checksum, Spec, JOIN_UPPER_MS};
use crate::latency::Totals;

/// Orders and payments, each `spec.events / 2` from the same generator split: order `i` has
/// id `i` and its time from the [`EventClock`]; payment `i` pays order `i`, at the order's
/// time plus [`payment_delay_ms`]`(i)` (in `0..2000` ms), and is generated alongside it, so
/// the payment stream is out of order by up to [`MAX_PAYMENT_DELAY_MS`], its watermark's
/// bound. Keyed by id, each order joins the payments `between(0, JOIN_UPPER_MS)` after it:
/// exactly its own. A pair's latency runs from the later birth of the two (sampled orders and
/// payments share their index, so both are sampled or neither).
pub(super) fn interval_join(env: &Env, spec: &Spec, totals: &Totals) {
    let workload = spec.workload;
    let clock = EventClock::new(spec.shards);
    let orders_count = spec.events / 2;
    // Each stream gets half of a throttled rate, so that the sources emit `rate` in all.
    let rate = spec.rate.map(|rate| rate / 2.0);
    let orders = PositionedGenerator::new(
        orders_count,
        move |index, position| Timed {
            key: index,
            time_ms: clock.time_ms(position),
            born_ns: workload.born_ns(index),
        },
        rate,
    );
    let payments = PositionedGenerator::new(
        orders_count,
        move |index, position| Timed {
            key: index,
            time_ms: clock.time_ms(position) + payment_delay_ms(index),
            born_ns: workload.born_ns(index),
        },
        rate,
    );
    let orders = env
        .from_source(orders)
        .name("orders")
        .assign_timestamps(|order: &Timed| order.time_ms as Timestamp, 0)
        .key_by(|order: &Timed| order.key);
    let payments = env
        .from_source(payments)
        .name("payments")
        .assign_timestamps(
            |payment: &Timed| payment.time_ms as Timestamp,
            MAX_PAYMENT_DELAY_MS as i64,
        )
        .key_by(|payment: &Timed| payment.key);
    let mut recorder = totals.recorder();
    orders
        .interval_join(&payments)
        .between(0, JOIN_UPPER_MS as i64)
        .process(|order: &Timed, payment: &Timed| order.born_ns.max(payment.born_ns))
        .name("interval-join")
        .sink(move |born_ns: u64| recorder.record(born_ns, join_pair_checksum()));
}
