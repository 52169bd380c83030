//! The scoring job: payments keyed by card, per-card features and the card-testing pattern
//! on keyed state, rules from broadcast state, a logistic-regression model, one reply per
//! payment.

use std::sync::Arc;
use std::time::Duration;

use tidewater::connectors::{Egress, Ingress, Reply, Request, Scorer};
use tidewater::operators::cep::{Nfa, NfaState, Pattern};
use tidewater::operators::{Context, KeyedBroadcastProcessFunction};
use tidewater::state::{KeyedStates, StateTtl, ValueState};
use tidewater::Env;

use super::{CardHistory, Features, Model, Transaction};

/// Thresholds and rule switches, pushed at runtime to every shard (broadcast state). A
/// shard applies an update only if its version is newer than what it holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rules {
    /// Increases with every update.
    pub version: u64,
    /// Flag a card with this many payments or more in a minute.
    pub velocity_1m: u32,
    /// Flag an amount this many standard deviations above the card's mean.
    pub zscore: f64,
    /// Flag a payment abroad (a country change within the hour) with an amount this many
    /// standard deviations above the card's mean.
    pub abroad_zscore: f64,
    /// Flag when the model's probability reaches this.
    pub alert_probability: f64,
    /// Rule switches.
    pub card_testing_on: bool,
    /// Whether the velocity rule fires.
    pub velocity_on: bool,
    /// Whether the amount rule fires.
    pub amount_on: bool,
    /// Whether the abroad rule fires.
    pub country_on: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            version: 0,
            velocity_1m: 5,
            zscore: 12.0,
            abroad_zscore: 3.5,
            alert_probability: 0.5,
            card_testing_on: true,
            velocity_on: true,
            amount_on: true,
            country_on: true,
        }
    }
}

/// Why a payment was flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Reason {
    /// The card-testing pattern ended with this payment.
    CardTesting,
    /// Too many payments in a minute.
    Velocity,
    /// The amount is far above the card's usual.
    AmountAnomaly,
    /// A large payment in another country than one within the hour.
    CountryChange,
    /// The model's probability reached the alert threshold.
    Model,
}

/// The answer for one payment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Score {
    /// The payment's id.
    pub tx: u64,
    /// The model's probability of fraud.
    pub probability: f64,
    /// The verdict: some reason fired.
    pub fraud: bool,
    /// The reasons that fired.
    pub reasons: Vec<Reason>,
    /// The version of the rules applied.
    pub rules_version: u64,
    /// The features it was scored on.
    pub features: Features,
}

/// The card-testing pattern: three or more payments under 2.00, then one over 500.00,
/// within 10 minutes.
pub fn card_testing() -> Pattern<Transaction> {
    Pattern::begin("small")
        .where_(|tx: &Transaction| tx.amount_cents < 200)
        .times_or_more(3)
        .followed_by("large")
        .where_(|tx: &Transaction| tx.amount_cents > 50_000)
        .within(Duration::from_secs(600))
}

/// Everything kept per card.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CardState {
    /// Windows, statistics, last payment.
    pub history: CardHistory,
    /// Open partial matches of the card-testing pattern.
    pub testing: NfaState<Transaction>,
}

impl CardState {
    /// The features of `tx` (the card-testing `pattern` included), then adds it to the
    /// card's history and the pattern's partial matches.
    pub fn observe(&mut self, pattern: &Nfa<Transaction>, tx: &Transaction) -> Features {
        let mut features = self.history.observe(tx);
        let mut matches = Vec::new();
        pattern.advance(&mut self.testing, tx, tx.time, &mut matches, None);
        features.card_testing = !matches.is_empty();
        features
    }
}

/// How often (in payments per shard) expired cards are swept out.
const SWEEP_EVERY: u64 = 1 << 16;

/// The keyed scoring function (one clone per shard).
#[derive(Clone)]
pub struct FraudScorer {
    model: Arc<Model>,
    pattern: Nfa<Transaction>,
    cards: ValueState<u64, CardState>,
    scored: u64,
}

impl FraudScorer {
    /// A scorer with `model`, forgetting a card idle (in processing time) for `card_ttl`.
    pub fn new(model: Model, card_ttl: Duration) -> Self {
        Self {
            model: Arc::new(model),
            pattern: card_testing().compile(),
            cards: ValueState::new().with_ttl(StateTtl::new(card_ttl)),
            scored: 0,
        }
    }
}

