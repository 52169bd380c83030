//! q6, average selling price by seller: per seller, the float mean of the final prices of
//! its last 10 auctions, ordered by `expires` (ties by auction id; final price as in q4).
//! Auctions close out of `expires` order across shards, so each seller keeps its 10 latest
//! by `(expires, id)` and emits a changed mean in place of the old one.

use serde::Serialize;
use tidewater::operators::{Context, KeyedProcessFunction};
use tidewater::state::KeyedStates;
use tidewater::state::ValueState;
use tidewater::DataStream;

use super::winning_bids::{winning_bids, Winner};
use super::{Change, ResultRow};
use crate::nexmark::event::Event;
use crate::nexmark::source::Stamped;

/// How many of a seller's latest auctions the mean is over.
pub const LAST: usize = 10;

/// A result row of q6.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The seller.
    pub seller: i64,
    /// The mean final price of its last [`LAST`] auctions.
    pub avg: f64,
}

impl ResultRow for Row {}

/// A closed auction: `(expires, auction id, final price)`, ordered as q6 orders auctions.
type Sale = (i64, i64, i64);

/// A seller's latest sales, oldest first, at most [`LAST`].
#[derive(Clone, Default)]
struct LatestSales {
    sales: ValueState<i64, Vec<Sale>>,
}

fn mean(sales: &[Sale]) -> f64 {
    sales.iter().map(|sale| sale.2 as f64).sum::<f64>() / sales.len() as f64
}

impl KeyedProcessFunction<i64, Stamped<(i64, Sale)>, Stamped<Change<Row>>> for LatestSales {
    fn states(&mut self, states: &mut KeyedStates<'_, i64>) {
        states.register("sales", &mut self.sales);
    }

    fn process_element(
        &mut self,
        record: Stamped<(i64, Sale)>,
        ctx: &mut Context<'_, i64, Stamped<Change<Row>>>,
    ) {
        let (seller, sale) = record.value;
        let sales = self.sales.get_or_insert_with(&*ctx, Vec::new);
        let at = sales.partition_point(|other| *other < sale);
        if sales.len() == LAST && at == 0 {
            return; // Older than the seller's last LAST sales: the mean does not change.
        }
        let before = (!sales.is_empty()).then(|| mean(sales));
        sales.insert(at, sale);
        if sales.len() > LAST {
            sales.remove(0);
        }
        let after = mean(sales);
        let stamp = |avg, change: fn(Row) -> Change<Row>| Stamped {
            value: change(Row { seller, avg }),
            born_ns: record.born_ns,
            seq: record.seq,
        };
        if let Some(before) = before {
            ctx.emit(stamp(before, Change::Retract));
        }
        ctx.emit(stamp(after, Change::Insert));
    }
}

/// The mean price of each seller's last [`LAST`] sales in `events`, as changes.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Change<Row>>> {
    winning_bids(events)
        .map(|winner: Winner| {
            winner.map(|(auction, bid)| (auction.seller, (auction.expires, auction.id, bid.price)))
        })
        .key_by(|record: &Stamped<(i64, Sale)>| record.value.0)
        .process(LatestSales::default())
        .name("q6")
}
