//! Watermark alignment across shards (Flink's `withWatermarkAlignment`, FLIP-182).
//!
//! Each shard's source reads at its own pace. When one shard runs ahead of another in event
//! time, every operator downstream that waits for the watermark (windows, joins, timers)
//! holds the fast shard's records until the slow shard catches up, and when the gap keeps
//! widening (one shard a little slower than the other, for the whole run) that state grows
//! without bound. With alignment on ([`JobConfig::watermark_alignment`]), every
//! `assign_timestamps` operator publishes its shard's watermark here, and a source stage
//! whose watermark is more than the allowed drift ahead of the slowest shard's stops reading
//! until the others catch up (it still ships, checkpoints and fires timers meanwhile). A
//! shard whose source is idle, or has ended, does not hold the others back.
//!
//! [`JobConfig::watermark_alignment`]: crate::JobConfig::watermark_alignment

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::operators::OperatorId;
use crate::time::Timestamp;

/// The published watermark of every shard of every operator of a job, and the drift allowed.
pub(crate) struct WatermarkAlignment {
    /// How far (ms) a shard's watermark may run ahead of the slowest shard's.
    max_drift: i64,
    /// The number of shards.
    shards: usize,
    /// Per operator, per shard: its watermark ([`Timestamp::MIN`] before the first,
    /// [`Timestamp::MAX`] once idle or ended).
    watermarks: Box<[CachePadded<AtomicI64>]>,
}

impl WatermarkAlignment {
    /// A table for `operators` operators on `shards` shards, allowing `max_drift` ms.
    pub(crate) fn new(max_drift: i64, operators: usize, shards: usize) -> Arc<Self> {
        Arc::new(Self {
            max_drift,
            shards,
            watermarks: (0..operators * shards)
                .map(|_| CachePadded::new(AtomicI64::new(Timestamp::MIN)))
                .collect(),
        })
    }

    /// The place of `operator` on `shard`.
    pub(crate) fn slot(self: &Arc<Self>, operator: OperatorId, shard: usize) -> AlignmentSlot {
        AlignmentSlot {
            table: self.clone(),
            first: operator.0 as usize * self.shards,
            shard,
        }
    }
}

/// One shard's place among an operator's shards.
pub(crate) struct AlignmentSlot {
    table: Arc<WatermarkAlignment>,
    /// Where the operator's shards start in the table.
    first: usize,
    /// This shard.
    shard: usize,
}

impl AlignmentSlot {
    /// This operator's shards, in the table.
    fn shards(&self) -> &[CachePadded<AtomicI64>] {
        &self.table.watermarks[self.first..self.first + self.table.shards]
    }

    /// Publishes this shard's watermark.
    pub(crate) fn publish(&self, watermark: Timestamp) {
        self.shards()[self.shard].store(watermark, Ordering::Relaxed);
    }

    /// Says this shard holds no one back: its source is idle or over.
    pub(crate) fn release(&self) {
        self.publish(Timestamp::MAX);
    }

    /// Whether this shard's watermark is more than the allowed drift ahead of the slowest
    /// shard's. A released shard is never ahead: an idle source that gets records again
    /// reads them, and its next batch publishes its watermark.
    pub(crate) fn ahead(&self) -> bool {
        let shards = self.shards();
        let mine = shards[self.shard].load(Ordering::Relaxed);
        if mine == Timestamp::MAX {
            return false;
        }
        let slowest = shards
            .iter()
            .map(|watermark| watermark.load(Ordering::Relaxed))
            .min()
            .unwrap_or(Timestamp::MAX);
        mine > slowest.saturating_add(self.table.max_drift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_ahead_only_beyond_the_drift_of_the_slowest_busy_one() {
        let table = WatermarkAlignment::new(100, 2, 3);
        let slots: Vec<_> = (0..3)
            .map(|shard| table.slot(OperatorId(1), shard))
            .collect();
        let other_operator = table.slot(OperatorId(0), 0);
        // Nobody has a watermark yet: whoever publishes first waits for the others.
        slots[0].publish(1_000);
        assert!(slots[0].ahead());
        slots[1].publish(950);
        slots[2].publish(900);
        assert!(!slots[0].ahead(), "100 ms ahead is allowed");
        slots[0].publish(1_001);
        assert!(slots[0].ahead());
        assert!(!slots[1].ahead() && !slots[2].ahead());
        // An idle or finished shard holds no one back, and may read again at once.
        slots[2].release();
        slots[0].publish(5_000);
        slots[1].publish(5_000);
        assert!(!slots[0].ahead());
        assert!(!other_operator.ahead() && !slots[2].ahead());
        other_operator.publish(5_000);
        assert!(
            other_operator.ahead(),
            "the other operator's shards have no watermark"
        );
        assert!(!slots[0].ahead(), "operators are aligned separately");
    }
}
