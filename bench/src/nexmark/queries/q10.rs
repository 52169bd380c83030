//! q10, log to file: every bid with its UTC date `dt` (`yyyy-MM-dd`) and minute `hm`
//! (`HH:mm`), as `auction, bidder, price, date_time, extra, dt, hm`. With `--output DIR`,
//! the rows go to files partitioned by `dt` and `hm` (see
//! [`PartitionedOutput`](crate::nexmark::partitioned::PartitionedOutput)).

use serde::Serialize;
use tidewater::DataStream;

use super::ResultRow;
use crate::nexmark::calendar::{date_string, day_number, minute_of_day, minute_string};
use crate::nexmark::event::{Bid, Event};
use crate::nexmark::source::Stamped;
use crate::nexmark::text::Text;

/// A result row of q10.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The bid's auction.
    pub auction: i64,
    /// The bidder.
    pub bidder: i64,
    /// The price.
    pub price: i64,
    /// The bid's time, epoch ms.
    pub date_time: i64,
    /// The bid's padding.
    pub extra: Text,
    /// The bid's UTC date, `yyyy-MM-dd`.
    pub dt: String,
    /// The bid's UTC minute, `HH:mm`.
    pub hm: String,
}

impl ResultRow for Row {}

/// The row of `bid`.
pub fn row(bid: Bid) -> Row {
    Row {
        dt: date_string(day_number(bid.date_time)),
        hm: minute_string(minute_of_day(bid.date_time)),
        auction: bid.auction,
        bidder: bid.bidder,
        price: bid.price,
        date_time: bid.date_time,
        extra: bid.extra,
    }
}

/// Every bid of `events` with its date and minute (one pass over the events, as q0).
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    events
        .flat_map(|event: Stamped<Event>| event.filter_map(|event| event.into_bid().map(row)))
        .name("q10")
}
