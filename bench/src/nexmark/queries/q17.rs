//! q17, auction statistics per day: per auction and UTC day, bids in total and per price rank
//! ([`rank`]), and the minimum, maximum, mean and sum of the prices.

use serde::Serialize;
use tidewater::operators::window::Windowed;
use tidewater::operators::AggregateFunction;
use tidewater::DataStream;

use super::daily::{days, rank};
use super::{bids, newest, ResultRow};
use crate::nexmark::calendar::{date_string, day_number};
use crate::nexmark::event::{Bid, Event};
use crate::nexmark::source::Stamped;

/// A result row of q17.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The auction.
    pub auction: i64,
    /// The UTC day, `yyyy-MM-dd`.
    pub day: String,
    /// Bids on the auction that day.
    pub total_bids: u64,
    /// Of which rank 1.
    pub rank1_bids: u64,
    /// Of which rank 2.
    pub rank2_bids: u64,
    /// Of which rank 3.
    pub rank3_bids: u64,
    /// The lowest price.
    pub min_price: i64,
    /// The highest price.
    pub max_price: i64,
    /// The mean price.
    pub avg_price: f64,
    /// The sum of the prices.
    pub sum_price: i64,
}

impl ResultRow for Row {}

/// One auction's day so far.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct AuctionDay {
    bids: [u64; 4],
    min: i64,
    max: i64,
    sum: i64,
    born_ns: u64,
}

/// Folds bids into [`AuctionDay`].
#[derive(Debug, Clone, Copy)]
struct Statistics;

impl AggregateFunction<Stamped<Bid>> for Statistics {
    type Acc = AuctionDay;
    type Out = AuctionDay;

    fn create(&self) -> AuctionDay {
        AuctionDay {
            bids: [0; 4],
            min: i64::MAX,
            max: i64::MIN,
            sum: 0,
            born_ns: 0,
        }
    }

    fn add(&self, acc: &mut AuctionDay, bid: Stamped<Bid>) {
        let price = bid.value.price;
        let mut bids = [0; 4];
        bids[0] = 1;
        bids[rank(price)] = 1;
        let one = AuctionDay {
            bids,
            min: price,
            max: price,
            sum: price,
            born_ns: bid.born_ns,
        };
        self.merge(acc, one);
    }

    fn result(&self, acc: &AuctionDay) -> AuctionDay {
        *acc
    }

    fn merge(&self, acc: &mut AuctionDay, other: AuctionDay) {
        for (count, more) in acc.bids.iter_mut().zip(other.bids) {
            *count += more;
        }
        acc.min = acc.min.min(other.min);
        acc.max = acc.max.max(other.max);
        acc.sum += other.sum;
        acc.born_ns = newest(acc.born_ns, other.born_ns);
    }
}

/// The statistics of every auction and day of bids in `events`.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    bids(events)
        .key_by(|bid: &Stamped<Bid>| (bid.value.auction, day_number(bid.value.date_time)))
        .window(days())
        .aggregate(Statistics)
        .map(|group: Windowed<(i64, i64), AuctionDay>| {
            let ((auction, day), stats) = (group.key, group.value);
            Stamped {
                born_ns: stats.born_ns,
                seq: 0,
                value: Row {
                    auction,
                    day: date_string(day),
                    total_bids: stats.bids[0],
                    rank1_bids: stats.bids[1],
                    rank2_bids: stats.bids[2],
                    rank3_bids: stats.bids[3],
                    min_price: stats.min,
                    max_price: stats.max,
                    avg_price: stats.sum as f64 / stats.bids[0] as f64,
                    sum_price: stats.sum,
                },
            }
        })
        .name("q17")
}
