//! The deterministic Nexmark event generator.
//!
//! It follows the standard generator of the Beam and Flink Nexmark suites
//! (`NexmarkGenerator` with its `PersonGenerator`, `AuctionGenerator` and `BidGenerator`):
//!
//! - Out of every 50 consecutive events, the first is a person, the next 3 are auctions and
//!   the other 46 are bids ([`PERSON_PROPORTION`], [`AUCTION_PROPORTION`],
//!   [`BID_PROPORTION`]).
//! - Ids follow from the event number alone: people and auctions are numbered in order of
//!   creation from [`FIRST_PERSON_ID`] and [`FIRST_AUCTION_ID`], so event `n` knows how many
//!   of each came before it. A new auction's seller and a bid's bidder are one of the last
//!   [`GeneratorConfig::num_active_people`] people (plus a few not created yet), a bid's
//!   auction one of the last [`GeneratorConfig::num_in_flight_auctions`] auctions (plus a
//!   few ahead).
//! - Hot items: a bid is for a hot auction (the first of the last 100 auctions) with
//!   probability `1 - 1/hot_auction_ratio`; likewise hot bidders and hot sellers.
//! - `date_time` is `base_time_ms + n × inter_event_delay_ns / 10⁶`: it advances with the
//!   event number from a fixed base time; with [`GeneratorConfig::out_of_orderness_ms`], each
//!   event is stamped up to that much earlier, so event time comes out of order.
//! - Strings come from small fixed vocabularies (names, cities, states, channels) or are
//!   windows of fixed pools of random letters; `extra` pads each event to an average size
//!   (100 bytes for a bid, 500 for an auction, 200 for a person), ±20%.
//!
//! Event `n` is a pure function of the configuration and `n`: the random draws for it come
//! from a generator seeded with `(seed, n)`, as the Java generator seeds `new Random(eventId)`.
//! So any range of events can be generated on its own, in any order, on any shard, and a
//! generator resumes from any event offset. The random streams differ from Java's, so the
//! events are not byte-for-byte those of the Java suite; their shape (proportions, id
//! distributions, sizes) is.
//!
//! Cost: one multiply per random draw, and no allocation for a bid or an auction: their
//! strings are [`Text`]s borrowing the pools and the channel tables, which live for the whole
//! process (the tables of each seed are made once and kept, about 1 MB per seed). Only a
//! person's name, e-mail address and credit card are made per event. So the generator
//! limits the engine as little as it can.

use std::sync::{Mutex, PoisonError};

use super::event::{Auction, Bid, Event, Kind, Person};
use super::pow10::pow10;
use super::text::Text;
use crate::workload::{below, splitmix64};

/// People in every [`TOTAL_PROPORTION`] events.
pub const PERSON_PROPORTION: u64 = 1;
/// Auctions in every [`TOTAL_PROPORTION`] events.
pub const AUCTION_PROPORTION: u64 = 3;
/// Bids in every [`TOTAL_PROPORTION`] events.
pub const BID_PROPORTION: u64 = 46;
/// The length of the repeating pattern of event kinds: person, 3 auctions, 46 bids.
pub const TOTAL_PROPORTION: u64 = PERSON_PROPORTION + AUCTION_PROPORTION + BID_PROPORTION;

/// The id of the first person.
pub const FIRST_PERSON_ID: i64 = 1000;
/// The id of the first auction.
pub const FIRST_AUCTION_ID: i64 = 1000;
/// The first category; categories are `FIRST_CATEGORY_ID..FIRST_CATEGORY_ID + NUM_CATEGORIES`.
pub const FIRST_CATEGORY_ID: i64 = 10;
/// The number of categories.
pub const NUM_CATEGORIES: u64 = 5;

/// The default base time: 2024-01-01T00:00:00Z, in epoch ms.
pub const DEFAULT_BASE_TIME_MS: i64 = 1_704_067_200_000;

