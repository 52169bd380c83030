//! What a window computes: incremental (reduce, aggregate) or over all its records (process).

use super::assigner::TimeWindow;
use crate::operators::AggregateFunction;

/// One window's result for one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Windowed<K, V> {
    /// The key.
    pub key: K,
    /// The window.
    pub window: TimeWindow,
    /// The result.
    pub value: V,
}

/// A function over all the records of a window (Flink's `ProcessWindowFunction`). Closures
/// `FnMut(&K, &TimeWindow, &[T], &mut Vec<O>)` implement it.
pub trait ProcessWindowFunction<K, T, O>: Clone + Send + Sync + 'static {
    /// Emits the results of `window` for `key` into `out`.
    fn process(&mut self, key: &K, window: &TimeWindow, records: &[T], out: &mut Vec<O>);
}

impl<K, T, O, F> ProcessWindowFunction<K, T, O> for F
where
    F: FnMut(&K, &TimeWindow, &[T], &mut Vec<O>) + Clone + Send + Sync + 'static,
{
    fn process(&mut self, key: &K, window: &TimeWindow, records: &[T], out: &mut Vec<O>) {
        self(key, window, records, out)
    }
}

/// The window operator's view of reduce, aggregate and process alike: an accumulator per
/// (key, window) that records fold into, windows merge, and firing reads.
pub(crate) trait WindowFunction<K, T>: Clone + 'static {
    /// What a window (or a slice of one) holds for a key.
    type Acc;
    /// What firing a window emits.
    type Out;
    /// Whether a window's result may be computed by merging the accumulators of its slices
    /// in time order rather than adding its records in arrival order, as the sliced operator
    /// does. True for `reduce` and `aggregate`, whose results must not depend on the order
    /// of records (input out of order and several shards reorder them anyway); false for
    /// `process`, which hands its function the records in arrival order.
    const SLICEABLE: bool;
    /// An empty accumulator.
    fn create(&self) -> Self::Acc;
    /// Folds one record in.
    fn add(&self, acc: &mut Self::Acc, record: T);
    /// Folds `other` (of merged sessions, or of a window's slices) into `acc`.
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
    /// Emits the result of `window` for `key` into `out`.
    fn emit(&mut self, key: &K, window: &TimeWindow, acc: &Self::Acc, out: &mut Vec<Self::Out>);
}

/// `reduce`: the accumulator is the combined record.
#[derive(Clone)]
pub(crate) struct ReduceWindow<F>(pub(crate) F);

impl<K: Clone + 'static, T: Clone + 'static, F> WindowFunction<K, T> for ReduceWindow<F>
where
    F: Fn(T, T) -> T + Clone + 'static,
{
    type Acc = Option<T>;
    type Out = Windowed<K, T>;
    const SLICEABLE: bool = true;

    fn create(&self) -> Option<T> {
        None
    }

    fn add(&self, acc: &mut Option<T>, record: T) {
        *acc = Some(match acc.take() {
            Some(current) => (self.0)(current, record),
            None => record,
        });
    }

    fn merge(&self, acc: &mut Option<T>, other: Option<T>) {
        if let Some(other) = other {
            <Self as WindowFunction<K, T>>::add(self, acc, other);
        }
    }

    fn emit(&mut self, key: &K, window: &TimeWindow, acc: &Option<T>, out: &mut Vec<Self::Out>) {
        if let Some(value) = acc {
            out.push(Windowed {
                key: key.clone(),
                window: *window,
                value: value.clone(),
            });
        }
    }
}

/// `aggregate`: an [`AggregateFunction`]'s accumulator.
#[derive(Clone)]
pub(crate) struct AggregateWindow<A>(pub(crate) A);

impl<K: Clone + 'static, T, A: AggregateFunction<T>> WindowFunction<K, T> for AggregateWindow<A> {
    type Acc = A::Acc;
    type Out = Windowed<K, A::Out>;
    const SLICEABLE: bool = true;

    fn create(&self) -> A::Acc {
        self.0.create()
    }

    fn add(&self, acc: &mut A::Acc, record: T) {
        self.0.add(acc, record);
    }

    fn merge(&self, acc: &mut A::Acc, other: A::Acc) {
        self.0.merge(acc, other);
    }

    fn emit(&mut self, key: &K, window: &TimeWindow, acc: &A::Acc, out: &mut Vec<Self::Out>) {
        out.push(Windowed {
            key: key.clone(),
            window: *window,
            value: self.0.result(acc),
        });
    }
}

/// `process`: the accumulator is every record, in arrival order.
pub(crate) struct ProcessWindow<F, O> {
    pub(crate) function: F,
    pub(crate) output: std::marker::PhantomData<fn() -> O>,
}

impl<F: Clone, O> Clone for ProcessWindow<F, O> {
    fn clone(&self) -> Self {
        Self {
            function: self.function.clone(),
            output: std::marker::PhantomData,
        }
    }
}

impl<K: 'static, T: 'static, O: 'static, F> WindowFunction<K, T> for ProcessWindow<F, O>
where
    F: ProcessWindowFunction<K, T, O>,
{
    type Acc = Vec<T>;
    type Out = O;
    const SLICEABLE: bool = false;

    fn create(&self) -> Vec<T> {
        Vec::new()
    }

    fn add(&self, acc: &mut Vec<T>, record: T) {
        acc.push(record);
    }

    fn merge(&self, acc: &mut Vec<T>, mut other: Vec<T>) {
        acc.append(&mut other);
    }

    fn emit(&mut self, key: &K, window: &TimeWindow, acc: &Vec<T>, out: &mut Vec<O>) {
        self.function.process(key, window, acc, out);
    }
}
