//! q11, user sessions: per bidder, session windows with a 10 s gap (a bid less than 10 s
//! after the session's last bid joins it), as `bidder, bid_count, window_start, window_end`
//! with `window_end` = the last bid's time + 10 s.

use std::time::Duration;

use serde::Serialize;
use tidewater::operators::window::{session, Windowed};
use tidewater::DataStream;

use super::{bid_ids, BidId, CountStamped, ResultRow};
use crate::nexmark::event::Event;
use crate::nexmark::source::Stamped;

/// The session gap.
pub const GAP: Duration = Duration::from_secs(10);

/// A result row of q11 (and q12).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The bidder.
    pub bidder: i64,
    /// Bids in the window.
    pub bid_count: u64,
    /// The window's start, epoch ms.
    pub window_start: i64,
    /// The window's end, epoch ms.
    pub window_end: i64,
}

impl ResultRow for Row {}

/// A bidder's count in a window as a row.
pub fn row(count: Windowed<i64, (u64, u64)>) -> Stamped<Row> {
    let (bid_count, born_ns) = count.value;
    Stamped {
        value: Row {
            bidder: count.key,
            bid_count,
            window_start: count.window.start,
            window_end: count.window.end,
        },
        born_ns,
        seq: 0,
    }
}

/// Every bidder's sessions in `events`.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    bid_ids(events, |bid| bid.bidder)
        .key_by(|bid: &Stamped<BidId>| bid.value.id)
        .window(session(GAP))
        .aggregate(CountStamped)
        .map(row)
        .name("q11")
}