/// People not created yet that a bid or auction may still name (the Java `PERSON_ID_LEAD`).
const PERSON_ID_LEAD: u64 = 10;
/// Auctions not created yet that a bid may still name (the Java `AUCTION_ID_LEAD`).
const AUCTION_ID_LEAD: u64 = 10;
/// Hot sellers are the first of each batch of this many people.
const HOT_SELLER_RATIO: i64 = 100;
/// Hot auctions are the first of each batch of this many auctions.
const HOT_AUCTION_RATIO: i64 = 100;
/// Hot bidders are the second of each batch of this many people.
const HOT_BIDDER_RATIO: i64 = 100;
/// A bid comes from a hot channel with probability `1 - 1/HOT_CHANNELS_RATIO`.
const HOT_CHANNELS_RATIO: u64 = 2;
/// The number of other channels (`channel-0` … `channel-9999`).
const CHANNELS_NUMBER: usize = 10_000;
/// The hot channels.
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
/// The shortest random string (the Java `MIN_STRING_LENGTH`).
const MIN_STRING_LENGTH: u64 = 3;

const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];

/// What the generator makes. [`Default`] is the standard Nexmark configuration with a fixed
/// base time and 100 000 events per second of event time.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Selects one of many equally shaped event sequences.
    pub seed: u64,
    /// The `date_time` of event 0, epoch ms.
    pub base_time_ms: i64,
    /// Event time between consecutive events, in nanoseconds (10 000: 100 000 events per
    /// second of event time).
    pub inter_event_delay_ns: u64,
    /// A bid is for a hot auction with probability `1 - 1/hot_auction_ratio` (default 2).
    pub hot_auction_ratio: u64,
    /// An auction is by a hot seller with probability `1 - 1/hot_sellers_ratio` (default 4).
    pub hot_sellers_ratio: u64,
    /// A bid is by a hot bidder with probability `1 - 1/hot_bidders_ratio` (default 4).
    pub hot_bidders_ratio: u64,
    /// Sellers and bidders that are not hot are among the last this many people (default
    /// 1000).
    pub num_active_people: u64,
    /// Bids that are not for a hot auction are for one of the last this many auctions
    /// (default 100); it also sets how long auctions last.
    pub num_in_flight_auctions: u64,
    /// The average size of a person, which `extra` pads to (default 200).
    pub avg_person_bytes: u64,
    /// The average size of an auction, which `extra` pads to (default 500).
    pub avg_auction_bytes: u64,
    /// The average size of a bid, which `extra` pads to (default 100).
    pub avg_bid_bytes: u64,
    /// Makes event time out of order: each event's `date_time` is up to this many ms
    /// earlier than its place in the sequence gives (drawn per event, uniformly; default 0,
    /// in order). A watermark that trails the largest `date_time` seen by this much never
    /// finds an event late.
    pub out_of_orderness_ms: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            base_time_ms: DEFAULT_BASE_TIME_MS,
            inter_event_delay_ns: 10_000,
            hot_auction_ratio: 2,
            hot_sellers_ratio: 4,
            hot_bidders_ratio: 4,
            num_active_people: 1000,
            num_in_flight_auctions: 100,
            avg_person_bytes: 200,
            avg_auction_bytes: 500,
            avg_bid_bytes: 100,
            out_of_orderness_ms: 0,
        }
    }
}

/// Makes event `n` of the sequence its [`GeneratorConfig`] describes (see the module docs).
/// Cloning is cheap: clones share the channel tables.
#[derive(Debug, Clone)]
pub struct NexmarkGenerator {
    config: GeneratorConfig,
    /// A hash of the seed, which each event's draws start from.
    seed_hash: u64,
    tables: &'static Tables,
}

/// The channels and their URLs, made from the seed (the Java `CHANNEL_URL_CACHE` and
/// `HOT_URLS`) once per process: see [`Tables::of`].
#[derive(Debug)]
struct Tables {
    /// The URL of each hot channel.
    hot_urls: [String; 4],
    /// `channel-N` followed by its URL, for N in `0..CHANNELS_NUMBER`, each in a slot of
    /// [`CHANNEL_SLOT`] bytes from a multiple of it: a bid's channel and the start of its
    /// URL share a cache line. (With a table of `(name, URL)` strings, a bid's channel and
    /// URL were three cache lines anywhere in the heap, and a query's first read of them
    /// missed the cache: a fifth of q22.)
    channel_slots: &'static str,
    /// The lengths of each channel's name and URL in its slot.
    channel_lens: Vec<(u8, u8)>,
}

