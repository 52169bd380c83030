//! q22, get URL directories: bids as `auction, bidder, price, channel, dir1, dir2, dir3`,
//! the 4th, 5th and 6th parts of the URL split on `/` (`https://a.b/x/y/z` gives x, y, z);
//! a part the URL does not have is null.

use serde::Serialize;
use tidewater::DataStream;

use super::ResultRow;
use crate::nexmark::event::{Bid, Event};
use crate::nexmark::source::Stamped;
use crate::nexmark::text::{split_ascii, Text};

/// A result row of q22.
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
    /// The URL's 4th `/`-separated part.
    pub dir1: Option<Text>,
    /// The 5th.
    pub dir2: Option<Text>,
    /// The 6th.
    pub dir3: Option<Text>,
}

impl ResultRow for Row {}

/// The 4th, 5th and 6th `/`-separated parts of `url`, where it has them.
pub fn directories(url: &str) -> [Option<&str>; 3] {
    let mut parts = split_ascii(url, b'/').skip(3);
    [parts.next(), parts.next(), parts.next()]
}

/// The row of `bid`.
pub fn row(bid: Bid) -> Row {
    let [dir1, dir2, dir3] = bid.url.substrings(directories);
    Row {
        dir1,
        dir2,
        dir3,
        auction: bid.auction,
        bidder: bid.bidder,
        price: bid.price,
        channel: bid.channel,
    }
}

/// Every bid of `events` with its URL's directories (one pass over the events, as q0).
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    events
        .flat_map(|event: Stamped<Event>| event.filter_map(|event| event.into_bid().map(row)))
        .name("q22")
}
