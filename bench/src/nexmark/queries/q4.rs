//! q4, average price per category: the float mean of the final prices of each category's
//! auctions (final price: the [winning bid](super::winning_bids)'s). The mean changes with
//! every auction that closes, so each change retracts the category's previous row.

use serde::Serialize;
use tidewater::operators::{Context, KeyedProcessFunction};
use tidewater::state::KeyedStates;
use tidewater::state::ValueState;
use tidewater::DataStream;

use super::winning_bids::{winning_bids, Winner};
use super::{Change, ResultRow};
use crate::nexmark::event::Event;
use crate::nexmark::source::Stamped;

/// A result row of q4.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The category.
    pub category: i64,
    /// The mean final price of its auctions so far.
    pub avg: f64,
}

impl ResultRow for Row {}

/// Per category, the sum and count of final prices; emits the new mean in place of the old.
#[derive(Clone, Default)]
struct Average {
    totals: ValueState<i64, (i64, u64)>,
}

impl KeyedProcessFunction<i64, Stamped<(i64, i64)>, Stamped<Change<Row>>> for Average {
    fn states(&mut self, states: &mut KeyedStates<'_, i64>) {
        states.register("totals", &mut self.totals);
    }

    fn process_element(
        &mut self,
        record: Stamped<(i64, i64)>,
        ctx: &mut Context<'_, i64, Stamped<Change<Row>>>,
    ) {
        let (category, price) = record.value;
        let row = |(sum, count): (i64, u64)| Row {
            category,
            avg: sum as f64 / count as f64,
        };
        let totals = self.totals.get_or_insert_with(&*ctx, || (0, 0));
        let before = *totals;
        *totals = (before.0 + price, before.1 + 1);
        let after = *totals;
        let stamp = |change| Stamped {
            value: change,
            born_ns: record.born_ns,
            seq: record.seq,
        };
        if before.1 > 0 {
            ctx.emit(stamp(Change::Retract(row(before))));
        }
        ctx.emit(stamp(Change::Insert(row(after))));
    }
}

/// The mean final price per category of the auctions of `events`, as changes.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Change<Row>>> {
    winning_bids(events)
        .map(|winner: Winner| winner.map(|(auction, bid)| (auction.category, bid.price)))
        .key_by(|record: &Stamped<(i64, i64)>| record.value.0)
        .process(Average::default())
        .name("q4")
}