/// The bytes of a channel's slot in [`Tables::channel_slots`]: two cache lines.
const CHANNEL_SLOT: usize = 128;

impl NexmarkGenerator {
    /// A generator for `config`. Ratios and counts of 0 are taken as 1.
    pub fn new(mut config: GeneratorConfig) -> Self {
        for ratio in [
            &mut config.hot_auction_ratio,
            &mut config.hot_sellers_ratio,
            &mut config.hot_bidders_ratio,
            &mut config.num_active_people,
            &mut config.num_in_flight_auctions,
        ] {
            *ratio = (*ratio).max(1);
        }
        let tables = Tables::of(config.seed);
        Self {
            seed_hash: splitmix64(config.seed ^ SEED_SALT),
            config,
            tables,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// Event number `n` (from 0).
    pub fn event(&self, n: u64) -> Event {
        let mut rng = Rng::for_event(self.seed_hash, n);
        let timestamp = self.date_time(n) - self.lateness_ms(n);
        match kind_of(n) {
            Kind::Person => Event::Person(Box::new(self.person(n, &mut rng, timestamp))),
            Kind::Auction => Event::Auction(Box::new(self.auction(n, &mut rng, timestamp))),
            Kind::Bid => Event::Bid(self.bid(n, &mut rng, timestamp)),
        }
    }

    /// The events from number `first` on, in order (endless).
    pub fn events_from(&self, first: u64) -> impl Iterator<Item = Event> + '_ {
        (first..).map(|n| self.event(n))
    }

    /// The `date_time` of event `n`, epoch ms.
    #[inline]
    pub fn date_time(&self, n: u64) -> i64 {
        let elapsed_ms = match n.checked_mul(self.config.inter_event_delay_ns) {
            Some(elapsed_ns) => elapsed_ns / 1_000_000,
            None => {
                (u128::from(n) * u128::from(self.config.inter_event_delay_ns) / 1_000_000) as u64
            }
        };
        self.config.base_time_ms + elapsed_ms as i64
    }

    /// How much earlier than [`date_time`](Self::date_time) event `n` is stamped: a draw in
    /// `0..=out_of_orderness_ms` of its own, so that the event's other fields do not depend
    /// on the bound.
    #[inline]
    fn lateness_ms(&self, n: u64) -> i64 {
        match self.config.out_of_orderness_ms {
            0 => 0,
            bound => below(splitmix64(self.seed_hash ^ n.rotate_left(17)), bound + 1) as i64,
        }
    }

    fn person(&self, n: u64, rng: &mut Rng, timestamp: i64) -> Person {
        let id = last_base0_person_id(n) + FIRST_PERSON_ID;
        let (first, last) = (rng.pick(&FIRST_NAMES), rng.pick(&LAST_NAMES));
        let name = Text::from([first, " ", last].concat());
        let (user, domain) = (rng.spaced(7), rng.spaced(5));
        let email_address = Text::from([user, "@", domain, ".com"].concat());
        let credit_card = rng.credit_card();
        let city = Text::from_static(rng.pick(&US_CITIES));
        let state = Text::from_static(rng.pick(&US_STATES));
        let size = 8 + name.len() + email_address.len() + credit_card.len() + city.len();
        let extra = rng.extra(size + state.len(), self.config.avg_person_bytes);
        Person {
            id,
            name,
            email_address,
            credit_card,
            city,
            state,
            date_time: timestamp,
            extra,
        }
    }

    fn auction(&self, n: u64, rng: &mut Rng, timestamp: i64) -> Auction {
        let id = last_base0_auction_id(n) + FIRST_AUCTION_ID;
        let seller = if rng.below(self.config.hot_sellers_ratio) > 0 {
            // The first person of the batch of the last HOT_SELLER_RATIO people.
            last_base0_person_id(n) / HOT_SELLER_RATIO * HOT_SELLER_RATIO
        } else {
            self.next_base0_person_id(n, rng)
        } + FIRST_PERSON_ID;
        let category = FIRST_CATEGORY_ID + rng.below(NUM_CATEGORIES) as i64;
        let initial_bid = rng.price();
        let expires = timestamp + self.auction_length_ms(n, rng, timestamp);
        let item_name = Text::from_static(rng.spaced(20));
        let description = Text::from_static(rng.spaced(100));
        let reserve = initial_bid + rng.price();
        let size = 8 + item_name.len() + description.len() + 8 * 5;
        let extra = rng.extra(size, self.config.avg_auction_bytes);
        Auction {
            id,
            item_name,
            description,
            initial_bid,
            reserve,
            date_time: timestamp,
            expires,
            seller,
            category,
            extra,
        }
    }

    fn bid(&self, n: u64, rng: &mut Rng, timestamp: i64) -> Bid {
        let auction = if rng.below(self.config.hot_auction_ratio) > 0 {
            // The first auction of the batch of the last HOT_AUCTION_RATIO auctions.
            last_base0_auction_id(n) / HOT_AUCTION_RATIO * HOT_AUCTION_RATIO
        } else {
            self.next_base0_auction_id(n, rng)
        } + FIRST_AUCTION_ID;
        let bidder = if rng.below(self.config.hot_bidders_ratio) > 0 {
            // The second person (hot bidders and hot sellers do not collide) of the batch of
            // the last HOT_BIDDER_RATIO people.
            last_base0_person_id(n) / HOT_BIDDER_RATIO * HOT_BIDDER_RATIO + 1
        } else {
            self.next_base0_person_id(n, rng)
        } + FIRST_PERSON_ID;
        let price = rng.price();
        let (channel, url) = if rng.below(HOT_CHANNELS_RATIO) > 0 {
            let i = rng.below(HOT_CHANNELS.len() as u64) as usize;
            (HOT_CHANNELS[i], self.tables.hot_urls[i].as_str())
        } else {
            self.tables
                .channel(rng.below(CHANNELS_NUMBER as u64) as usize)
        };
        let (channel, url) = (Text::from_static(channel), Text::from_static(url));
        let extra = rng.extra(8 * 4, self.config.avg_bid_bytes);
        Bid {
            auction,
            bidder,
            price,
            channel,
            url,
            date_time: timestamp,
            extra,
        }
    }

    /// One of the active people, or a few beyond the newest (so that a new person's first
    /// bid or auction can appear before the person does).
    fn next_base0_person_id(&self, n: u64, rng: &mut Rng) -> i64 {
        let people = (last_base0_person_id(n) + 1) as u64;
        let active = people.min(self.config.num_active_people);
        (people - active + rng.below(active + PERSON_ID_LEAD)) as i64
    }

    /// One of the auctions likely still open, or a few beyond the newest.
    fn next_base0_auction_id(&self, n: u64, rng: &mut Rng) -> i64 {
        let newest = last_base0_auction_id(n);
        let oldest = (newest - self.config.num_in_flight_auctions as i64).max(0);
        oldest + rng.below((newest - oldest + 1) as u64 + AUCTION_ID_LEAD) as i64
    }

    /// How long an auction opened by event `n` at `timestamp` lasts: uniform in
    /// `1..=2 × horizon`, where the horizon is the event time until `num_in_flight_auctions`
    /// more auctions have been opened, so that about that many are open at any time.
    fn auction_length_ms(&self, n: u64, rng: &mut Rng, timestamp: i64) -> i64 {
        let events_for_auctions =
            self.config.num_in_flight_auctions * TOTAL_PROPORTION / AUCTION_PROPORTION;
        let horizon = self.date_time(n + events_for_auctions) - timestamp;
        1 + rng.below((horizon * 2).max(1) as u64) as i64
    }
}

/// The kind of event number `n`: a person, 3 auctions, then 46 bids, repeating.
#[inline]
pub fn kind_of(n: u64) -> Kind {
    let offset = n % TOTAL_PROPORTION;
    if offset < PERSON_PROPORTION {
        Kind::Person
    } else if offset < PERSON_PROPORTION + AUCTION_PROPORTION {
        Kind::Auction
    } else {
        Kind::Bid
    }
}

/// The id (from 0) of the newest person at event `n`: the person `n` makes, if it makes one.
#[inline]
// General in the proportions, as the Java original; with one person per 50 events the
// offset is always 0.
#[allow(clippy::unnecessary_min_or_max)]
pub fn last_base0_person_id(n: u64) -> i64 {
    let epoch = n / TOTAL_PROPORTION;
    let offset = (n % TOTAL_PROPORTION).min(PERSON_PROPORTION - 1);
    (epoch * PERSON_PROPORTION + offset) as i64
}

/// The id (from 0) of the newest auction at event `n`: the auction `n` makes, if it makes
/// one; -1 before the first auction.
#[inline]
pub fn last_base0_auction_id(n: u64) -> i64 {
    let mut epoch = (n / TOTAL_PROPORTION) as i64;
    let mut offset = (n % TOTAL_PROPORTION) as i64;
    let (people, auctions) = (PERSON_PROPORTION as i64, AUCTION_PROPORTION as i64);
    if offset < people {
        // A person: the last auction of the previous epoch.
        epoch -= 1;
        offset = auctions - 1;
    } else if offset >= people + auctions {
        // A bid: the last auction of this epoch.
        offset = auctions - 1;
    } else {
        offset -= people;
    }
    epoch * auctions + offset
}

impl Tables {
    /// The tables of `seed`: made on first use and kept for the rest of the process (a
    /// seed's tables are about 1 MB, and a process uses a handful of seeds), so that events
    /// borrow their channels and URLs instead of copying them.
    fn of(seed: u64) -> &'static Tables {
        static MADE: Mutex<Vec<(u64, &'static Tables)>> = Mutex::new(Vec::new());
        let mut made = MADE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&(_, tables)) = made.iter().find(|(made_for, _)| *made_for == seed) {
            return tables;
        }
        let tables: &'static Tables = Box::leak(Box::new(Tables::new(seed)));
        made.push((seed, tables));
        tables
    }

