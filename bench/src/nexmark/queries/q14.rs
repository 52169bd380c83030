//! q14, calculation: bids whose price in euros (× 0.908, as q1) is between 1 000 000 and
//! 50 000 000 (exclusive), as `auction, bidder, price, bid_time_type, date_time, extra,
//! c_counts`: the euro price, `dayTime` / `nightTime` / `otherTime` by the UTC hour, and the
//! number of `c`s in `extra`.

use serde::Serialize;
use tidewater::DataStream;

use super::q1::DOLLARS_TO_EUROS;
use super::ResultRow;
use crate::nexmark::calendar::hour;
use crate::nexmark::event::{Bid, Event};
use crate::nexmark::source::Stamped;
use crate::nexmark::text::Text;

/// A result row of q14.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The bid's auction.
    pub auction: i64,
    /// The bidder.
    pub bidder: i64,
    /// The price in euros.
    pub price: f64,
    /// `dayTime`, `nightTime` or `otherTime`.
    pub bid_time_type: &'static str,
    /// The bid's time, epoch ms.
    pub date_time: i64,
    /// The bid's padding.
    pub extra: Text,
    /// The number of `c` characters in `extra`.
    pub c_counts: u64,
}

impl ResultRow for Row {}

/// `dayTime` for UTC hours 8–18, `nightTime` for hours up to 6 and from 20, else
/// `otherTime`.
pub fn bid_time_type(date_time: i64) -> &'static str {
    match hour(date_time) {
        8..=18 => "dayTime",
        0..=6 | 20..=23 => "nightTime",
        _ => "otherTime",
    }
}

/// The row of `bid`, if its price is in the band.
pub fn row(bid: Bid) -> Option<Row> {
    let price = DOLLARS_TO_EUROS * bid.price as f64;
    (1_000_000.0 < price && price < 50_000_000.0).then(|| Row {
        auction: bid.auction,
        bidder: bid.bidder,
        price,
        bid_time_type: bid_time_type(bid.date_time),
        date_time: bid.date_time,
        c_counts: bid.extra.bytes().filter(|&b| b == b'c').count() as u64,
        extra: bid.extra,
    })
}

/// The bids of `events` in the price band, with the computed columns (one pass over the
/// events, as q0).
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    events
        .flat_map(|event: Stamped<Event>| event.filter_map(|event| row(event.into_bid()?)))
        .name("q14")
}
