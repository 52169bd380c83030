//! Latency and checksum recording at the sinks: one histogram per sink instance, merged when
//! the instance is dropped at the end of the job.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;

use crate::workload::now_ns;

/// What all sink instances of a run add up to.
#[derive(Clone)]
pub struct Totals {
    histogram: Arc<Mutex<Histogram<u64>>>,
    checksum: Arc<AtomicU64>,
    records: Arc<AtomicU64>,
}

impl Default for Totals {
    fn default() -> Self {
        Self {
            histogram: Arc::new(Mutex::new(new_histogram())),
            checksum: Arc::default(),
            records: Arc::default(),
        }
    }
}

/// Nanoseconds from 1 ns to one hour, three significant digits.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

impl Totals {
    /// A recorder for one sink instance.
    pub fn recorder(&self) -> Recorder {
        Recorder {
            histogram: new_histogram(),
            checksum: 0,
            records: 0,
            totals: self.clone(),
        }
    }

    /// The merged latency histogram, in nanoseconds.
    pub fn histogram(&self) -> Histogram<u64> {
        self.histogram
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The wrapping sum of every recorder's checksum.
    pub fn checksum(&self) -> u64 {
        self.checksum.load(Ordering::Relaxed)
    }

    /// Records seen by all sinks.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }
}

/// One sink instance's latency histogram and checksum. Cloning gives a fresh, empty recorder
/// for the same totals (each shard clones the sink).
pub struct Recorder {
    histogram: Histogram<u64>,
    checksum: u64,
    records: u64,
    totals: Totals,
}

impl Clone for Recorder {
    fn clone(&self) -> Self {
        self.totals.recorder()
    }
}

impl Recorder {
    /// Notes one result: its contribution to the checksum and, if sampled, its latency.
    #[inline]
    pub fn record(&mut self, born_ns: u64, checksum: u64) {
        self.records += 1;
        self.checksum = self.checksum.wrapping_add(checksum);
        if born_ns != 0 {
            self.histogram
                .saturating_record(now_ns().saturating_sub(born_ns));
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.records == 0 {
            return;
        }
        let mut total = self
            .totals
            .histogram
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = total.add(&self.histogram);
        self.totals
            .checksum
            .fetch_add(self.checksum, Ordering::Relaxed);
        self.totals
            .records
            .fetch_add(self.records, Ordering::Relaxed);
    }
}
