//! The event-time pattern operator: buffers each key's events until the watermark passes
//! them, then feeds them to the automaton in time order.

use super::{Match, Nfa, NfaState, Pattern, TimedOut};
use crate::api::{DataStream, Key, KeyedStream};
use crate::operators::{Context, KeyedProcessFunction, OutputTag, TimeDomain};
use crate::plan::Data;
use crate::state::{KeyedStates, StateData, ValueState};
use crate::time::Timestamp;

/// A pattern applied to a keyed stream, being set up (Flink's `PatternStream`); see
/// [`KeyedStream::pattern`].
pub struct PatternStream<T, K, KF> {
    keyed: KeyedStream<T, K, KF>,
    pattern: Pattern<T>,
    timeouts: Option<OutputTag<TimedOut<T>>>,
    late: Option<OutputTag<T>>,
}

impl<T, K, KF> PatternStream<T, K, KF>
where
    T: Data + StateData + Sync,
    K: Key + Sync,
    KF: Fn(&T) -> K + Clone + Send + Sync + 'static,
{
    pub(crate) fn new(keyed: KeyedStream<T, K, KF>, pattern: Pattern<T>) -> Self {
        Self {
            keyed,
            pattern,
            timeouts: None,
            late: None,
        }
    }

    /// Sends the partial matches that time out (see [`Pattern::within`]) to the side output
    /// `tag` of the match stream.
    pub fn timeouts_to(mut self, tag: &OutputTag<TimedOut<T>>) -> Self {
        self.timeouts = Some(tag.clone());
        self
    }

    /// Sends events that arrive behind the watermark (which the pattern can no longer place
    /// in time order) to the side output `tag`, instead of dropping them.
    pub fn side_output_late_data(mut self, tag: &OutputTag<T>) -> Self {
        self.late = Some(tag.clone());
        self
    }

    /// The stream of complete matches (Flink's `select` with the identity). The keyed stream
    /// needs event time (timestamps and watermarks).
    pub fn matches(&self) -> DataStream<Match<T>> {
        self.keyed.process(PatternFunction {
            nfa: self.pattern.compile(),
            timeouts: self.timeouts.clone(),
            late: self.late.clone(),
            waiting: ValueState::new(),
            partials: ValueState::new(),
            arrivals: 0,
        })
    }
}

/// The pattern, run per key as a keyed process function.
#[derive(Clone)]
struct PatternFunction<K, T> {
    nfa: Nfa<T>,
    timeouts: Option<OutputTag<TimedOut<T>>>,
    late: Option<OutputTag<T>>,
    /// Events the watermark has not passed yet: `(time, arrival, event)`, sorted.
    waiting: ValueState<K, Vec<(Timestamp, u64, T)>>,
    partials: ValueState<K, NfaState<T>>,
    /// Arrival order on this shard, which orders events of equal time.
    arrivals: u64,
}

impl<K, T> KeyedProcessFunction<K, T, Match<T>> for PatternFunction<K, T>
where
    K: Key + Sync,
    T: Data + StateData + Sync,
{
    fn states(&mut self, states: &mut KeyedStates<'_, K>) {
        states.register("cep-waiting", &mut self.waiting);
        states.register("cep-partials", &mut self.partials);
    }

    fn process_element(&mut self, event: T, ctx: &mut Context<'_, K, Match<T>>) {
        let time = ctx
            .timestamp()
            .expect("a pattern runs in event time: assign timestamps before it");
        if time <= ctx.current_watermark() {
            if let Some(late) = &self.late {
                ctx.output(late, event);
            }
            return;
        }
        let arrival = self.arrivals;
        self.arrivals += 1;
        let waiting = self.waiting.get_or_insert_with(ctx, Vec::new);
        let at = waiting.partition_point(|(t, a, _)| (*t, *a) <= (time, arrival));
        waiting.insert(at, (time, arrival, event));
        ctx.register_event_time_timer(time);
    }

    fn on_timer(&mut self, now: Timestamp, _: TimeDomain, ctx: &mut Context<'_, K, Match<T>>) {
        let due: Vec<(Timestamp, u64, T)> = match self.waiting.value(ctx) {
            None => Vec::new(),
            Some(_) => {
                let waiting = self.waiting.get_or_insert_with(ctx, Vec::new);
                let n = waiting.partition_point(|(t, _, _)| *t <= now);
                let due = waiting.drain(..n).collect();
                if waiting.is_empty() {
                    self.waiting.clear(ctx);
                }
                due
            }
        };
        let mut matches = Vec::new();
        let mut timeouts = Vec::new();
        let report = self.timeouts.is_some();
        let partials = self.partials.get_or_insert_with(ctx, NfaState::default);
        for (time, _, event) in &due {
            let timeouts = report.then_some(&mut timeouts);
            self.nfa
                .advance(partials, event, *time, &mut matches, timeouts);
        }
        self.nfa
            .advance_time(partials, now, report.then_some(&mut timeouts));
        let next_timeout = partials.next_timeout(self.nfa.within_ms());
        if partials.is_empty() {
            self.partials.clear(ctx);
        }
        if let Some(at) = next_timeout {
            ctx.register_event_time_timer(at);
        }
        for found in matches {
            ctx.emit(found);
        }
        if let Some(tag) = &self.timeouts {
            for timed_out in timeouts {
                ctx.output(tag, timed_out);
            }
        }
    }
}
