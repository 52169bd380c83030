//! Every Nexmark query on Tidewater against a batch computation of its meaning
//! (NEXMARK.md), written plainly here over the same events: generated with event time out of
//! order (within the watermark's bound), run on 1 and 2 shards, the output's `+`/`-` lines
//! applied, and the resulting table compared row by row (floats within 1e-9, relative).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Timelike};
use serde_json::{json, Value};
use tidewater::prelude::*;
use tidewater_bench::nexmark::event::{Auction, Bid, Event, Person};
use tidewater_bench::nexmark::{GeneratorConfig, NexmarkError, NexmarkGenerator, Options, Query};

use common::{apply, assert_same_table, Table};

/// Events per run: not a multiple of 50 (nor of the shard count).
const EVENTS: u64 = 20_001;

/// Runs `options` on Tidewater, unpinned (the tests share the machine).
fn run(options: &Options) -> Result<tidewater_bench::summary::RunStats, NexmarkError> {
    let config = JobConfig::default().pinning(Pinning::Never);
    tidewater_bench::nexmark::run::run(options, config)
}

/// The generator of a query's test: 2 ms of event time per event (40 s in all, so that the
/// 10 s windows are many) and up to 500 ms out of order; for the per-day and per-hour
/// queries, 10 s per event (two and a bit days) and up to a minute out of order.
fn generator_config(query: Query) -> GeneratorConfig {
    let (inter_event_delay_ns, out_of_orderness_ms) = match query {
        Query::Q10 | Query::Q14 | Query::Q15 | Query::Q16 | Query::Q17 => (10_000_000_000, 60_000),
        _ => (2_000_000, 500),
    };
    GeneratorConfig {
        inter_event_delay_ns,
        out_of_orderness_ms,
        ..GeneratorConfig::default()
    }
}

/// A bid with its input position (its event number).
#[derive(Clone, Copy)]
struct SeqBid<'a> {
    seq: u64,
    bid: &'a Bid,
}

/// The events of a test, by kind.
struct Events {
    persons: Vec<Person>,
    auctions: Vec<Auction>,
    bids: Vec<(u64, Bid)>,
}

impl Events {
    fn generate(config: &GeneratorConfig) -> Self {
        let generator = NexmarkGenerator::new(config.clone());
        let mut events = Events {
            persons: Vec::new(),
            auctions: Vec::new(),
            bids: Vec::new(),
        };
        for n in 0..EVENTS {
            match generator.event(n) {
                Event::Person(person) => events.persons.push(*person),
                Event::Auction(auction) => events.auctions.push(*auction),
                Event::Bid(bid) => events.bids.push((n, bid)),
            }
        }
        events
    }

    fn bids(&self) -> impl Iterator<Item = SeqBid<'_>> {
        self.bids.iter().map(|(seq, bid)| SeqBid { seq: *seq, bid })
    }
}

/// The rows as a result table.
fn table(rows: impl IntoIterator<Item = Value>) -> Table {
    let mut table = Table::new();
    for row in rows {
        *table.entry(row.to_string()).or_insert(0) += 1;
    }
    table
}

fn bid_columns(bid: &Bid) -> Value {
    json!({
        "auction": bid.auction, "bidder": bid.bidder, "price": bid.price,
        "channel": bid.channel, "url": bid.url, "date_time": bid.date_time, "extra": bid.extra,
    })
}

/// Adds `more`'s columns to the object `row`.
fn with(mut row: Value, more: Value) -> Value {
    if let (Value::Object(row), Value::Object(more)) = (&mut row, more) {
        row.extend(more);
    }
    row
}

