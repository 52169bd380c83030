//! The Nexmark queries on Tidewater, one module each: a function from the stream of events
//! to the stream of result rows, built from the DataStream API. NEXMARK.md says what each
//! computes; the rows' fields are the query's result columns, in order.

pub mod q0;
pub mod q1;
pub mod q2;

use serde::Serialize;
use tidewater::Data;
use xxhash_rust::xxh3::xxh3_64;

use crate::workload::splitmix64;

/// A query's result row: written as one JSON line (its fields are the columns), and folded
/// into the run's checksum.
pub trait ResultRow: Data + Serialize {
    /// A fingerprint of every column (see [`Fingerprint`]). The run's checksum is the
    /// wrapping sum over inserted rows (minus retracted ones), so it does not depend on the
    /// order rows arrive in.
    fn checksum(&self) -> u64;
}

/// Folds a row's columns into one well-mixed `u64`, stable across runs and machines (strings
/// by xxh3 of their bytes, floats by their bits).
#[derive(Debug, Clone, Copy)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Self::new()
    }
}

impl Fingerprint {
    /// An empty fingerprint.
    pub fn new() -> Self {
        Self(0x6e65_786d_6172_6b21)
    }

    /// Adds an integer column.
    #[inline]
    pub fn int(self, value: i64) -> Self {
        Self(splitmix64(self.0 ^ value as u64))
    }

    /// Adds a float column.
    #[inline]
    pub fn float(self, value: f64) -> Self {
        self.int(value.to_bits() as i64)
    }

    /// Adds a string column.
    #[inline]
    pub fn str(self, value: &str) -> Self {
        self.int(xxh3_64(value.as_bytes()) as i64)
    }

    /// The fingerprint.
    #[inline]
    pub fn finish(self) -> u64 {
        self.0
    }
}
