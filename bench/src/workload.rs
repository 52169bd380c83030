//! The built-in deterministic workload shared by every engine: the same events, in the same
//! order per index, whichever engine runs them.

use std::sync::LazyLock;
use std::time::Instant;

/// One input event: a key, a value, and (for sampled events) its birth time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The key, in `0..keys`.
    pub key: u64,
    /// A small value to sum.
    pub value: u64,
    /// Nanoseconds since the process clock's start when the source made the event, or 0 if
    /// the event is not sampled for latency.
    pub born_ns: u64,
}

/// How to generate events.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    keys: u64,
    sample_mask: u64,
    /// With `h > 0`: events `0..keys` carry keys `0..keys` once each, and the later ones only
    /// `h` hot keys among them (for incremental-checkpoint benchmarks: few pages change).
    hot_keys: u64,
}

impl Workload {
    /// Events over `keys` distinct keys; one in `sample` (rounded up to a power of two)
    /// carries its birth time for latency measurement.
    pub fn new(keys: u64, sample: u64) -> Self {
        Self {
            keys: keys.max(1),
            sample_mask: sample.max(1).next_power_of_two() - 1,
            hot_keys: 0,
        }
    }

    /// Every key once first, then only `hot` keys (see the field).
    pub fn with_hot_keys(mut self, hot: u64) -> Self {
        self.hot_keys = hot.min(self.keys);
        self
    }

    /// Event number `index`. No division on this path: it runs once per event for every
    /// engine, and should cost little next to what the engines do.
    #[inline]
    pub fn event(&self, index: u64) -> Event {
        let mixed = splitmix64(index);
        let key = if self.hot_keys == 0 {
            below(mixed, self.keys)
        } else if index < self.keys {
            index
        } else {
            below(mixed, self.hot_keys)
        };
        Event {
            key,
            value: mixed & 0xFFFF,
            born_ns: self.born_ns(index),
        }
    }

    /// The distinct keys.
    pub fn keys(&self) -> u64 {
        self.keys
    }

    /// The birth time of event `index` if it is sampled for latency (now), else 0.
    #[inline]
    pub fn born_ns(&self, index: u64) -> u64 {
        if index & self.sample_mask == 0 {
            now_ns()
        } else {
            0
        }
    }
}

/// Maps a well-mixed `hash` uniformly onto `0..n` (Lemire's multiply-shift: no division).
#[inline]
pub fn below(hash: u64, n: u64) -> u64 {
    ((u128::from(hash) * u128::from(n)) >> 64) as u64
}

/// A fast, well-mixed, stateless hash of the event index (SplitMix64's finaliser).
#[inline]
pub const fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Nanoseconds since the process clock started; never 0.
#[inline]
pub fn now_ns() -> u64 {
    EPOCH.elapsed().as_nanos() as u64 + 1
}