fn utc(ms: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

fn day(ms: i64) -> String {
    utc(ms).format("%Y-%m-%d").to_string()
}

/// The winning bid of every auction that has one (q4, q6, q9).
fn winners(events: &Events) -> Vec<(&Auction, SeqBid<'_>)> {
    let mut by_auction: HashMap<i64, Vec<SeqBid>> = HashMap::new();
    for bid in events.bids() {
        by_auction.entry(bid.bid.auction).or_default().push(bid);
    }
    let rank = |b: &SeqBid| {
        (
            std::cmp::Reverse(b.bid.price),
            b.bid.date_time,
            b.bid.bidder,
            b.seq,
        )
    };
    events
        .auctions
        .iter()
        .filter_map(|auction| {
            let best = by_auction
                .get(&auction.id)?
                .iter()
                .filter(|b| (auction.date_time..=auction.expires).contains(&b.bid.date_time))
                .min_by_key(|b| rank(b))?;
            Some((auction, *best))
        })
        .collect()
}

/// The mean of `values`.
fn mean(values: &[i64]) -> f64 {
    values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64
}

/// A price's rank (q15–q17).
fn rank(price: i64) -> usize {
    if price < 10_000 {
        1
    } else if price < 1_000_000 {
        2
    } else {
        3
    }
}

/// The per-rank counts of q15 and q16 over `bids`.
fn daily_counts(bids: &[&Bid]) -> Value {
    let mut row = serde_json::Map::new();
    let names = ["total", "rank1", "rank2", "rank3"];
    for (i, name) in names.iter().enumerate() {
        let of_rank: Vec<&&Bid> = bids
            .iter()
            .filter(|b| i == 0 || rank(b.price) == i)
            .collect();
        let bidders: HashSet<i64> = of_rank.iter().map(|b| b.bidder).collect();
        let auctions: HashSet<i64> = of_rank.iter().map(|b| b.auction).collect();
        row.insert(format!("{name}_bids"), json!(of_rank.len()));
        row.insert(format!("{name}_bidders"), json!(bidders.len()));
        row.insert(format!("{name}_auctions"), json!(auctions.len()));
    }
    Value::Object(row)
}

/// The channel id of q21, written from its definition.
fn channel_id(bid: &Bid) -> Option<String> {
    let known = ["apple", "google", "facebook", "baidu"];
    if let Some(i) = known.iter().position(|k| *k == bid.channel.to_lowercase()) {
        return Some(i.to_string());
    }
    let query = bid.url.split('?').nth(1)?;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("channel_id="))
        .map(String::from)
}

