//! q2, selection: the bids on every [`AUCTION_MODULUS`]-th auction (`auction % 123 == 0`),
//! as `auction, price`.

use serde::{Deserialize, Serialize};
use tidewater::DataStream;

use super::ResultRow;
use crate::nexmark::event::Event;
use crate::nexmark::source::Stamped;

/// q2 keeps the bids whose auction is a multiple of this.
pub const AUCTION_MODULUS: i64 = 123;

/// A result row of q2.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Row {
    /// The bid's auction.
    pub auction: i64,
    /// The bid's price.
    pub price: i64,
}

impl ResultRow for Row {}

/// The row of event `event`, if it is a bid on an auction that is a multiple of
/// [`AUCTION_MODULUS`].
pub fn row(event: Event) -> Option<Row> {
    match event {
        Event::Bid(bid) if bid.auction % AUCTION_MODULUS == 0 => Some(Row {
            auction: bid.auction,
            price: bid.price,
        }),
        _ => None,
    }
}

/// The bids of `events` whose auction is a multiple of [`AUCTION_MODULUS`].
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    events
        .flat_map(|event: Stamped<Event>| event.filter_map(row))
        .name("q2")
}
