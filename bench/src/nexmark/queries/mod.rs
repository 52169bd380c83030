//! The Nexmark queries on Tidewater, one module each: a function from the stream of events
//! to the stream of result rows, built from the DataStream API. NEXMARK.md says what each
//! computes; the rows' fields are the query's result columns, in order.

pub mod daily;
mod fingerprint;
pub mod lookup_join;
pub mod q0;
pub mod q1;
pub mod q10;
pub mod q11;
pub mod q12;
pub mod q13;
pub mod q14;
pub mod q15;
pub mod q16;
pub mod q17;
pub mod q18;
pub mod q19;
pub mod q2;
pub mod q20;
pub mod q21;
pub mod q22;
pub mod q3;
pub mod q4;
pub mod q5;
pub mod q6;
pub mod q7;
pub mod q8;
pub mod q9;
pub mod winning_bids;

use serde::Serialize;
use tidewater::operators::{AggregateFunction, Context, OutputTag, ProcessFunction};
use tidewater::{Data, DataStream};

use crate::nexmark::event::{Auction, Bid, Event, Person};
use crate::nexmark::jsonl::Op;
use crate::nexmark::source::Stamped;
pub use fingerprint::Fingerprint;

/// A change to a query's result table: a row added, or an earlier identical row taken out
/// (the `"+"` and `"-"` lines of NEXMARK.md). Queries whose results are final when emitted
/// (windowed, joins, filters) emit rows; the others emit changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<R> {
    /// The row is added.
    Insert(R),
    /// An earlier identical row is taken out.
    Retract(R),
}

impl<R: ResultRow> Change<R> {
    /// The row and whether it is added.
    pub fn row(&self) -> (&R, Op) {
        match self {
            Change::Insert(row) => (row, Op::Insert),
            Change::Retract(row) => (row, Op::Retract),
        }
    }
}

/// `row` added (as the rows of an append-only query are).
pub fn inserted<R>(row: &R) -> (&R, Op) {
    (row, Op::Insert)
}

/// A change's part of the run's checksum: its row's, negated for a retraction.
#[inline]
pub fn change_checksum<R: ResultRow>(row: &R, op: Op) -> u64 {
    match op {
        Op::Insert => row.checksum(),
        Op::Retract => row.checksum().wrapping_neg(),
    }
}

/// Counts records and keeps the newest sampled birth time among them (see [`newest`]): the
/// window aggregate of the counting queries (q5, q11, q12).
#[derive(Debug, Clone, Copy, Default)]
pub struct CountStamped;

impl<T: 'static> AggregateFunction<Stamped<T>> for CountStamped {
    /// (count, newest birth)
    type Acc = (u64, u64);
    type Out = (u64, u64);

    fn create(&self) -> (u64, u64) {
        (0, 0)
    }

    fn add(&self, acc: &mut (u64, u64), record: Stamped<T>) {
        *acc = (acc.0 + 1, newest(acc.1, record.born_ns));
    }

    fn result(&self, acc: &(u64, u64)) -> (u64, u64) {
        *acc
    }

    fn merge(&self, acc: &mut (u64, u64), other: (u64, u64)) {
        *acc = (acc.0 + other.0, newest(acc.1, other.1));
    }
}

/// The events split by kind, each with `date_time` as its event time: what queries over
/// several kinds start from. One operator routes each event, by move, to one of the three
/// streams; taking two of [`bids`], [`auctions`] and [`persons`] instead would copy every
/// event (strings included) for the second reader.
pub struct ByKind {
    /// The people.
    pub persons: DataStream<Stamped<Person>>,
    /// The auctions.
    pub auctions: DataStream<Stamped<Auction>>,
    /// The bids.
    pub bids: DataStream<Stamped<Bid>>,
}

/// Routes bids to the main output and people and auctions to side outputs.
#[derive(Clone)]
struct RouteByKind {
    persons: OutputTag<Stamped<Person>>,
    auctions: OutputTag<Stamped<Auction>>,
}

