//! The fraud-scoring job: every feature of every reply equals a plain computation over the
//! card's history written here; the detection quality on the generator's injected frauds
//! stays high; a rule update pushed through broadcast state takes effect on every shard;
//! the streaming wiring scores every payment exactly once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tidewater::connectors::{Request, RequestId};
use tidewater::exchange::KeyGroups;
use tidewater::{Batching, Env, JobConfig, Pinning};
use tidewater_bench::fraud::job::{request_reply, streaming};
use tidewater_bench::fraud::{
    generate, model_path, GeneratorConfig, Labelled, Model, Options, Quality, Reason, Rules, Score,
    Transaction,
};

const MINUTE: i64 = 60_000;

fn config(shards: usize) -> JobConfig {
    JobConfig::default()
        .shards(shards)
        .pinning(Pinning::Never)
        .batching(Batching::Latency)
}

fn options() -> Options {
    Options {
        model: Model::load(&model_path()).unwrap(),
        queue: 256,
        card_ttl: Duration::from_secs(3600),
    }
}

/// Scores `payments` through the request–reply job, from `callers` threads that each serve
/// a share of the cards (so each card's payments go in order); the scores by payment id.
fn score_all(payments: &[Labelled], shards: usize, callers: u64) -> HashMap<u64, Score> {
    let env = Env::new(config(shards));
    let job = request_reply(&env, options());
    let running = env.execute_async().unwrap();
    let threads: Vec<_> = (0..callers)
        .map(|caller| {
            let scorer = job.scorer.clone();
            let mine: Vec<Transaction> = payments
                .iter()
                .filter(|l| l.tx.card % callers == caller)
                .map(|l| l.tx.clone())
                .collect();
            std::thread::spawn(move || {
                mine.into_iter()
                    .map(|tx| {
                        let id = tx.id;
                        let score = scorer.score_blocking(tx).unwrap();
                        assert_eq!(score.tx, id, "a reply to another payment");
                        (id, score)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let scores: HashMap<u64, Score> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    drop(job);
    running.join().unwrap();
    scores
}

/// Whether the card-testing pattern ends at `history[last]`, found by brute force: some
/// payment under 2.00 less than 10 minutes before it starts a run that takes every payment
/// under 2.00 after it, at least three, with no payment over 500.00 after its third (which
/// would have ended the run there), and `history[last]` is over 500.00.
fn card_testing_plain(history: &[&Transaction], last: usize) -> bool {
    let tx = history[last];
    if tx.amount_cents <= 50_000 {
        return false;
    }
    (0..last).any(|start| {
        let first = history[start];
        if first.amount_cents >= 200 || tx.time - first.time >= 10 * MINUTE {
            return false;
        }
        let mut smalls = 0;
        for between in &history[start..last] {
            if between.amount_cents < 200 {
                smalls += 1;
            } else if between.amount_cents > 50_000 && smalls >= 3 {
                return false;
            }
        }
        smalls >= 3
    })
}

fn assert_close(what: &str, id: u64, got: f64, expected: f64) {
    let tolerance = 1e-9 * expected.abs().max(1.0);
    assert!(
        (got - expected).abs() <= tolerance,
        "payment {id}: {what} is {got}, the plain computation gives {expected}"
    );
}

#[test]
fn every_feature_equals_a_plain_computation_over_the_card_history() {
    let generator = GeneratorConfig {
        seed: 3,
        cards: 300,
        card_gap_ms: 20.0 * MINUTE as f64,
        fraud_rate: 0.01,
        ..GeneratorConfig::default()
    };
    let payments = generate(&generator, 20_000);
    let scores = score_all(&payments, 2, 3);
    assert_eq!(scores.len(), payments.len(), "one score per payment");
    let mut by_card: HashMap<u64, Vec<&Transaction>> = HashMap::new();
    let mut testing_seen = 0;
    for labelled in &payments {
        let tx = &labelled.tx;
        let history = by_card.entry(tx.card).or_default();
        history.push(tx);
        let last = history.len() - 1;
        let earlier = &history[..last];
        let f = &scores[&tx.id].features;
        let window = |ms: i64| history.iter().filter(move |p| tx.time - p.time < ms);
        let count = |ms: i64| window(ms).count() as u32;
        let sum = |ms: i64| window(ms).map(|p| p.amount_cents).sum::<u64>();
        assert_eq!(f.count_1m, count(MINUTE), "payment {}", tx.id);
        assert_eq!(f.sum_1m, sum(MINUTE), "payment {}", tx.id);
        assert_eq!(f.count_10m, count(10 * MINUTE), "payment {}", tx.id);
        assert_eq!(f.sum_10m, sum(10 * MINUTE), "payment {}", tx.id);
        assert_eq!(f.count_1h, count(60 * MINUTE), "payment {}", tx.id);
        assert_eq!(f.sum_1h, sum(60 * MINUTE), "payment {}", tx.id);
        let mut merchants: Vec<u32> = window(10 * MINUTE).map(|p| p.merchant).collect();
        merchants.sort_unstable();
        merchants.dedup();
        assert_eq!(f.distinct_merchants_10m, merchants.len() as u32);
        assert_eq!(f.history, earlier.len() as u64);
        assert_eq!(
            f.since_previous_ms,
            earlier.last().map(|p| tx.time - p.time)
        );
        let abroad = window(60 * MINUTE).any(|p| p.country != tx.country);
        assert_eq!(f.country_change_1h, abroad, "payment {}", tx.id);
        // z-score: two-pass mean and sample deviation over the earlier payments, the spread
        // floored at half the mean (and 1), zero before the fourth payment.
        let expected_z = if earlier.len() < 3 {
            0.0
        } else {
            let n = earlier.len() as f64;
            let mean = earlier.iter().map(|p| p.amount_cents as f64).sum::<f64>() / n;
            let variance = earlier
                .iter()
                .map(|p| (p.amount_cents as f64 - mean).powi(2))
                .sum::<f64>()
                / (n - 1.0);
            (tx.amount_cents as f64 - mean) / variance.sqrt().max(0.5 * mean).max(1.0)
        };
        assert_close("zscore", tx.id, f.zscore, expected_z);
        let testing = card_testing_plain(history, last);
        assert_eq!(f.card_testing, testing, "payment {}", tx.id);
        testing_seen += usize::from(testing);
    }
    assert!(testing_seen > 5, "the input exercises the pattern");
}

#[test]
fn the_injected_frauds_are_detected_with_high_precision_and_recall() {
    let payments = generate(&GeneratorConfig::default(), 100_000);
    let scores = score_all(&payments, 2, 4);
    let mut quality = Quality::default();
    for labelled in &payments {
        quality.add(labelled.fraud, scores[&labelled.tx.id].fraud);
    }
    assert!(quality.true_positives > 150, "{quality:?}");
    assert!(quality.precision() >= 0.85, "{quality:?}");
    assert!(quality.recall() >= 0.9, "{quality:?}");
}

/// A card owned by `shard` (of 2).
fn card_on(shard: usize) -> u64 {
    let groups = KeyGroups::new(tidewater::exchange::partition::DEFAULT_MAX_KEY_GROUPS, 2);
    (0..)
        .find(|card: &u64| groups.shard_of(card) == shard)
        .unwrap()
}

#[test]
fn a_rule_update_takes_effect_on_every_shard() {
    let env = Env::new(config(2));
    let job = request_reply(&env, options());
    let running = env.execute_async().unwrap();
    let cards = [card_on(0), card_on(1)];
    let mut next_id = 0;
    let mut time = 1_700_000_000_000;
    let mut score = |card: u64| {
        next_id += 1;
        time += 2 * MINUTE; // one payment per card every few minutes: no velocity
        job.scorer
            .score_blocking(Transaction {
                id: next_id,
                card,
                merchant: 7,
                amount_cents: 2_500,
                country: 3,
                time,
            })
            .unwrap()
    };
    for card in cards {
        let before = score(card);
        assert_eq!(before.rules_version, 0);
        assert!(!before.fraud, "{before:?}");
    }
    // Every payment now counts as a burst.
    job.rules
        .send_blocking(Rules {
            version: 1,
            velocity_1m: 1,
            ..Rules::default()
        })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    for card in cards {
        // The update reaches each shard once; from then on it holds for every payment.
        let mut updated = false;
        for _ in 0..200 {
            let after = score(card);
            if updated {
                assert_eq!(after.rules_version, 1, "a shard went back to old rules");
            }
            if after.rules_version == 1 {
                updated = true;
                assert!(after.fraud && after.reasons.contains(&Reason::Velocity));
            }
            if !updated {
                assert!(
                    Instant::now() < deadline,
                    "the update never reached card {card}"
                );
            }
        }
        assert!(updated, "the update never reached card {card}'s shard");
    }
    drop(job);
    running.join().unwrap();
}

#[test]
fn the_streaming_wiring_scores_every_payment_exactly_once() {
    let payments = generate(&GeneratorConfig::default(), 30_000);
    let env = Env::new(config(2).batching(Batching::Throughput));
    let job = streaming(&env, options(), 64);
    let running = env.execute_async().unwrap();
    let scores = job.scores;
    let reader = std::thread::spawn(move || scores.collect::<Vec<_>>());
    for labelled in &payments {
        let request = Request {
            id: RequestId(labelled.tx.id),
            event: labelled.tx.clone(),
        };
        job.payments.send_blocking(request).unwrap();
    }
    drop(job.payments);
    drop(job.rules);
    let replies = reader.join().unwrap();
    running.join().unwrap();
    let mut ids: Vec<u64> = replies.iter().map(|r| r.id.0).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..payments.len() as u64).collect::<Vec<_>>());
    assert!(replies.iter().all(|r| r.value.tx == r.id.0));
}