    fn new(seed: u64) -> Self {
        let mut rng = Rng::for_event(splitmix64(seed ^ TABLE_SALT), 0);
        let hot_urls = std::array::from_fn(|_| base_url(&mut rng));
        let mut slots = String::with_capacity((CHANNELS_NUMBER + 1) * CHANNEL_SLOT);
        // Slots start at multiples of CHANNEL_SLOT in memory (the capacity above keeps the
        // buffer where it is, and `leak` does not move it).
        let lead = slots.as_ptr().align_offset(CHANNEL_SLOT);
        let pad_to = |slots: &mut String, len: usize| {
            slots.extend(std::iter::repeat_n(' ', len - slots.len()));
        };
        pad_to(&mut slots, lead);
        let channel_lens = (0..CHANNELS_NUMBER)
            .map(|number| {
                let mut url = base_url(&mut rng);
                if rng.below(2) == 1 {
                    // As Java's `Math.abs(Integer.reverse(channelNumber))`, overflow included.
                    let id = (number as i32).reverse_bits().wrapping_abs();
                    url.push_str(&format!("&channel_id={id}"));
                }
                let name = format!("channel-{number}");
                assert!(
                    name.len() + url.len() <= CHANNEL_SLOT,
                    "a channel fits its slot"
                );
                slots.push_str(&name);
                slots.push_str(&url);
                pad_to(&mut slots, lead + (number + 1) * CHANNEL_SLOT);
                (name.len() as u8, url.len() as u8)
            })
            .collect();
        Self {
            hot_urls,
            channel_slots: &slots.leak()[lead..],
            channel_lens,
        }
    }

