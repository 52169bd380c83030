//! q12, processing-time windows: per bidder, bids in tumbling windows of 10 s of processing
//! time (the shard's clock when the bid arrives), as `bidder, bid_count, window_start,
//! window_end` (the q11 row). Not deterministic: which window a bid lands in depends on when
//! it is processed.

use std::time::Duration;

use tidewater::operators::window::tumbling;
use tidewater::DataStream;

use super::q11::{row, Row};
use super::{bid_ids, BidId, CountStamped};
use crate::nexmark::event::Event;
use crate::nexmark::source::Stamped;

/// The window size.
pub const SIZE: Duration = Duration::from_secs(10);

/// Every bidder's bid counts per processing-time window over `events`.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    bid_ids(events, |bid| bid.bidder)
        .key_by(|bid: &Stamped<BidId>| bid.value.id)
        .window(tumbling(SIZE).processing_time())
        .aggregate(CountStamped)
        .map(row)
        .name("q12")
}
