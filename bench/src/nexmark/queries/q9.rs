//! q9, winning bids: every auction with its [winning bid](super::winning_bids), as the
//! auction's columns followed by `bid_auction, bid_bidder, bid_price, bid_date_time,
//! bid_extra`, emitted when the auction closes.

use serde::Serialize;
use tidewater::DataStream;

use super::winning_bids::{winning_bids, Winner};
use super::ResultRow;
use crate::nexmark::event::Event;
use crate::nexmark::source::Stamped;
use crate::nexmark::text::Text;

/// A result row of q9.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The auction's id.
    pub id: i64,
    /// The item's name.
    pub item_name: Text,
    /// The item's description.
    pub description: Text,
    /// The opening price.
    pub initial_bid: i64,
    /// The reserve price.
    pub reserve: i64,
    /// When the auction opened, epoch ms.
    pub date_time: i64,
    /// When it closed, epoch ms.
    pub expires: i64,
    /// The seller.
    pub seller: i64,
    /// The category.
    pub category: i64,
    /// The auction's padding.
    pub extra: Text,
    /// The winning bid's auction (the auction's id).
    pub bid_auction: i64,
    /// The winner.
    pub bid_bidder: i64,
    /// The winning price.
    pub bid_price: i64,
    /// When the winning bid was made, epoch ms.
    pub bid_date_time: i64,
    /// The winning bid's padding.
    pub bid_extra: Text,
}

impl ResultRow for Row {}

/// Every auction of `events` that has a winning bid, with it.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    winning_bids(events)
        .map(|winner: Winner| {
            winner.map(|(auction, bid)| Row {
                id: auction.id,
                item_name: auction.item_name,
                description: auction.description,
                initial_bid: auction.initial_bid,
                reserve: auction.reserve,
                date_time: auction.date_time,
                expires: auction.expires,
                seller: auction.seller,
                category: auction.category,
                extra: auction.extra,
                bid_auction: bid.auction,
                bid_bidder: bid.bidder,
                bid_price: bid.price,
                bid_date_time: bid.date_time,
                bid_extra: bid.extra,
            })
        })
        .name("q9")
}
