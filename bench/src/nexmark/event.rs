//! The three Nexmark event kinds and their JSON-lines form.
//!
//! Field names and types follow NEXMARK.md exactly: ids, prices, `category`, `seller`,
//! `bidder`, `auction`, `initial_bid` and `reserve` are 64-bit integers (signed, as in the
//! Java suite), `date_time` and `expires` are epoch milliseconds, the rest are strings. As a
//! JSON line an event is one object with `"type"` set to `"person"`, `"auction"` or `"bid"`
//! and the fields at the top level in snake_case (string fields are [`Text`], which reads
//! as a `&str`):
//!
//! ```
//! use tidewater_bench::nexmark::event::{Bid, Event};
//!
//! let line = r#"{"type":"bid","auction":1000,"bidder":1001,"price":42,"channel":"Google","url":"https://www.nexmark.com/a/b/c/item.htm?query=1","date_time":1704067200000,"extra":""}"#;
//! let event: Event = serde_json::from_str(line).unwrap();
//! assert_eq!(event.as_bid().map(|bid: &Bid| bid.price), Some(42));
//! assert_eq!(serde_json::to_string(&event).unwrap(), line);
//! ```
//!
//! Fields a kind does not have are ignored when reading, so that files written by other
//! tools with extra columns still load; a missing field or a wrong type is an error.

use serde::{Deserialize, Deserializer, Serialize};

use super::text::Text;

/// A person who opens auctions (as `seller`) and bids on them (as `bidder`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Person {
    /// The person's id; people are numbered from 1000 in order of creation.
    pub id: i64,
    /// First and last name.
    pub name: Text,
    /// E-mail address.
    pub email_address: Text,
    /// Credit card number, four groups of four digits.
    pub credit_card: Text,
    /// City (in the US).
    pub city: Text,
    /// Two-letter US state.
    pub state: Text,
    /// When the person was created, epoch ms.
    pub date_time: i64,
    /// Padding that brings the event to its average size.
    pub extra: Text,
}

/// An auction opened by `seller`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Auction {
    /// The auction's id; auctions are numbered from 1000 in order of creation.
    pub id: i64,
    /// The item's name.
    pub item_name: Text,
    /// The item's description.
    pub description: Text,
    /// The opening price.
    pub initial_bid: i64,
    /// The lowest price the seller accepts.
    pub reserve: i64,
    /// When the auction opened, epoch ms.
    pub date_time: i64,
    /// When the auction closes, epoch ms.
    pub expires: i64,
    /// The person id of the seller.
    pub seller: i64,
    /// The item's category.
    pub category: i64,
    /// Padding that brings the event to its average size.
    pub extra: Text,
}

/// A bid by `bidder` on `auction`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bid {
    /// The auction's id.
    pub auction: i64,
    /// The bidder's person id.
    pub bidder: i64,
    /// The price bid (in cents).
    pub price: i64,
    /// Where the bid came from (`Google`, `Facebook`, … or `channel-N`).
    pub channel: Text,
    /// The URL of the bid's page.
    pub url: Text,
    /// When the bid was made, epoch ms.
    pub date_time: i64,
    /// Padding that brings the event to its average size.
    pub extra: Text,
}

/// One Nexmark event. Written with `"type"` first; read from an object with its fields in
/// any order. People and auctions (8% of the events, and the larger kinds) are boxed, so
/// that an event is the size of a bid and moves through the pipeline in fewer bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// A new person.
    Person(Box<Person>),
    /// A new auction.
    Auction(Box<Auction>),
    /// A bid.
    Bid(Bid),
}

/// Which kind an [`Event`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// [`Event::Person`].
    Person,
    /// [`Event::Auction`].
    Auction,
    /// [`Event::Bid`].
    Bid,
}