impl ProcessFunction<Stamped<Event>, Stamped<Bid>> for RouteByKind {
    fn process_element(&mut self, event: Stamped<Event>, ctx: &mut Context<'_, (), Stamped<Bid>>) {
        fn stamp<T>(value: T, born_ns: u64, seq: u64) -> Stamped<T> {
            Stamped {
                value,
                born_ns,
                seq,
            }
        }
        let (born_ns, seq) = (event.born_ns, event.seq);
        match event.value {
            Event::Person(person) => ctx.output(&self.persons, stamp(*person, born_ns, seq)),
            Event::Auction(auction) => ctx.output(&self.auctions, stamp(*auction, born_ns, seq)),
            Event::Bid(bid) => ctx.emit(stamp(bid, born_ns, seq)),
        }
    }
}

/// `events` split by kind (see [`ByKind`]).
pub fn by_kind(events: &DataStream<Stamped<Event>>) -> ByKind {
    let route = RouteByKind {
        persons: OutputTag::new("persons"),
        auctions: OutputTag::new("auctions"),
    };
    let bids = events.process(route.clone()).name("by-kind");
    ByKind {
        persons: bids
            .side_output(&route.persons)
            .event_time(|person: &Stamped<Person>| person.value.date_time),
        auctions: bids
            .side_output(&route.auctions)
            .event_time(|auction: &Stamped<Auction>| auction.value.date_time),
        bids: bids.event_time(|bid: &Stamped<Bid>| bid.value.date_time),
    }
}

/// The bids of `events`, with `date_time` as their event time.
pub fn bids(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Bid>> {
    events
        .flat_map(|event: Stamped<Event>| event.filter_map(Event::into_bid))
        .event_time(|bid: &Stamped<Bid>| bid.value.date_time)
}

/// A bid reduced to one of its ids and its time, for the queries that count bids per that
/// id (q5 per auction, q11 and q12 per bidder): only these cross to the id's shard, not the
/// whole bid with its strings (a fifth of the bytes; timely's q5 sends the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BidId {
    /// The id (the bid's auction, or its bidder).
    pub id: i64,
    /// When, epoch ms.
    pub date_time: i64,
}

/// The bids of `events` as their `id` and time, with the time as their event time.
pub fn bid_ids(
    events: &DataStream<Stamped<Event>>,
    id: fn(&Bid) -> i64,
) -> DataStream<Stamped<BidId>> {
    events
        .flat_map(move |event: Stamped<Event>| {
            event.filter_map(|event| {
                let bid = event.into_bid()?;
                Some(BidId {
                    id: id(&bid),
                    date_time: bid.date_time,
                })
            })
        })
        .event_time(|bid: &Stamped<BidId>| bid.value.date_time)
}

/// The auctions of `events`, with `date_time` as their event time.
pub fn auctions(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Auction>> {
    events
        .flat_map(|event: Stamped<Event>| event.filter_map(Event::into_auction))
        .event_time(|auction: &Stamped<Auction>| auction.value.date_time)
}

/// The people of `events`, with `date_time` as their event time.
pub fn persons(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Person>> {
    events
        .flat_map(|event: Stamped<Event>| event.filter_map(Event::into_person))
        .event_time(|person: &Stamped<Person>| person.value.date_time)
}

/// The later of two birth times, where 0 means "not sampled": a result made of several
/// input events carries the birth of the newest sampled one, so its latency is measured
/// from the last input it waited for.
#[inline]
pub fn newest(born_a: u64, born_b: u64) -> u64 {
    born_a.max(born_b)
}

/// A query's result row: written as one JSON line (its fields are the columns), and folded
/// into the run's checksum.
pub trait ResultRow: Data + Serialize {
    /// A fingerprint of every column ([`Fingerprint::of`] the row). The run's checksum is the
    /// wrapping sum over inserted rows (minus retracted ones), so it does not depend on the
    /// order rows arrive in.
    fn checksum(&self) -> u64 {
        Fingerprint::of(self)
    }
}
