//! In-process egress: the embedding program reads a job's results as they come.
//!
//! [`DataStream::egress`](crate::DataStream::egress) ends a stream in one bounded queue that
//! every shard writes and the caller reads through [`Egress`]: an iterator that blocks, a
//! [`Stream`](futures_lite::Stream) for async code, or [`Egress::try_recv`] that never
//! waits. A full queue is backpressure: a shard whose records do not fit keeps them and parks
//! its stage (the thread is free for the shard's other stages) until the reader takes some,
//! so nothing is dropped and the job slows to the reader's pace. The egress ends when every
//! shard's part of the stream has ended (or the job failed).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crossbeam_queue::ArrayQueue;
use event_listener::{Event, EventListener};

use super::SinkCount;
use crate::checkpoint::StageSnapshot;
use crate::exchange::channel::Disconnected;
use crate::exchange::outbox::Drain;
use crate::exchange::signal::Signal;
use crate::operators::{enter, OperatorId, Output};
use crate::sync::{Arc, AtomicUsize, Ordering};
use crate::time::Timestamp;

struct Shared<T> {
    records: ArrayQueue<T>,
    /// Wakes readers when records arrive or the egress ends.
    ready: Event,
    /// Wakes each shard's stage when the reader made space.
    space: Box<[Signal]>,
    /// Live writers: each shard's sink, and the job's [`EgressWriters`] while the job may
    /// still make sinks. The stream has ended when none is left.
    writers: AtomicUsize,
}

impl<T> Shared<T> {
    fn ended(&self) -> bool {
        self.writers.load(Ordering::Acquire) == 0
    }

    fn pop(&self) -> Option<T> {
        let record = self.records.pop()?;
        for shard in self.space.iter() {
            shard.notify();
        }
        Some(record)
    }
}

/// Why [`Egress::try_recv`] returned no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// Nothing waiting now; more may come.
    #[error("no result waiting now")]
    Empty,
    /// Every shard's part of the stream has ended and everything was read.
    #[error("the stream has ended")]
    Ended,
}

/// The reading end of a stream that ends in [`DataStream::egress`](crate::DataStream::egress).
/// Iterate it (blocking), poll it as a [`Stream`](futures_lite::Stream), or use
/// [`Egress::try_recv`]. See the [module documentation](self).
pub struct Egress<T> {
    shared: Arc<Shared<T>>,
    listener: Option<EventListener>,
}

impl<T> Egress<T> {
    /// The next record if one is waiting.
    pub fn try_recv(&self) -> Result<T, RecvError> {
        if let Some(record) = self.shared.pop() {
            return Ok(record);
        }
        // Read `ended` before looking again: a record written before the end is then seen.
        let ended = self.shared.ended();
        match self.shared.pop() {
            Some(record) => Ok(record),
            None if ended => Err(RecvError::Ended),
            None => Err(RecvError::Empty),
        }
    }

    /// The next record, blocking the thread until one comes; `None` once the stream ended.
    /// Do not call it on a shard's own thread.
    pub fn recv_blocking(&mut self) -> Option<T> {
        futures_lite::future::block_on(futures_lite::StreamExt::next(self))
    }
}

impl<T> futures_lite::Stream for Egress<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        loop {
            match self.try_recv() {
                Ok(record) => {
                    self.listener = None;
                    return Poll::Ready(Some(record));
                }
                Err(RecvError::Ended) => return Poll::Ready(None),
                Err(RecvError::Empty) => {}
            }
            match self.listener.as_mut() {
                // Registered before the last look: a write after it wakes us.
                Some(listener) => {
                    if Pin::new(listener).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.listener = None;
                }
                None => self.listener = Some(self.shared.ready.listen()),
            }
        }
    }
}

impl<T> Iterator for Egress<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.recv_blocking()
    }
}

/// The egress's writing side, which makes the sink of every shard; it lives as long as the
/// job's graph, so an egress whose job never runs (or failed before making its sinks) ends
/// too.
pub(crate) struct EgressWriters<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Drop for EgressWriters<T> {
    fn drop(&mut self) {
        self.shared.writer_gone();
    }
}

impl<T> Shared<T> {
    fn writer_gone(&self) {
        self.writers.fetch_sub(1, Ordering::AcqRel);
        self.ready.notify(usize::MAX);
    }
}

