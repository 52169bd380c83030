//! `tidewater-bench`: runs a benchmark job on Tidewater or on a peer engine, prints progress
//! to stderr and, as its last stdout line, a JSON summary (see DESIGN.md for the contract).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use tidewater::checkpoint::CheckpointConfig;
use tidewater::{JobConfig, Pinning};

use tidewater_bench::fraud_run::{self, Caller, Mode};
use tidewater_bench::jobs::{self, Job, Spec, StateBackend};
use tidewater_bench::nexmark::{self, GeneratorConfig, Query};
use tidewater_bench::summary::summary;
use tidewater_bench::workload::Workload;

/// Both engines run in this one binary with the same allocator; mimalloc's per-thread heaps
/// handle batches allocated on one shard and freed on another better than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process, for both engines alike.
///
/// mimalloc asks for huge pages on its arenas, so every first touch of a 2 MiB region
/// faulted in a whole zeroed 2 MiB page: q5 peaked at ~90 MB of RSS where its heap never
/// held more than ~9 MB (heaptrack), and the kernel's page clearing took 8% of its time (on a
/// VM, fresh guest memory is also faulted in on the host). With 4 KiB pages q5 peaks at
/// ~36 MB and runs ~8% faster (PERFORMANCE.md). Nothing here needs huge pages for its TLB:
/// the hot state of these jobs is small, and mapped state is file-backed.
fn disable_transparent_huge_pages() {
    // The kernel reads all four arguments as `unsigned long`.
    let (on, unused) = (1 as libc::c_ulong, 0 as libc::c_ulong);
    // SAFETY: PR_SET_THP_DISABLE takes one integer argument and touches no memory of ours;
    // the unused arguments must be zero.
    let status = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, on, unused, unused, unused) };
    if status != 0 {
        let error = std::io::Error::last_os_error();
        eprintln!("note: transparent huge pages stay on ({error}); peak RSS will be higher");
    }
}

#[derive(Parser)]
#[command(
    version,
    about = "Tidewater benchmarks, with peers measured in the same run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Source → sink, no shuffle.
    Passthrough(RunArgs),
    /// Source → key_by → rolling count and sum per key → sink.
    KeyedCount(RunArgs),
    /// Source → event time → key_by → sliding windows (10 s every 2 s) → count per key and
    /// window → sink. Try `--keys 100000`.
    SlidingCount(RunArgs),
    /// Source (keys active in bursts) → event time → key_by → session windows (500 ms gap) →
    /// count per session → sink. Tidewater only; try `--keys 100000`.
    SessionCount(RunArgs),
    /// Orders and payments (`--events` in all, half each) → key_by order id → interval join
    /// (payments 0..=2 s after their order) → one result per pair → sink. Tidewater only.
    IntervalJoin(RunArgs),
    /// Fraud scoring embedded in this process: payments pushed through an ingress, per-card
    /// features, a CEP pattern, broadcast rules and a model, one reply per payment. Latency
    /// mode awaits each reply (request–reply, open loop at `--rate`); throughput mode streams.
    Fraud(FraudArgs),
    /// A Nexmark query (see NEXMARK.md) over generated events or a JSON-lines file, or
    /// `--query gen` to measure the event generator alone. Tidewater only.
    Nexmark(NexmarkArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Events to generate.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Distinct keys.
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Which engine runs the job.
    #[arg(long, value_enum, default_value_t = Engine::Tidewater)]
    engine: Engine,
    /// Where keyed state lives (Tidewater's keyed-count).
    #[arg(long, value_enum, default_value_t = StateBackend::Heap)]
    state: StateBackend,
    /// Every key once first (events `0..keys`), then only this many hot keys: few state
    /// pages change between checkpoints.
    #[arg(long, default_value_t = 0)]
    hot_keys: u64,
    #[command(flatten)]
    run: EngineArgs,
}

