//! Timers: per key and timestamp, deduplicated, fired in timestamp order.
//!
//! A keyed operator holds two queues, one for event time (fired as the watermark passes them)
//! and one for processing time (fired by the shard's clock). Registering the same (key, time)
//! twice yields one timer, as in Flink. Deleting is lazy: the entry stays in the time index and
//! is skipped when its turn comes.

use std::collections::{BTreeMap, VecDeque};
use std::hash::Hash;

use hashbrown::HashSet;

use super::Timestamp;

/// The timers of one operator on one shard, in one time domain.
#[derive(Debug, Clone)]
pub struct TimerQueue<K> {
    by_time: BTreeMap<Timestamp, VecDeque<K>>,
    live: HashSet<(K, Timestamp)>,
}

impl<K> Default for TimerQueue<K> {
    fn default() -> Self {
        Self {
            by_time: BTreeMap::new(),
            live: HashSet::default(),
        }
    }
}

impl<K: Hash + Eq + Clone> TimerQueue<K> {
    /// Registers a timer for `key` at `time`; a second registration of the same pair is a
    /// no-op.
    pub fn register(&mut self, key: &K, time: Timestamp) {
        if self.live.insert((key.clone(), time)) {
            self.by_time.entry(time).or_default().push_back(key.clone());
        }
    }

    /// Deletes the timer for `key` at `time`, if there is one.
    pub fn delete(&mut self, key: &K, time: Timestamp) {
        self.live.remove(&(key.clone(), time));
    }

    /// Removes and returns the earliest live timer at or before `limit`.
    pub fn pop_due(&mut self, limit: Timestamp) -> Option<(Timestamp, K)> {
        loop {
            let mut earliest = self.by_time.first_entry()?;
            let time = *earliest.key();
            if time > limit {
                return None;
            }
            match earliest.get_mut().pop_front() {
                None => {
                    earliest.remove();
                }
                Some(key) => {
                    if self.live.remove(&(key.clone(), time)) {
                        return Some((time, key));
                    }
                }
            }
        }
    }

    /// The time of the earliest timer (possibly a deleted one, which costs a spurious look).
    pub fn next_time(&self) -> Option<Timestamp> {
        self.by_time.keys().next().copied()
    }

    /// Every live timer, in the order they would fire (for a checkpoint).
    pub fn live(&self) -> Vec<(Timestamp, &K)> {
        let mut seen = HashSet::with_capacity(self.live.len());
        let mut timers = Vec::with_capacity(self.live.len());
        for (&time, keys) in &self.by_time {
            for key in keys {
                // A timer deleted and registered again sits in its bucket twice.
                if self.live.contains(&(key.clone(), time)) && seen.insert((key, time)) {
                    timers.push((time, key));
                }
            }
        }
        timers
    }

    /// The number of live timers.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no timer is live.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

/// Timers by time without deduplication or deletion, for callers that track which timers
/// are live themselves (the window operator does, per window) and skip stale ones when they
/// come due. Registering is a push onto the time's bucket: no hashing.
#[derive(Debug, Clone)]
pub struct TimeIndex<K> {
    by_time: BTreeMap<Timestamp, Vec<K>>,
}

impl<K> Default for TimeIndex<K> {
    fn default() -> Self {
        Self {
            by_time: BTreeMap::new(),
        }
    }
}

impl<K> TimeIndex<K> {
    /// Adds a timer for `key` at `time`.
    pub fn push(&mut self, time: Timestamp, key: K) {
        self.by_time.entry(time).or_default().push(key);
    }

    /// Removes and returns the earliest bucket of timers at or before `limit`.
    pub fn pop_due(&mut self, limit: Timestamp) -> Option<(Timestamp, Vec<K>)> {
        let earliest = self.by_time.first_entry()?;
        (*earliest.key() <= limit).then(|| {
            let time = *earliest.key();
            (time, earliest.remove())
        })
    }

    /// The time of the earliest timer (possibly a stale one).
    pub fn next_time(&self) -> Option<Timestamp> {
        self.by_time.keys().next().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_time_order_once_and_not_before_the_limit() {
        let mut timers = TimerQueue::default();
        timers.register(&"b", 20);
        timers.register(&"a", 10);
        timers.register(&"a", 10);
        timers.register(&"c", 10);
        timers.register(&"a", 30);
        assert_eq!(timers.len(), 4);
        assert_eq!(timers.next_time(), Some(10));
        assert_eq!(timers.pop_due(9), None);
        assert_eq!(timers.pop_due(20), Some((10, "a")));
        assert_eq!(timers.pop_due(20), Some((10, "c")));
        assert_eq!(timers.pop_due(20), Some((20, "b")));
        assert_eq!(timers.pop_due(20), None);
        assert_eq!(timers.pop_due(i64::MAX), Some((30, "a")));
        assert!(timers.is_empty());
    }

    #[test]
    fn the_index_hands_out_buckets_in_time_order() {
        let mut index = TimeIndex::default();
        index.push(20, "b");
        index.push(10, "a");
        index.push(10, "c");
        assert_eq!(index.next_time(), Some(10));
        assert_eq!(index.pop_due(5), None);
        assert_eq!(index.pop_due(30), Some((10, vec!["a", "c"])));
        assert_eq!(index.pop_due(30), Some((20, vec!["b"])));
        assert_eq!(index.pop_due(30), None);
    }

    #[test]
    fn deleted_timers_do_not_fire() {
        let mut timers = TimerQueue::default();
        timers.register(&1u32, 5);
        timers.register(&2u32, 5);
        timers.delete(&1, 5);
        timers.delete(&3, 5);
        assert_eq!(timers.pop_due(10), Some((5, 2)));
        assert_eq!(timers.pop_due(10), None);
        // A deleted timer can be registered again.
        timers.register(&1, 5);
        assert_eq!(timers.pop_due(10), Some((5, 1)));
    }
}
