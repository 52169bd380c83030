//! The automaton a [`Pattern`] compiles to, and the per-key state it runs on.
//!
//! The state is a set of partial matches, each at a stage with a count of events taken there.
//! [`Nfa::advance`] feeds one event to every partial match (take it into the stage, into the
//! next stage, both, or skip it) and starts a new one if the event meets the first stage;
//! [`Nfa::advance_time`] drops the partial matches the time has left behind. The state is
//! plain data (serde), so it lives in keyed state and is checkpointed with it.

use std::sync::Arc;

use super::pattern::{Contiguity, Pattern, Stage};
use crate::time::Timestamp;

/// A complete match: the events each stage took, in time order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Match<T> {
    /// `(stage index, event)`, in the order the events were taken.
    pub events: Vec<(u32, T)>,
}

impl<T> Match<T> {
    /// The events stage `stage` (its index in the pattern) took.
    pub fn stage(&self, stage: u32) -> impl Iterator<Item = &T> {
        self.events
            .iter()
            .filter(move |(s, _)| *s == stage)
            .map(|(_, event)| event)
    }
}

/// A partial match dropped because the time passed its first event plus the pattern's
/// `within`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimedOut<T> {
    /// `(stage index, event)` taken so far.
    pub events: Vec<(u32, T)>,
    /// The time at which it was dropped.
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Partial<T> {
    stage: u32,
    /// Events taken in the current stage.
    count: u32,
    /// The time of the first event.
    start: Timestamp,
    /// An event was skipped since the last one taken: strict transitions are closed.
    skipped: bool,
    events: Vec<(u32, T)>,
}

/// One key's partial matches (keep it in keyed state).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NfaState<T> {
    partials: Vec<Partial<T>>,
}

impl<T> Default for NfaState<T> {
    fn default() -> Self {
        Self {
            partials: Vec::new(),
        }
    }
}

impl<T> NfaState<T> {
    /// Whether no partial match is open.
    pub fn is_empty(&self) -> bool {
        self.partials.is_empty()
    }

    /// How many partial matches are open.
    pub fn len(&self) -> usize {
        self.partials.len()
    }

    /// When the oldest open partial match times out, if the pattern has a `within`.
    pub fn next_timeout(&self, within: Option<i64>) -> Option<Timestamp> {
        let within = within?;
        self.partials.iter().map(|p| p.start + within).min()
    }
}

/// The compiled form of a [`Pattern`]; cheap to clone.
pub struct Nfa<T> {
    stages: Arc<[Stage<T>]>,
    within_ms: Option<i64>,
}

impl<T> Clone for Nfa<T> {
    fn clone(&self) -> Self {
        Self {
            stages: self.stages.clone(),
            within_ms: self.within_ms,
        }
    }
}

impl<T: Clone> Nfa<T> {
    pub(crate) fn new(pattern: Pattern<T>) -> Self {
        Self {
            stages: pattern.stages.into(),
            within_ms: pattern
                .within
                .map(|w| i64::try_from(w.as_millis()).unwrap_or(i64::MAX)),
        }
    }

    /// The stages' names, in order (a stage's index is its place here).
    pub fn stage_names(&self) -> Vec<&str> {
        self.stages.iter().map(|s| s.name.as_str()).collect()
    }

    /// The pattern's `within`, in milliseconds.
    pub fn within_ms(&self) -> Option<i64> {
        self.within_ms
    }

    /// Drops the partial matches that can no longer complete at time `now` (their first
    /// event is `within` or more before it), reporting them to `timeouts` if given.
    pub fn advance_time(
        &self,
        state: &mut NfaState<T>,
        now: Timestamp,
        mut timeouts: Option<&mut Vec<TimedOut<T>>>,
    ) {
        let Some(within) = self.within_ms else {
            return;
        };
        state.partials.retain_mut(|partial| {
            let alive = now.saturating_sub(partial.start) < within;
            if !alive {
                if let Some(timeouts) = timeouts.as_deref_mut() {
                    timeouts.push(TimedOut {
                        events: std::mem::take(&mut partial.events),
                        at: now,
                    });
                }
            }
            alive
        });
    }