    /// Channel `number`'s name and URL.
    #[inline]
    fn channel(&self, number: usize) -> (&'static str, &'static str) {
        let (name_len, url_len) = self.channel_lens[number];
        let name_start = number * CHANNEL_SLOT;
        let url_start = name_start + usize::from(name_len);
        (
            &self.channel_slots[name_start..url_start],
            &self.channel_slots[url_start..url_start + usize::from(url_len)],
        )
    }
}

/// Salts the seed of the channel tables, so that they are independent of the events' draws.
const TABLE_SALT: u64 = 0x6e65_786d_6172_6b00;
/// Salts the seed of the events' draws.
const SEED_SALT: u64 = 0x6576_656e_7473_0000;

/// `https://www.nexmark.com/<a>/<b>/<c>/item.htm?query=1`, each part 3 or 4 random letters
/// and underscores.
fn base_url(rng: &mut Rng) -> String {
    let mut url = String::from("https://www.nexmark.com");
    for _ in 0..3 {
        url.push('/');
        let len = MIN_STRING_LENGTH + rng.below(5 - MIN_STRING_LENGTH);
        for _ in 0..len {
            let c = if rng.below(13) == 0 {
                '_'
            } else {
                char::from(b'a' + rng.below(26) as u8)
            };
            url.push(c);
        }
    }
    url.push_str("/item.htm?query=1");
    url
}

