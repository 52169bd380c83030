//! Request–reply with the driver as a task on shard 0 ([`Env::spawn_on_shards`]): the
//! payments go out on the same open-loop schedule as from the driver thread, but from the
//! shard's own thread, so that on a machine with one core per shard no other thread competes
//! with the shards. Each payment's latency runs from its send to the moment the task awaiting
//! its reply runs again (what a handler awaiting `score` on the shard would see).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tidewater::connectors::{PushError, Scorer};
use tidewater::{Env, JobConfig};

use super::{histogram, stats, stopped};
use crate::fraud::{self, Labelled, Quality, Score, Transaction};
use crate::summary::RunStats;

/// What the driver found: latencies, detection quality, replies, failed replies and the
/// seconds it ran.
struct Outcome {
    latency: Histogram<u64>,
    quality: Quality,
    answered: u64,
    failed: u64,
    seconds: f64,
}

impl Outcome {
    fn new() -> Self {
        Self {
            latency: histogram(),
            quality: Quality::default(),
            answered: 0,
            failed: 0,
            seconds: 0.0,
        }
    }
}

/// Runs the request–reply job with the driver on shard 0 and waits for its outcome.
pub(super) fn request_reply(
    payments: Vec<Labelled>,
    job: fraud::Options,
    config: JobConfig,
    rate: f64,
) -> anyhow::Result<(RunStats, Quality)> {
    let env = Env::new(config);
    let wiring = fraud::job::request_reply(&env, job);
    let count = payments.len() as u64;
    let (done, outcome) = std::sync::mpsc::channel();
    // Taken by shard 0's task: the job's requests end once that task drops the scorer.
    let handoff = Arc::new(Mutex::new(Some((wiring.scorer, payments, done))));
    env.spawn_on_shards(move |shard| {
        let taken = match shard {
            0 => handoff.lock().unwrap_or_else(|e| e.into_inner()).take(),
            _ => None,
        };
        async move {
            if let Some((scorer, payments, done)) = taken {
                let outcome = drive(scorer, &payments, rate).await;
                let _ = done.send(outcome);
            }
        }
    });
    let running = env.execute_async()?;
    drop(wiring.rules);
    let Ok(outcome) = outcome.recv() else {
        return Err(stopped(running));
    };
    let report = running.join()?;
    anyhow::ensure!(
        outcome.answered == count && outcome.failed == 0,
        "{} replies ({} failed) to {count} payments",
        outcome.answered,
        outcome.failed
    );
    let quality = outcome.quality;
    Ok((
        stats(count, outcome.seconds, outcome.latency, &quality, report),
        quality,
    ))
}

/// Sends `payments` at `rate` from this shard, each reply awaited by a task of its own, and
/// waits for every reply.
async fn drive(scorer: Scorer<Transaction, Score>, payments: &[Labelled], rate: f64) -> Outcome {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let outcome = Rc::new(RefCell::new(Outcome::new()));
    let start = Instant::now();
    for (index, labelled) in payments.iter().enumerate() {
        let due = start + interval.mul_f64(index as f64);
        let now = Instant::now();
        if now < due {
            tidewater::runtime::sleep(due - now).await;
        }
        let sent = Instant::now();
        let recorded = outcome.clone();
        let fraud = labelled.fraud;
        let record = move |reply: Result<Score, _>| {
            let mut outcome = recorded.borrow_mut();
            let waited = sent.elapsed().as_nanos() as u64 + 1;
            let _ = outcome.latency.record(waited);
            match reply {
                Ok(score) => {
                    outcome.quality.add(fraud, score.fraud);
                    outcome.answered += 1;
                }
                Err(_) => outcome.failed += 1,
            }
        };
        match scorer.try_score(labelled.tx.clone()) {
            Ok(reply) => tidewater::runtime::spawn_local(async move { record(reply.await) }),
            // The job is behind: wait for room, which the latency then shows.
            Err(PushError::Full(tx)) => {
                let scorer = scorer.clone();
                tidewater::runtime::spawn_local(async move { record(scorer.score(tx).await) })
            }
            Err(PushError::Closed(_)) => {
                outcome.borrow_mut().failed += 1;
                continue;
            }
        };
    }
    drop(scorer);
    while {
        let outcome = outcome.borrow();
        outcome.answered + outcome.failed < payments.len() as u64
    } {
        tidewater::runtime::sleep(Duration::from_micros(50)).await;
    }
    let mut outcome = outcome.replace(Outcome::new());
    outcome.seconds = start.elapsed().as_secs_f64();
    outcome
}
