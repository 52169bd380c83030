//! q15, bidding statistics per day: per UTC day, the counts of bids, distinct bidders and
//! distinct auctions, in total and per price rank ([`daily`](super::daily)), emitted when
//! the day's window closes.

use serde::ser::{Serialize, SerializeStruct, Serializer};
use tidewater::operators::window::Windowed;
use tidewater::DataStream;

use super::daily::{days, CountDaily, DailyCounts};
use super::{bids, ResultRow};
use crate::nexmark::calendar::{date_string, day_number};
use crate::nexmark::event::{Bid, Event};
use crate::nexmark::source::Stamped;

/// A result row of q15: `day` and the twelve counts.
#[derive(Debug, Clone)]
pub struct Row {
    /// The UTC day, `yyyy-MM-dd`.
    pub day: String,
    /// The counts.
    pub counts: DailyCounts,
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut row = DailyCounts::row(serializer, "Row", 1)?;
        row.serialize_field("day", &self.day)?;
        self.counts.serialize_into(&mut row)?;
        row.end()
    }
}

impl ResultRow for Row {}

/// The statistics of every day of bids in `events`.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    bids(events)
        .key_by(|bid: &Stamped<Bid>| day_number(bid.value.date_time))
        .window(days())
        .aggregate(CountDaily)
        .map(|day: Windowed<i64, DailyCounts>| Stamped {
            born_ns: day.value.born_ns,
            seq: 0,
            value: Row {
                day: date_string(day.key),
                counts: day.value,
            },
        })
        .name("q15")
}