/// A queue of `capacity` records written by `shards` shards.
pub(crate) fn egress<T>(shards: usize, capacity: usize) -> (EgressWriters<T>, Egress<T>) {
    let shared = Arc::new(Shared {
        records: ArrayQueue::new(capacity.max(1)),
        ready: Event::new(),
        space: (0..shards).map(|_| Signal::default()).collect(),
        writers: AtomicUsize::new(1),
    });
    (
        EgressWriters {
            shared: shared.clone(),
        },
        Egress {
            shared,
            listener: None,
        },
    )
}

impl<T: 'static> EgressWriters<T> {
    /// Shard `shard`'s sink, and the drain its stage polls to wait for space.
    pub(crate) fn sink(
        &self,
        id: OperatorId,
        shard: usize,
        count: SinkCount,
    ) -> (EgressSink<T>, Rc<dyn Drain>) {
        self.shared.writers.fetch_add(1, Ordering::AcqRel);
        let backlog = Rc::new(Backlog {
            shared: self.shared.clone(),
            shard,
            held: RefCell::new(VecDeque::new()),
        });
        let sink = EgressSink {
            id,
            count,
            backlog: backlog.clone(),
        };
        (sink, backlog)
    }
}

/// Records that did not fit the queue yet, on one shard.
struct Backlog<T> {
    shared: Arc<Shared<T>>,
    shard: usize,
    held: RefCell<VecDeque<T>>,
}

impl<T> Backlog<T> {
    /// Moves held records into the queue while it has space; `true` if none is left.
    fn move_held(&self) -> bool {
        let mut held = self.held.borrow_mut();
        let mut moved = false;
        while let Some(record) = held.pop_front() {
            if let Err(record) = self.shared.records.push(record) {
                held.push_front(record);
                break;
            }
            moved = true;
        }
        if moved {
            self.shared.ready.notify(usize::MAX);
        }
        held.is_empty()
    }
}

impl<T> Drain for Backlog<T> {
    fn flush(&self) {}

    fn flush_drained(&self) {}

    fn idle(&self) {}

    fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<Result<(), Disconnected>> {
        if self.move_held() {
            return Poll::Ready(Ok(()));
        }
        let space = &self.shared.space[self.shard];
        space.arm(cx.waker());
        if self.move_held() {
            space.disarm();
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }
}

/// The end of a stream on one shard: writes into the egress queue, keeping what does not
/// fit for the stage to drain.
pub(crate) struct EgressSink<T> {
    id: OperatorId,
    count: SinkCount,
    backlog: Rc<Backlog<T>>,
}

impl<T> Output<T> for EgressSink<T> {
    fn push(&mut self, batch: Vec<T>) {
        enter(self.id);
        self.count.add(batch.len());
        self.backlog.held.borrow_mut().extend(batch);
        self.backlog.move_held();
    }

    fn watermark(&mut self, _watermark: Timestamp) {}

    fn end(&mut self) {
        // The stage drains the backlog before it finishes; the shard's part ends when the
        // sink goes away (below), also if the job fails.
    }

    fn barrier(&mut self, _snapshot: &mut StageSnapshot) {}
}

impl<T> Drop for EgressSink<T> {
    fn drop(&mut self) {
        self.backlog.shared.writer_gone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::JobMetrics;

    fn count() -> SinkCount {
        SinkCount {
            metrics: std::sync::Arc::new(JobMetrics::new(1)),
            shard: 0,
        }
    }

    #[test]
    fn records_wait_in_the_backlog_until_the_reader_makes_space() {
        let (writers, mut egress) = egress::<u32>(1, 2);
        let (mut sink, drain) = writers.sink(OperatorId(0), 0, count());
        sink.push(vec![1, 2, 3, 4]);
        let waker = futures_lite::future::block_on(futures_lite::future::poll_fn(|cx| {
            Poll::Ready(cx.waker().clone())
        }));
        let mut cx = Context::from_waker(&waker);
        assert!(drain.poll_drain(&mut cx).is_pending(), "two records wait");
        assert_eq!(egress.try_recv(), Ok(1));
        assert_eq!(egress.try_recv(), Ok(2));
        assert!(drain.poll_drain(&mut cx).is_ready());
        assert!(drain.poll_drain(&mut cx).is_ready());
        drop(sink);
        assert_eq!(egress.try_recv(), Ok(3), "the job could still make sinks");
        drop(writers);
        assert_eq!(egress.by_ref().collect::<Vec<_>>(), [4]);
        assert_eq!(egress.try_recv(), Err(RecvError::Ended));
    }
}
