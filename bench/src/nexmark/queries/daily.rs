//! What the per-day queries share (q15, q16, q17): tumbling windows of one UTC day, price
//! ranks, and the counts of bids, distinct bidders and distinct auctions per rank.

use std::time::Duration;

use hashbrown::HashSet;
use serde::ser::{SerializeStruct, Serializer};
use tidewater::operators::window::{tumbling, WindowAssigner};
use tidewater::operators::AggregateFunction;

use super::newest;
use crate::nexmark::calendar::{minute_of_day, DAY_MS};
use crate::nexmark::event::Bid;
use crate::nexmark::source::Stamped;

/// Tumbling windows of one UTC day.
pub fn days() -> WindowAssigner {
    tumbling(Duration::from_millis(DAY_MS as u64))
}

/// A price's rank: 1 below 10 000, 2 below 1 000 000, else 3.
pub fn rank(price: i64) -> usize {
    match price {
        ..10_000 => 1,
        10_000..1_000_000 => 2,
        _ => 3,
    }
}

/// Bids, distinct bidders and distinct auctions, in total (index 0) and per rank (1–3), of
/// one group of bids; also the largest minute of day among them (q16's `minute`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DailyCounts {
    bids: [u64; 4],
    bidders: [HashSet<i64>; 4],
    auctions: [HashSet<i64>; 4],
    /// The largest UTC minute of day of the bids, 0–1439.
    pub max_minute: u32,
    /// The newest birth time among the bids.
    pub born_ns: u64,
}

/// The column names of [`DailyCounts::serialize_into`], in order.
const COLUMNS: [&str; 12] = [
    "total_bids",
    "rank1_bids",
    "rank2_bids",
    "rank3_bids",
    "total_bidders",
    "rank1_bidders",
    "rank2_bidders",
    "rank3_bidders",
    "total_auctions",
    "rank1_auctions",
    "rank2_auctions",
    "rank3_auctions",
];

impl DailyCounts {
    /// The twelve counts in [`COLUMNS`] order.
    pub fn columns(&self) -> [u64; 12] {
        let mut columns = [0; 12];
        for i in 0..4 {
            columns[i] = self.bids[i];
            columns[4 + i] = self.bidders[i].len() as u64;
            columns[8 + i] = self.auctions[i].len() as u64;
        }
        columns
    }

    /// Writes the counts as the row's next twelve columns.
    pub fn serialize_into<S: SerializeStruct>(&self, row: &mut S) -> Result<(), S::Error> {
        for (name, value) in COLUMNS.iter().zip(self.columns()) {
            row.serialize_field(name, &value)?;
        }
        Ok(())
    }

    /// Starts a row struct of `name` with `leading` columns before the counts.
    pub fn row<S: Serializer>(
        serializer: S,
        name: &'static str,
        leading: usize,
    ) -> Result<S::SerializeStruct, S::Error> {
        serializer.serialize_struct(name, leading + COLUMNS.len())
    }
}

/// Folds bids into [`DailyCounts`].
#[derive(Debug, Clone, Copy)]
pub struct CountDaily;

impl AggregateFunction<Stamped<Bid>> for CountDaily {
    type Acc = DailyCounts;
    type Out = DailyCounts;

    fn create(&self) -> DailyCounts {
        DailyCounts::default()
    }

    fn add(&self, acc: &mut DailyCounts, bid: Stamped<Bid>) {
        let rank = rank(bid.value.price);
        for i in [0, rank] {
            acc.bids[i] += 1;
            acc.bidders[i].insert(bid.value.bidder);
            acc.auctions[i].insert(bid.value.auction);
        }
        acc.max_minute = acc.max_minute.max(minute_of_day(bid.value.date_time));
        acc.born_ns = newest(acc.born_ns, bid.born_ns);
    }

    fn result(&self, acc: &DailyCounts) -> DailyCounts {
        acc.clone()
    }

    fn merge(&self, acc: &mut DailyCounts, other: DailyCounts) {
        for i in 0..4 {
            acc.bids[i] += other.bids[i];
            acc.bidders[i].extend(&other.bidders[i]);
            acc.auctions[i].extend(&other.auctions[i]);
        }
        acc.max_minute = acc.max_minute.max(other.max_minute);
        acc.born_ns = newest(acc.born_ns, other.born_ns);
    }
}
