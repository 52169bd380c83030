//! The Nexmark suite's plumbing: the generator's determinism and shape, and the JSON-lines
//! contract (the queries are checked in `nexmark_queries.rs`).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::LazyLock;

use serde_json::Value;
use tidewater::prelude::*;
use tidewater_bench::nexmark::event::{Event, Kind};
use tidewater_bench::nexmark::generator::{kind_of, FIRST_AUCTION_ID, FIRST_PERSON_ID};
use tidewater_bench::nexmark::jsonl::{write_event, EventReader, JsonlError};
use tidewater_bench::nexmark::source::{GeneratedEvents, Stamped};
use tidewater_bench::nexmark::{GeneratorConfig, NexmarkError, NexmarkGenerator, Options, Query};

/// Events per query run: not a multiple of 50 (nor of the shard count).
const EVENTS: u64 = 20_001;

/// The default generator, made once (it builds its channel tables).
fn generator() -> &'static NexmarkGenerator {
    static GENERATOR: LazyLock<NexmarkGenerator> =
        LazyLock::new(|| NexmarkGenerator::new(GeneratorConfig::default()));
    &GENERATOR
}

/// Runs `options` on Tidewater, unpinned (the tests share the machine).
fn run(options: &Options) -> Result<tidewater_bench::summary::RunStats, NexmarkError> {
    let config = JobConfig::default().pinning(Pinning::Never);
    tidewater_bench::nexmark::run::run(options, config)
}

#[test]
fn the_generator_is_deterministic_and_resumable_from_any_offset() {
    let from_zero: Vec<Event> = generator().events_from(0).take(2_000).collect();
    // A second generator with the same configuration makes the same events.
    let twin = NexmarkGenerator::new(GeneratorConfig::default());
    let again: Vec<Event> = (0..2_000).map(|n| twin.event(n)).collect();
    assert_eq!(from_zero, again);
    // Resuming at any offset gives event `offset + j` as the `j`-th.
    for offset in [1, 49, 50, 51, 777, 1_234] {
        let resumed: Vec<Event> = generator().events_from(offset).take(300).collect();
        assert_eq!(
            resumed[..],
            from_zero[offset as usize..offset as usize + 300]
        );
    }
    // Far from 0, without generating what comes before.
    let far = 10_000_000_000;
    assert_eq!(
        generator().events_from(far).nth(7),
        Some(generator().event(far + 7))
    );
    // Another seed, other events of the same shape.
    let other = NexmarkGenerator::new(GeneratorConfig {
        seed: 7,
        ..GeneratorConfig::default()
    });
    let other: Vec<Event> = other.events_from(0).take(2_000).collect();
    assert_ne!(other, from_zero);
    assert!(other
        .iter()
        .zip(&from_zero)
        .all(|(a, b)| a.kind() == b.kind() && a.date_time() == b.date_time()));
}

#[test]
fn out_of_order_event_time_stays_within_its_bound_and_keeps_the_other_fields() {
    let bound = 300;
    let disordered = NexmarkGenerator::new(GeneratorConfig {
        out_of_orderness_ms: bound,
        ..GeneratorConfig::default()
    });
    let (mut largest, mut inversions) = (0, 0);
    for n in 0..20_000 {
        let (event, in_order) = (disordered.event(n), generator().event(n));
        let early = in_order.date_time() - event.date_time();
        assert!(
            (0..=bound as i64).contains(&early),
            "event {n} is {early} ms early"
        );
        // A watermark `bound` behind the largest time seen never finds an event late.
        assert!(
            event.date_time() > largest - bound as i64 - 1,
            "event {n} is late"
        );
        inversions += usize::from(event.date_time() < largest);
        largest = largest.max(event.date_time());
        assert_eq!(event.kind(), in_order.kind());
        if let (Event::Bid(a), Event::Bid(b)) = (&event, &in_order) {
            assert_eq!(
                (a.auction, a.bidder, a.price, &a.extra),
                (b.auction, b.bidder, b.price, &b.extra)
            );
        }
    }
    assert!(inversions > 10_000, "only {inversions} events out of order");
}

