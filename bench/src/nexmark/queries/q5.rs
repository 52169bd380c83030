//! q5, hot items: over sliding windows of 10 s every 2 s, the auctions with the most bids
//! (all ties), as `auction, num, window_start, window_end`.
//!
//! Two window stages: bids per auction and window (sliced: one count per auction and 2 s
//! slice), then, keyed by window, the largest count and the auctions that have it. A
//! window's counts carry its last millisecond as event time, so the second stage's 2 s
//! tumbling window holds exactly one sliding window's counts. The second stage runs in two
//! phases ([`aggregate_local_global`](tidewater::api::WindowedStream::aggregate_local_global)):
//! each shard finds the hottest of the counts it made, and only that crosses to the shard
//! of the window, instead of every auction's count.

use std::time::Duration;

use serde::Serialize;
use tidewater::operators::window::{sliding, tumbling, Windowed};
use tidewater::operators::AggregateFunction;
use tidewater::DataStream;

use super::{bid_ids, newest, BidId, CountStamped, ResultRow};
use crate::nexmark::event::Event;
use crate::nexmark::source::Stamped;

/// The window size.
pub const SIZE: Duration = Duration::from_secs(10);
/// The window slide.
pub const SLIDE: Duration = Duration::from_secs(2);

/// A result row of q5.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The auction.
    pub auction: i64,
    /// Its bids in the window: the window's largest count.
    pub num: u64,
    /// The window's start, epoch ms.
    pub window_start: i64,
    /// The window's end (exclusive), epoch ms.
    pub window_end: i64,
}

impl ResultRow for Row {}

/// An auction's count in one window: `Windowed { key: auction, value: (count, birth) }`.
type AuctionCount = Windowed<i64, (u64, u64)>;

/// The largest count in a window and the auctions that have it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Hottest {
    /// The largest count.
    num: u64,
    /// The auctions with that count.
    auctions: Vec<i64>,
    /// The newest birth time among the window's counts.
    born_ns: u64,
    /// The window (the same for all the counts folded in).
    window: (i64, i64),
}

/// Folds auction counts into [`Hottest`].
#[derive(Debug, Clone, Copy)]
struct MaxCount;

impl AggregateFunction<AuctionCount> for MaxCount {
    type Acc = Hottest;
    type Out = Hottest;

    fn create(&self) -> Hottest {
        Hottest::default()
    }

    fn add(&self, acc: &mut Hottest, count: AuctionCount) {
        let (num, born_ns) = count.value;
        acc.born_ns = newest(acc.born_ns, born_ns);
        acc.window = (count.window.start, count.window.end);
        match num.cmp(&acc.num) {
            std::cmp::Ordering::Greater => {
                acc.num = num;
                acc.auctions.clear();
                acc.auctions.push(count.key);
            }
            // An empty accumulator has `num` 0, and counts are at least 1.
            std::cmp::Ordering::Equal => acc.auctions.push(count.key),
            std::cmp::Ordering::Less => {}
        }
    }

    fn result(&self, acc: &Hottest) -> Hottest {
        acc.clone()
    }

    fn merge(&self, acc: &mut Hottest, other: Hottest) {
        acc.born_ns = newest(acc.born_ns, other.born_ns);
        if other.auctions.is_empty() {
            return;
        }
        acc.window = other.window;
        match other.num.cmp(&acc.num) {
            std::cmp::Ordering::Greater => {
                acc.num = other.num;
                acc.auctions = other.auctions;
            }
            std::cmp::Ordering::Equal => acc.auctions.extend(other.auctions),
            std::cmp::Ordering::Less => {}
        }
    }
}

/// The hottest auctions of every sliding window over the bids of `events`.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    bid_ids(events, |bid| bid.auction)
        .key_by(|bid: &Stamped<BidId>| bid.value.id)
        .window(sliding(SIZE, SLIDE))
        .aggregate(CountStamped)
        .key_by(|count: &AuctionCount| count.window.start)
        .window(tumbling(SLIDE))
        .aggregate_local_global(MaxCount)
        .flat_map(|hottest: Windowed<i64, Hottest>| {
            let Hottest {
                num,
                auctions,
                born_ns,
                window: (window_start, window_end),
            } = hottest.value;
            auctions.into_iter().map(move |auction| Stamped {
                value: Row {
                    auction,
                    num,
                    window_start,
                    window_end,
                },
                born_ns,
                seq: 0,
            })
        })
        .name("q5")
}
