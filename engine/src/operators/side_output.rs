//! Side outputs: extra typed streams an operator can emit to besides its main output (late
//! records of a window, alerts of a process function), as Flink's `OutputTag`.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::BoxOutput;
use crate::checkpoint::StageSnapshot;
use crate::time::Timestamp;

static NEXT_TAG: AtomicU64 = AtomicU64::new(0);

/// The name and type of a side output. Create it once and use the same tag (or a clone) both
/// where the operator emits (`ctx.output(&tag, value)`) and where the job reads the side
/// stream (`stream.side_output(&tag)`).
pub struct OutputTag<T> {
    id: u64,
    name: Arc<str>,
    records: PhantomData<fn() -> T>,
}

impl<T> OutputTag<T> {
    /// A new tag; two tags are different even with the same name.
    pub fn new(name: &str) -> Self {
        Self {
            id: NEXT_TAG.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            records: PhantomData,
        }
    }

    /// The tag's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

impl<T> Clone for OutputTag<T> {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            name: self.name.clone(),
            records: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for OutputTag<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OutputTag({})", self.name)
    }
}

/// One side output's buffer and downstream, whatever its record type.
pub(crate) trait SideChannel {
    /// Ships the buffered records.
    fn flush(&mut self);
    /// Forwards a watermark (after flushing).
    fn watermark(&mut self, watermark: Timestamp);
    /// Forwards the end of the stream (after flushing).
    fn end(&mut self);
    /// Forwards a checkpoint barrier (after flushing).
    fn barrier(&mut self, snapshot: &mut StageSnapshot);
    /// The buffer, to be downcast by its record type.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Buffers a side output's records between flushes.
pub(crate) struct SideBuffer<T> {
    pub(crate) buffer: Vec<T>,
    pub(crate) next: BoxOutput<T>,
}

impl<T: 'static> SideChannel for SideBuffer<T> {
    fn flush(&mut self) {
        if !self.buffer.is_empty() {
            self.next.push(std::mem::take(&mut self.buffer));
        }
    }

    fn watermark(&mut self, watermark: Timestamp) {
        self.flush();
        self.next.watermark(watermark);
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        self.flush();
        self.next.barrier(snapshot);
    }

    fn end(&mut self) {
        self.flush();
        self.next.end();
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The side outputs of one operator instance that some stream consumes. Records for a tag
/// nobody consumes are dropped, as in Flink.
#[derive(Default)]
pub(crate) struct SideOutputs {
    pub(crate) channels: Vec<(u64, Box<dyn SideChannel>)>,
}

impl SideOutputs {
    /// Buffers `value` for the side output `tag`.
    #[inline]
    pub(crate) fn emit<T: 'static>(&mut self, tag: &OutputTag<T>, value: T) {
        let channel = self
            .channels
            .iter_mut()
            .find(|(id, _)| *id == tag.id())
            .and_then(|(_, channel)| channel.as_any_mut().downcast_mut::<SideBuffer<T>>());
        if let Some(channel) = channel {
            channel.buffer.push(value);
        }
    }

    /// Ships every buffered record.
    pub(crate) fn flush(&mut self) {
        self.channels
            .iter_mut()
            .for_each(|(_, channel)| channel.flush());
    }

    /// Forwards a watermark to every side output.
    pub(crate) fn watermark(&mut self, watermark: Timestamp) {
        self.channels
            .iter_mut()
            .for_each(|(_, channel)| channel.watermark(watermark));
    }

    /// Ends every side output.
    pub(crate) fn end(&mut self) {
        self.channels
            .iter_mut()
            .for_each(|(_, channel)| channel.end());
    }

    /// Forwards a checkpoint barrier to every side output.
    pub(crate) fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        self.channels
            .iter_mut()
            .for_each(|(_, channel)| channel.barrier(snapshot));
    }
}
