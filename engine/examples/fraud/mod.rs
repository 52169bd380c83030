//! Fraud scoring, the embedded use case: a service authorising payments asks the job for a
//! score of each payment and awaits it inline.
//!
//! - [`transaction`]: payments, and a generator of them with labelled, injected fraud.
//! - [`features`]: per-card windows (count and sum over 1 minute, 10 minutes, 1 hour),
//!   distinct merchants, the amount's z-score, time since the previous payment, a country
//!   change within the hour.
//! - [`model`]: a logistic regression whose weights live in `model.txt` next to this file.
//! - [`job`]: the job (keyed by card, CEP for card testing, rules as broadcast state) and
//!   its two wirings: request–reply and streaming.
//!
//! Shared by `engine/examples/fraud_scoring.rs` and `tidewater-bench fraud`.

pub mod features;
pub mod job;
pub mod model;
pub mod transaction;

pub use features::{CardHistory, Features};
pub use job::{card_testing, verdict, CardState, FraudScorer, Options, Reason, Rules, Score};
pub use model::{Model, ModelError};
pub use transaction::{generate, FraudKind, GeneratorConfig, Labelled, Rng, Transaction};

/// The weights file in the repository.
pub fn model_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/examples/fraud/model.txt")
}

/// The features of every payment of `payments` (in order), computed one after the other
/// without the engine, as the job computes them: what the model is trained on.
pub fn replay(payments: &[Labelled]) -> Vec<Features> {
    let pattern = card_testing().compile();
    let mut cards: std::collections::HashMap<u64, CardState> = std::collections::HashMap::new();
    payments
        .iter()
        .map(|labelled| {
            let tx = &labelled.tx;
            cards.entry(tx.card).or_default().observe(&pattern, tx)
        })
        .collect()
}

/// Detection quality against the labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quality {
    /// Flagged and labelled fraud.
    pub true_positives: u64,
    /// Flagged, not labelled.
    pub false_positives: u64,
    /// Labelled, not flagged.
    pub false_negatives: u64,
    /// Per fraud kind: (labelled, flagged among them).
    pub by_kind: std::collections::BTreeMap<FraudKind, (u64, u64)>,
}

impl Quality {
    /// Counts one verdict.
    pub fn add(&mut self, label: Option<FraudKind>, flagged: bool) {
        match (label, flagged) {
            (Some(_), true) => self.true_positives += 1,
            (None, true) => self.false_positives += 1,
            (Some(_), false) => self.false_negatives += 1,
            (None, false) => {}
        }
        if let Some(kind) = label {
            let entry = self.by_kind.entry(kind).or_default();
            entry.0 += 1;
            entry.1 += u64::from(flagged);
        }
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: Quality) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
        for (kind, (labelled, flagged)) in other.by_kind {
            let entry = self.by_kind.entry(kind).or_default();
            entry.0 += labelled;
            entry.1 += flagged;
        }
    }

    /// Of the flagged, the share that is fraud.
    pub fn precision(&self) -> f64 {
        self.true_positives as f64 / (self.true_positives + self.false_positives).max(1) as f64
    }

    /// Of the fraud, the share flagged.
    pub fn recall(&self) -> f64 {
        self.true_positives as f64 / (self.true_positives + self.false_negatives).max(1) as f64
    }
}
