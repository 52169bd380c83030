//! Record-at-a-time operators without state: map, filter, flat_map, and the watermark
//! assigner. They are chained into their stage's loop.

use std::rc::Rc;

use super::{enter, BoxOutput, OperatorId, Output};
use crate::checkpoint::StageSnapshot;
use crate::runtime::AlignmentSlot;
use crate::time::{BoundedOutOfOrderness, Timestamp};

/// `map`: one output per input.
pub(crate) struct MapOp<F, U> {
    pub(crate) id: OperatorId,
    pub(crate) f: F,
    pub(crate) next: BoxOutput<U>,
}

impl<T, U, F: FnMut(T) -> U> Output<T> for MapOp<F, U> {
    #[inline]
    fn push(&mut self, batch: Vec<T>) {
        enter(self.id);
        // `into_iter().map().collect()` reuses the batch's allocation when `U` fits in `T`.
        // (A closure calling `f`, not `&mut f`, whose forwarding `call_mut` copies records.)
        let f = &mut self.f;
        #[allow(clippy::redundant_closure)]
        let mapped: Vec<U> = batch.into_iter().map(|record| f(record)).collect();
        self.next.push(mapped);
    }

    fn watermark(&mut self, watermark: Timestamp) {
        self.next.watermark(watermark);
    }

    fn end(&mut self) {
        self.next.end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        self.next.barrier(snapshot);
    }
}

/// `filter`: keeps the records the predicate accepts.
pub(crate) struct FilterOp<F, T> {
    pub(crate) id: OperatorId,
    pub(crate) f: F,
    pub(crate) next: BoxOutput<T>,
}

impl<T, F: FnMut(&T) -> bool> Output<T> for FilterOp<F, T> {
    #[inline]
    fn push(&mut self, mut batch: Vec<T>) {
        enter(self.id);
        batch.retain(|record| (self.f)(record));
        if !batch.is_empty() {
            self.next.push(batch);
        }
    }

    fn watermark(&mut self, watermark: Timestamp) {
        self.next.watermark(watermark);
    }

    fn end(&mut self) {
        self.next.end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        self.next.barrier(snapshot);
    }
}

/// `flat_map`: any number of outputs per input.
pub(crate) struct FlatMapOp<F, U> {
    pub(crate) id: OperatorId,
    pub(crate) f: F,
    pub(crate) next: BoxOutput<U>,
}

impl<T, U, I, F> Output<T> for FlatMapOp<F, U>
where
    I: IntoIterator<Item = U>,
    F: FnMut(T) -> I,
{
    #[inline]
    fn push(&mut self, batch: Vec<T>) {
        enter(self.id);
        let mut out = Vec::with_capacity(batch.len());
        for record in batch {
            out.extend((self.f)(record));
        }
        if !out.is_empty() {
            self.next.push(out);
        }
    }

    fn watermark(&mut self, watermark: Timestamp) {
        self.next.watermark(watermark);
    }

    fn end(&mut self) {
        self.next.end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        self.next.barrier(snapshot);
    }
}

/// Reads each record's event time and emits a bounded-out-of-orderness watermark after every
/// batch in which it advanced. Upstream watermarks are replaced by its own. With watermark
/// alignment, it publishes the shard's watermark after every batch, and that it holds no one
/// back once its input is over.
pub(crate) struct AssignWatermarks<F, T> {
    pub(crate) id: OperatorId,
    pub(crate) timestamp: F,
    pub(crate) strategy: BoundedOutOfOrderness,
    pub(crate) emitted: Timestamp,
    pub(crate) alignment: Option<Rc<AlignmentSlot>>,
    pub(crate) next: BoxOutput<T>,
}

impl<T, F: FnMut(&T) -> Timestamp> Output<T> for AssignWatermarks<F, T> {
    fn push(&mut self, batch: Vec<T>) {
        enter(self.id);
        for record in &batch {
            self.strategy.observe((self.timestamp)(record));
        }
        self.next.push(batch);
        let watermark = self.strategy.watermark();
        if let Some(slot) = &self.alignment {
            slot.publish(watermark);
        }
        if watermark > self.emitted {
            self.emitted = watermark;
            self.next.watermark(watermark);
        }
    }

    fn watermark(&mut self, _watermark: Timestamp) {}

    fn end(&mut self) {
        if let Some(slot) = &self.alignment {
            slot.release();
        }
        self.next.end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        self.next.barrier(snapshot);
    }
}