/// Scores `tx` with its `features` under `rules`.
pub fn verdict(model: &Model, rules: &Rules, tx: &Transaction, features: Features) -> Score {
    let probability = model.probability(tx, &features);
    let mut reasons = Vec::new();
    if rules.card_testing_on && features.card_testing {
        reasons.push(Reason::CardTesting);
    }
    if rules.velocity_on && features.count_1m >= rules.velocity_1m {
        reasons.push(Reason::Velocity);
    }
    if rules.amount_on && features.zscore >= rules.zscore {
        reasons.push(Reason::AmountAnomaly);
    }
    if rules.country_on && features.country_change_1h && features.zscore >= rules.abroad_zscore {
        reasons.push(Reason::CountryChange);
    }
    if probability >= rules.alert_probability {
        reasons.push(Reason::Model);
    }
    Score {
        tx: tx.id,
        probability,
        fraud: !reasons.is_empty(),
        reasons,
        rules_version: rules.version,
        features,
    }
}

impl KeyedBroadcastProcessFunction<u64, Request<Transaction>, Rules, Reply<Score>> for FraudScorer {
    type Broadcast = Rules;

    fn process_element(
        &mut self,
        request: Request<Transaction>,
        rules: &Rules,
        ctx: &mut Context<'_, u64, Reply<Score>>,
    ) {
        let tx = &request.event;
        let card = self.cards.get_or_insert_with(ctx, CardState::default);
        let features = card.observe(&self.pattern, tx);
        let score = verdict(&self.model, rules, tx, features);
        ctx.emit(request.reply(score));
        self.scored += 1;
        if self.scored.is_multiple_of(SWEEP_EVERY) {
            self.cards.cleanup_expired(ctx.current_processing_time());
        }
    }

    fn process_broadcast(
        &mut self,
        update: Rules,
        rules: &mut Rules,
        _ctx: &mut Context<'_, (), Reply<Score>>,
    ) {
        if update.version > rules.version {
            *rules = update;
        }
    }

    fn states(&mut self, states: &mut KeyedStates<'_, u64>) {
        states.register("cards", &mut self.cards);
    }
}

/// How the scoring job is fed.
pub struct Options {
    /// The model.
    pub model: Model,
    /// Per-shard queue of payments waiting to be scored.
    pub queue: usize,
    /// A card idle this long (processing time) is forgotten.
    pub card_ttl: Duration,
}

/// The job answering `scorer.score(tx)` with its [`Score`], and where rule updates go.
pub struct RequestReply {
    /// Scores payments, one reply each.
    pub scorer: Scorer<Transaction, Score>,
    /// Rule updates (broadcast to every shard).
    pub rules: Ingress<Rules>,
}

/// Builds the request–reply scoring job on `env`.
pub fn request_reply(env: &Env, options: Options) -> RequestReply {
    let (scorer, payments) = env.request_reply(options.queue, |tx: &Transaction| tx.card);
    let (rules, updates) = env.ingress::<Rules>(16);
    payments
        .connect_broadcast(&updates)
        .process(FraudScorer::new(options.model, options.card_ttl))
        .reply_to(&scorer);
    RequestReply { scorer, rules }
}

/// The job scoring a stream of payments without waiting on each (throughput mode): push
/// requests (any id) into `payments`, read the replies from `scores`.
pub struct Streaming {
    /// Payments to score.
    pub payments: Ingress<Request<Transaction>>,
    /// Rule updates (broadcast to every shard).
    pub rules: Ingress<Rules>,
    /// One reply per payment.
    pub scores: Egress<Reply<Score>>,
}

/// Builds the streaming scoring job on `env`; `egress` is the result queue's length.
pub fn streaming(env: &Env, options: Options, egress: usize) -> Streaming {
    let (payments, requests) =
        env.keyed_ingress(options.queue, |r: &Request<Transaction>| r.event.card);
    let (rules, updates) = env.ingress::<Rules>(16);
    let scores = requests
        .connect_broadcast(&updates)
        .process(FraudScorer::new(options.model, options.card_ttl))
        .egress(egress);
    Streaming {
        payments,
        rules,
        scores,
    }
}
