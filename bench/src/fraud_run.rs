//! `tidewater-bench fraud`: the fraud-scoring job fed from this process.
//!
//! - **latency** mode: request–reply. One driver thread sends payments on an open-loop
//!   schedule at `--rate` (a payment is sent when due whether or not earlier ones were
//!   answered) with `Scorer::try_score`, and polls the reply futures as they are woken; a
//!   payment's latency runs from its send to the moment the job completed its reply (when
//!   the reply's waker fires: a caller awaiting it would be woken then). Between sends the
//!   driver sleeps (at least [`NAP`], so that on a small machine it leaves the cores to the
//!   shards): payments due meanwhile go out together when it wakes, and how late the sends
//!   were against the schedule is reported as `send_lag_us`. With `--caller shard` the
//!   driver is instead a task on shard 0 ([`on_shard`]), as in a thread-per-core service.
//! - **throughput** mode: streaming. The driver pushes payments as fast as the job takes them
//!   (or at `--rate`), a reader thread takes the replies from the egress; one payment in
//!   `--latency-sample` has its latency recorded.
//!
//! Both check that every payment got exactly one reply and report the detection quality
//! against the generator's labels.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tidewater::connectors::{PushError, Request, ScoreError};
use tidewater::{Batching, Env, JobConfig};

use crate::fraud::{self, generate, GeneratorConfig, Labelled, Model, Quality, Score};

mod on_shard;
use crate::summary::{summary, RunStats};

/// Which wiring, and which batching, the job runs with.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Mode {
    /// Request–reply, latency-first batching.
    Latency,
    /// Streaming ingress → egress, throughput-first batching.
    Throughput,
}

/// Where request–reply's driver runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Caller {
    /// On a thread of its own, as a service's request threads would.
    Thread,
    /// As a task on shard 0 ([`Env::spawn_on_shards`]), as a thread-per-core service's
    /// request handlers would: no thread beyond the shards competes for the cores.
    Shard,
}

/// What to run.
pub struct Options {
    /// Payments to score.
    pub events: u64,
    /// Distinct cards.
    pub cards: u64,
    /// Payments per second offered (required in latency mode).
    pub rate: Option<f64>,
    /// The wiring.
    pub mode: Mode,
    /// Shards.
    pub shards: usize,
    /// A card idle this long is forgotten.
    pub card_ttl: Duration,
    /// One payment in this many has its latency recorded (throughput mode).
    pub latency_sample: u64,
    /// The batching, if not the mode's own (latency-first for request–reply, throughput-first
    /// for streaming).
    pub batching: Option<Batching>,
    /// Where request–reply's driver runs.
    pub caller: Caller,
}

/// Runs the benchmark and returns its summary line.
pub fn run(options: &Options, config: JobConfig) -> anyhow::Result<Value> {
    let payments = generate(
        &GeneratorConfig {
            cards: options.cards,
            ..GeneratorConfig::default()
        },
        usize::try_from(options.events).context("--events is too large")?,
    );
    let model = Model::load(&fraud::model_path())?;
    let job = fraud::Options {
        model,
        queue: 4096,
        card_ttl: options.card_ttl,
    };
    let config = config.shards(options.shards);
    let (stats, quality) = match options.mode {
        Mode::Latency => {
            let rate = options
                .rate
                .context("latency mode needs --rate (payments per second)")?;
            let config = config.batching(options.batching.unwrap_or(Batching::Latency));
            match options.caller {
                Caller::Thread => request_reply(&payments, job, config, rate)?,
                Caller::Shard => on_shard::request_reply(payments, job, config, rate)?,
            }
        }
        Mode::Throughput => streaming(
            &payments,
            job,
            config.batching(options.batching.unwrap_or(Batching::Throughput)),
            options.rate,
            options.latency_sample,
        )?,
    };
    let mut line = summary("fraud", "tidewater", options.shards, options.rate, &stats);
    line["mode"] = json!(format!("{:?}", options.mode).to_lowercase());
    line["cards"] = json!(options.cards);
    line["fraud"] = json!({
        "precision": quality.precision(),
        "recall": quality.recall(),
        "flagged_correctly": quality.true_positives,
        "flagged_wrongly": quality.false_positives,
        "missed": quality.false_negatives,
    });
    Ok(line)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

type Reply = Pin<Box<dyn Future<Output = Result<Score, ScoreError>> + Send>>;

/// Payments whose reply futures were woken, with when.
type Woken = Arc<Mutex<Vec<(usize, Instant)>>>;

/// Wakes the driver for one reply: queues the payment's index and the time.
struct ReplyWaker {
    index: usize,
    ready: Woken,
}

impl Wake for ReplyWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((self.index, Instant::now()));
    }
}

