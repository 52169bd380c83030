//! The per-card features a payment is scored on, computed from the card's history.

use std::collections::VecDeque;

use super::Transaction;

/// Window lengths, in ms.
pub const MINUTE_MS: i64 = 60_000;
/// Ten minutes, in ms.
pub const TEN_MINUTES_MS: i64 = 10 * MINUTE_MS;
/// An hour, in ms.
pub const HOUR_MS: i64 = 60 * MINUTE_MS;

/// At most this many payments of the last hour are kept per card (counts saturate there):
/// the bound of a card's memory however hard it is hammered.
pub const MAX_RECENT: usize = 512;

/// Earlier payments a card needs before its amounts' z-score means anything.
pub const MIN_HISTORY: u64 = 3;

/// What is known about a payment in the light of its card's history. Window features count
/// the payment itself and the card's payments of the window before it (`time - window <
/// t <= time`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Features {
    /// Payments in the last minute.
    pub count_1m: u32,
    /// Their sum, in cents.
    pub sum_1m: u64,
    /// Payments in the last 10 minutes.
    pub count_10m: u32,
    /// Their sum, in cents.
    pub sum_10m: u64,
    /// Payments in the last hour.
    pub count_1h: u32,
    /// Their sum, in cents.
    pub sum_1h: u64,
    /// Distinct merchants in the last 10 minutes.
    pub distinct_merchants_10m: u32,
    /// `(amount - mean) / spread` over the card's earlier payments, where the spread is
    /// their standard deviation but at least half their mean (0 before the fourth payment).
    pub zscore: f64,
    /// Earlier payments of the card, all time.
    pub history: u64,
    /// Time since the card's previous payment (`None` for its first).
    pub since_previous_ms: Option<i64>,
    /// A payment of the last hour was made in another country.
    pub country_change_1h: bool,
    /// The card-testing pattern ends with this payment (three or more under 2.00, then one
    /// over 500.00, within 10 minutes).
    pub card_testing: bool,
}

/// One earlier payment, as much as the features need.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct Recent {
    time: i64,
    amount_cents: u64,
    merchant: u32,
    country: u16,
}

/// A card's history: its payments of the last hour and running amount statistics
/// (Welford's).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CardHistory {
    recent: VecDeque<Recent>,
    payments: u64,
    mean: f64,
    m2: f64,
    last_time: Option<i64>,
}

impl CardHistory {
    /// The features of `tx` (all but `card_testing`), then adds it to the history.
    pub fn observe(&mut self, tx: &Transaction) -> Features {
        while self
            .recent
            .front()
            .is_some_and(|r| r.time <= tx.time - HOUR_MS)
        {
            self.recent.pop_front();
        }
        let current = Recent {
            time: tx.time,
            amount_cents: tx.amount_cents,
            merchant: tx.merchant,
            country: tx.country,
        };
        let mut features = Features {
            history: self.payments,
            since_previous_ms: self.last_time.map(|last| tx.time - last),
            zscore: self.zscore(tx.amount_cents as f64),
            ..Features::default()
        };
        let mut merchants: Vec<u32> = Vec::new();
        for r in self.recent.iter().chain(std::iter::once(&current)) {
            let age = tx.time - r.time;
            features.count_1h += 1;
            features.sum_1h += r.amount_cents;
            features.country_change_1h |= r.country != tx.country;
            if age < TEN_MINUTES_MS {
                features.count_10m += 1;
                features.sum_10m += r.amount_cents;
                if !merchants.contains(&r.merchant) {
                    merchants.push(r.merchant);
                }
            }
            if age < MINUTE_MS {
                features.count_1m += 1;
                features.sum_1m += r.amount_cents;
            }
        }
        features.distinct_merchants_10m = merchants.len() as u32;
        self.add(current);
        features
    }

    fn zscore(&self, amount: f64) -> f64 {
        if self.payments < MIN_HISTORY {
            return 0.0;
        }
        // A few payments give a poor estimate of the spread: floor it, so that an honest
        // card with similar amounts so far does not look anomalous at its first bigger one.
        let std = (self.m2 / (self.payments - 1) as f64).sqrt();
        (amount - self.mean) / std.max(0.5 * self.mean.abs()).max(1.0)
    }

    fn add(&mut self, payment: Recent) {
        self.payments += 1;
        let amount = payment.amount_cents as f64;
        let delta = amount - self.mean;
        self.mean += delta / self.payments as f64;
        self.m2 += delta * (amount - self.mean);
        self.last_time = Some(payment.time);
        if self.recent.len() == MAX_RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(payment);
    }

    /// Bytes this history holds on the heap and inline (for the memory-per-card figure).
    pub fn footprint(&self) -> usize {
        std::mem::size_of::<Self>() + self.recent.capacity() * std::mem::size_of::<Recent>()
    }
}
