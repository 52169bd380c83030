//! q0, pass-through: every bid, as `auction, bidder, price, date_time, extra`. It measures
//! what the engine costs per event with no work to do.

use serde::{Deserialize, Serialize};
use tidewater::DataStream;

use super::ResultRow;
use crate::nexmark::event::Event;
use crate::nexmark::source::Stamped;
use crate::nexmark::text::Text;

/// A result row of q0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Row {
    /// The bid's auction.
    pub auction: i64,
    /// The bid's bidder.
    pub bidder: i64,
    /// The bid's price.
    pub price: i64,
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
        price: bid.price,
        date_time: bid.date_time,
        extra: bid.extra,
    })
}

/// Every bid of `events`, as a [`Row`].
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    events
        .flat_map(|event: Stamped<Event>| event.filter_map(row))
        .name("q0")
}
