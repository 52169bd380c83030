//! A small logistic-regression model over the features, with its weights in a text file.

use std::fmt::Write as _;
use std::path::Path;

use super::{Features, Transaction};

/// The model's inputs, in order, as they are named in the weights file.
pub const INPUTS: [&str; 12] = [
    "bias",
    "log_count_1m",
    "log_count_10m",
    "log_count_1h",
    "distinct_merchants_10m",
    "zscore",
    "country_change_1h",
    "abroad_zscore",
    "card_testing",
    "log_amount",
    "known_card",
    "log_since_previous_s",
];

/// The model's input vector for `tx` with `features` (scaled to similar ranges).
pub fn inputs(tx: &Transaction, features: &Features) -> [f64; INPUTS.len()] {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    [
        1.0,
        f64::from(features.count_1m).ln_1p(),
        f64::from(features.count_10m).ln_1p(),
        f64::from(features.count_1h).ln_1p(),
        f64::from(features.distinct_merchants_10m) / 5.0,
        features.zscore.clamp(-10.0, 30.0) / 10.0,
        flag(features.country_change_1h),
        flag(features.country_change_1h) * features.zscore.clamp(-10.0, 30.0) / 10.0,
        flag(features.card_testing),
        (tx.amount_cents as f64).ln_1p() / 10.0,
        flag(features.history >= super::features::MIN_HISTORY),
        features
            .since_previous_ms
            .map_or(10.0, |ms| (ms.max(0) as f64 / 1000.0).ln_1p() / 5.0),
    ]
}

/// Logistic regression: `P(fraud) = 1 / (1 + e^-(w · x))`.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    weights: [f64; INPUTS.len()],
}

/// Why a weights file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read.
    #[error("cannot read the model {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The reason.
        source: std::io::Error,
    },
    /// A line is not `name weight` with a known name and a number.
    #[error("{path}:{line}: {what}")]
    Line {
        /// The file.
        path: String,
        /// The line number (1-based).
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// An input has no weight.
    #[error("{path}: no weight for `{input}`")]
    Missing {
        /// The file.
        path: String,
        /// The input without weight.
        input: &'static str,
    },
}

impl Model {
    /// The model with `weights` (in the order of [`INPUTS`]).
    pub fn new(weights: [f64; INPUTS.len()]) -> Self {
        Self { weights }
    }

    /// Reads a weights file: one `name weight` per line, `#` starts a comment.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: name.clone(),
            source,
        })?;
        let mut weights = [None; INPUTS.len()];
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |what: String| ModelError::Line {
                path: name.clone(),
                line: number + 1,
                what,
            };
            let mut parts = line.split_whitespace();
            let (Some(input), Some(weight), None) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad(format!("expected `name weight`, found `{line}`")));
            };
            let index = INPUTS
                .iter()
                .position(|known| *known == input)
                .ok_or_else(|| bad(format!("unknown input `{input}`")))?;
            let weight: f64 = weight
                .parse()
                .map_err(|e| bad(format!("weight `{weight}`: {e}")))?;
            if !weight.is_finite() {
                return Err(bad(format!("weight `{weight}` is not finite")));
            }
            weights[index] = Some(weight);
        }
        let mut out = [0.0; INPUTS.len()];
        for (i, weight) in weights.iter().enumerate() {
            out[i] = weight.ok_or(ModelError::Missing {
                path: name.clone(),
                input: INPUTS[i],
            })?;
        }
        Ok(Self::new(out))
    }

    /// The weights file's text.
    pub fn to_text(&self) -> String {
        let mut text = String::from(
            "# Logistic-regression weights of the fraud scorer (engine/examples/fraud/model.rs).\n\
             # Trained with `cargo run --release -p tidewater --example fraud_scoring -- train`.\n",
        );
        for (input, weight) in INPUTS.iter().zip(self.weights) {
            let _ = writeln!(text, "{input} {weight:.6}");
        }
        text
    }

    /// The probability that `tx` is fraud.
    pub fn probability(&self, tx: &Transaction, features: &Features) -> f64 {
        let x = inputs(tx, features);
        let z: f64 = self.weights.iter().zip(x).map(|(w, x)| w * x).sum();
        1.0 / (1.0 + (-z).exp())
    }

    /// Fits weights to `samples` (inputs, is fraud) by full-batch gradient descent on the
    /// log loss, with a little L2.
    pub fn train(samples: &[([f64; INPUTS.len()], bool)], epochs: usize) -> Self {
        let positive_weight = 1.0;
        let mut weights = [0.0; INPUTS.len()];
        let rate = 0.5;
        for _ in 0..epochs {
            let mut gradient = [0.0; INPUTS.len()];
            let mut total = 0.0;
            for (x, fraud) in samples {
                let z: f64 = weights.iter().zip(x).map(|(w, x)| w * x).sum();
                let p = 1.0 / (1.0 + (-z).exp());
                let (y, weight) = if *fraud {
                    (1.0, positive_weight)
                } else {
                    (0.0, 1.0)
                };
                for (g, xi) in gradient.iter_mut().zip(x) {
                    *g += weight * (p - y) * xi;
                }
                total += weight;
            }
            for (w, g) in weights.iter_mut().zip(gradient) {
                *w -= rate * (g / total + 1e-4 * *w);
            }
        }
        Self::new(weights)
    }
}