/// The replies the driver waits for, each polled only when woken.
struct Waiting<'a> {
    payments: &'a [Labelled],
    replies: HashMap<usize, (Instant, Reply, Waker)>,
    ready: Woken,
    latency: Histogram<u64>,
    quality: Quality,
    answered: u64,
}

impl Waiting<'_> {
    /// Adds the reply to payment `index`, sent at `sent`, and polls it once.
    fn add(&mut self, index: usize, sent: Instant, reply: Reply) -> anyhow::Result<()> {
        let waker = Waker::from(Arc::new(ReplyWaker {
            index,
            ready: self.ready.clone(),
        }));
        self.replies.insert(index, (sent, reply, waker));
        self.poll(index, Instant::now())
    }

    /// Polls the replies that were woken.
    fn poll_ready(&mut self) -> anyhow::Result<()> {
        let woken = std::mem::take(&mut *self.ready.lock().unwrap_or_else(|e| e.into_inner()));
        for (index, at) in woken {
            self.poll(index, at)?;
        }
        Ok(())
    }

    /// Polls the reply to payment `index`, woken at `at`.
    fn poll(&mut self, index: usize, at: Instant) -> anyhow::Result<()> {
        let Some((sent, reply, waker)) = self.replies.get_mut(&index) else {
            return Ok(());
        };
        let Poll::Ready(result) = reply.as_mut().poll(&mut Context::from_waker(waker)) else {
            return Ok(());
        };
        let _ = self
            .latency
            .record(at.saturating_duration_since(*sent).as_nanos() as u64 + 1);
        self.quality.add(self.payments[index].fraud, result?.fraud);
        self.answered += 1;
        self.replies.remove(&index);
        Ok(())
    }
}

/// Why the job stopped taking payments: its error if it failed, otherwise it never ran.
fn stopped(running: tidewater::JobHandle) -> anyhow::Error {
    match running.join() {
        Err(error) => anyhow::Error::new(error).context("the job stopped taking payments"),
        Ok(_) => anyhow::anyhow!(
            "the job stopped taking payments (with --restore: the newest checkpoint is the \
             final one of a job that ran to its end, so there is nothing to resume)"
        ),
    }
}

/// The driver's shortest sleep between sends.
pub const NAP: Duration = Duration::from_micros(20);

/// Request–reply on an open-loop schedule.
fn request_reply(
    payments: &[Labelled],
    job: fraud::Options,
    config: JobConfig,
    rate: f64,
) -> anyhow::Result<(RunStats, Quality)> {
    let env = Env::new(config);
    let wiring = fraud::job::request_reply(&env, job);
    let running = env.execute_async()?;
    let mut waiting = Waiting {
        payments,
        replies: HashMap::new(),
        ready: Arc::default(),
        latency: histogram(),
        quality: Quality::default(),
        answered: 0,
    };
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut lag = histogram();
    precise_sleeps();
    let start = Instant::now();
    for (index, labelled) in payments.iter().enumerate() {
        let due = start + interval.mul_f64(index as f64);
        waiting.poll_ready()?;
        let now = Instant::now();
        if now < due {
            std::thread::sleep((due - now).max(NAP));
            waiting.poll_ready()?;
        }
        let sent = Instant::now();
        let _ = lag.record(sent.saturating_duration_since(due).as_nanos() as u64 + 1);
        let reply = match wiring.scorer.try_score(labelled.tx.clone()) {
            Ok(reply) => Box::pin(reply) as Reply,
            Err(PushError::Full(tx)) => {
                // The job is behind: wait for room, which the latency then shows.
                let scorer = wiring.scorer.clone();
                Box::pin(async move { scorer.score(tx).await }) as Reply
            }
            Err(PushError::Closed(_)) => return Err(stopped(running)),
        };
        waiting.add(index, sent, reply)?;
    }
    while !waiting.replies.is_empty() {
        waiting.poll_ready()?;
        std::thread::sleep(NAP);
    }
    eprintln!(
        "sends behind schedule: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        lag.value_at_quantile(0.5) as f64 / 1000.0,
        lag.value_at_quantile(0.99) as f64 / 1000.0,
        lag.max() as f64 / 1000.0
    );
    let seconds = start.elapsed().as_secs_f64();
    drop(wiring);
    let report = running.join()?;
    anyhow::ensure!(
        waiting.answered == payments.len() as u64,
        "{} replies to {} payments",
        waiting.answered,
        payments.len()
    );
    let quality = waiting.quality;
    Ok((
        stats(
            payments.len() as u64,
            seconds,
            waiting.latency,
            &quality,
            report,
        ),
        quality,
    ))
}