/// The options every job shares: parallelism, pacing, latency sampling and batching.
#[derive(Args)]
struct EngineArgs {
    /// Shards (workers); default one per core.
    #[arg(long)]
    shards: Option<usize>,
    /// Throttle the sources to this many events per second in total.
    #[arg(long)]
    rate: Option<f64>,
    /// Sample one event in N (rounded up to a power of two) for latency: reading the clock
    /// for every event would cost more than the engine's own work per event.
    #[arg(long, default_value_t = 64)]
    latency_sample: u64,
    /// Records per exchange batch (Tidewater).
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// Do not pin shards to cores.
    #[arg(long)]
    no_pin: bool,
    /// How long an idle shard spins before it sleeps, in µs (Tidewater): longer wakes
    /// faster and burns more CPU.
    #[arg(long, default_value_t = 50)]
    spin_before_park_us: u64,
    /// Batching between stages (Tidewater): `throughput` fills batches (the default; the fraud
    /// job's request–reply mode defaults to `latency`), `latency` ships a partial batch as
    /// soon as its receiver has taken everything before it.
    #[arg(long, value_enum)]
    batching: Option<BatchingArg>,
    /// Take checkpoints into this folder (Tidewater); with `--output`, output goes through
    /// the exactly-once file sink and `--output` names a folder.
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Milliseconds between checkpoints.
    #[arg(long, default_value_t = 1000, requires = "checkpoint_dir")]
    checkpoint_interval_ms: u64,
    /// Resume from the newest complete checkpoint in `--checkpoint-dir` (afresh if there is
    /// none).
    #[arg(long, requires = "checkpoint_dir")]
    restore: bool,
    /// Stop with a savepoint written into this (empty) folder once every source reaches
    /// `--stop-after` (Flink's stop-with-savepoint; windows are not flushed).
    #[arg(long, requires_all = ["checkpoint_dir", "stop_after"])]
    savepoint: Option<PathBuf>,
    /// Where the sources stop for `--savepoint`: an event number (generated input) or a byte
    /// offset (`--input` files).
    #[arg(long, requires = "savepoint")]
    stop_after: Option<u64>,
    /// Start from the savepoint in this folder, on any shard count.
    #[arg(long, requires = "checkpoint_dir")]
    from_savepoint: Option<PathBuf>,
    /// Watermark alignment (Tidewater): a shard's source pauses while its watermark is more
    /// than this many ms of event time ahead of the slowest shard's; 0 turns it off. Default:
    /// 1000 for `nexmark` (so that one shard slightly faster than the other does not pile up
    /// window state for the whole run), off for the other jobs.
    #[arg(long)]
    watermark_alignment_ms: Option<u64>,
}

impl EngineArgs {
    /// The shard count, checked.
    fn shards(&self) -> anyhow::Result<usize> {
        let shards = self
            .shards
            .unwrap_or_else(tidewater::config::available_cores);
        anyhow::ensure!(shards > 0, "--shards must be at least 1");
        Ok(shards)
    }

    /// The rate limit, checked.
    fn rate(&self) -> anyhow::Result<Option<f64>> {
        anyhow::ensure!(self.rate.is_none_or(|r| r > 0.0), "--rate must be positive");
        Ok(self.rate)
    }

    /// One event in this many carries its birth time.
    fn latency_sample(&self) -> u64 {
        self.latency_sample.max(1)
    }

    /// The batching asked for, if any.
    fn batching(&self) -> Option<tidewater::Batching> {
        self.batching.map(|b| match b {
            BatchingArg::Latency => tidewater::Batching::Latency,
            BatchingArg::Throughput => tidewater::Batching::Throughput,
        })
    }