/// The result of `query` over `events`, computed plainly.
fn expected(query: Query, events: &Events) -> Table {
    let bids = || events.bids().map(|b| b.bid);
    match query {
        Query::Q0 => table(bids().map(|b| {
            json!({"auction": b.auction, "bidder": b.bidder, "price": b.price,
                   "date_time": b.date_time, "extra": b.extra})
        })),
        Query::Q1 => table(bids().map(|b| {
            json!({"auction": b.auction, "bidder": b.bidder, "price": 0.908 * b.price as f64,
                   "date_time": b.date_time, "extra": b.extra})
        })),
        Query::Q2 => table(
            bids()
                .filter(|b| b.auction % 123 == 0)
                .map(|b| json!({"auction": b.auction, "price": b.price})),
        ),
        Query::Q3 => {
            let sellers: HashMap<i64, &Person> = events
                .persons
                .iter()
                .filter(|p| ["OR", "ID", "CA"].contains(&p.state.as_str()))
                .map(|p| (p.id, p))
                .collect();
            table(
                events
                    .auctions
                    .iter()
                    .filter(|a| a.category == 10)
                    .filter_map(|a| {
                        let p = sellers.get(&a.seller)?;
                        Some(json!({"name": p.name, "city": p.city, "state": p.state, "id": a.id}))
                    }),
            )
        }
        Query::Q4 => {
            let mut prices: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for (auction, bid) in winners(events) {
                prices
                    .entry(auction.category)
                    .or_default()
                    .push(bid.bid.price);
            }
            table(
                prices
                    .iter()
                    .map(|(c, p)| json!({"category": c, "avg": mean(p)})),
            )
        }
        Query::Q5 => {
            let mut windows: BTreeMap<i64, HashMap<i64, u64>> = BTreeMap::new();
            for b in bids() {
                let mut start = b.date_time.div_euclid(2_000) * 2_000;
                while start > b.date_time - 10_000 {
                    *windows
                        .entry(start)
                        .or_default()
                        .entry(b.auction)
                        .or_default() += 1;
                    start -= 2_000;
                }
            }
            table(windows.iter().flat_map(|(start, counts)| {
                let max = *counts.values().max().unwrap();
                counts
                    .iter()
                    .filter(move |(_, &n)| n == max)
                    .map(move |(auction, n)| {
                        json!({"auction": auction, "num": n, "window_start": start,
                           "window_end": start + 10_000})
                    })
            }))
        }
        Query::Q6 => {
            let mut sales: BTreeMap<i64, Vec<(i64, i64, i64)>> = BTreeMap::new();
            for (a, bid) in winners(events) {
                sales
                    .entry(a.seller)
                    .or_default()
                    .push((a.expires, a.id, bid.bid.price));
            }
            table(sales.iter_mut().map(|(seller, sales)| {
                sales.sort();
                let last: Vec<i64> = sales.iter().rev().take(10).map(|s| s.2).collect();
                json!({"seller": seller, "avg": mean(&last)})
            }))
        }
        Query::Q7 => {
            let mut windows: BTreeMap<i64, Vec<&Bid>> = BTreeMap::new();
            for b in bids() {
                windows
                    .entry(b.date_time.div_euclid(10_000) * 10_000)
                    .or_default()
                    .push(b);
            }
            table(windows.iter().flat_map(|(start, bids)| {
                let max = bids.iter().map(|b| b.price).max().unwrap();
                bids.iter().filter(move |b| b.price == max).map(move |b| {
                    json!({"auction": b.auction, "price": b.price, "bidder": b.bidder,
                           "date_time": b.date_time, "extra": b.extra,
                           "window_end": start + 10_000})
                })
            }))
        }
        Query::Q8 => {
            let window = |t: i64| t.div_euclid(10_000) * 10_000;
            let sold: HashSet<(i64, i64)> = events
                .auctions
                .iter()
                .map(|a| (a.seller, window(a.date_time)))
                .collect();
            table(
                events
                    .persons
                    .iter()
                    .filter(|p| sold.contains(&(p.id, window(p.date_time))))
                    .map(|p| json!({"id": p.id, "name": p.name, "window_start": window(p.date_time)})),
            )
        }
        Query::Q9 => table(winners(events).into_iter().map(|(a, b)| {
            json!({"id": a.id, "item_name": a.item_name, "description": a.description,
                   "initial_bid": a.initial_bid, "reserve": a.reserve, "date_time": a.date_time,
                   "expires": a.expires, "seller": a.seller, "category": a.category,
                   "extra": a.extra, "bid_auction": b.bid.auction, "bid_bidder": b.bid.bidder,
                   "bid_price": b.bid.price, "bid_date_time": b.bid.date_time,
                   "bid_extra": b.bid.extra})
        })),
        Query::Q10 => table(bids().map(|b| {
            json!({"auction": b.auction, "bidder": b.bidder, "price": b.price,
                   "date_time": b.date_time, "extra": b.extra, "dt": day(b.date_time),
                   "hm": utc(b.date_time).format("%H:%M").to_string()})
        })),
        Query::Q11 => {
            let mut times: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for b in bids() {
                times.entry(b.bidder).or_default().push(b.date_time);
            }
            let mut rows = Vec::new();
            for (bidder, times) in &mut times {
                times.sort();
                let mut session = (times[0], times[0], 0);
                for &t in times.iter() {
                    if t - session.1 >= 10_000 {
                        rows.push((*bidder, session));
                        session = (t, t, 0);
                    }
                    session = (session.0, t, session.2 + 1);
                }
                rows.push((*bidder, session));
            }
            table(rows.into_iter().map(|(bidder, (first, last, count))| {
                json!({"bidder": bidder, "bid_count": count, "window_start": first,
                       "window_end": last + 10_000})
            }))
        }
        Query::Q12 => unreachable!("q12 is not deterministic; checked for shape"),
        Query::Q13 => table(bids().map(|b| {
            json!({"auction": b.auction, "bidder": b.bidder, "price": b.price,
                   "date_time": b.date_time, "value": format!("item-{:04}", b.auction % 10_000)})
        })),
        Query::Q14 => table(
            bids()
                .filter(|b| (1_000_000.0..50_000_000.0).contains(&(0.908 * b.price as f64)))
                .filter(|b| 0.908 * b.price as f64 != 1_000_000.0)
                .map(|b| {
                    let hour = utc(b.date_time).hour();
                    let kind = if (8..=18).contains(&hour) {
                        "dayTime"
                    } else if hour <= 6 || hour >= 20 {
                        "nightTime"
                    } else {
                        "otherTime"
                    };
                    json!({"auction": b.auction, "bidder": b.bidder,
                           "price": 0.908 * b.price as f64, "bid_time_type": kind,
                           "date_time": b.date_time, "extra": b.extra,
                           "c_counts": b.extra.matches('c').count()})
                }),
        ),
        Query::Q15 => {
            let mut days: BTreeMap<String, Vec<&Bid>> = BTreeMap::new();
            for b in bids() {
                days.entry(day(b.date_time)).or_default().push(b);
            }
            table(
                days.iter()
                    .map(|(d, bids)| with(json!({"day": d}), daily_counts(bids))),
            )
        }
        Query::Q16 => {
            let mut groups: BTreeMap<(String, String), Vec<&Bid>> = BTreeMap::new();
            for b in bids() {
                groups
                    .entry((b.channel.to_string(), day(b.date_time)))
                    .or_default()
                    .push(b);
            }
            table(groups.iter().map(|((channel, d), bids)| {
                let minute = bids
                    .iter()
                    .map(|b| utc(b.date_time).format("%H:%M").to_string());
                let minute = minute.max().unwrap();
                with(
                    json!({"channel": channel, "day": d, "minute": minute}),
                    daily_counts(bids),
                )
            }))
        }
        Query::Q17 => {
            let mut groups: BTreeMap<(i64, String), Vec<i64>> = BTreeMap::new();
            for b in bids() {
                groups
                    .entry((b.auction, day(b.date_time)))
                    .or_default()
                    .push(b.price);
            }
            table(groups.iter().map(|((auction, d), prices)| {
                let of_rank = |r| prices.iter().filter(|&&p| rank(p) == r).count();
                json!({"auction": auction, "day": d, "total_bids": prices.len(),
                       "rank1_bids": of_rank(1), "rank2_bids": of_rank(2), "rank3_bids": of_rank(3),
                       "min_price": prices.iter().min(), "max_price": prices.iter().max(),
                       "avg_price": mean(prices), "sum_price": prices.iter().sum::<i64>()})
            }))
        }
        Query::Q18 => {
            let mut last: HashMap<(i64, i64), SeqBid> = HashMap::new();
            for b in events.bids() {
                let order = |b: &SeqBid| (b.bid.date_time, b.bid.price, b.seq);
                let entry = last.entry((b.bid.bidder, b.bid.auction)).or_insert(b);
                if order(&b) > order(entry) {
                    *entry = b;
                }
            }
            table(last.values().map(|b| bid_columns(b.bid)))
        }
        Query::Q19 => {
            let mut by_auction: HashMap<i64, Vec<SeqBid>> = HashMap::new();
            for b in events.bids() {
                by_auction.entry(b.bid.auction).or_default().push(b);
            }
            table(by_auction.into_values().flat_map(|mut bids| {
                bids.sort_by_key(|b| {
                    (
                        std::cmp::Reverse(b.bid.price),
                        b.bid.date_time,
                        b.bid.bidder,
                        b.seq,
                    )
                });
                bids.into_iter()
                    .take(10)
                    .enumerate()
                    .map(|(i, b)| with(bid_columns(b.bid), json!({"rank_number": i + 1})))
            }))
        }
        Query::Q20 => {
            let auctions: HashMap<i64, &Auction> = events
                .auctions
                .iter()
                .filter(|a| a.category == 10)
                .map(|a| (a.id, a))
                .collect();
            table(bids().filter_map(|b| {
                let a = auctions.get(&b.auction)?;
                Some(with(
                    bid_columns(b),
                    json!({"item_name": a.item_name, "description": a.description,
                           "initial_bid": a.initial_bid, "reserve": a.reserve,
                           "auction_date_time": a.date_time, "expires": a.expires,
                           "seller": a.seller, "category": a.category, "auction_extra": a.extra}),
                ))
            }))
        }
        Query::Q21 => table(bids().filter_map(|b| {
            Some(
                json!({"auction": b.auction, "bidder": b.bidder, "price": b.price,
                        "channel": b.channel, "channel_id": channel_id(b)?}),
            )
        })),
        Query::Q22 => table(bids().map(|b| {
            let parts: Vec<&str> = b.url.split('/').collect();
            json!({"auction": b.auction, "bidder": b.bidder, "price": b.price,
                   "channel": b.channel, "dir1": parts.get(3), "dir2": parts.get(4),
                   "dir3": parts.get(5)})
        })),
        Query::Gen => unreachable!("not a query"),
    }
}

