//! The event-time workloads shared by every engine: when each event happened, which keys the
//! session job's events belong to, and the payments that follow the interval join's orders.
//!
//! # The clock
//!
//! An event's time follows from its position in its shard's part of the generator split:
//! position `p` happens at `p * shards / 100` ms ([`EventClock`]). Event time thus advances on
//! every shard together, at [`EVENTS_PER_MS`] events per millisecond (100 000 events per
//! second of event time) over the whole job, and is monotone within each shard, so a
//! watermark with no out-of-orderness bound keeps every event on time.
//!
//! Deriving it from the global index (`i / 100` ms) would not do: the split is contiguous, so
//! with two shards the second would start half the run's event time ahead of the first
//! (25 s for 5 M events). An operator's watermark is the minimum over its inputs, so every
//! window of the second half would wait, state held, for the first shard to finish: the
//! latency measured would be the split's artefact. Sources read in parallel (the partitions
//! of a Kafka topic) advance together, which is what this clock models. The price is that
//! the times, and so the results, depend on the shard count as well as on `--events` and
//! `--keys`: compare engines with the same three.

use crate::workload::{below, splitmix64};

/// Events per millisecond of event time, over all shards.
pub const EVENTS_PER_MS: u64 = 100;

/// One event of the event-time jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Timed {
    /// The key (the session job's bursty key, the join's order id).
    pub key: u64,
    /// The event time in milliseconds from the start of the run's event time.
    pub time_ms: u64,
    /// Nanoseconds since the process clock's start when the source made the event, or 0 if
    /// the event is not sampled for latency.
    pub born_ns: u64,
}

/// Event time from an event's position in its shard's part of the split (see the module
/// docs).
#[derive(Debug, Clone, Copy)]
pub struct EventClock {
    shards: u64,
}

impl EventClock {
    /// The clock of a run on `shards` shards.
    pub fn new(shards: usize) -> Self {
        Self {
            shards: shards.max(1) as u64,
        }
    }

    /// The time in ms of the event at `position` (from 0) in its shard's part.
    #[inline]
    pub fn time_ms(&self, position: u64) -> u64 {
        position * self.shards / EVENTS_PER_MS
    }
}

/// How long each key's activity cycle is: it is active for [`BURST_MS`] of every
/// `CYCLE_MS`, and idle (longer than any session gap) for the rest.
pub const CYCLE_MS: u64 = 10_000;

/// How long each key's burst of activity lasts, once per [`CYCLE_MS`].
pub const BURST_MS: u64 = 2_000;

/// Keys for the session job: each key is active in a burst of [`BURST_MS`] once every
/// [`CYCLE_MS`], the keys' bursts staggered evenly over the cycle (key `k` starts its burst
/// at `k * CYCLE_MS / keys` in each cycle). An event at time `t` goes to one of the
/// `keys * BURST_MS / CYCLE_MS` keys active at `t`, chosen by a hash of its index.
///
/// Within a burst a key's events come at random (a hash per event), 100 per ms shared by the
/// active keys: with 100 000 keys, 20 000 are active, so each sees one event per ~200 ms and
/// about 10 per burst. With a session gap of 500 ms, most bursts make one session, grown and
/// merged record by record, and some split where a key happens to be quiet for more than the
/// gap; consecutive bursts of a key (8 s apart) never merge. Records of a key reach its
/// window operator from every shard's source, interleaved in arrival order, so a record can
/// also arrive after later ones and bridge two sessions into one.
#[derive(Debug, Clone, Copy)]
pub struct Bursts {
    keys: u64,
    active: u64,
}

impl Bursts {
    /// Bursts over `keys` keys.
    pub fn new(keys: u64) -> Self {
        let keys = keys.max(1);
        Self {
            keys,
            active: (keys * BURST_MS / CYCLE_MS).max(1),
        }
    }

    /// The key of event `index`, at `time_ms`: one of the keys whose burst covers the time.
    #[inline]
    pub fn key(&self, time_ms: u64, index: u64) -> u64 {
        // The key whose burst began last (at or before `time_ms`), and how far back from it
        // this event's key is among the active ones.
        let newest = (time_ms % CYCLE_MS) * self.keys / CYCLE_MS;
        let back = below(splitmix64(index ^ BURST_SALT), self.active);
        let key = newest + self.keys - back;
        if key >= self.keys {
            key - self.keys
        } else {
            key
        }
    }
}

/// Salts the hash of the index for the burst key, independent of the workload's own hash.
const BURST_SALT: u64 = 0x6275_7273_7473_0001;

/// Payments come at most this long after their order (exclusive): the delay is in
/// `0..MAX_PAYMENT_DELAY_MS`.
pub const MAX_PAYMENT_DELAY_MS: u64 = 2_000;

/// Salts the hash of the index for the payment delay.
const PAYMENT_SALT: u64 = 0x7061_796d_656e_7401;

/// How long after order `index` its payment comes, in ms: in `0..MAX_PAYMENT_DELAY_MS`,
/// uniform, from a hash of the index.
#[inline]
pub fn payment_delay_ms(index: u64) -> u64 {
    below(splitmix64(index ^ PAYMENT_SALT), MAX_PAYMENT_DELAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_runs_at_the_same_pace_on_every_shard() {
        let clock = EventClock::new(2);
        assert_eq!(clock.time_ms(0), 0);
        assert_eq!(clock.time_ms(49), 0);
        assert_eq!(clock.time_ms(50), 1);
        // 2 shards × 50 events per ms each = 100 per ms in all.
        assert_eq!(clock.time_ms(50_000), 1_000);
    }

    #[test]
    fn burst_keys_are_in_range_and_active_at_their_time() {
        let keys = 1_000;
        let bursts = Bursts::new(keys);
        for index in 0..100_000 {
            let time = index / 7;
            let key = bursts.key(time, index);
            assert!(key < keys);
            // The key's burst started at most BURST_MS ago (modulo the cycle).
            let phase = key * CYCLE_MS / keys;
            let since = (time % CYCLE_MS + CYCLE_MS - phase) % CYCLE_MS;
            assert!(since < BURST_MS + CYCLE_MS / keys, "key {key} at {time}");
        }
    }

    #[test]
    fn payment_delays_stay_in_bounds() {
        let delays: Vec<u64> = (0..10_000).map(payment_delay_ms).collect();
        assert!(delays.iter().all(|&d| d < MAX_PAYMENT_DELAY_MS));
        assert!(delays.iter().any(|&d| d > MAX_PAYMENT_DELAY_MS * 9 / 10));
        assert!(delays.iter().any(|&d| d < MAX_PAYMENT_DELAY_MS / 10));
    }
}
