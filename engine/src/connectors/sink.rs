//! Sinks: collect into memory, print to stdout, or call a user function.

use std::fmt::Debug;
use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::checkpoint::StageSnapshot;
use crate::metrics::{JobMetrics, ShardCounters};
use crate::operators::{enter, OperatorId, Output};
use crate::time::Timestamp;

/// Counts the records a sink takes, in its shard's counters.
pub(crate) struct SinkCount {
    pub(crate) metrics: Arc<JobMetrics>,
    pub(crate) shard: usize,
}

impl SinkCount {
    #[inline]
    pub(crate) fn add(&self, records: usize) {
        ShardCounters::add(&self.metrics.shard(self.shard).sink_records, records);
    }
}

/// Each shard's collected records, tagged with the shard.
pub(crate) type ShardParts<T> = Arc<Mutex<Vec<(usize, Vec<T>)>>>;

/// The results of a [`collect`](crate::DataStream::collect) sink, available once the job
/// has finished.
pub struct CollectHandle<T> {
    pub(crate) parts: ShardParts<T>,
}

impl<T> CollectHandle<T> {
    /// Takes the collected records: shard 0's first, each shard's in the order its sink saw
    /// them. Empty if the job has not finished successfully.
    pub fn take(&self) -> Vec<T> {
        let mut parts = std::mem::take(&mut *self.parts.lock().unwrap_or_else(|e| e.into_inner()));
        parts.sort_by_key(|(shard, _)| *shard);
        parts.into_iter().flat_map(|(_, part)| part).collect()
    }
}

/// Collects a shard's records locally and hands them over at the end of the stream.
pub(crate) struct CollectSink<T> {
    pub(crate) local: Vec<T>,
    pub(crate) parts: ShardParts<T>,
    pub(crate) count: SinkCount,
}

impl<T> Output<T> for CollectSink<T> {
    fn push(&mut self, mut batch: Vec<T>) {
        self.count.add(batch.len());
        self.local.append(&mut batch);
    }

    fn watermark(&mut self, _watermark: Timestamp) {}

    fn end(&mut self) {
        let local = std::mem::take(&mut self.local);
        self.parts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((self.count.shard, local));
    }

    fn barrier(&mut self, _snapshot: &mut StageSnapshot) {}
}

/// Calls a user function for every record.
pub(crate) struct CallbackSink<F> {
    pub(crate) id: OperatorId,
    pub(crate) f: F,
    pub(crate) count: SinkCount,
}

impl<T, F: FnMut(T)> Output<T> for CallbackSink<F> {
    #[inline]
    fn push(&mut self, batch: Vec<T>) {
        enter(self.id);
        let records = batch.len();
        // A direct call: through `for_each(&mut self.f)` every record was first copied into
        // the frame of `&mut F`'s forwarding `call_mut`, which was not inlined.
        for record in batch {
            (self.f)(record);
        }
        self.count.add(records);
    }

    fn watermark(&mut self, _watermark: Timestamp) {}
    fn end(&mut self) {}
    fn barrier(&mut self, _snapshot: &mut StageSnapshot) {}
}

/// Writes every record's `Debug` form on its own line to stdout.
pub(crate) struct PrintSink {
    pub(crate) id: OperatorId,
    pub(crate) count: SinkCount,
}

impl<T: Debug> Output<T> for PrintSink {
    fn push(&mut self, batch: Vec<T>) {
        enter(self.id);
        let mut out = std::io::stdout().lock();
        for record in &batch {
            if let Err(error) = writeln!(out, "{record:?}") {
                panic!("cannot write to stdout: {error}");
            }
        }
        self.count.add(batch.len());
    }

    fn watermark(&mut self, _watermark: Timestamp) {}
    fn end(&mut self) {}
    fn barrier(&mut self, _snapshot: &mut StageSnapshot) {}
}
