//! [`AggregatingState`]: records folded into an accumulator per key (Flink's
//! `AggregatingState`).

use std::hash::Hash;
use std::marker::PhantomData;

use super::ttl::{stamped_state_methods, StampedStore};
use super::KeyScope;
use crate::operators::AggregateFunction;

/// Records of type `T` folded by an [`AggregateFunction`] into one accumulator per key, as
/// Flink's `AggregatingState`; [`get`](Self::get) gives the function's result.
///
/// ```
/// use tidewater::operators::Count;
/// use tidewater::state::{AggregatingState, FixedScope};
///
/// let mut seen = AggregatingState::<u32, &str, _>::new(Count);
/// let scope = FixedScope::new(&1, 0);
/// seen.add(&scope, "a");
/// seen.add(&scope, "b");
/// assert_eq!(seen.get(&scope), Some(2));
/// ```
pub struct AggregatingState<K, T, A: AggregateFunction<T>> {
    pub(super) entries: StampedStore<K, A::Acc>,
    function: A,
    records: PhantomData<fn(T)>,
}

// By hand: a derive would ask `T: Clone`, though no `T` is stored.
impl<K: Clone, T, A: AggregateFunction<T>> Clone for AggregatingState<K, T, A>
where
    A::Acc: Clone,
{
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
            function: self.function.clone(),
            records: PhantomData,
        }
    }
}

impl<K: Hash + Eq + Clone, T, A: AggregateFunction<T>> AggregatingState<K, T, A> {
    /// Empty state that aggregates with `function`; accumulators never expire.
    pub fn new(function: A) -> Self {
        Self {
            entries: StampedStore::default(),
            function,
            records: PhantomData,
        }
    }

    stamped_state_methods!("accumulator");

    /// Folds `record` into the current key's accumulator (an expired one is started over).
    pub fn add(&mut self, scope: &impl KeyScope<K>, record: T) {
        let acc = self.entries.write(scope, || self.function.create());
        self.function.add(acc, record);
    }

    /// The result for the current key, if any record was added.
    pub fn get(&mut self, scope: &impl KeyScope<K>) -> Option<A::Out> {
        let acc = self.entries.read(scope)?;
        Some(self.function.result(acc))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::operators::{Max, Sum};
    use crate::state::{FixedScope, StateTtl, TtlUpdate};

    /// The mean of the records, as Flink's `AggregateFunction` documentation example.
    #[derive(Clone)]
    struct Mean;

    impl AggregateFunction<f64> for Mean {
        type Acc = (f64, u32);
        type Out = f64;

        fn create(&self) -> (f64, u32) {
            (0.0, 0)
        }

        fn add(&self, acc: &mut (f64, u32), record: f64) {
            acc.0 += record;
            acc.1 += 1;
        }

        fn result(&self, acc: &(f64, u32)) -> f64 {
            acc.0 / f64::from(acc.1)
        }

        fn merge(&self, acc: &mut (f64, u32), other: (f64, u32)) {
            acc.0 += other.0;
            acc.1 += other.1;
        }
    }

    #[test]
    fn aggregates_per_key_through_the_accumulator() {
        let mut means = AggregatingState::<char, f64, _>::new(Mean);
        for (key, x) in [('a', 1.0), ('b', 10.0), ('a', 2.0), ('a', 6.0)] {
            means.add(&FixedScope::new(&key, 0), x);
        }
        assert_eq!(means.get(&FixedScope::new(&'a', 0)), Some(3.0));
        assert_eq!(means.get(&FixedScope::new(&'b', 0)), Some(10.0));
        assert_eq!(means.get(&FixedScope::new(&'c', 0)), None);
        means.clear(&FixedScope::new(&'a', 0));
        assert_eq!(means.get(&FixedScope::new(&'a', 0)), None);
        assert_eq!(means.len_keys(), 1);
    }

    #[test]
    fn works_with_the_built_in_functions() {
        let mut sums = AggregatingState::<u8, (u8, u32), _>::new(Sum(|r: &(u8, u32)| r.1));
        let mut maxima = AggregatingState::<u8, u32, _>::new(Max(|r: &u32| *r));
        let scope = FixedScope::new(&0, 0);
        for r in [4, 9, 2] {
            sums.add(&scope, (0, r));
            maxima.add(&scope, r);
        }
        assert_eq!(sums.get(&scope), Some(15));
        assert_eq!(maxima.clone().get(&scope), Some(9));
    }

    #[test]
    fn reading_keeps_the_accumulator_alive_only_when_configured() {
        let ttl = StateTtl::new(Duration::from_millis(100));
        let mut by_write = AggregatingState::<u8, f64, _>::new(Mean).with_ttl(ttl);
        let mut by_read = by_write
            .clone()
            .with_ttl(ttl.update_on(TtlUpdate::OnReadAndWrite));
        for state in [&mut by_write, &mut by_read] {
            state.add(&FixedScope::new(&1, 0), 4.0);
            assert_eq!(state.get(&FixedScope::new(&1, 99)), Some(4.0));
        }
        assert_eq!(by_write.get(&FixedScope::new(&1, 150)), None);
        assert_eq!(by_read.get(&FixedScope::new(&1, 150)), Some(4.0));
    }
}
