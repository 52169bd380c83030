//! q22, get URL directories: bids as `auction, bidder, price, channel, dir1, dir2, dir3`,
//! the 4th, 5th and 6th parts of the URL split on `/` (`https://a.b/x/y/z` gives x, y, z);
//! a part the URL does not have is null.

use serde::Serialize;
use tidewater::DataStream;

use super::ResultRow;
use crate::nexmark::event::{Bid, Event};
use crate::nexmark::source::Stamped;
use crate::nexmark::text::{separators, Text};

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
    // Part `k` (from 0) runs from after the `k`th `/` (from 1) to the next or to the end; it
    // exists if the URL has at least `k` of them.
    let (cuts, count) = separators::<6>(url, b'/');
    std::array::from_fn(|i| {
        let part = 3 + i;
        (count >= part).then(|| {
            let end = if count > part { cuts[part] } else { url.len() };
            &url[cuts[part - 1] + 1..end]
        })
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_the_split_parts() {
        for url in [
            "https://a.b/x/y/z",
            "https://a.b/x/y/z/item.htm?q=1",
            "https://a.b/x/y",
            "https://a.b/x",
            "https://a.b/",
            "https://a.b",
            "",
            "/////////",
            "https://www.nexmark.com/abcdefghijklmnop/ef_g/hijklmnopqrstuvwxyz0123456789/i",
        ] {
            let mut parts = url.split('/').skip(3);
            assert_eq!(
                directories(url),
                [parts.next(), parts.next(), parts.next()],
                "{url}"
            );
        }
    }
}