    /// Tidewater's job configuration (the shard count is the job's to set), with watermark
    /// alignment at `default_alignment_ms` unless `--watermark-alignment-ms` says otherwise.
    fn job_config(&self, default_alignment_ms: u64) -> JobConfig {
        let pinning = if self.no_pin {
            Pinning::Never
        } else {
            Pinning::Auto
        };
        let mut config = JobConfig::default()
            .batching(self.batching().unwrap_or_default())
            .pinning(pinning)
            .batch_size(self.batch_size)
            .spin_before_park(std::time::Duration::from_micros(self.spin_before_park_us));
        match self.watermark_alignment_ms.unwrap_or(default_alignment_ms) {
            0 => {}
            drift => {
                config = config.watermark_alignment(std::time::Duration::from_millis(drift));
            }
        }
        match &self.checkpoint_dir {
            Some(dir) => {
                let mut checkpoints = CheckpointConfig::new(dir)
                    .interval(std::time::Duration::from_millis(
                        self.checkpoint_interval_ms,
                    ))
                    .restore(self.restore);
                if let (Some(savepoint), Some(position)) = (&self.savepoint, self.stop_after) {
                    checkpoints = checkpoints.stop_with_savepoint(savepoint, position);
                }
                if let Some(savepoint) = &self.from_savepoint {
                    checkpoints = checkpoints.from_savepoint(savepoint);
                }
                config.checkpointing(checkpoints)
            }
            None => config,
        }
    }

    /// Refuses checkpoint flags for an engine without checkpoints.
    fn check_engine(&self, engine: Engine) -> anyhow::Result<()> {
        anyhow::ensure!(
            engine == Engine::Tidewater || self.checkpoint_dir.is_none(),
            "--checkpoint-dir needs --engine tidewater"
        );
        Ok(())
    }
}

#[derive(Args)]
struct FraudArgs {
    /// Payments to score.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Distinct cards.
    #[arg(long, default_value_t = 100_000)]
    cards: u64,
    /// Request–reply with latency-first batching, or streaming with throughput batching.
    #[arg(long, value_enum, default_value_t = Mode::Latency)]
    mode: Mode,
    /// A card idle this long (seconds of processing time) is forgotten.
    #[arg(long, default_value_t = 3600)]
    card_ttl_s: u64,
    /// Where request–reply's driver runs: a thread of its own, or a task on shard 0.
    #[arg(long, value_enum, default_value_t = Caller::Thread)]
    caller: Caller,
    #[command(flatten)]
    run: EngineArgs,
}