/// The rows of q10's partitioned output folder, each checked to sit in its partition.
fn partitioned_rows(dir: &Path) -> Table {
    let mut rows = Table::new();
    for dt in std::fs::read_dir(dir).unwrap() {
        let dt = dt.unwrap();
        let dt_name = dt.file_name().into_string().unwrap();
        for hm in std::fs::read_dir(dt.path()).unwrap() {
            let hm = hm.unwrap();
            let hm_name = hm.file_name().into_string().unwrap();
            for part in std::fs::read_dir(hm.path()).unwrap() {
                let part = part.unwrap().path();
                for (row, count) in apply(&part) {
                    let value: Value = serde_json::from_str(&row).unwrap();
                    assert_eq!(format!("dt={}", value["dt"].as_str().unwrap()), dt_name);
                    assert_eq!(format!("hm={}", value["hm"].as_str().unwrap()), hm_name);
                    *rows.entry(row).or_insert(0) += count;
                }
            }
        }
    }
    rows
}

/// Runs `query` on 1 and 2 shards over its test events and compares each result with the
/// batch computation; the run's checksum must not depend on the shard count.
fn check(query: Query) {
    let config = generator_config(query);
    let events = Events::generate(&config);
    let expected = expected(query, &events);
    assert!(
        !expected.is_empty(),
        "{}: the test input gives no rows",
        query.name()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut checksums = Vec::new();
    for shards in [1, 2] {
        let output = dir.path().join(format!("{}-{shards}", query.name()));
        let options = Options {
            events: EVENTS,
            shards,
            output: Some(output.clone()),
            out_of_orderness_ms: config.out_of_orderness_ms as i64,
            generator: config.clone(),
            ..Options::new(query)
        };
        let stats = run(&options).unwrap();
        assert_eq!(stats.events, EVENTS);
        let got = match query {
            Query::Q10 => partitioned_rows(&output),
            _ => apply(&output),
        };
        assert_same_table(
            &got,
            &expected,
            &format!("{} on {shards} shards", query.name()),
        );
        checksums.push(stats.checksum);
    }
    assert_eq!(
        checksums[0],
        checksums[1],
        "{}: checksums differ",
        query.name()
    );
}

macro_rules! query_tests {
    ($($name:ident: $query:expr,)*) => {$(
        #[test]
        fn $name() {
            check($query);
        }
    )*};
}

query_tests! {
    q0_matches_its_batch_computation: Query::Q0,
    q1_matches_its_batch_computation: Query::Q1,
    q2_matches_its_batch_computation: Query::Q2,
    q3_matches_its_batch_computation: Query::Q3,
    q4_matches_its_batch_computation: Query::Q4,
    q5_matches_its_batch_computation: Query::Q5,
    q6_matches_its_batch_computation: Query::Q6,
    q7_matches_its_batch_computation: Query::Q7,
    q8_matches_its_batch_computation: Query::Q8,
    q9_matches_its_batch_computation: Query::Q9,
    q10_matches_its_batch_computation: Query::Q10,
    q11_matches_its_batch_computation: Query::Q11,
    q13_matches_its_batch_computation: Query::Q13,
    q14_matches_its_batch_computation: Query::Q14,
    q15_matches_its_batch_computation: Query::Q15,
    q16_matches_its_batch_computation: Query::Q16,
    q17_matches_its_batch_computation: Query::Q17,
    q18_matches_its_batch_computation: Query::Q18,
    q19_matches_its_batch_computation: Query::Q19,
    q20_matches_its_batch_computation: Query::Q20,
    q21_matches_its_batch_computation: Query::Q21,
    q22_matches_its_batch_computation: Query::Q22,
}

#[test]
fn q12_counts_every_bid_once_in_10_s_processing_time_windows() {
    let config = generator_config(Query::Q12);
    let bids = Events::generate(&config).bids.len() as u64;
    let dir = tempfile::tempdir().unwrap();
    for shards in [1, 2] {
        let output = dir.path().join(format!("q12-{shards}"));
        let options = Options {
            events: EVENTS,
            shards,
            output: Some(output.clone()),
            generator: config.clone(),
            ..Options::new(Query::Q12)
        };
        run(&options).unwrap();
        let mut total = 0;
        for (row, count) in apply(&output) {
            let row: Value = serde_json::from_str(&row).unwrap();
            let (start, end) = (
                row["window_start"].as_i64().unwrap(),
                row["window_end"].as_i64().unwrap(),
            );
            assert_eq!((start % 10_000, end - start), (0, 10_000), "{row}");
            assert!(row["bidder"].is_i64(), "{row}");
            total += row["bid_count"].as_u64().unwrap() * count as u64;
        }
        assert_eq!(total, bids, "on {shards} shards");
    }
}

#[test]
fn q13_reads_its_side_input_file_and_names_a_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let side = dir.path().join("side.csv");
    // Only key 1007 is in the table: an inner join keeps the bids on auction 1007 (and
    // 11007, …).
    std::fs::write(&side, "1007,seven\n\n").unwrap();
    let output = dir.path().join("q13.jsonl");
    let options = Options {
        events: EVENTS,
        shards: 2,
        output: Some(output.clone()),
        side_input: Some(side.clone()),
        ..Options::new(Query::Q13)
    };
    run(&options).unwrap();
    let events = Events::generate(&GeneratorConfig::default());
    let expected = table(
        events
            .bids()
            .map(|b| b.bid)
            .filter(|b| b.auction % 10_000 == 1_007)
            .map(|b| {
                json!({"auction": b.auction, "bidder": b.bidder, "price": b.price,
               "date_time": b.date_time, "value": "seven"})
            }),
    );
    assert!(!expected.is_empty());
    assert_same_table(&apply(&output), &expected, "q13 with a one-key side input");

    std::fs::write(&side, "1,one\ntwo,2\n").unwrap();
    let error = run(&options)
        .err()
        .expect("a malformed side input fails the run");
    let message = error.to_string();
    assert!(
        message.contains("side.csv") && message.contains("line 2"),
        "{message}"
    );

    // A side input that does not exist is generated there.
    let generated = dir.path().join("generated.csv");
    let options = Options {
        side_input: Some(generated.clone()),
        output: None,
        ..options
    };
    run(&options).unwrap();
    let text = std::fs::read_to_string(&generated).unwrap();
    assert_eq!(text.lines().count(), 10_000);
    assert_eq!(text.lines().nth(42), Some("42,item-0042"));
}