/// The longest window taken from a pool at once.
const POOL_WINDOW: usize = 1024;
/// Where windows may start: `0..POOL_STARTS`.
const POOL_STARTS: usize = 8192;
/// Pool length: every window fits.
const POOL_LEN: usize = POOL_STARTS + POOL_WINDOW;

/// Random lowercase letters.
const LETTER_BYTES: [u8; POOL_LEN] = pool(0x6c65_7474_6572_7300, 0);
/// Random lowercase letters with a space one time in 13 (the Java `nextString`).
const SPACED_BYTES: [u8; POOL_LEN] = pool(0x7370_6163_6564_0000, 13);
const LETTERS: &str = ascii(&LETTER_BYTES);
const SPACED: &str = ascii(&SPACED_BYTES);

/// A pool of `POOL_LEN` random lowercase letters, with a space one time in `space_one_in` if
/// that is not 0. Made at compile time.
const fn pool(seed: u64, space_one_in: u64) -> [u8; POOL_LEN] {
    let mut out = [0u8; POOL_LEN];
    let mut i = 0;
    while i < POOL_LEN {
        let r = splitmix64(seed.wrapping_add(i as u64));
        out[i] = if space_one_in != 0 && (r >> 40).is_multiple_of(space_one_in) {
            b' '
        } else {
            b'a' + (r % 26) as u8
        };
        i += 1;
    }
    out
}

/// `bytes` as a string (checked at compile time: the pools are ASCII).
const fn ascii(bytes: &'static [u8]) -> &'static str {
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => panic!("the pools are ASCII"),
    }
}

/// The random draws of one event: a wyrand stream (one 64×64→128-bit multiply per draw)
/// started from a SplitMix64 hash of the event number and the generator's seed.
struct Rng {
    state: u64,
}

