//! q3, local item suggestion: auctions of category 10 whose seller lives in Oregon, Idaho or
//! California, as `name, city, state, id` (the seller's name, city and state, the auction's
//! id). A regular join of people and auctions on `seller = person.id` ([`lookup_join`]).

use serde::Serialize;
use tidewater::DataStream;

use super::lookup_join::lookup_join;
use super::{by_kind, ByKind, ResultRow};
use crate::nexmark::event::{Auction, Event, Person};
use crate::nexmark::source::Stamped;
use crate::nexmark::text::Text;

/// The category q3 looks at.
pub const CATEGORY: i64 = 10;

/// The states whose sellers q3 looks at.
pub const STATES: [&str; 3] = ["OR", "ID", "CA"];

/// A result row of q3.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The seller's name.
    pub name: Text,
    /// The seller's city.
    pub city: Text,
    /// The seller's state.
    pub state: Text,
    /// The auction's id.
    pub id: i64,
}

impl ResultRow for Row {}

/// The category-10 auctions of `events` by sellers from [`STATES`].
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    let ByKind {
        persons, auctions, ..
    } = by_kind(events);
    let auctions = auctions.filter(|a: &Stamped<Auction>| a.value.category == CATEGORY);
    lookup_join(
        &persons,
        |person: &Person| person.id,
        |person: &Person| STATES.contains(&person.state.as_str()),
        &auctions,
        |auction: &Auction| auction.seller,
        |person: &Person, auction: &Auction| Row {
            name: person.name.clone(),
            city: person.city.clone(),
            state: person.state.clone(),
            id: auction.id,
        },
    )
    .name("q3")
}