#[derive(Args)]
struct NexmarkArgs {
    /// The query, or `gen` for the generator alone (no engine).
    #[arg(long, value_enum)]
    query: Query,
    /// Events to generate (not with --input).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Read the events from this JSON-lines file instead of generating them.
    #[arg(long, conflicts_with = "events")]
    input: Option<PathBuf>,
    /// Write the result lines here (with `gen`: the generated events, as JSON lines).
    #[arg(long)]
    output: Option<PathBuf>,
    /// How far the watermark trails the largest `date_time` seen, in ms; generated events
    /// also come out of order within this bound (each stamped up to this much early).
    #[arg(long, default_value_t = 0)]
    out_of_orderness_ms: u64,
    /// q13's side input, `key,value` lines (written there first, generated, if the file does
    /// not exist; generated in memory without this flag).
    #[arg(long)]
    side_input: Option<PathBuf>,
    /// The generator's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Event time between consecutive generated events, in µs (10: 100 000 events per
    /// second of event time).
    #[arg(long, default_value_t = 10.0)]
    inter_event_delay_us: f64,
    /// The engine: timely-dataflow runs q0, q1, q2, q5, q7 and q8 (generated events, no
    /// --output), for comparison.
    #[arg(long, value_enum, default_value_t = Engine::Tidewater)]
    engine: Engine,
    /// With `gen`, `--shards` is the number of generator threads.
    #[command(flatten)]
    run: EngineArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BatchingArg {
    Latency,
    Throughput,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Engine {
    Tidewater,
    Timely,
}

fn main() -> anyhow::Result<()> {
    disable_transparent_huge_pages();
    let cli = Cli::parse();
    let (job, args) = match cli.command {
        Command::Nexmark(args) => return run_nexmark(args),
        Command::Fraud(args) => return run_fraud(args),
        Command::Passthrough(args) => (Job::Passthrough, args),
        Command::KeyedCount(args) => (Job::KeyedCount, args),
        Command::SlidingCount(args) => (Job::SlidingCount, args),
        Command::SessionCount(args) => (Job::SessionCount, args),
        Command::IntervalJoin(args) => (Job::IntervalJoin, args),
    };
    anyhow::ensure!(args.keys > 0, "--keys must be at least 1");
    args.run.check_engine(args.engine)?;
    let shards = args.run.shards()?;
    let spec = Spec {
        job,
        events: args.events,
        shards,
        rate: args.run.rate()?,
        workload: Workload::new(args.keys, args.run.latency_sample()).with_hot_keys(args.hot_keys),
        state: args.state,
    };
    let engine = match args.engine {
        Engine::Tidewater => "tidewater",
        Engine::Timely => "timely",
    };
    eprintln!(
        "{} on {engine}: {} events, {} keys, {shards} shards{}",
        job.name(),
        spec.events,
        args.keys,
        spec.rate
            .map(|r| format!(", {r} events/s"))
            .unwrap_or_default()
    );
    let stats = match args.engine {
        Engine::Tidewater => jobs::tidewater::run(&spec, args.run.job_config(0))?,
        Engine::Timely => jobs::timely::run(&spec, !args.run.no_pin)?,
    };
    let line = summary(job.name(), engine, shards, spec.rate, &stats);
    println!("{line}");
    Ok(())
}

/// `tidewater-bench fraud`.
fn run_fraud(args: FraudArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.cards > 0, "--cards must be at least 1");
    let options = fraud_run::Options {
        events: args.events,
        cards: args.cards,
        rate: args.run.rate()?,
        mode: args.mode,
        shards: args.run.shards()?,
        card_ttl: std::time::Duration::from_secs(args.card_ttl_s),
        latency_sample: args.run.latency_sample(),
        batching: args.run.batching(),
        caller: args.caller,
    };
    eprintln!(
        "fraud ({:?}) on tidewater: {} payments, {} cards, {} shards{}",
        options.mode,
        options.events,
        options.cards,
        options.shards,
        options
            .rate
            .map(|r| format!(", {r} payments/s"))
            .unwrap_or_default()
    );
    let line = fraud_run::run(&options, args.run.job_config(0))?;
    println!("{line}");
    Ok(())
}

/// `tidewater-bench nexmark`.
fn run_nexmark(args: NexmarkArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.inter_event_delay_us.is_finite() && args.inter_event_delay_us >= 0.0,
        "--inter-event-delay-us must be a non-negative number"
    );
    let shards = args.run.shards()?;
    args.run.check_engine(args.engine)?;
    let options = nexmark::Options {
        query: args.query,
        events: args.events,
        input: args.input,
        output: args.output,
        shards,
        rate: args.run.rate()?,
        out_of_orderness_ms: args.out_of_orderness_ms as i64,
        side_input: args.side_input,
        latency_sample: args.run.latency_sample(),
        generator: GeneratorConfig {
            seed: args.seed,
            inter_event_delay_ns: (args.inter_event_delay_us * 1000.0).round() as u64,
            out_of_orderness_ms: args.out_of_orderness_ms,
            ..GeneratorConfig::default()
        },
    };
    let (engine, what) = match (args.query, args.engine) {
        (Query::Gen, _) => ("none", format!("{shards} threads")),
        (_, Engine::Tidewater) => ("tidewater", format!("{shards} shards")),
        (_, Engine::Timely) => ("timely", format!("{shards} workers")),
    };
    let source = match &options.input {
        Some(path) => path.display().to_string(),
        None => format!("{} generated events", options.events),
    };
    eprintln!(
        "nexmark {} on {engine}: {source}, {what}{}",
        args.query.name(),
        options
            .rate
            .map(|r| format!(", {r} events/s"))
            .unwrap_or_default()
    );
    let stats = match engine {
        "timely" => nexmark::timely::run(&options, !args.run.no_pin)?,
        _ => nexmark::run::run(&options, args.run.job_config(1000))?,
    };
    let line = summary(args.query.name(), engine, shards, options.rate, &stats);
    println!("{line}");
    Ok(())
}
