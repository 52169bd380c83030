//! Card transactions, and a deterministic generator of them with labelled, injected fraud.

/// A card payment to be scored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Transaction {
    /// Unique, increasing with time.
    pub id: u64,
    /// The card: the key of all per-card state.
    pub card: u64,
    /// Where it was spent.
    pub merchant: u32,
    /// The amount in cents.
    pub amount_cents: u64,
    /// Where the card was used.
    pub country: u16,
    /// Event time, ms since the epoch.
    pub time: i64,
}

/// The kinds of fraud the generator injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FraudKind {
    /// Three to five payments under 2.00, then one over 500.00, within 10 minutes.
    CardTesting,
    /// Seven payments within a minute (the fifth onward are labelled).
    Velocity,
    /// A large payment abroad within an hour of one at home.
    GeoJump,
    /// A payment 15–40 times the card's usual amount.
    AmountSpike,
}

/// A transaction and whether it is (the fraudulent part of) an injected fraud.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    /// The transaction.
    pub tx: Transaction,
    /// `Some` if a detector should flag it.
    pub fraud: Option<FraudKind>,
}

/// SplitMix64: a small, fast, deterministic random number generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Exponential with mean `mean`.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

/// What the generator makes.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// Seed of everything random.
    pub seed: u64,
    /// Number of cards.
    pub cards: u64,
    /// Mean time between two payments of one card, in ms of event time.
    pub card_gap_ms: f64,
    /// Chance that a normal payment is followed by an injected fraud on a random card.
    pub fraud_rate: f64,
    /// Event time of the first payment.
    pub start_ms: i64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            cards: 5_000,
            card_gap_ms: 30.0 * 60_000.0,
            fraud_rate: 0.002,
            start_ms: 1_700_000_000_000,
        }
    }
}

/// What every card does when it is not defrauded.
struct Habits {
    home: u16,
    mean_cents: f64,
    merchant_base: u32,
}

fn habits(card: u64) -> Habits {
    let mut rng = Rng::new(card.wrapping_mul(0xA24B_AED4_963E_E407));
    Habits {
        home: rng.below(20) as u16,
        mean_cents: 1_000.0 * (1.0 + 9.0 * rng.unit()),
        merchant_base: (rng.below(100_000) as u32) * 8,
    }
}

/// `count` normal payments (and the frauds injected among them), in time order, with ids
/// in that order.
pub fn generate(config: &GeneratorConfig, count: usize) -> Vec<Labelled> {
    let mut rng = Rng::new(config.seed);
    let gap = config.card_gap_ms / config.cards as f64;
    let mut time = config.start_ms as f64;
    let mut out: Vec<Labelled> = Vec::with_capacity(count + count / 50);
    for _ in 0..count {
        time += rng.exponential(gap);
        let card = rng.below(config.cards);
        out.push(normal(&mut rng, card, time as i64));
        if rng.unit() < config.fraud_rate {
            let victim = rng.below(config.cards);
            inject(&mut rng, victim, time as i64, &mut out);
        }
    }
    // Stable: a card's own payments keep their order.
    out.sort_by_key(|l| l.tx.time);
    for (id, labelled) in out.iter_mut().enumerate() {
        labelled.tx.id = id as u64;
    }
    out
}

fn payment(card: u64, merchant: u32, amount_cents: u64, country: u16, time: i64) -> Transaction {
    Transaction {
        id: 0,
        card,
        merchant,
        amount_cents: amount_cents.max(1),
        country,
        time,
    }
}

fn normal(rng: &mut Rng, card: u64, time: i64) -> Labelled {
    let habits = habits(card);
    let merchant = if rng.unit() < 0.8 {
        habits.merchant_base + rng.below(5) as u32
    } else {
        rng.below(1_000_000) as u32
    };
    // Some honest payments are tiny, and some are made abroad.
    let amount = if rng.unit() < 0.02 {
        50 + rng.below(150)
    } else {
        (habits.mean_cents * (0.5 * rng.normal()).exp()) as u64
    };
    let country = if rng.unit() < 0.005 {
        (habits.home + 1 + rng.below(19) as u16) % 20
    } else {
        habits.home
    };
    Labelled {
        tx: payment(card, merchant, amount, country, time),
        fraud: None,
    }
}

fn inject(rng: &mut Rng, card: u64, time: i64, out: &mut Vec<Labelled>) {
    let habits = habits(card);
    let kind = match rng.below(4) {
        0 => FraudKind::CardTesting,
        1 => FraudKind::Velocity,
        2 => FraudKind::GeoJump,
        _ => FraudKind::AmountSpike,
    };
    let mut at = time + 1;
    let mut push = |tx: Transaction, fraud: bool| {
        out.push(Labelled {
            tx,
            fraud: fraud.then_some(kind),
        });
    };
    match kind {
        FraudKind::CardTesting => {
            for _ in 0..3 + rng.below(3) {
                let merchant = rng.below(1_000_000) as u32;
                push(
                    payment(card, merchant, 50 + rng.below(150), habits.home, at),
                    false,
                );
                at += 30_000 + rng.below(60_000) as i64;
            }
            let merchant = rng.below(1_000_000) as u32;
            let amount = 50_001 + rng.below(150_000);
            push(payment(card, merchant, amount, habits.home, at), true);
        }
        FraudKind::Velocity => {
            for i in 0..7 {
                let merchant = rng.below(1_000_000) as u32;
                let amount = (habits.mean_cents * (0.5 * rng.normal()).exp()) as u64;
                push(payment(card, merchant, amount, habits.home, at), i >= 4);
                at += 3_000 + rng.below(4_000) as i64;
            }
        }
        FraudKind::GeoJump => {
            let merchant = habits.merchant_base + rng.below(5) as u32;
            let amount = (habits.mean_cents * 0.8) as u64;
            push(payment(card, merchant, amount, habits.home, at), false);
            at += 5 * 60_000 + rng.below(50 * 60_000) as i64;
            let abroad = (habits.home + 1 + rng.below(19) as u16) % 20;
            let amount = (habits.mean_cents * (3.0 + 5.0 * rng.unit())) as u64;
            push(
                payment(card, rng.below(1_000_000) as u32, amount, abroad, at),
                true,
            );
        }
        FraudKind::AmountSpike => {
            let merchant = habits.merchant_base + rng.below(5) as u32;
            let amount = (habits.mean_cents * (15.0 + 25.0 * rng.unit())) as u64;
            push(payment(card, merchant, amount, habits.home, at), true);
        }
    }
}
