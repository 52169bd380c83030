//! `WindowedStream`: a keyed stream cut into windows (Flink's `WindowedStream`).

use std::cell::RefCell;
use std::hash::Hash;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::Duration;

use super::{DataStream, KeyedStream};
use crate::exchange::StableKey;
use crate::operators::window::{
    AggregateWindow, DefaultTrigger, LateRecords, ProcessWindow, ProcessWindowFunction,
    ReduceWindow, Trigger, WindowAssigner, WindowFunction, WindowOperator, WindowState, Windowed,
};
use crate::operators::{AggregateFunction, BoxOutput, OutputTag, Shared};
use crate::plan::{Data, ShardBuilder};

/// A keyed stream cut into windows: choose a trigger, lateness and late-data output, then a
/// window function (`reduce`, `aggregate` or `process`).
pub struct WindowedStream<T, K, KF, Tr> {
    keyed: KeyedStream<T, K, KF>,
    assigner: WindowAssigner,
    trigger: Tr,
    allowed_lateness: i64,
    late_tag: Option<OutputTag<T>>,
}

impl<T, K, KF> WindowedStream<T, K, KF, DefaultTrigger>
where
    T: Data,
    K: Data + Hash + Eq + StableKey,
    KF: Fn(&T) -> K + Clone + Send + Sync + 'static,
{
    pub(crate) fn new(keyed: KeyedStream<T, K, KF>, assigner: WindowAssigner) -> Self {
        assert!(
            !assigner.needs_event_time() || keyed.stream().timestamps().is_some(),
            "event-time windows need timestamps: call assign_timestamps(..) before key_by(..) \
             (or use processing-time windows)"
        );
        Self {
            keyed,
            assigner,
            trigger: DefaultTrigger::for_assigner(&assigner),
            allowed_lateness: 0,
            late_tag: None,
        }
    }
}

impl<T, K, KF, Tr> WindowedStream<T, K, KF, Tr>
where
    T: Data,
    K: Data + Hash + Eq + StableKey,
    KF: Fn(&T) -> K + Clone + Send + Sync + 'static,
    Tr: Trigger<T>,
{
    /// Replaces the assigner's default trigger.
    pub fn trigger<Other: Trigger<T>>(self, trigger: Other) -> WindowedStream<T, K, KF, Other> {
        WindowedStream {
            keyed: self.keyed,
            assigner: self.assigner,
            trigger,
            allowed_lateness: self.allowed_lateness,
            late_tag: self.late_tag,
        }
    }

    /// Keeps event-time windows for `lateness` after they fire: a record arriving in that
    /// time is added and fires the window again with the updated result.
    pub fn allowed_lateness(mut self, lateness: Duration) -> Self {
        self.allowed_lateness = i64::try_from(lateness.as_millis()).unwrap_or(i64::MAX);
        self
    }

    /// Sends records too late for all their windows to the side output `tag` (read it with
    /// `side_output(&tag)` on the window's result stream) instead of only counting them.
    pub fn side_output_late_data(mut self, tag: &OutputTag<T>) -> Self {
        self.late_tag = Some(tag.clone());
        self
    }

    /// Combines each window's records pairwise; emits one [`Windowed`] per firing.
    pub fn reduce<F>(&self, f: F) -> DataStream<Windowed<K, T>>
    where
        F: Fn(T, T) -> T + Clone + Send + Sync + 'static,
    {
        self.build("window-reduce", ReduceWindow(f))
    }

    /// Folds each window's records with `function`; emits one [`Windowed`] per firing.
    pub fn aggregate<A>(&self, function: A) -> DataStream<Windowed<K, A::Out>>
    where
        A: AggregateFunction<T>,
        A::Out: Data,
    {
        self.build("window-aggregate", AggregateWindow(function))
    }

    /// Calls `function` with all of a window's records when it fires.
    pub fn process<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        F: ProcessWindowFunction<K, T, O>,
    {
        self.build(
            "window-process",
            ProcessWindow {
                function,
                output: PhantomData,
            },
        )
    }

    fn build<W>(&self, kind: &str, function: W) -> DataStream<W::Out>
    where
        W: WindowFunction<K, T> + Send + Sync,
        W::Out: Data,
    {
        let stream = self.keyed.stream();
        let operator = stream.graph().borrow_mut().add_operator(kind);
        let exchange = self.keyed.exchange(operator);
        let key = self.keyed.key().clone();
        let timestamps = stream.timestamps();
        let (assigner, trigger, allowed_lateness, late_tag) = (
            self.assigner,
            self.trigger.clone(),
            self.allowed_lateness,
            self.late_tag.clone(),
        );
        stream.receive(operator, vec![exchange], move |node| {
            move |builder: &mut ShardBuilder| {
                let side = builder.side_outputs(operator);
                let window = Rc::new(RefCell::new(WindowOperator {
                    id: operator,
                    key: key.clone(),
                    assigner,
                    timestamp: timestamps.clone(),
                    function: function.clone(),
                    trigger: trigger.clone(),
                    allowed_lateness,
                    late: LateRecords {
                        tag: late_tag.clone(),
                        metrics: builder.context.metrics.clone(),
                        shard: builder.shard(),
                    },
                    next: builder.output::<W::Out>(node),
                    side,
                    state: WindowState::default(),
                }));
                builder.add_processing_timers(window.clone());
                Box::new(Shared(window)) as BoxOutput<T>
            }
        })
    }
}
