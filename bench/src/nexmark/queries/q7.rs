//! q7, highest bid: over tumbling windows of 10 s, every bid whose price is the window's
//! largest (all ties), as `auction, price, bidder, date_time, extra, window_end`.
//!
//! Every bid of a window competes, so the window has one key, and the aggregation runs in
//! two phases ([`aggregate_local_global`](tidewater::api::WindowedStream::aggregate_local_global)):
//! each shard keeps the top bids of its own bids per window, and only those tops cross to
//! the shard that merges them when the window closes.

use std::time::Duration;

use serde::Serialize;
use tidewater::operators::window::{tumbling, Windowed};
use tidewater::operators::AggregateFunction;
use tidewater::DataStream;

use super::{bids, newest, ResultRow};
use crate::nexmark::event::{Bid, Event};
use crate::nexmark::source::Stamped;
use crate::nexmark::text::Text;

/// The window size.
pub const SIZE: Duration = Duration::from_secs(10);

/// A result row of q7.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The bid's auction.
    pub auction: i64,
    /// The bid's price: the window's largest.
    pub price: i64,
    /// The bidder.
    pub bidder: i64,
    /// The bid's time, epoch ms.
    pub date_time: i64,
    /// The bid's padding.
    pub extra: Text,
    /// The window's end (exclusive), epoch ms.
    pub window_end: i64,
}

impl ResultRow for Row {}

/// The bids with the largest price seen (all ties), and the newest birth time among all
/// the bids seen (the window's result waited for them all).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TopBids {
    bids: Vec<Bid>,
    born_ns: u64,
}

/// Folds `other` into `top`, keeping the highest-priced bids.
fn keep_top(top: &mut TopBids, other: TopBids) {
    top.born_ns = newest(top.born_ns, other.born_ns);
    let (Some(best), Some(challenger)) = (top.bids.first(), other.bids.first()) else {
        if top.bids.is_empty() {
            top.bids = other.bids;
        }
        return;
    };
    match challenger.price.cmp(&best.price) {
        std::cmp::Ordering::Greater => top.bids = other.bids,
        std::cmp::Ordering::Equal => top.bids.extend(other.bids),
        std::cmp::Ordering::Less => {}
    }
}

/// The top bids of a window.
#[derive(Debug, Clone, Copy)]
struct Top;

impl AggregateFunction<Stamped<Bid>> for Top {
    type Acc = TopBids;
    type Out = TopBids;

    fn create(&self) -> TopBids {
        TopBids::default()
    }

    fn add(&self, acc: &mut TopBids, bid: Stamped<Bid>) {
        acc.born_ns = newest(acc.born_ns, bid.born_ns);
        match acc
            .bids
            .first()
            .map(|best| bid.value.price.cmp(&best.price))
        {
            None | Some(std::cmp::Ordering::Equal) => acc.bids.push(bid.value),
            Some(std::cmp::Ordering::Greater) => {
                acc.bids.clear();
                acc.bids.push(bid.value);
            }
            Some(std::cmp::Ordering::Less) => {}
        }
    }

    fn result(&self, acc: &TopBids) -> TopBids {
        acc.clone()
    }

    fn merge(&self, acc: &mut TopBids, other: TopBids) {
        keep_top(acc, other);
    }
}

/// The highest bids of every tumbling window over the bids of `events`.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    bids(events)
        .key_by(|_: &Stamped<Bid>| ())
        .window(tumbling(SIZE))
        .aggregate_local_global(Top)
        .flat_map(|top: Windowed<(), TopBids>| {
            let (window_end, born_ns) = (top.window.end, top.value.born_ns);
            top.value.bids.into_iter().map(move |bid| Stamped {
                value: Row {
                    auction: bid.auction,
                    price: bid.price,
                    bidder: bid.bidder,
                    date_time: bid.date_time,
                    extra: bid.extra,
                    window_end,
                },
                born_ns,
                seq: 0,
            })
        })
        .name("q7")
}
