//! The pattern API (Flink CEP's `Pattern`): a sequence of named stages, each with conditions,
//! a quantifier and a contiguity.

use std::sync::Arc;
use std::time::Duration;

use super::Nfa;

/// A condition on one event.
pub(crate) type Condition<T> = Arc<dyn Fn(&T) -> bool + Send + Sync>;

/// How strictly the events of a match must follow each other in the key's event sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contiguity {
    /// The next event of the key, nothing in between (`next`, `consecutive`).
    Strict,
    /// Events in between are skipped, as long as they could not have been taken at that
    /// point (Flink's skip-till-next-match: `followed_by`, and between the repetitions of a
    /// looping stage by default).
    Relaxed,
}

/// One stage of a pattern.
pub(crate) struct Stage<T> {
    pub(crate) name: String,
    pub(crate) conditions: Vec<Condition<T>>,
    /// Fewest and most events the stage takes (`max`: `u32::MAX` for unbounded).
    pub(crate) min: u32,
    pub(crate) max: u32,
    /// Between the previous stage's last event and this stage's first.
    pub(crate) contiguity: Contiguity,
    /// Between this stage's own events.
    pub(crate) inner: Contiguity,
}

impl<T> Stage<T> {
    fn new(name: &str, contiguity: Contiguity) -> Self {
        Self {
            name: name.to_string(),
            conditions: Vec::new(),
            min: 1,
            max: 1,
            contiguity,
            inner: Contiguity::Relaxed,
        }
    }

    /// Whether `event` meets every condition of the stage.
    #[inline]
    pub(crate) fn accepts(&self, event: &T) -> bool {
        self.conditions.iter().all(|condition| condition(event))
    }
}

impl<T> Clone for Stage<T> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            conditions: self.conditions.clone(),
            min: self.min,
            max: self.max,
            contiguity: self.contiguity,
            inner: self.inner,
        }
    }
}

/// A pattern over one key's events (Flink CEP's `Pattern`), built stage by stage:
///
/// ```
/// use std::time::Duration;
/// use tidewater::operators::cep::Pattern;
///
/// // Three or more payments under 2.00, then one over 500.00, within 10 minutes.
/// let card_testing = Pattern::<f64>::begin("small")
///     .where_(|amount| *amount < 2.0)
///     .times_or_more(3)
///     .followed_by("large")
///     .where_(|amount| *amount > 500.0)
///     .within(Duration::from_secs(600));
/// let nfa = card_testing.compile();
/// assert_eq!(nfa.stage_names(), ["small", "large"]);
/// ```
///
/// Semantics (checked against a brute-force search in the tests): events are taken in time
/// order; every event that meets the first stage starts a new partial match (no skipping
/// after a match: every match is reported). A partial match takes an event into its current
/// stage (if the stage may take more) or into the next stage (if the current one has taken
/// its minimum); when both are possible it branches. An event it takes neither way is
/// skipped, which a [`Strict`](Contiguity::Strict) transition does not allow. A match is
/// reported when its last stage has taken at least its minimum; a looping last stage
/// reports every length. With [`within`](Pattern::within), the last event must be less
/// than the duration after the first: partial matches are dropped (or reported as timed
/// out) once the time reaches that bound.
pub struct Pattern<T> {
    pub(crate) stages: Vec<Stage<T>>,
    pub(crate) within: Option<Duration>,
}

impl<T> Clone for Pattern<T> {
    fn clone(&self) -> Self {
        Self {
            stages: self.stages.clone(),
            within: self.within,
        }
    }
}

impl<T> Pattern<T> {
    /// A pattern whose first stage is `name`.
    pub fn begin(name: &str) -> Self {
        Self {
            stages: vec![Stage::new(name, Contiguity::Strict)],
            within: None,
        }
    }

    /// Adds stage `name`, whose first event must directly follow the previous stage's last.
    pub fn next(self, name: &str) -> Self {
        self.then(name, Contiguity::Strict)
    }

    /// Adds stage `name`, whose first event may come after other events (relaxed
    /// contiguity).
    pub fn followed_by(self, name: &str) -> Self {
        self.then(name, Contiguity::Relaxed)
    }

    fn then(mut self, name: &str, contiguity: Contiguity) -> Self {
        self.stages.push(Stage::new(name, contiguity));
        self
    }

    fn last(&mut self) -> &mut Stage<T> {
        self.stages.last_mut().expect("a pattern has a stage")
    }

    /// Adds a condition the current stage's events must meet (all conditions must hold).
    pub fn where_(mut self, condition: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.last().conditions.push(Arc::new(condition));
        self
    }

    /// The current stage takes exactly `n` events (`n >= 1`).
    pub fn times(self, n: u32) -> Self {
        self.times_between(n, n)
    }

    /// The current stage takes `n` or more events (`n >= 1`).
    pub fn times_or_more(self, n: u32) -> Self {
        self.times_between(n, u32::MAX)
    }

    /// The current stage takes one or more events.
    pub fn one_or_more(self) -> Self {
        self.times_or_more(1)
    }

    /// The current stage takes from `min` to `max` events (`1 <= min <= max`).
    pub fn times_between(mut self, min: u32, max: u32) -> Self {
        assert!(
            1 <= min && min <= max,
            "a stage takes at least one event, and min <= max"
        );
        let stage = self.last();
        stage.min = min;
        stage.max = max;
        self
    }

    /// The current stage's events must directly follow each other (Flink's `consecutive`).
    pub fn consecutive(mut self) -> Self {
        self.last().inner = Contiguity::Strict;
        self
    }

    /// A match's last event must come less than `window` after its first.
    pub fn within(mut self, window: Duration) -> Self {
        self.within = Some(window);
        self
    }
}

impl<T: Clone> Pattern<T> {
    /// The automaton that runs the pattern.
    pub fn compile(&self) -> Nfa<T> {
        Nfa::new(self.clone())
    }
}