/// Streaming ingress → egress, as fast as it goes (or at `rate`).
fn streaming(
    payments: &[Labelled],
    job: fraud::Options,
    config: JobConfig,
    rate: Option<f64>,
    sample: u64,
) -> anyhow::Result<(RunStats, Quality)> {
    let env = Env::new(config);
    let wiring = fraud::job::streaming(&env, job, 1 << 16);
    let running = env.execute_async()?;
    let sent_at: Arc<Vec<AtomicU64>> =
        Arc::new((0..payments.len()).map(|_| AtomicU64::new(0)).collect());
    let labels: Vec<_> = payments.iter().map(|l| l.fraud).collect();
    let sample = sample.next_power_of_two();
    let start = Instant::now();
    let reader = {
        let sent_at = sent_at.clone();
        let mut scores = wiring.scores;
        std::thread::spawn(move || {
            let mut latency = histogram();
            let mut quality = Quality::default();
            let mut seen = vec![false; labels.len()];
            for reply in scores.by_ref() {
                let index = reply.id.0 as usize;
                anyhow::ensure!(!seen[index], "payment {index} got two replies");
                seen[index] = true;
                if reply.id.0 & (sample - 1) == 0 {
                    let sent = sent_at[index].load(Ordering::Acquire);
                    let _ = latency.record(
                        (start.elapsed().as_nanos() as u64)
                            .saturating_sub(sent)
                            .max(1),
                    );
                }
                quality.add(labels[index], reply.value.fraud);
            }
            let missing = seen.iter().filter(|s| !**s).count();
            anyhow::ensure!(missing == 0, "{missing} payments got no reply");
            Ok((latency, quality))
        })
    };
    let interval = rate.map(|r| Duration::from_secs_f64(1.0 / r));
    for (index, labelled) in payments.iter().enumerate() {
        if let Some(interval) = interval {
            let due = start + interval.mul_f64(index as f64);
            while Instant::now() < due {
                std::hint::spin_loop();
            }
        }
        if index as u64 & (sample - 1) == 0 {
            sent_at[index].store(start.elapsed().as_nanos() as u64, Ordering::Release);
        }
        let request = Request {
            id: tidewater::connectors::RequestId(index as u64),
            event: labelled.tx.clone(),
        };
        if wiring.payments.send_blocking(request).is_err() {
            return Err(stopped(running));
        }
    }
    drop(wiring.payments);
    drop(wiring.rules);
    let (latency, quality) = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader panicked"))??;
    let seconds = start.elapsed().as_secs_f64();
    let report = running.join()?;
    Ok((
        stats(payments.len() as u64, seconds, latency, &quality, report),
        quality,
    ))
}

/// Makes this thread's sleeps end within about a microsecond of their time, instead of the
/// default 50 µs timer slack.
fn precise_sleeps() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and changes only this thread's timer
    // slack; no memory is passed.
    let _ = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
}

fn stats(
    events: u64,
    seconds: f64,
    latency_ns: Histogram<u64>,
    quality: &Quality,
    report: tidewater::JobReport,
) -> RunStats {
    RunStats {
        events,
        seconds,
        latency_ns,
        checksum: quality.true_positives * 1_000_003 + quality.false_positives,
        results: report.sink_records,
        checkpoints: report.checkpoints,
        ready_s: report.ready.as_secs_f64(),
    }
}