#[test]
fn a_source_split_resumes_from_its_offset() {
    let source = GeneratedEvents::new(generator().clone(), EVENTS, 64);
    for shards in [1, 2, 3] {
        let mut all = Vec::new();
        for shard in 0..shards {
            let drain = |split: &mut dyn SourceSplit<Stamped<Event>>| {
                let mut out = Vec::new();
                while split.next_batch(&mut out, 100) {}
                out.into_iter().map(|e| e.value).collect::<Vec<_>>()
            };
            let mut split = source.split(shard, shards);
            let first = drain(&mut *split);
            // Shard `s` makes events s, s + shards, …
            let expected: Vec<Event> = (shard as u64..EVENTS)
                .step_by(shards)
                .map(|n| generator().event(n))
                .collect();
            assert_eq!(first, expected, "shard {shard} of {shards}");
            split.seek(1_000);
            assert_eq!(split.offset(), 1_000);
            assert_eq!(drain(&mut *split)[..], first[1_000..]);
            all.extend(first);
        }
        assert_eq!(all.len() as u64, EVENTS);
    }
}

#[test]
fn events_come_as_1_person_3_auctions_46_bids_with_dense_ids() {
    let generator = generator();
    let mut counts = HashMap::new();
    let (mut next_person, mut next_auction, mut last_time) = (FIRST_PERSON_ID, FIRST_AUCTION_ID, 0);
    let (mut bids, mut hot_auction_bids) = (0, 0);
    for n in 0..50_000 {
        let event = generator.event(n);
        assert_eq!(event.kind(), kind_of(n));
        let expected = match n % 50 {
            0 => Kind::Person,
            1..=3 => Kind::Auction,
            _ => Kind::Bid,
        };
        assert_eq!(event.kind(), expected, "event {n}");
        *counts.entry(event.kind()).or_insert(0) += 1;
        assert!(event.date_time() >= last_time, "date_time goes back at {n}");
        last_time = event.date_time();
        match event {
            Event::Person(person) => {
                assert_eq!(person.id, next_person);
                next_person += 1;
            }
            Event::Auction(auction) => {
                assert_eq!(auction.id, next_auction);
                next_auction += 1;
                assert!(auction.expires > auction.date_time);
                assert!(auction.reserve >= auction.initial_bid);
                assert!((10..15).contains(&auction.category));
                // Sellers exist already, or are among the next few people.
                assert!(auction.seller < next_person + 10);
            }
            Event::Bid(bid) => {
                bids += 1;
                // Bids are on auctions opened already, or among the next few.
                assert!(bid.auction < next_auction + 10);
                assert!(bid.bidder < next_person + 10);
                assert!((100..=100_000_000).contains(&bid.price));
                hot_auction_bids += usize::from((bid.auction - FIRST_AUCTION_ID) % 100 == 0);
            }
        }
    }
    assert_eq!(counts[&Kind::Person], 1_000);
    assert_eq!(counts[&Kind::Auction], 3_000);
    assert_eq!(counts[&Kind::Bid], 46_000);
    // Half the bids go to the hot auction (a few more: the others may hit it too).
    let hot = hot_auction_bids as f64 / bids as f64;
    assert!((0.5..0.56).contains(&hot), "hot auction share {hot}");
    // 100 000 events per second of event time by default.
    assert_eq!(
        generator.event(100_000).date_time() - generator.event(0).date_time(),
        1_000
    );
}

#[test]
fn every_event_kind_round_trips_through_a_json_line() {
    let generator = generator();
    for n in 0..100 {
        let event = generator.event(n);
        let mut line = Vec::new();
        write_event(&mut line, &event).unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let object: Value = serde_json::from_slice(&line).unwrap();
        let kind = match event.kind() {
            Kind::Person => "person",
            Kind::Auction => "auction",
            Kind::Bid => "bid",
        };
        assert_eq!(object["type"], kind);
        // The fields are at the top level, in snake_case.
        assert_eq!(object["date_time"], event.date_time());
        let parsed: Event = serde_json::from_slice(&line).unwrap();
        assert_eq!(parsed, event);
    }
    // The field order does not matter when reading, and unknown fields are ignored.
    let line = r#"{"date_time":5,"extra":"","url":"u","channel":"c","price":3,"bidder":2,"auction":1,"type":"bid","note":1}"#;
    let Event::Bid(bid) = serde_json::from_str(line).unwrap() else {
        panic!("a bid")
    };
    assert_eq!(
        (bid.auction, bid.bidder, bid.price, bid.date_time),
        (1, 2, 3, 5)
    );
}

/// Writes `lines` (each without its newline) to a new file in `dir`.
fn write_lines(dir: &Path, name: &str, lines: &[String]) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    path
}

/// Event lines 0..n of the generator.
fn event_lines(n: u64) -> Vec<String> {
    (0..n)
        .map(|i| serde_json::to_string(&generator().event(i)).unwrap())
        .collect()
}

