//! q19, auction top-10 price: per auction, the 10 highest-priced bids (ties to the earlier
//! `date_time`, then the smaller `bidder`, then the earlier input position), as the bid's
//! columns and `rank_number` 1–10. A bid that enters the top 10 shifts the ranks below it:
//! their rows are retracted and inserted again with the new ranks.

use serde::Serialize;
use tidewater::operators::{Context, KeyedProcessFunction};
use tidewater::state::KeyedStates;
use tidewater::state::ValueState;
use tidewater::DataStream;

use super::{bids, Change, ResultRow};
use crate::nexmark::event::{Bid, Event};
use crate::nexmark::source::Stamped;
use crate::nexmark::text::Text;

/// How many bids per auction.
pub const TOP: usize = 10;

/// A result row of q19.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The bid's auction.
    pub auction: i64,
    /// The bidder.
    pub bidder: i64,
    /// The price.
    pub price: i64,
    /// The channel.
    pub channel: Text,
    /// The URL.
    pub url: Text,
    /// The bid's time, epoch ms.
    pub date_time: i64,
    /// The bid's padding.
    pub extra: Text,
    /// The bid's rank in its auction, 1–10.
    pub rank_number: u64,
}

impl ResultRow for Row {}

/// The order of q19: higher price first, then earlier time, smaller bidder, earlier input.
fn order(bid: &Stamped<Bid>) -> (std::cmp::Reverse<i64>, i64, i64, u64) {
    (
        std::cmp::Reverse(bid.value.price),
        bid.value.date_time,
        bid.value.bidder,
        bid.seq,
    )
}

/// The row of `bid` at `rank` (from 1).
fn row(bid: &Bid, rank: usize) -> Row {
    Row {
        auction: bid.auction,
        bidder: bid.bidder,
        price: bid.price,
        channel: bid.channel.clone(),
        url: bid.url.clone(),
        date_time: bid.date_time,
        extra: bid.extra.clone(),
        rank_number: rank as u64,
    }
}

/// Keeps each auction's top bids, best first.
#[derive(Clone, Default)]
struct TopBids {
    top: ValueState<i64, Vec<Stamped<Bid>>>,
}

impl KeyedProcessFunction<i64, Stamped<Bid>, Stamped<Change<Row>>> for TopBids {
    fn states(&mut self, states: &mut KeyedStates<'_, i64>) {
        states.register("top", &mut self.top);
    }

    fn process_element(
        &mut self,
        bid: Stamped<Bid>,
        ctx: &mut Context<'_, i64, Stamped<Change<Row>>>,
    ) {
        let top = self.top.get_or_insert_with(&*ctx, Vec::new);
        let at = top.partition_point(|other| order(other) < order(&bid));
        if at >= TOP {
            return;
        }
        let (born_ns, seq) = (bid.born_ns, bid.seq);
        let mut changes = Vec::with_capacity(2 * (top.len() - at) + 1);
        // The rows from `at` on move down one rank (the last may drop out).
        for (index, old) in top.iter().enumerate().skip(at) {
            changes.push(Change::Retract(row(&old.value, index + 1)));
        }
        top.insert(at, bid);
        top.truncate(TOP);
        for (index, new) in top.iter().enumerate().skip(at) {
            changes.push(Change::Insert(row(&new.value, index + 1)));
        }
        for change in changes {
            ctx.emit(Stamped {
                value: change,
                born_ns,
                seq,
            });
        }
    }
}

/// The top bids of every auction in `events`, as changes.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Change<Row>>> {
    bids(events)
        .key_by(|bid: &Stamped<Bid>| bid.value.auction)
        .process(TopBids::default())
        .name("q19")
}