    /// Feeds `event` at `time` (events must come in time order) to the partial matches of
    /// `state`, appending the matches it completes to `matches` and the partial matches it
    /// times out to `timeouts` (if given).
    pub fn advance(
        &self,
        state: &mut NfaState<T>,
        event: &T,
        time: Timestamp,
        matches: &mut Vec<Match<T>>,
        timeouts: Option<&mut Vec<TimedOut<T>>>,
    ) {
        self.advance_time(state, time, timeouts);
        let last = self.stages.len() as u32 - 1;
        let mut next = Vec::with_capacity(state.partials.len() + 1);
        for mut partial in state.partials.drain(..) {
            let stage = &self.stages[partial.stage as usize];
            let following = self.stages.get(partial.stage as usize + 1);
            let open = |contiguity: Contiguity| contiguity == Contiguity::Relaxed;
            let may_stay = partial.count < stage.max;
            let may_go_on = partial.count >= stage.min && following.is_some();
            let stays = may_stay && (!partial.skipped || open(stage.inner)) && stage.accepts(event);
            let goes_on = may_go_on
                && following
                    .is_some_and(|f| (!partial.skipped || open(f.contiguity)) && f.accepts(event));
            if stays {
                let mut taken = partial.clone();
                taken.count += 1;
                self.take(taken, event, last, matches, &mut next);
            }
            if goes_on {
                let mut taken = partial.clone();
                taken.stage += 1;
                taken.count = 1;
                self.take(taken, event, last, matches, &mut next);
            }
            if !stays && !goes_on {
                // Skipped: the partial match waits on if a relaxed way on remains.
                let relaxed_stay = may_stay && open(stage.inner);
                let relaxed_go_on = may_go_on && following.is_some_and(|f| open(f.contiguity));
                if relaxed_stay || relaxed_go_on {
                    partial.skipped = true;
                    next.push(partial);
                }
            }
        }
        if self.stages[0].accepts(event) {
            let started = Partial {
                stage: 0,
                count: 1,
                start: time,
                skipped: false,
                events: Vec::new(),
            };
            self.take(started, event, last, matches, &mut next);
        }
        state.partials = next;
    }

    /// `partial` has just taken `event` into its (already updated) stage and count: report a
    /// match if it is one, keep it if it can grow.
    fn take(
        &self,
        mut partial: Partial<T>,
        event: &T,
        last: u32,
        matches: &mut Vec<Match<T>>,
        next: &mut Vec<Partial<T>>,
    ) {
        partial.events.push((partial.stage, event.clone()));
        partial.skipped = false;
        let stage = &self.stages[partial.stage as usize];
        if partial.stage == last && partial.count >= stage.min {
            matches.push(Match {
                events: partial.events.clone(),
            });
        }
        if partial.stage < last || partial.count < stage.max {
            next.push(partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn run(nfa: &Nfa<char>, events: &str) -> Vec<String> {
        let mut state = NfaState::default();
        let mut matches = Vec::new();
        for (time, event) in events.chars().enumerate() {
            nfa.advance(&mut state, &event, time as i64, &mut matches, None);
        }
        matches
            .into_iter()
            .map(|m| m.events.into_iter().map(|(_, e)| e).collect())
            .collect()
    }

    fn is(c: char) -> impl Fn(&char) -> bool + Send + Sync {
        move |e| e.eq_ignore_ascii_case(&c)
    }

    #[test]
    fn followed_by_skips_events_that_cannot_be_taken() {
        let p = Pattern::begin("a")
            .where_(is('a'))
            .followed_by("b")
            .where_(is('b'));
        assert_eq!(run(&p.compile(), "axab"), ["ab", "ab"]);
        // The first b ends the match: skip-till-next-match takes no later b.
        assert_eq!(run(&p.compile(), "abb"), ["ab"]);
    }

    #[test]
    fn next_needs_the_very_next_event() {
        let p = Pattern::begin("a")
            .where_(is('a'))
            .next("b")
            .where_(is('b'));
        assert_eq!(run(&p.compile(), "axbab"), ["ab"]);
    }

    #[test]
    fn a_looping_stage_takes_every_accepted_event() {
        let p = Pattern::begin("s")
            .where_(is('s'))
            .times_or_more(3)
            .followed_by("b")
            .where_(is('b'));
        assert_eq!(run(&p.compile(), "sxsssB"), ["ssssB", "sssB"]);
    }

    #[test]
    fn within_drops_partial_matches_and_reports_them() {
        let p = Pattern::begin("a")
            .where_(is('a'))
            .followed_by("b")
            .where_(is('b'))
            .within(Duration::from_millis(3));
        let nfa = p.compile();
        assert_eq!(
            run(&nfa, "axxb"),
            Vec::<String>::new(),
            "b comes 3 ms after a"
        );
        assert_eq!(run(&nfa, "axb"), ["ab"]);
        let mut state = NfaState::default();
        let mut matches = Vec::new();
        nfa.advance(&mut state, &'a', 10, &mut matches, None);
        let mut timeouts = Vec::new();
        nfa.advance_time(&mut state, 13, Some(&mut timeouts));
        assert_eq!(timeouts.len(), 1);
        assert_eq!(timeouts[0].events, [(0, 'a')]);
        assert!(state.is_empty());
    }
}