#[test]
fn a_malformed_line_is_reported_with_file_line_and_byte_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = event_lines(10);
    let bad = r#"{"type":"bid","auction":1,"bidder":2,"price":"12","channel":"c","url":"u","date_time":3,"extra":""}"#;
    lines.insert(6, bad.to_string());
    let path = write_lines(dir.path(), "bad.jsonl", &lines);
    let line_start: usize = lines[..6].iter().map(|line| line.len() + 1).sum();
    let value_end = bad.find(r#""12""#).unwrap() + 4;

    let check = |error: JsonlError| {
        let text = error.to_string();
        match error {
            JsonlError::Malformed {
                path: reported,
                line,
                column,
                offset,
                message,
            } => {
                assert_eq!(reported, path);
                assert_eq!(line, 7);
                assert_eq!(column as usize, value_end);
                assert_eq!(offset as usize, line_start + value_end - 1);
                assert!(message.contains("expected i64"), "{message}");
            }
            other => panic!("not a malformed line: {other}"),
        }
        assert!(text.contains("bad.jsonl"), "{text}");
        assert!(text.contains("line 7"), "{text}");
        assert!(
            text.contains(&format!("byte offset {}", line_start + value_end - 1)),
            "{text}"
        );
    };

    // From the start: six events, then the error; nothing skipped.
    let mut reader = EventReader::open(&path).unwrap();
    for _ in 0..6 {
        reader.next_event().unwrap().unwrap();
    }
    check(reader.next_event().unwrap_err());

    // From a range that starts mid-file, the line number is still right.
    let mut reader = EventReader::open_range(&path, line_start as u64 - 3, u64::MAX).unwrap();
    check(reader.next_event().unwrap_err());

    // A missing field is named, and so is a cut-off last line.
    let missing =
        r#"{"type":"bid","auction":1,"bidder":2,"channel":"c","url":"u","date_time":3,"extra":""}"#;
    let path = write_lines(dir.path(), "missing.jsonl", &[missing.to_string()]);
    let error = EventReader::open(&path).unwrap().next_event().unwrap_err();
    assert!(
        error.to_string().contains("missing field `price`"),
        "{error}"
    );
    let full = event_lines(3).join("\n");
    let path = dir.path().join("cut.jsonl");
    std::fs::write(&path, &full[..full.len() - 5]).unwrap();
    let mut reader = EventReader::open(&path).unwrap();
    reader.next_event().unwrap().unwrap();
    reader.next_event().unwrap().unwrap();
    let error = reader.next_event().unwrap_err();
    assert!(
        matches!(error, JsonlError::Malformed { line: 3, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("EOF"), "{error}");
}

#[test]
fn byte_ranges_read_every_line_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = event_lines(200);
    // Blank lines carry no event.
    lines.insert(10, String::new());
    lines.insert(20, "   ".to_string());
    let path = write_lines(dir.path(), "events.jsonl", &lines);
    let len = std::fs::metadata(&path).unwrap().len();
    let expected: Vec<Event> = (0..200).map(|n| generator().event(n)).collect();
    for parts in [1u64, 2, 3, 7, 64] {
        let mut all = Vec::new();
        for part in 0..parts {
            let (start, end) = (len * part / parts, len * (part + 1) / parts);
            let reader = EventReader::open_range(&path, start, end).unwrap();
            all.extend(reader.map(Result::unwrap));
        }
        assert_eq!(all, expected, "{parts} parts");
    }
}

#[test]
fn a_malformed_input_fails_the_run_with_the_reader_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = event_lines(5_000);
    lines[4_321] = r#"{"type":"bid","auction":1"#.to_string();
    let path = write_lines(dir.path(), "events.jsonl", &lines);
    for shards in [1, 2] {
        let options = Options {
            input: Some(path.clone()),
            shards,
            ..Options::new(Query::Q0)
        };
        match run(&options) {
            Err(NexmarkError::Jsonl(JsonlError::Malformed { line, path: p, .. })) => {
                assert_eq!((line, p.as_path()), (4_322, path.as_path()));
            }
            Err(other) => panic!("another error: {other}"),
            Ok(_) => panic!("a malformed line was accepted"),
        }
    }
    // A missing file is an error before the job starts.
    let options = Options {
        input: Some(dir.path().join("missing.jsonl")),
        ..Options::new(Query::Q0)
    };
    assert!(matches!(
        run(&options),
        Err(NexmarkError::Jsonl(JsonlError::Io { .. }))
    ));
}
