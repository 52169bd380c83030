//! q22, get URL directories: bids as `auction, bidder, price, channel, dir1, dir2, dir3`,
//! the 4th, 5th and 6th parts of the URL split on `/` (`https://a.b/x/y/z` gives x, y, z);
//! a part the URL does not have is null.

use serde::Serialize;
use tidewater::DataStream;

use super::{bids, ResultRow};
use crate::nexmark::event::{Bid, Event};
use crate::nexmark::source::Stamped;

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
    pub channel: String,
    /// The URL's 4th `/`-separated part.
    pub dir1: Option<String>,
    /// The 5th.
    pub dir2: Option<String>,
    /// The 6th.
    pub dir3: Option<String>,
}

impl ResultRow for Row {}

/// Every bid of `events` with its URL's directories.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    bids(events)
        .map(|bid: Stamped<Bid>| {
            bid.map(|bid| {
                let mut parts = bid.url.split('/').skip(3).map(str::to_string);
                Row {
                    dir1: parts.next(),
                    dir2: parts.next(),
                    dir3: parts.next(),
                    auction: bid.auction,
                    bidder: bid.bidder,
                    price: bid.price,
                    channel: bid.channel,
                }
            })
        })
        .name("q22")
}
