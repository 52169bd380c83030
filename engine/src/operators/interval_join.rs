//! The interval join (Flink's `KeyedStream.intervalJoin`): a left record at time `t` joins
//! every right record of the same key at times `t + lower ..= t + upper`.
//!
//! Both sides are buffered per key, by time. A record is kept only while a future record of
//! the other side could still join it: future records are not late, so their times exceed
//! the watermark; a left record at `t` is dropped once the watermark reaches `t + upper`, a
//! right record at `t` once it reaches `t - lower`. Late records (at or below the watermark)
//! are dropped and counted, as in Flink.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::sync::Arc;

use hashbrown::HashMap;

use super::two_input::TwoInput;
use super::{enter, BoxOutput, OperatorId, TimestampFn};
use crate::checkpoint::restore::{owner, restored_parts};
use crate::checkpoint::StageSnapshot;
use crate::exchange::StableKey;
use crate::metrics::{JobMetrics, ShardCounters};
use crate::runtime::ShardContext;
use crate::state::StateData;
use crate::time::{TimerQueue, Timestamp};

/// One side's buffered records per key, by time.
struct Buffer<K, T> {
    records: HashMap<K, BTreeMap<Timestamp, Vec<T>>>,
    /// When each (key, time) may be dropped.
    expiry: TimerQueue<K>,
}

impl<K: Hash + Eq + Clone, T> Buffer<K, T> {
    fn new() -> Self {
        Self {
            records: HashMap::new(),
            expiry: TimerQueue::default(),
        }
    }

    fn insert(&mut self, key: &K, time: Timestamp, record: T, expires: Timestamp) {
        self.records
            .entry(key.clone())
            .or_default()
            .entry(time)
            .or_default()
            .push(record);
        self.expiry.register(key, expires);
    }

    /// Calls `each` with every record of `key` timed in `from..=to`.
    fn matching(
        &self,
        key: &K,
        from: Timestamp,
        to: Timestamp,
        mut each: impl FnMut(Timestamp, &T),
    ) {
        if from > to {
            return;
        }
        if let Some(by_time) = self.records.get(key) {
            for (time, records) in by_time.range(from..=to) {
                records.iter().for_each(|record| each(*time, record));
            }
        }
    }

    /// The buffer as a checkpoint holds it: records per key and time, and the expiry timers.
    fn saved(&self) -> SavedBuffer<&K, &T> {
        let records = self
            .records
            .iter()
            .map(|(key, by_time)| {
                let times = by_time
                    .iter()
                    .map(|(time, records)| (*time, records.iter().collect()))
                    .collect();
                (key, times)
            })
            .collect();
        (records, self.expiry.live())
    }

    /// Adds the owned keys of a saved buffer.
    fn restore(&mut self, (records, expiry): SavedBuffer<K, T>, owns: &impl Fn(&K) -> bool) {
        for (key, times) in records.into_iter().filter(|(key, _)| owns(key)) {
            self.records.insert(key, times.into_iter().collect());
        }
        for (time, key) in expiry.into_iter().filter(|(_, key)| owns(key)) {
            self.expiry.register(&key, time);
        }
    }

    /// Drops records whose expiry the watermark has reached; `age` maps an expiry back to
    /// the record time it was set for.
    fn expire(&mut self, watermark: Timestamp, age: impl Fn(Timestamp) -> Timestamp) {
        while let Some((expires, key)) = self.expiry.pop_due(watermark) {
            if let Some(by_time) = self.records.get_mut(&key) {
                by_time.remove(&age(expires));
                if by_time.is_empty() {
                    self.records.remove(&key);
                }
            }
        }
    }
}

/// A buffer as a checkpoint holds it: per key, its records by time; and the expiry timers.
type SavedBuffer<K, T> = (Vec<(K, Vec<(Timestamp, Vec<T>)>)>, Vec<(Timestamp, K)>);

/// An interval join's state as a checkpoint holds it: the watermark and both buffers.
type SavedJoin<K, A, B> = (Timestamp, SavedBuffer<K, A>, SavedBuffer<K, B>);

