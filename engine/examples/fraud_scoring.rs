//! Fraud scoring embedded in a service: caller threads ask the job for the score of each
//! payment (`scorer.score_blocking(tx)`) and get it back inline, computed from the card's
//! history in keyed state, the card-testing pattern (CEP), rules pushed at runtime through
//! broadcast state, and a logistic-regression model read from `fraud/model.txt`.
//!
//! Prints the detection precision and recall on the generator's injected frauds, and the
//! callers' request–reply latency.
//!
//! Run with `cargo run --release -p tidewater --example fraud_scoring`; retrain the model
//! (on another seed than the evaluation's) with `… --example fraud_scoring -- train`.

// Shared with `tidewater-bench fraud`, which uses the parts this example does not.
#[allow(dead_code, unused_imports)]
mod fraud;

use std::error::Error;
use std::thread;
use std::time::{Duration, Instant};

use fraud::{generate, model_path, GeneratorConfig, Labelled, Model, Quality, Rules};
use tidewater::prelude::*;

const PAYMENTS: usize = 200_000;
const CALLERS: u64 = 4;

fn main() -> Result<(), Box<dyn Error>> {
    if std::env::args().nth(1).as_deref() == Some("train") {
        return train();
    }
    let payments = generate(&GeneratorConfig::default(), PAYMENTS);
    let model = Model::load(&model_path())?;
    let env = Env::new(JobConfig::default().batching(Batching::Latency));
    let job = fraud::job::request_reply(
        &env,
        fraud::Options {
            model,
            queue: 1024,
            card_ttl: Duration::from_secs(3600),
        },
    );
    let running = env.execute_async()?;
    // Rules can change at any time; this update only restates the defaults.
    job.rules
        .send_blocking(Rules {
            version: 1,
            ..Rules::default()
        })
        .map_err(|e| e.to_string())?;

    // Each caller serves a share of the cards, so every card's payments are scored in order.
    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let scorer = job.scorer.clone();
            let mine: Vec<Labelled> = payments
                .iter()
                .filter(|l| l.tx.card % CALLERS == caller)
                .cloned()
                .collect();
            thread::spawn(move || {
                let mut quality = Quality::default();
                let mut latencies = Vec::with_capacity(mine.len());
                for labelled in mine {
                    let asked = Instant::now();
                    let score = scorer.score_blocking(labelled.tx)?;
                    latencies.push(asked.elapsed());
                    quality.add(labelled.fraud, score.fraud);
                }
                Ok::<_, tidewater::connectors::ScoreError>((quality, latencies))
            })
        })
        .collect();
    let mut quality = Quality::default();
    let mut latencies = Vec::new();
    for caller in callers {
        let (part, mut times) = caller.join().map_err(|_| "a caller panicked")??;
        quality.merge(part);
        latencies.append(&mut times);
    }
    let elapsed = started.elapsed();
    drop(job);
    running.join()?;

    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "scored {} payments in {:.2} s from {CALLERS} threads, one at a time each",
        latencies.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "request-reply latency: p50 {:?}, p99 {:?}, p999 {:?}, max {:?}",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
    println!(
        "precision {:.3}, recall {:.3} ({} flagged correctly, {} wrongly, {} missed)",
        quality.precision(),
        quality.recall(),
        quality.true_positives,
        quality.false_positives,
        quality.false_negatives
    );
    for (kind, (labelled, flagged)) in &quality.by_kind {
        println!("  {kind:?}: {flagged} of {labelled} flagged");
    }
    Ok(())
}

/// Fits the model on payments of another seed than the evaluation's and writes its weights.
fn train() -> Result<(), Box<dyn Error>> {
    let config = GeneratorConfig {
        seed: 11,
        ..GeneratorConfig::default()
    };
    let payments = generate(&config, PAYMENTS);
    let features = fraud::replay(&payments);
    let samples: Vec<_> = payments
        .iter()
        .zip(&features)
        .map(|(l, f)| (fraud::model::inputs(&l.tx, f), l.fraud.is_some()))
        .collect();
    let model = Model::train(&samples, 1500);
    std::fs::write(model_path(), model.to_text())?;
    let mut quality = Quality::default();
    for (labelled, features) in payments.iter().zip(features) {
        let score = fraud::verdict(&model, &Rules::default(), &labelled.tx, features);
        quality.add(labelled.fraud, score.fraud);
    }
    println!(
        "wrote {}: on the training payments precision {:.3}, recall {:.3}",
        model_path().display(),
        quality.precision(),
        quality.recall()
    );
    Ok(())
}