impl Rng {
    /// The draws of event `n` for a generator whose seed hashes to `seed_hash`.
    #[inline]
    fn for_event(seed_hash: u64, n: u64) -> Self {
        Self {
            state: splitmix64(seed_hash ^ n),
        }
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0xa076_1d64_78bd_642f);
        let product = u128::from(self.state) * u128::from(self.state ^ 0xe703_7ed1_a0b4_28db);
        (product >> 64) as u64 ^ product as u64
    }

    /// Uniform in `0..n` (`n` ≥ 1).
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        below(self.next_u64(), n)
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    #[inline]
    fn pick(&mut self, words: &[&'static str]) -> &'static str {
        words[self.below(words.len() as u64) as usize]
    }

    /// A price in cents: `round(10^(6u) × 100)` for uniform `u` (the Java `nextPrice`), so
    /// from $1 to $1 000 000, log-uniform.
    #[inline]
    fn price(&mut self) -> i64 {
        // `floor(x + 0.5)` is `round` for positive `x`, and inlines (`round` is a libm call).
        (pow10(6.0 * self.unit()) * 100.0 + 0.5) as i64
    }

    /// A window of `len` bytes of `pool`.
    #[inline]
    fn window(&mut self, pool: &'static str, len: usize) -> &'static str {
        let start = self.below(POOL_STARTS as u64) as usize;
        &pool[start..start + len]
    }

    /// The Java `nextString(maxLength)`: 3 to `max_len - 1` random letters and spaces,
    /// trimmed.
    #[inline]
    fn spaced(&mut self, max_len: u64) -> &'static str {
        let len = MIN_STRING_LENGTH + self.below(max_len - MIN_STRING_LENGTH);
        self.window(SPACED, len as usize).trim()
    }

    /// `len` random letters: a window of the pool, or windows joined if it is longer.
    fn letters(&mut self, len: usize) -> Text {
        if len <= POOL_WINDOW {
            return Text::from_static(self.window(LETTERS, len));
        }
        let mut out = String::with_capacity(len);
        while out.len() < len {
            let take = (len - out.len()).min(POOL_WINDOW);
            out.push_str(self.window(LETTERS, take));
        }
        Text::from(out)
    }

    /// The Java `nextExtra`: letters that bring an event of `size` bytes to `average` on
    /// average, ±20% uniformly; empty if the event is already that large.
    #[inline]
    fn extra(&mut self, size: usize, average: u64) -> Text {
        let Some(wanted) = (average as usize).checked_sub(size) else {
            return Text::EMPTY;
        };
        // round(wanted × 0.2), in integers: wanted / 5 is never exactly halfway.
        let delta = (wanted * 2 + 5) / 10;
        let len = wanted - delta
            + if delta == 0 {
                0
            } else {
                self.below(2 * delta as u64) as usize
            };
        self.letters(len)
    }

    /// Four groups of four digits separated by spaces.
    fn credit_card(&mut self) -> Text {
        let mut out = String::with_capacity(19);
        for group in 0..4 {
            if group > 0 {
                out.push(' ');
            }
            let mut value = self.below(10_000);
            let mut digits = [b'0'; 4];
            for digit in digits.iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
            digits.iter().for_each(|&d| out.push(char::from(d)));
        }
        Text::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_event_number() {
        // Event 0 is person 0, events 1..=3 auctions 0..=2, then bids naming auction 2.
        assert_eq!(last_base0_person_id(0), 0);
        assert_eq!(last_base0_auction_id(0), -1);
        assert_eq!(last_base0_auction_id(1), 0);
        assert_eq!(last_base0_auction_id(3), 2);
        assert_eq!(last_base0_auction_id(4), 2);
        assert_eq!(last_base0_person_id(49), 0);
        assert_eq!(last_base0_person_id(50), 1);
        assert_eq!(last_base0_auction_id(50), 2);
        assert_eq!(last_base0_auction_id(51), 3);
    }

    #[test]
    fn channel_slots_hold_each_name_and_url() {
        let tables = Tables::new(7);
        let with_id = (0..CHANNELS_NUMBER)
            .filter(|&number| {
                let (name, url) = tables.channel(number);
                assert_eq!(name, format!("channel-{number}"));
                assert!(url.starts_with("https://www.nexmark.com/"), "{url}");
                let id = url.split_once("&channel_id=").map(|(_, id)| id);
                if let Some(id) = id {
                    let expected = (number as i32).reverse_bits().wrapping_abs();
                    assert_eq!(id, expected.to_string());
                }
                id.is_some()
            })
            .count();
        // About half the channels have an id in their URL.
        assert!((4_500..5_500).contains(&with_id), "{with_id} with an id");
    }

    #[test]
    fn pools_are_letters_and_spaces() {
        assert!(LETTERS.bytes().all(|b| b.is_ascii_lowercase()));
        let spaces = SPACED.bytes().filter(|&b| b == b' ').count();
        assert!(SPACED.bytes().all(|b| b == b' ' || b.is_ascii_lowercase()));
        // One in 13, give or take.
        assert!((spaces as f64 / POOL_LEN as f64 - 1.0 / 13.0).abs() < 0.01);
    }

    #[test]
    fn extra_pads_to_the_average_size() {
        let generator = NexmarkGenerator::new(GeneratorConfig::default());
        let (mut total, mut bids) = (0, 0);
        for n in 0..5_000 {
            if let Event::Bid(bid) = generator.event(n) {
                let len = bid.extra.len();
                assert!((54..82).contains(&len), "extra of {len} bytes");
                total += len;
                bids += 1;
            }
        }
        let mean = total as f64 / bids as f64;
        assert!((mean - 68.0).abs() < 1.0, "mean extra {mean}");
    }
}
