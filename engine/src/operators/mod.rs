//! Operators: what runs on each shard between a stage's input and its outputs.
//!
//! Operators are chained by pushing: each holds its downstream [`Output`] and hands it whole
//! batches. There is one virtual call per batch and operator; the per-record loops inside an
//! operator are monomorphic, so the compiler inlines the user's closures into them.

mod aggregate;
mod async_io;
pub mod cep;
mod interval_join;
mod process;
mod side_output;
mod stateless;
mod two_input;
pub mod window;

pub(crate) use aggregate::KeyedAggregate;
pub use aggregate::{AggregateFunction, Count, Max, Min, Reduce, Sum};
pub use async_io::{AsyncOptions, ResultOrder, TimeoutPolicy};
pub(crate) use interval_join::IntervalJoin;
pub use process::{
    Context, KeyedProcessFunction, ProcessFunction, TimeDomain, Timers, TimestampFn,
};
pub(crate) use process::{KeyedProcess, Process, ProcessCore};
pub use side_output::OutputTag;
pub(crate) use side_output::{SideBuffer, SideChannel, SideOutputs};
pub(crate) use stateless::{AssignWatermarks, FilterOp, FlatMapOp, MapOp};
pub(crate) use two_input::{
    BoxTwoInput, CoProcess, InputReaders, KeyedBroadcastProcess, KeyedCoProcess, TwoInput,
    BROADCAST_STATE,
};
pub use two_input::{CoProcessFunction, KeyedBroadcastProcessFunction, KeyedCoProcessFunction};

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::checkpoint::StageSnapshot;
use crate::time::Timestamp;

/// The downstream of an operator on one shard.
pub(crate) trait Output<T> {
    /// Takes a batch of records.
    fn push(&mut self, batch: Vec<T>);
    /// Takes a watermark, in order with the batches.
    fn watermark(&mut self, watermark: Timestamp);
    /// The input is over; flush whatever is held.
    fn end(&mut self);
    /// Checkpoint barrier: add this operator's state to `snapshot`, then pass the barrier on
    /// (after everything pushed before it).
    fn barrier(&mut self, snapshot: &mut StageSnapshot);
}

/// An operator with processing-time timers, which its stage fires as the clock passes them.
pub(crate) trait ProcessingTimers {
    /// The earliest processing-time timer.
    fn next_processing_time(&self) -> Option<Timestamp>;
    /// Fires the timers due at `now`.
    fn on_processing_time(&self, now: Timestamp);
}

/// What an operator with processing-time timers offers its stage; every such operator sits in
/// a `RefCell` shared by the stage's chain and the stage, which reaches it through
/// [`ProcessingTimers`].
pub(crate) trait ClockTimers {
    /// The earliest processing-time timer.
    fn next_processing_time(&self) -> Option<Timestamp>;
    /// Fires the timers due at `now`.
    fn on_processing_time(&mut self, now: Timestamp);
}

impl<Op: ClockTimers> ProcessingTimers for RefCell<Op> {
    fn next_processing_time(&self) -> Option<Timestamp> {
        self.borrow().next_processing_time()
    }

    fn on_processing_time(&self, now: Timestamp) {
        self.borrow_mut().on_processing_time(now);
    }
}

impl<T, K, KF, W, Tr> ClockTimers for window::WindowOperator<T, K, KF, W, Tr>
where
    T: Clone + 'static,
    K: std::hash::Hash + Eq + Clone,
    KF: FnMut(&T) -> K,
    W: window::WindowFunction<K, T>,
    Tr: window::Trigger<T>,
{
    fn next_processing_time(&self) -> Option<Timestamp> {
        window::WindowOperator::next_processing_time(self)
    }

    fn on_processing_time(&mut self, now: Timestamp) {
        window::WindowOperator::on_processing_time(self, now);
    }
}

/// A boxed downstream, as operators hold it.
pub(crate) type BoxOutput<T> = Box<dyn Output<T>>;

/// The index of an operator in its job, which names it in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct OperatorId(pub(crate) u32);

thread_local! {
    static CURRENT: Cell<Option<OperatorId>> = const { Cell::new(None) };
}

/// Marks `operator` as the one running user code on this thread, so that a panic in it can be
/// blamed on it. Costs one thread-local store per batch.
#[inline]
pub(crate) fn enter(operator: OperatorId) {
    CURRENT.with(|current| current.set(Some(operator)));
}

/// The operator that last [`enter`]ed on this thread.
pub(crate) fn current() -> Option<OperatorId> {
    CURRENT.with(Cell::get)
}

/// Sends every batch to several downstreams (a stream used more than once).
pub(crate) struct Tee<T> {
    pub(crate) outputs: Vec<BoxOutput<T>>,
}

impl<T: Clone> Output<T> for Tee<T> {
    fn push(&mut self, batch: Vec<T>) {
        if let Some((last, others)) = self.outputs.split_last_mut() {
            for output in others {
                output.push(batch.clone());
            }
            last.push(batch);
        }
    }

    fn watermark(&mut self, watermark: Timestamp) {
        for output in &mut self.outputs {
            output.watermark(watermark);
        }
    }

    fn end(&mut self) {
        for output in &mut self.outputs {
            output.end();
        }
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        for output in &mut self.outputs {
            output.barrier(snapshot);
        }
    }
}

/// The downstream of a stream nobody consumes.
pub(crate) struct Discard;

impl<T> Output<T> for Discard {
    fn push(&mut self, _batch: Vec<T>) {}
    fn watermark(&mut self, _watermark: Timestamp) {}
    fn end(&mut self) {}
    fn barrier(&mut self, _snapshot: &mut StageSnapshot) {}
}

impl<A, B, Op: TwoInput<A, B>> TwoInput<A, B> for Shared<Op> {
    fn push_first(&mut self, batch: Vec<A>) {
        self.0.borrow_mut().push_first(batch);
    }

    fn push_second(&mut self, batch: Vec<B>) {
        self.0.borrow_mut().push_second(batch);
    }

    fn watermark(&mut self, watermark: Timestamp) {
        TwoInput::watermark(&mut *self.0.borrow_mut(), watermark);
    }

    fn end(&mut self) {
        TwoInput::end(&mut *self.0.borrow_mut());
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        TwoInput::barrier(&mut *self.0.borrow_mut(), snapshot);
    }
}

/// Lets both the stage's chain and the stage itself (for processing-time timers) reach one
/// operator on the shard.
pub(crate) struct Shared<Op>(pub(crate) Rc<RefCell<Op>>);

impl<T, Op: Output<T>> Output<T> for Shared<Op> {
    fn push(&mut self, batch: Vec<T>) {
        self.0.borrow_mut().push(batch);
    }

    fn watermark(&mut self, watermark: Timestamp) {
        self.0.borrow_mut().watermark(watermark);
    }

    fn end(&mut self) {
        self.0.borrow_mut().end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        self.0.borrow_mut().barrier(snapshot);
    }
}
