//! The join q3 and q20 share: many "fact" records per key (auctions by seller, bids by
//! auction) with the one "dimension" record of their key (the seller, the auction), on a
//! connected keyed stream.
//!
//! It is a regular (unwindowed) join, exact for any arrival order: a fact that comes before
//! its dimension waits in keyed state, and a dimension that does not pass the query's filter
//! is remembered as a tombstone so that its later facts are dropped at once instead of
//! waiting forever. State: one entry per dimension key seen (the dimension record, or the
//! tombstone) and the facts still waiting for theirs.

use std::sync::Arc;

use tidewater::operators::{Context, KeyedCoProcessFunction};
use tidewater::state::{KeyedStates, StateData};
use tidewater::state::{ListState, ValueState};
use tidewater::{Data, DataStream};

use super::newest;
use crate::nexmark::source::Stamped;

/// Builds a result row from a dimension record and one of its facts.
pub type JoinFn<D, F, O> = Arc<dyn Fn(&D, &F) -> O + Send + Sync>;

/// A dimension record with its key, or `None` for one the query's filter dropped.
pub type KeyedDimension<D> = Stamped<(i64, Option<D>)>;

/// The keyed co-process function of the join (first input: dimensions; second input: facts).
pub struct LookupJoin<D, F, O> {
    dimensions: ValueState<i64, Option<D>>,
    waiting: ListState<i64, Stamped<F>>,
    join: JoinFn<D, F, O>,
}

impl<D: Clone, F: Clone, O> Clone for LookupJoin<D, F, O> {
    fn clone(&self) -> Self {
        Self {
            dimensions: self.dimensions.clone(),
            waiting: self.waiting.clone(),
            join: self.join.clone(),
        }
    }
}

impl<D, F, O> KeyedCoProcessFunction<i64, KeyedDimension<D>, Stamped<F>, Stamped<O>>
    for LookupJoin<D, F, O>
where
    D: Data + Sync + StateData,
    F: Data + Sync + StateData,
    O: Data,
{
    fn states(&mut self, states: &mut KeyedStates<'_, i64>) {
        states.register("dimensions", &mut self.dimensions);
        states.register("waiting", &mut self.waiting);
    }

    fn process_first(
        &mut self,
        dimension: KeyedDimension<D>,
        ctx: &mut Context<'_, i64, Stamped<O>>,
    ) {
        let (born_ns, (_, dimension)) = (dimension.born_ns, dimension.value);
        let waiting = self.waiting.get(&*ctx).to_vec();
        if !waiting.is_empty() {
            self.waiting.update(&*ctx, Vec::new());
        }
        if let Some(value) = &dimension {
            for fact in waiting {
                ctx.emit(Stamped {
                    value: (self.join)(value, &fact.value),
                    born_ns: newest(born_ns, fact.born_ns),
                    seq: fact.seq,
                });
            }
        }
        self.dimensions.update(&*ctx, dimension);
    }

    fn process_second(&mut self, fact: Stamped<F>, ctx: &mut Context<'_, i64, Stamped<O>>) {
        match self.dimensions.value(&*ctx) {
            Some(Some(dimension)) => {
                let row = fact.map(|value| (self.join)(dimension, &value));
                ctx.emit(row);
            }
            Some(None) => {}
            None => self.waiting.add(&*ctx, fact),
        }
    }
}

/// Joins `facts` with `dimensions` on `fact_key(fact) == dimension_key(dimension)`, for the
/// dimensions `keep` accepts, emitting `join(dimension, fact)` for every pair.
pub fn lookup_join<D, F, O>(
    dimensions: &DataStream<Stamped<D>>,
    dimension_key: fn(&D) -> i64,
    keep: fn(&D) -> bool,
    facts: &DataStream<Stamped<F>>,
    fact_key: fn(&F) -> i64,
    join: impl Fn(&D, &F) -> O + Send + Sync + 'static,
) -> DataStream<Stamped<O>>
where
    D: Data + Sync + StateData,
    F: Data + Sync + StateData,
    O: Data,
{
    let dimensions = dimensions.map(move |dimension: Stamped<D>| {
        let key = dimension_key(&dimension.value);
        dimension.map(|value| (key, keep(&value).then_some(value)))
    });
    dimensions
        .connect(facts)
        .key_by(
            |dimension: &KeyedDimension<D>| dimension.value.0,
            move |fact: &Stamped<F>| fact_key(&fact.value),
        )
        .process(LookupJoin {
            dimensions: ValueState::new(),
            waiting: ListState::new(),
            join: Arc::new(join),
        })
}
