//! q20, expand bid with auction: every bid on an auction of category 10, with the auction's
//! columns, as the bid's `auction, bidder, price, channel, url, date_time, extra` then
//! `item_name, description, initial_bid, reserve, auction_date_time, expires, seller,
//! category, auction_extra`. A regular join on `bid.auction = auction.id`
//! ([`lookup_join`]).

use serde::Serialize;
use tidewater::DataStream;

use super::lookup_join::lookup_join;
use super::{by_kind, ByKind, ResultRow};
use crate::nexmark::event::{Auction, Bid, Event};
use crate::nexmark::source::Stamped;
use crate::nexmark::text::Text;

/// The category q20 keeps.
pub const CATEGORY: i64 = 10;

/// A result row of q20.
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
    /// The URL.
    pub url: Text,
    /// The bid's time, epoch ms.
    pub date_time: i64,
    /// The bid's padding.
    pub extra: Text,
    /// The item's name.
    pub item_name: Text,
    /// The item's description.
    pub description: Text,
    /// The opening price.
    pub initial_bid: i64,
    /// The reserve price.
    pub reserve: i64,
    /// When the auction opened, epoch ms.
    pub auction_date_time: i64,
    /// When it closes, epoch ms.
    pub expires: i64,
    /// The seller.
    pub seller: i64,
    /// The category.
    pub category: i64,
    /// The auction's padding.
    pub auction_extra: Text,
}

impl ResultRow for Row {}

/// The bids of `events` on category-10 auctions, with the auction.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    let ByKind { auctions, bids, .. } = by_kind(events);
    lookup_join(
        &auctions,
        |auction: &Auction| auction.id,
        |auction: &Auction| auction.category == CATEGORY,
        &bids,
        |bid: &Bid| bid.auction,
        |auction: &Auction, bid: &Bid| Row {
            auction: bid.auction,
            bidder: bid.bidder,
            price: bid.price,
            channel: bid.channel.clone(),
            url: bid.url.clone(),
            date_time: bid.date_time,
            extra: bid.extra.clone(),
            item_name: auction.item_name.clone(),
            description: auction.description.clone(),
            initial_bid: auction.initial_bid,
            reserve: auction.reserve,
            auction_date_time: auction.date_time,
            expires: auction.expires,
            seller: auction.seller,
            category: auction.category,
            auction_extra: auction.extra.clone(),
        },
    )
    .name("q20")
}
