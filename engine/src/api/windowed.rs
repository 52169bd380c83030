//! `WindowedStream`: a keyed stream cut into windows (Flink's `WindowedStream`).

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::Duration;

use super::Key;
use super::{DataStream, KeyedStream};
use crate::operators::window::{
    fires_once_at_window_end, AggregateWindow, DefaultTrigger, LateRecords, LocalAggregate,
    MergePartials, Partial, ProcessWindow, ProcessWindowFunction, ReduceWindow, SlicedState,
    SlicedWindowOperator, Slicing, Trigger, WindowAssigner, WindowFunction, WindowOperator,
    WindowOutputs, WindowState, Windowed,
};
use crate::operators::{AggregateFunction, BoxOutput, OutputTag, Shared};
use crate::plan::{Data, ShardBuilder};
use crate::state::StateData;

/// A keyed stream cut into windows: choose a trigger, lateness and late-data output, then a
/// window function (`reduce`, `aggregate` or `process`).
///
/// Sliding and tumbling event-time windows with `reduce` or `aggregate`, the default trigger
/// and no allowed lateness keep one accumulator per key and slice of `gcd(size, slide)`
/// rather than per key and window, and merge a window's slices when it fires (see
/// [`slice_length`](Self::slice_length)): the function's result must then not depend on the
/// order its records are added and merged in.
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
    K: Key,
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
    K: Key,
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

    /// The length of the slices `reduce` and `aggregate` keep per key when they run on the
    /// sliced operator (sliding or tumbling windows in event time, the default or event-time
    /// trigger, no allowed lateness); `None` when they keep one accumulator per key and
    /// window instead. `process` always does the latter.
    pub fn slice_length(&self) -> Option<Duration> {
        self.slicing()
            .map(|slicing| Duration::from_millis(slicing.slice_length().unsigned_abs()))
    }

    /// The slicing of these windows for an incremental function, if the sliced operator can
    /// compute them: with no allowed lateness and a trigger firing each window once at its
    /// end, a window's result is the merge of its slices when the watermark passes it.
    fn slicing(&self) -> Option<Slicing> {
        let fires_at_end = self.allowed_lateness == 0 && fires_once_at_window_end(&self.trigger);
        Slicing::of(&self.assigner).filter(|_| fires_at_end)
    }

    /// Combines each window's records pairwise; emits one [`Windowed`] per firing, whose
    /// event time is the window's [`max_timestamp`](crate::operators::window::TimeWindow::max_timestamp)
    /// (as in Flink), so windows and timers downstream see it.
    pub fn reduce<F>(&self, f: F) -> DataStream<Windowed<K, T>>
    where
        T: StateData,
        F: Fn(T, T) -> T + Clone + Send + Sync + 'static,
    {
        self.build("window-reduce", ReduceWindow(f))
            .event_time(|result: &Windowed<K, T>| result.window.max_timestamp())
    }

    /// Folds each window's records with `function`; emits one [`Windowed`] per firing, whose
    /// event time is the window's last millisecond, as with [`reduce`](Self::reduce).
    ///
    /// The accumulator is `Clone`: on the sliced operator, a slice's accumulator is merged
    /// into each of the windows holding the slice.
    pub fn aggregate<A>(&self, function: A) -> DataStream<Windowed<K, A::Out>>
    where
        A: AggregateFunction<T>,
        A::Acc: Clone + StateData,
        A::Out: Data,
    {
        self.build("window-aggregate", AggregateWindow(function))
            .event_time(|result: &Windowed<K, A::Out>| result.window.max_timestamp())
    }

    /// Like [`aggregate`](Self::aggregate), in two phases (Flink's local-global
    /// aggregation): each shard first folds its own records per key and slice with
    /// `function.add`, before the key-by exchange, and sends one partial accumulator per key
    /// and slice once the watermark has passed the slice; the shard owning the key merges
    /// the partials into its windows with `function.merge`. The results are `aggregate`'s.
    ///
    /// Worth it when few keys carry many records each (a window keyed by a constant, by the
    /// window, by a hot item): the exchange then carries a few partials per slice instead of
    /// every record, and no single shard folds them all. With many keys of a few records
    /// each it only adds a hash lookup per record. Partials are checkpointed with the rest.
    ///
    /// # Panics
    ///
    /// When the windows cannot be sliced ([`slice_length`](Self::slice_length) is `None`) or
    /// a late-data side output is set (late records are dropped and counted by the global
    /// phase, which sees partials rather than records).
    pub fn aggregate_local_global<A>(&self, function: A) -> DataStream<Windowed<K, A::Out>>
    where
        A: AggregateFunction<T>,
        A::Acc: Data + StateData,
        A::Out: Data,
    {
        let slicing = self.slicing().unwrap_or_else(|| {
            panic!(
                "aggregate_local_global needs sliced windows: sliding or tumbling windows in \
                 event time, with the default trigger and no allowed lateness"
            )
        });
        assert!(
            self.late_tag.is_none(),
            "aggregate_local_global has no late-data side output: use aggregate"
        );
        let stream = self.keyed.stream();
        let timestamps = stream
            .timestamps()
            .expect("event-time windows have timestamps (checked by `new`)");
        let (key, local, grid) = (self.keyed.key().clone(), function.clone(), slicing.grid());
        let partials = stream
            .chained("window-local", move |id, next, builder| {
                let slices = LocalAggregate::<T, K, KF, A>::restored(&builder.context, id, &local);
                Box::new(LocalAggregate {
                    id,
                    key: key.clone(),
                    timestamp: timestamps.clone(),
                    grid,
                    function: local.clone(),
                    slices,
                    batch: builder.context.config.batch_size.max(1),
                    next,
                })
            })
            .event_time(|partial: &Partial<K, A::Acc>| partial.slice_start);
        partials
            .key_by(|partial: &Partial<K, A::Acc>| partial.key.clone())
            .window(self.assigner)
            .aggregate(MergePartials {
                function,
                records: PhantomData,
            })
    }

    /// Calls `function` with all of a window's records when it fires.
    pub fn process<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        T: StateData,
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

    /// Adds the window operator running `function`: the sliced one when the function is
    /// incremental and the windows [can be sliced](Self::slicing), else the general one.
    fn build<W>(&self, kind: &str, function: W) -> DataStream<W::Out>
    where
        W: WindowFunction<K, T> + Send + Sync,
        W::Acc: Clone + StateData,
        W::Out: Data,
    {
        let slicing = if W::SLICEABLE { self.slicing() } else { None };
        let stream = self.keyed.stream();
        let kind = match slicing {
            Some(_) => format!("{kind}-sliced"),
            None => kind.to_owned(),
        };
        let operator = stream.graph().borrow_mut().add_operator(&kind);
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
                let outputs = WindowOutputs {
                    late: LateRecords {
                        tag: late_tag.clone(),
                        metrics: builder.context.metrics.clone(),
                        shard: builder.shard(),
                    },
                    next: builder.output::<W::Out>(node),
                    side,
                    batch: builder.context.config.batch_size.max(1),
                };
                if let Some(slicing) = slicing {
                    return Box::new(SlicedWindowOperator {
                        id: operator,
                        key: key.clone(),
                        slicing,
                        timestamp: timestamps
                            .clone()
                            .expect("event-time windows have timestamps (checked by `new`)"),
                        function: function.clone(),
                        outputs,
                        state: SlicedState::restored(&builder.context, operator, || {
                            function.create()
                        }),
                    }) as BoxOutput<T>;
                }
                let window = Rc::new(RefCell::new(WindowOperator {
                    id: operator,
                    key: key.clone(),
                    assigner,
                    timestamp: timestamps.clone(),
                    function: function.clone(),
                    trigger: trigger.clone(),
                    allowed_lateness,
                    outputs,
                    state: WindowState::restored(&builder.context, operator),
                }));
                builder.add_processing_timers(window.clone());
                Box::new(Shared(window)) as BoxOutput<T>
            }
        })
    }
}
