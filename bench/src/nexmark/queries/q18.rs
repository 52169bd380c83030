//! q18, find last bid: per bidder and auction, the bid with the latest `date_time` (ties to
//! the larger price, then the later input position), as `auction, bidder, price, channel,
//! url, date_time, extra`. A later bid replaces the pair's row: the old row is retracted.

use serde::Serialize;
use tidewater::operators::{Context, KeyedProcessFunction};
use tidewater::state::KeyedStates;
use tidewater::state::ValueState;
use tidewater::DataStream;

use super::{bids, Change, ResultRow};
use crate::nexmark::event::{Bid, Event};
use crate::nexmark::source::Stamped;
use crate::nexmark::text::Text;

/// A result row of q18 (and q19's first columns): a bid.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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
}

impl ResultRow for Row {}

impl From<Bid> for Row {
    fn from(bid: Bid) -> Self {
        Row {
            auction: bid.auction,
            bidder: bid.bidder,
            price: bid.price,
            channel: bid.channel,
            url: bid.url,
            date_time: bid.date_time,
            extra: bid.extra,
        }
    }
}

/// Keeps each pair's last bid, as a row with its input position.
#[derive(Clone, Default)]
struct LastBid {
    last: ValueState<(i64, i64), (Row, u64)>,
}

impl KeyedProcessFunction<(i64, i64), Stamped<Bid>, Stamped<Change<Row>>> for LastBid {
    fn states(&mut self, states: &mut KeyedStates<'_, (i64, i64)>) {
        states.register("last", &mut self.last);
    }

    fn process_element(
        &mut self,
        bid: Stamped<Bid>,
        ctx: &mut Context<'_, (i64, i64), Stamped<Change<Row>>>,
    ) {
        let order = |row: &Row, seq: u64| (row.date_time, row.price, seq);
        let (born_ns, seq) = (bid.born_ns, bid.seq);
        let row = Row::from(bid.value);
        let previous = self.last.value(&*ctx);
        if previous.is_some_and(|(last, last_seq)| order(last, *last_seq) > order(&row, seq)) {
            return;
        }
        let stamp = |change| Stamped {
            value: change,
            born_ns,
            seq,
        };
        if let Some((last, _)) = previous.cloned() {
            ctx.emit(stamp(Change::Retract(last)));
        }
        ctx.emit(stamp(Change::Insert(row.clone())));
        self.last.update(&*ctx, (row, seq));
    }
}

/// The last bid of every bidder on every auction in `events`, as changes.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Change<Row>>> {
    bids(events)
        .key_by(|bid: &Stamped<Bid>| (bid.value.bidder, bid.value.auction))
        .process(LastBid::default())
        .name("q18")
}
