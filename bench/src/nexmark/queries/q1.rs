//! q1, currency conversion: every bid, as `auction, bidder, price, date_time, extra`, with
//! the price converted from dollars to euros (× [`DOLLARS_TO_EUROS`], as a float).

use serde::{Deserialize, Serialize};
use tidewater::DataStream;

use super::ResultRow;
use crate::nexmark::event::Event;
use crate::nexmark::source::Stamped;
use crate::nexmark::text::Text;

/// The exchange rate q1 applies.
pub const DOLLARS_TO_EUROS: f64 = 0.908;

/// A result row of q1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The bid's auction.
    pub auction: i64,
    /// The bid's bidder.
    pub bidder: i64,
    /// The bid's price × [`DOLLARS_TO_EUROS`].
    pub price: f64,
    /// The bid's time, epoch ms.
    pub date_time: i64,
    /// The bid's padding.
    pub extra: Text,
}

impl ResultRow for Row {}

/// The row of event `event`, if it is a bid.
pub fn row(event: Event) -> Option<Row> {
    let bid = event.into_bid()?;
    Some(Row {
        auction: bid.auction,
        bidder: bid.bidder,
        price: DOLLARS_TO_EUROS * bid.price as f64,
        date_time: bid.date_time,
        extra: bid.extra,
    })
}

/// Every bid of `events` with its price in euros.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    events
        .flat_map(|event: Stamped<Event>| event.filter_map(row))
        .name("q1")
}
