//! q8, monitor new users: over tumbling windows of 10 s, the people created in a window who
//! opened at least one auction (as `seller`) in the same window, as `id, name,
//! window_start`, one row per person and window.
//!
//! People and auctions become one stream of [`Sighting`]s, read off the events in one pass
//! (bids are dropped there), keyed by person id, and a window keeps, per person, the name (if the person was created in it) and whether an
//! auction of theirs opened in it: a windowed co-group rather than a join of all pairs.

use std::time::Duration;

use serde::Serialize;
use tidewater::operators::window::{tumbling, Windowed};
use tidewater::operators::AggregateFunction;
use tidewater::DataStream;

use super::{newest, ResultRow};
use crate::nexmark::event::Event;
use crate::nexmark::source::Stamped;
use crate::nexmark::text::Text;

/// The window size.
pub const SIZE: Duration = Duration::from_secs(10);

/// A result row of q8.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The person's id.
    pub id: i64,
    /// The person's name.
    pub name: Text,
    /// The window's start, epoch ms.
    pub window_start: i64,
}

impl ResultRow for Row {}

/// A person being created (with the name) or opening an auction (without).
#[derive(Debug, Clone)]
pub struct Sighting {
    /// The person's id.
    pub id: i64,
    /// The name, if this is the person's creation.
    pub name: Option<Text>,
    /// When, epoch ms.
    pub date_time: i64,
}

/// What a window knows of one person.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    /// The name, if the person was created in the window.
    name: Option<Text>,
    /// Whether the person opened an auction in the window.
    sold: bool,
    /// The newest birth time among the sightings.
    born_ns: u64,
}

/// Folds sightings into [`Seen`].
#[derive(Debug, Clone, Copy)]
struct Sightings;

impl AggregateFunction<Stamped<Sighting>> for Sightings {
    type Acc = Seen;
    type Out = Seen;

    fn create(&self) -> Seen {
        Seen::default()
    }

    fn add(&self, acc: &mut Seen, sighting: Stamped<Sighting>) {
        let sold = sighting.value.name.is_none();
        let seen = Seen {
            name: sighting.value.name,
            sold,
            born_ns: sighting.born_ns,
        };
        self.merge(acc, seen);
    }

    fn result(&self, acc: &Seen) -> Seen {
        acc.clone()
    }

    fn merge(&self, acc: &mut Seen, other: Seen) {
        acc.name = acc.name.take().or(other.name);
        acc.sold |= other.sold;
        acc.born_ns = newest(acc.born_ns, other.born_ns);
    }
}

/// The sighting an event is: a person's creation, an auction's seller; none for a bid.
fn sighting(event: Event) -> Option<Sighting> {
    match event {
        Event::Person(person) => Some(Sighting {
            id: person.id,
            name: Some(person.name),
            date_time: person.date_time,
        }),
        Event::Auction(auction) => Some(Sighting {
            id: auction.seller,
            name: None,
            date_time: auction.date_time,
        }),
        Event::Bid(_) => None,
    }
}

/// The new people of `events` who opened an auction in the window they were created in.
pub fn query(events: &DataStream<Stamped<Event>>) -> DataStream<Stamped<Row>> {
    events
        .flat_map(|event: Stamped<Event>| event.filter_map(sighting))
        .event_time(|sighting: &Stamped<Sighting>| sighting.value.date_time)
        .key_by(|sighting: &Stamped<Sighting>| sighting.value.id)
        .window(tumbling(SIZE))
        .aggregate(Sightings)
        .flat_map(|seen: Windowed<i64, Seen>| {
            let Seen {
                name,
                sold,
                born_ns,
            } = seen.value;
            let (id, window_start) = (seen.key, seen.window.start);
            name.filter(|_| sold).map(|name| Stamped {
                value: Row {
                    id,
                    name,
                    window_start,
                },
                born_ns,
                seq: 0,
            })
        })
        .name("q8")
}