impl Event {
    /// The event's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Event::Person(_) => Kind::Person,
            Event::Auction(_) => Kind::Auction,
            Event::Bid(_) => Kind::Bid,
        }
    }

    /// The event time, epoch ms.
    pub fn date_time(&self) -> i64 {
        match self {
            Event::Person(person) => person.date_time,
            Event::Auction(auction) => auction.date_time,
            Event::Bid(bid) => bid.date_time,
        }
    }

    /// The bid, if this is one.
    pub fn as_bid(&self) -> Option<&Bid> {
        match self {
            Event::Bid(bid) => Some(bid),
            _ => None,
        }
    }

    /// The bid, if this is one, by value.
    pub fn into_bid(self) -> Option<Bid> {
        match self {
            Event::Bid(bid) => Some(bid),
            _ => None,
        }
    }

    /// The person, if this is one, by value.
    pub fn into_person(self) -> Option<Person> {
        match self {
            Event::Person(person) => Some(*person),
            _ => None,
        }
    }

    /// The auction, if this is one, by value.
    pub fn into_auction(self) -> Option<Auction> {
        match self {
            Event::Auction(auction) => Some(*auction),
            _ => None,
        }
    }
}

/// Every field of every kind, as read: an event is read in one pass into this (so that errors
/// in a field point at it), then checked for the fields of its kind. serde's own internally
/// tagged enums buffer the whole object first and lose the position of errors.
#[derive(Deserialize)]
struct AnyEvent {
    #[serde(rename = "type")]
    kind: KindName,
    id: Option<i64>,
    name: Option<Text>,
    email_address: Option<Text>,
    credit_card: Option<Text>,
    city: Option<Text>,
    state: Option<Text>,
    date_time: Option<i64>,
    extra: Option<Text>,
    item_name: Option<Text>,
    description: Option<Text>,
    initial_bid: Option<i64>,
    reserve: Option<i64>,
    expires: Option<i64>,
    seller: Option<i64>,
    category: Option<i64>,
    auction: Option<i64>,
    bidder: Option<i64>,
    price: Option<i64>,
    channel: Option<Text>,
    url: Option<Text>,
}

/// The values of `"type"`.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum KindName {
    Person,
    Auction,
    Bid,
}

/// `Some` field's value, or the error that names it.
fn required<T, E: serde::de::Error>(value: Option<T>, field: &str, kind: &str) -> Result<T, E> {
    value.ok_or_else(|| E::custom(format_args!("missing field `{field}` in {kind}")))
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let any = AnyEvent::deserialize(deserializer)?;
        Ok(match any.kind {
            KindName::Person => {
                let kind = "a person";
                Event::Person(Box::new(Person {
                    id: required(any.id, "id", kind)?,
                    name: required(any.name, "name", kind)?,
                    email_address: required(any.email_address, "email_address", kind)?,
                    credit_card: required(any.credit_card, "credit_card", kind)?,
                    city: required(any.city, "city", kind)?,
                    state: required(any.state, "state", kind)?,
                    date_time: required(any.date_time, "date_time", kind)?,
                    extra: required(any.extra, "extra", kind)?,
                }))
            }
            KindName::Auction => {
                let kind = "an auction";
                Event::Auction(Box::new(Auction {
                    id: required(any.id, "id", kind)?,
                    item_name: required(any.item_name, "item_name", kind)?,
                    description: required(any.description, "description", kind)?,
                    initial_bid: required(any.initial_bid, "initial_bid", kind)?,
                    reserve: required(any.reserve, "reserve", kind)?,
                    date_time: required(any.date_time, "date_time", kind)?,
                    expires: required(any.expires, "expires", kind)?,
                    seller: required(any.seller, "seller", kind)?,
                    category: required(any.category, "category", kind)?,
                    extra: required(any.extra, "extra", kind)?,
                }))
            }
            KindName::Bid => {
                let kind = "a bid";
                Event::Bid(Bid {
                    auction: required(any.auction, "auction", kind)?,
                    bidder: required(any.bidder, "bidder", kind)?,
                    price: required(any.price, "price", kind)?,
                    channel: required(any.channel, "channel", kind)?,
                    url: required(any.url, "url", kind)?,
                    date_time: required(any.date_time, "date_time", kind)?,
                    extra: required(any.extra, "extra", kind)?,
                })
            }
        })
    }
}
