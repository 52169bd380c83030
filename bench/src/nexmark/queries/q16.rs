//! q16, channel statistics per day: q15's counts per channel and UTC day, with `minute` the
//! largest `HH:mm` among the group's bids.

use serde::ser::{Serialize, SerializeStruct, Serializer};
use tidewater::operators::window::Windowed;
use tidewater::DataStream;

use super::daily::{days, CountDaily, DailyCounts};
use super::{bids, ResultRow};
use crate::nexmark::calendar::{date_string, day_number, minute_string};
use crate::nexmark::event::{Bid, Event};
use crate::nexmark::source::Stamped;
use crate::nexmark::text::Text;

/// A result row of q16: `channel, day, minute` and the twelve counts.
#[derive(Debug, Clone)]
pub struct Row {
    /// The channel.
    pub channel: Text,
    /// The UTC day, `yyyy-MM-dd`.
    pub day: String,
    /// The largest UTC minute of the group's bids, `HH:mm`.
    pub minute: String,
    /// The counts.
    pub counts: DailyCounts,
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut row = DailyCounts::row(serializer, "Row", 3)?;
        row.serialize_field("channel", &self.channel)?;
        row.serialize_field("day", &self.day)?;
        row.serialize_field("minute", &self.minute)?;
        self.counts.serialize_into(&mut row)?;
        row.end()
    }
}

impl ResultRow for Row {}

/// The statistics of every channel and day of bids in `events`.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    bids(events)
        .key_by(|bid: &Stamped<Bid>| (bid.value.channel.clone(), day_number(bid.value.date_time)))
        .window(days())
        .aggregate(CountDaily)
        .map(|group: Windowed<(Text, i64), DailyCounts>| {
            let (channel, day) = group.key;
            Stamped {
                born_ns: group.value.born_ns,
                seq: 0,
                value: Row {
                    channel,
                    day: date_string(day),
                    minute: minute_string(group.value.max_minute),
                    counts: group.value,
                },
            }
        })
        .name("q16")
}