/// The interval join operator of one shard.
pub(crate) struct IntervalJoin<A, B, K, KA, KB, F, O> {
    pub(crate) id: OperatorId,
    pub(crate) left_key: KA,
    pub(crate) right_key: KB,
    pub(crate) left_time: TimestampFn<A>,
    pub(crate) right_time: TimestampFn<B>,
    pub(crate) lower: i64,
    pub(crate) upper: i64,
    pub(crate) function: F,
    pub(crate) next: BoxOutput<O>,
    pub(crate) metrics: Arc<JobMetrics>,
    pub(crate) shard: usize,
    left: Buffer<K, A>,
    right: Buffer<K, B>,
    watermark: Timestamp,
}

impl<A, B, K: Hash + Eq + Clone, KA, KB, F, O> IntervalJoin<A, B, K, KA, KB, F, O> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: OperatorId,
        keys: (KA, KB),
        times: (TimestampFn<A>, TimestampFn<B>),
        bounds: (i64, i64),
        function: F,
        next: BoxOutput<O>,
        metrics: Arc<JobMetrics>,
        shard: usize,
    ) -> Self {
        Self {
            id,
            left_key: keys.0,
            right_key: keys.1,
            left_time: times.0,
            right_time: times.1,
            lower: bounds.0,
            upper: bounds.1,
            function,
            next,
            metrics,
            shard,
            left: Buffer::new(),
            right: Buffer::new(),
            watermark: Timestamp::MIN,
        }
    }

    /// Restores the buffers of the keys this shard owns from the restored checkpoint (if
    /// any), and the least of the old shards' watermarks.
    pub(crate) fn restore(&mut self, context: &ShardContext)
    where
        K: StateData + StableKey,
        A: StateData,
        B: StateData,
    {
        let Some(parts) = restored_parts::<SavedJoin<K, A, B>>(context, self.id) else {
            return;
        };
        let owns = owner(context);
        self.watermark = parts
            .iter()
            .map(|part| part.0)
            .min()
            .unwrap_or(Timestamp::MIN);
        for (_, left, right) in parts {
            self.left.restore(left, &owns);
            self.right.restore(right, &owns);
        }
    }

    fn count_late(&self) {
        ShardCounters::add(&self.metrics.shard(self.shard).late_records, 1);
    }
}

impl<A, B, K, KA, KB, F, O> TwoInput<A, B> for IntervalJoin<A, B, K, KA, KB, F, O>
where
    K: StateData + Hash + Eq + Clone,
    A: StateData,
    B: StateData,
    KA: FnMut(&A) -> K,
    KB: FnMut(&B) -> K,
    F: FnMut(&A, &B) -> O,
{
    fn push_first(&mut self, batch: Vec<A>) {
        enter(self.id);
        let mut out = Vec::new();
        for record in batch {
            let time = (self.left_time)(&record);
            if time <= self.watermark {
                self.count_late();
                continue;
            }
            let key = (self.left_key)(&record);
            let function = &mut self.function;
            self.right.matching(
                &key,
                time.saturating_add(self.lower),
                time.saturating_add(self.upper),
                |_, right| out.push(function(&record, right)),
            );
            let expires = time.saturating_add(self.upper);
            self.left.insert(&key, time, record, expires);
        }
        if !out.is_empty() {
            self.next.push(out);
        }
    }

    fn push_second(&mut self, batch: Vec<B>) {
        enter(self.id);
        let mut out = Vec::new();
        for record in batch {
            let time = (self.right_time)(&record);
            if time <= self.watermark {
                self.count_late();
                continue;
            }
            let key = (self.right_key)(&record);
            let function = &mut self.function;
            self.left.matching(
                &key,
                time.saturating_sub(self.upper),
                time.saturating_sub(self.lower),
                |_, left| out.push(function(left, &record)),
            );
            let expires = time.saturating_sub(self.lower);
            self.right.insert(&key, time, record, expires);
        }
        if !out.is_empty() {
            self.next.push(out);
        }
    }

    fn watermark(&mut self, watermark: Timestamp) {
        self.watermark = watermark;
        let (lower, upper) = (self.lower, self.upper);
        self.left
            .expire(watermark, |expires| expires.saturating_sub(upper));
        self.right
            .expire(watermark, |expires| expires.saturating_add(lower));
        self.next.watermark(watermark);
    }

    fn end(&mut self) {
        self.next.end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        enter(self.id);
        let saved = (self.watermark, self.left.saved(), self.right.saved());
        snapshot.add(self.id.0, &saved);
        self.next.barrier(snapshot);
    }
}
