//! What `tidewater-bench nexmark` does: run a query on Tidewater over generated or file
//! events, or (`gen`) measure the generator alone.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use tidewater::prelude::*;

use super::event::Event;
use super::generator::{GeneratorConfig, NexmarkGenerator};
use super::jsonl::{encode_line, write_event, JsonlError, Op, ResultFile, ResultWriter};
use super::partitioned::PartitionedOutput;
use super::queries::q13::SideInputError;
use super::queries::{
    change_checksum, inserted, q0, q1, q10, q11, q12, q13, q14, q15, q16, q17, q18, q19, q2, q20,
    q21, q22, q3, q4, q5, q6, q7, q8, q9, Change, ResultRow,
};
use super::source::{interleaved, ErrorSlot, FileEvents, GeneratedEvents, Stamped};
use crate::latency::Totals;
use crate::progress::Progress;
use crate::summary::RunStats;

/// What `--query` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Query {
    /// The generator alone, no engine: events/s of event generation (with `--output`, the
    /// events are written as JSON lines, in order, on one thread).
    Gen,
    /// Pass-through: every bid.
    Q0,
    /// Currency conversion: every bid, price × 0.908.
    Q1,
    /// Selection: bids on auctions that are multiples of 123.
    Q2,
    /// Local item suggestion: category-10 auctions of sellers in OR, ID, CA.
    Q3,
    /// Average final price per category.
    Q4,
    /// Hot items: the most-bid auctions per sliding window.
    Q5,
    /// Average selling price of each seller's last 10 auctions.
    Q6,
    /// Highest bid per tumbling window.
    Q7,
    /// New users who opened an auction in the window they joined.
    Q8,
    /// Winning bid of every auction.
    Q9,
    /// Every bid, logged to files partitioned by date and minute.
    Q10,
    /// Bid sessions per bidder.
    Q11,
    /// Bids per bidder in processing-time windows.
    Q12,
    /// Bids joined with a side-input table.
    Q13,
    /// Bids in a price band, with computed columns.
    Q14,
    /// Bidding statistics per day.
    Q15,
    /// Channel statistics per day.
    Q16,
    /// Auction statistics per day.
    Q17,
    /// The last bid of every bidder on every auction.
    Q18,
    /// The 10 highest bids of every auction.
    Q19,
    /// Bids on category-10 auctions, with the auction.
    Q20,
    /// Bids with their channel id.
    Q21,
    /// Bids with their URL's directories.
    Q22,
}

impl Query {
    /// Every query, in order (not `gen`).
    pub const ALL: [Query; 23] = [
        Query::Q0,
        Query::Q1,
        Query::Q2,
        Query::Q3,
        Query::Q4,
        Query::Q5,
        Query::Q6,
        Query::Q7,
        Query::Q8,
        Query::Q9,
        Query::Q10,
        Query::Q11,
        Query::Q12,
        Query::Q13,
        Query::Q14,
        Query::Q15,
        Query::Q16,
        Query::Q17,
        Query::Q18,
        Query::Q19,
        Query::Q20,
        Query::Q21,
        Query::Q22,
    ];

    /// The name in the summary's `query` field.
    pub fn name(self) -> &'static str {
        match self {
            Query::Gen => "gen",
            Query::Q0 => "q0",
            Query::Q1 => "q1",
            Query::Q2 => "q2",
            Query::Q3 => "q3",
            Query::Q4 => "q4",
            Query::Q5 => "q5",
            Query::Q6 => "q6",
            Query::Q7 => "q7",
            Query::Q8 => "q8",
            Query::Q9 => "q9",
            Query::Q10 => "q10",
            Query::Q11 => "q11",
            Query::Q12 => "q12",
            Query::Q13 => "q13",
            Query::Q14 => "q14",
            Query::Q15 => "q15",
            Query::Q16 => "q16",
            Query::Q17 => "q17",
            Query::Q18 => "q18",
            Query::Q19 => "q19",
            Query::Q20 => "q20",
            Query::Q21 => "q21",
            Query::Q22 => "q22",
        }
    }
}