#[test]
fn q10_refuses_an_output_folder_that_is_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.txt"), "keep me").unwrap();
    let options = Options {
        events: 100,
        output: Some(dir.path().to_path_buf()),
        ..Options::new(Query::Q10)
    };
    let error = run(&options).err().expect("a non-empty folder is refused");
    assert!(error.to_string().contains("not empty"), "{error}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("old.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn a_query_over_a_file_matches_the_same_query_over_the_generator() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    let config = generator_config(Query::Q5);
    let generated = Options {
        events: EVENTS,
        output: Some(input.clone()),
        generator: config.clone(),
        ..Options::new(Query::Gen)
    };
    run(&generated).unwrap();
    assert_eq!(
        std::fs::read_to_string(&input).unwrap().lines().count() as u64,
        EVENTS
    );
    let events = Events::generate(&config);
    for query in [Query::Q1, Query::Q5, Query::Q19] {
        let output = dir.path().join(format!("{}.jsonl", query.name()));
        let options = Options {
            input: Some(input.clone()),
            shards: 2,
            output: Some(output.clone()),
            out_of_orderness_ms: config.out_of_orderness_ms as i64,
            ..Options::new(query)
        };
        let stats = run(&options).unwrap();
        assert_eq!(stats.events, EVENTS);
        let what = format!("{} over a file", query.name());
        assert_same_table(&apply(&output), &expected(query, &events), &what);
    }
}

#[test]
fn the_timely_peers_give_the_same_rows_as_tidewater() {
    for query in tidewater_bench::nexmark::timely::QUERIES {
        let config = generator_config(query);
        let options = Options {
            events: EVENTS,
            shards: 2,
            out_of_orderness_ms: config.out_of_orderness_ms as i64,
            generator: config,
            ..Options::new(query)
        };
        let ours = run(&options).unwrap();
        let theirs = tidewater_bench::nexmark::timely::run(&options, false).unwrap();
        assert!(ours.results > 0, "{}", query.name());
        assert_eq!(
            (theirs.events, theirs.results, theirs.checksum),
            (ours.events, ours.results, ours.checksum),
            "{}",
            query.name()
        );
    }
}