/// Why a Nexmark run failed.
#[derive(Debug, thiserror::Error)]
pub enum NexmarkError {
    /// The input or output file could not be read or written, or the input is malformed.
    #[error(transparent)]
    Jsonl(#[from] JsonlError),
    /// The job failed.
    #[error(transparent)]
    Job(#[from] JobError),
    /// q13's side input could not be read.
    #[error(transparent)]
    SideInput(#[from] SideInputError),
    /// The options do not make sense together.
    #[error("{0}")]
    Usage(String),
}

/// Everything a Nexmark run needs to know.
#[derive(Debug, Clone)]
pub struct Options {
    /// The query.
    pub query: Query,
    /// Events to generate (without `input`).
    pub events: u64,
    /// Read events from this JSON-lines file instead of generating them.
    pub input: Option<PathBuf>,
    /// Write the result lines (with `gen`, the events) to this file.
    pub output: Option<PathBuf>,
    /// Shards (with `gen`, threads).
    pub shards: usize,
    /// Total events per second, if throttled.
    pub rate: Option<f64>,
    /// How far the watermark trails the largest `date_time` seen, in ms.
    pub out_of_orderness_ms: i64,
    /// q13's side input (`key,value` lines; generated there if the file does not exist, in
    /// memory without a path).
    pub side_input: Option<PathBuf>,
    /// One event in this many (rounded up to a power of two) carries its birth time.
    pub latency_sample: u64,
    /// The generator's configuration.
    pub generator: GeneratorConfig,
}

impl Options {
    /// Default options for `query`: 1 000 000 generated events on one shard.
    pub fn new(query: Query) -> Self {
        Self {
            query,
            events: 1_000_000,
            input: None,
            output: None,
            shards: 1,
            rate: None,
            out_of_orderness_ms: 0,
            side_input: None,
            latency_sample: 64,
            generator: GeneratorConfig::default(),
        }
    }
}

/// Runs `options` (`gen` without the engine, the queries on Tidewater with `config`).
pub fn run(options: &Options, config: JobConfig) -> Result<RunStats, NexmarkError> {
    if options.shards == 0 {
        return Err(NexmarkError::Usage("--shards must be at least 1".into()));
    }
    if options
        .rate
        .is_some_and(|rate| rate.is_nan() || rate <= 0.0)
    {
        return Err(NexmarkError::Usage("--rate must be positive".into()));
    }
    match options.query {
        Query::Gen => generate(options),
        _ => run_query(options, config),
    }
}

/// Runs a query on Tidewater.
fn run_query(options: &Options, config: JobConfig) -> Result<RunStats, NexmarkError> {
    let checkpointing = config.checkpoint_config().is_some();
    let env = Env::new(config.shards(options.shards));
    let totals = Totals::default();
    let errors = ErrorSlot::default();
    let events = events(&env, options, &errors)?;
    let output = match &options.output {
        Some(_) if checkpointing && options.query == Query::Q10 => {
            return Err(NexmarkError::Usage(
                "q10's partitioned output is not written transactionally: run q10 with \
                 checkpoints but without --output"
                    .into(),
            ))
        }
        Some(path) if options.query == Query::Q10 => {
            Output::Partitioned(PartitionedOutput::create(path)?)
        }
        Some(path) if checkpointing => Output::Transactional(path.clone()),
        Some(path) => Output::File(ResultFile::create(path)?),
        None => Output::None,
    };
    let file = &output;
    match options.query {
        Query::Gen => unreachable!("`gen` runs without the engine"),
        Query::Q0 => sink(&q0::query(&events), &totals, file),
        Query::Q1 => sink(&q1::query(&events), &totals, file),
        Query::Q2 => sink(&q2::query(&events), &totals, file),
        Query::Q3 => sink(&q3::query(&events), &totals, file),
        Query::Q4 => sink_changes(&q4::query(&events), &totals, file),
        Query::Q5 => sink(&q5::query(&events), &totals, file),
        Query::Q6 => sink_changes(&q6::query(&events), &totals, file),
        Query::Q7 => sink(&q7::query(&events), &totals, file),
        Query::Q8 => sink(&q8::query(&events), &totals, file),
        Query::Q9 => sink(&q9::query(&events), &totals, file),
        Query::Q10 => {
            let partitioned = match &output {
                Output::Partitioned(partitioned) => Some(partitioned),
                _ => None,
            };
            sink_partitioned(&q10::query(&events), &totals, partitioned);
        }
        Query::Q11 => sink(&q11::query(&events), &totals, file),
        Query::Q12 => sink(&q12::query(&events), &totals, file),
        Query::Q13 => {
            let table = q13::side_input(options.side_input.as_deref())?;
            sink(&q13::query(&events, table), &totals, file);
        }
        Query::Q14 => sink(&q14::query(&events), &totals, file),
        Query::Q15 => sink(&q15::query(&events), &totals, file),
        Query::Q16 => sink(&q16::query(&events), &totals, file),
        Query::Q17 => sink(&q17::query(&events), &totals, file),
        Query::Q18 => sink_changes(&q18::query(&events), &totals, file),
        Query::Q19 => sink_changes(&q19::query(&events), &totals, file),
        Query::Q20 => sink(&q20::query(&events), &totals, file),
        Query::Q21 => sink(&q21::query(&events), &totals, file),
        Query::Q22 => sink(&q22::query(&events), &totals, file),
    }
    let started = Instant::now();
    let handle = env.execute_async()?;
    let metrics = handle.metrics().clone();
    // The number of events in a file is not known before it is read.
    let expected = if options.input.is_some() {
        0
    } else {
        options.events
    };
    let progress = Progress::start(expected, move || metrics.source_records());
    let joined = handle.join();
    drop(progress);
    let report = match joined {
        Ok(report) => report,
        // A malformed input line stops the job with a panic; report the error it came from.
        Err(error) => {
            let input_error = errors.lock().unwrap_or_else(|e| e.into_inner()).take();
            return Err(input_error.map_or(error.into(), Into::into));
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    match output {
        Output::File(file) => file.finish()?,
        Output::Partitioned(partitioned) => partitioned.finish()?,
        Output::Transactional(_) | Output::None => {}
    }
    Ok(RunStats {
        events: report.source_records,
        seconds,
        latency_ns: totals.histogram(),
        checksum: totals.checksum(),
        results: totals.records(),
        checkpoints: report.checkpoints,
        ready_s: report.ready.as_secs_f64(),
    })
}

/// The events, from the file or the generator, with `date_time` as event time.
fn events(
    env: &Env,
    options: &Options,
    errors: &ErrorSlot,
) -> Result<DataStream<Stamped<Event>>, NexmarkError> {
    let stream = match &options.input {
        Some(path) => {
            let mut source = FileEvents::open(path, options.latency_sample, errors.clone())?;
            if let Some(rate) = options.rate {
                source = source.rate_limited(rate);
            }
            env.from_source(source)
        }
        None => {
            let generator = NexmarkGenerator::new(options.generator.clone());
            let mut source =
                GeneratedEvents::new(generator, options.events, options.latency_sample);
            if let Some(rate) = options.rate {
                source = source.rate_limited(rate);
            }
            env.from_source(source)
        }
    };
    Ok(stream.name("nexmark-source").assign_timestamps(
        |event: &Stamped<Event>| event.value.date_time(),
        options.out_of_orderness_ms,
    ))
}

/// Where `--output` goes: one file, (q10) a folder of partitioned files, or with checkpoints
/// a folder the exactly-once file sink commits part files into (NEXMARK.md).
enum Output {
    None,
    File(ResultFile),
    Partitioned(PartitionedOutput),
    Transactional(PathBuf),
}

/// A sink that records each row's latency and checksum and, with `output`, writes it.
fn sink<R: ResultRow>(rows: &DataStream<Stamped<R>>, totals: &Totals, output: &Output) {
    sink_records(rows, inserted::<R>, totals, output);
}

/// [`sink`] for a query whose results are changes (inserted and retracted rows).
fn sink_changes<R: ResultRow>(
    changes: &DataStream<Stamped<Change<R>>>,
    totals: &Totals,
    output: &Output,
) {
    sink_records(changes, Change::row, totals, output);
}

/// [`sink`] of records that `change` reads a row and its [`Op`] from (rows are read in place:
/// wrapping each row of an append-only query in a [`Change`] first was a pass of its own).
fn sink_records<C: tidewater::Data, R: ResultRow>(
    records: &DataStream<Stamped<C>>,
    change: fn(&C) -> (&R, Op),
    totals: &Totals,
    output: &Output,
) {
    if let Output::Transactional(folder) = output {
        let lines = FileSink::new(folder, move |record: &Stamped<C>, buffer: &mut Vec<u8>| {
            let (row, op) = change(&record.value);
            encode_line(buffer, op, row);
        });
        records.sink_to_files(lines.suffix(".jsonl"));
    }
    let mut recorder = totals.recorder();
    let mut writer = match output {
        Output::File(file) => Some(file.writer()),
        _ => None,
    };
    records.sink(move |record: Stamped<C>| {
        let (row, op) = change(&record.value);
        recorder.record(record.born_ns, change_checksum(row, op));
        if let Some(writer) = &mut writer {
            write_row(writer, op, row);
        }
    });
}

/// Writes `row` as a result line. Never inlined: that keeps the sink's closure small enough
/// to be inlined into the sink's loop, which then reads each record in place (it copied each
/// into its own frame first, a tenth of q22's time).
#[inline(never)]
fn write_row<R: ResultRow>(writer: &mut ResultWriter, op: Op, row: &R) {
    writer.write(op, row);
}

/// q10's sink: [`sink`], writing into the partition of each row's `dt` and `hm`.
fn sink_partitioned(
    rows: &DataStream<Stamped<q10::Row>>,
    totals: &Totals,
    output: Option<&PartitionedOutput>,
) {
    let mut recorder = totals.recorder();
    let mut writer = output.map(PartitionedOutput::writer);
    rows.sink(move |row: Stamped<q10::Row>| {
        recorder.record(row.born_ns, row.value.checksum());
        if let Some(writer) = &mut writer {
            writer.write(&row.value.dt, &row.value.hm, Op::Insert, &row.value);
        }
    });
}

/// `gen`: makes `options.events` events without the engine. Without `--output`, on
/// `options.shards` threads, each its interleaved part; with it, on one thread in order,
/// writing each event as a JSON line.
fn generate(options: &Options) -> Result<RunStats, NexmarkError> {
    if options.input.is_some() || options.rate.is_some() {
        return Err(NexmarkError::Usage(
            "`--query gen` takes neither --input nor --rate".into(),
        ));
    }
    let generator = NexmarkGenerator::new(options.generator.clone());
    let count = options.events;
    let started = Instant::now();
    let checksum = match &options.output {
        Some(path) => {
            let io = |source| JsonlError::Io {
                path: path.clone(),
                source,
            };
            let mut out = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
            let mut checksum = 0u64;
            for n in 0..count {
                let event = generator.event(n);
                checksum = checksum.wrapping_add(event_checksum(&event));
                write_event(&mut out, &event).map_err(io)?;
            }
            out.flush().map_err(io)?;
            checksum
        }
        None => std::thread::scope(|scope| {
            let threads: Vec<_> = (0..options.shards)
                .map(|shard| {
                    let generator = &generator;
                    scope.spawn(move || {
                        interleaved(count, shard, options.shards)
                            .map(|n| event_checksum(&std::hint::black_box(generator.event(n))))
                            .fold(0u64, u64::wrapping_add)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|thread| thread.join().expect("generator threads do not panic"))
                .fold(0u64, u64::wrapping_add)
        }),
    };
    Ok(RunStats {
        events: count,
        seconds: started.elapsed().as_secs_f64(),
        latency_ns: Totals::default().histogram(),
        checksum,
        results: count,
        checkpoints: Default::default(),
        ready_s: 0.0,
    })
}

/// A cheap fingerprint of an event for `gen`'s checksum: a weighted sum of its integers and
/// the lengths of its strings (hashing the strings would cost more than making them).
pub fn event_checksum(event: &Event) -> u64 {
    let fields: [i64; 8] = match event {
        Event::Person(p) => [
            p.id,
            p.date_time,
            p.name.len() as i64,
            p.email_address.len() as i64,
            p.credit_card.len() as i64,
            p.city.len() as i64,
            p.state.len() as i64,
            p.extra.len() as i64,
        ],
        Event::Auction(a) => [
            a.id,
            a.initial_bid,
            a.reserve,
            a.date_time,
            a.expires,
            a.seller,
            a.category,
            (a.item_name.len() + a.description.len() + a.extra.len()) as i64,
        ],
        Event::Bid(b) => [
            b.auction,
            b.bidder,
            b.price,
            b.date_time,
            b.channel.len() as i64,
            b.url.len() as i64,
            b.extra.len() as i64,
            0,
        ],
    };
    // Odd multipliers (SplitMix64's constants and golden-ratio steps): a weighted sum.
    let mut weight = 0x9E37_79B9_7F4A_7C15u64;
    let mut sum = event_kind_code(event);
    for field in fields {
        sum = sum.wrapping_add((field as u64).wrapping_mul(weight));
        weight = weight.wrapping_add(0xBF58_476D_1CE4_E5BA);
    }
    sum
}

/// 1, 2, 3 for a person, an auction, a bid.
fn event_kind_code(event: &Event) -> u64 {
    match event {
        Event::Person(_) => 1,
        Event::Auction(_) => 2,
        Event::Bid(_) => 3,
    }
}
