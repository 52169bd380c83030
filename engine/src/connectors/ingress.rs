//! In-process ingress: threads of the embedding program push records into a running job.
//!
//! An [`Ingress`] holds one bounded queue per shard. A push routes the record to its shard
//! (by key for [`Env::keyed_ingress`](crate::Env::keyed_ingress), so the record lands on the
//! shard that owns its key's state; round robin otherwise) and wakes that shard's source stage
//! if it is parked. A full queue is the caller's backpressure: [`Ingress::try_send`] returns
//! the record, [`Ingress::send`] awaits space, [`Ingress::send_blocking`] blocks the thread.
//! Nothing is dropped silently.
//!
//! The job's ingress source ends (and with it the stream) once every `Ingress` handle is
//! dropped or [`Ingress::close`]d and the queues are empty. An ingress is not replayable:
//! with checkpoints, records pushed after the newest completed checkpoint are not replayed
//! by a restart (resend what got no answer), and a job cannot stop at a savepoint position.

use std::fmt;
use std::task::Waker;

use crossbeam_queue::ArrayQueue;
use event_listener::Event;

use super::{Source, SourceSplit};
use crate::exchange::signal::Signal;
use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering};

/// Why a record was not taken by an [`Ingress`]; the record comes back.
pub enum PushError<T> {
    /// The queue of the record's shard is full (only from [`Ingress::try_send`]).
    Full(T),
    /// The job no longer takes records: it ended, failed or was cancelled, or the ingress
    /// was closed.
    Closed(T),
}

impl<T> PushError<T> {
    /// The record that was not taken.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(record) | Self::Closed(record) => record,
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("the ingress queue of the record's shard is full"),
            Self::Closed(_) => f.write_str("the job no longer takes records from this ingress"),
        }
    }
}

impl<T> std::error::Error for PushError<T> {}

/// Picks the shard of a record.
pub(crate) type Route<T> = Box<dyn Fn(&T) -> usize + Send + Sync>;

/// One shard's queue.
struct ShardQueue<T> {
    records: ArrayQueue<T>,
    /// Wakes the shard's source stage when records arrive.
    data_ready: Signal,
    /// Wakes producers waiting for space.
    space: Event,
}

struct Shared<T> {
    queues: Box<[ShardQueue<T>]>,
    route: Route<T>,
    /// Live `Ingress` handles.
    handles: AtomicUsize,
    /// No handle is left, or the ingress was closed: the source ends once the queues are
    /// empty.
    producers_done: AtomicBool,
    /// Set when the job's source is gone (or the ingress is closed): pushes fail.
    closed: AtomicBool,
}

impl<T> Shared<T> {
    fn producers_done(&self) -> bool {
        self.producers_done.load(Ordering::Acquire)
    }

    /// No record will come any more: wakes the sources so that they end.
    fn finish_producing(&self) {
        self.producers_done.store(true, Ordering::Release);
        for queue in self.queues.iter() {
            queue.data_ready.notify();
        }
    }

    /// Refuses further records and wakes the producers waiting for space.
    fn refuse(&self) {
        self.closed.store(true, Ordering::Release);
        for queue in self.queues.iter() {
            queue.space.notify(usize::MAX);
        }
    }
}

/// A handle for pushing records into a running job from any thread or async task; cheap to
/// clone. See the [module documentation](self).
pub struct Ingress<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Ingress<T> {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::AcqRel);
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Ingress<T> {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.finish_producing();
        }
    }
}

impl<T: Send + 'static> Ingress<T> {
    /// An ingress of `shards` queues of `capacity` records each, routing with `route`, and
    /// the source that reads it.
    pub(crate) fn new(shards: usize, capacity: usize, route: Route<T>) -> (Self, IngressSource<T>) {
        let queues = (0..shards)
            .map(|_| ShardQueue {
                records: ArrayQueue::new(capacity.max(1)),
                data_ready: Signal::default(),
                space: Event::new(),
            })
            .collect();
        let shared = Arc::new(Shared {
            queues,
            route,
            handles: AtomicUsize::new(1),
            producers_done: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        (
            Self {
                shared: shared.clone(),
            },
            IngressSource { shared },
        )
    }

    /// Pushes `record` if its shard's queue has space; otherwise returns it in
    /// [`PushError::Full`].
    pub fn try_send(&self, record: T) -> Result<(), PushError<T>> {
        let queue = &self.shared.queues[(self.shared.route)(&record)];
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(PushError::Closed(record));
        }
        match queue.records.push(record) {
            Ok(()) => {
                queue.data_ready.notify();
                Ok(())
            }
            Err(record) => Err(PushError::Full(record)),
        }
    }

    /// Pushes `record`, waiting (asynchronously) while its shard's queue is full. Fails only
    /// when the job no longer takes records.
    pub async fn send(&self, record: T) -> Result<(), PushError<T>> {
        let mut record = record;
        loop {
            match self.try_send(record) {
                Err(PushError::Full(back)) => record = back,
                done => return done,
            }
            let queue = &self.shared.queues[(self.shared.route)(&record)];
            let listener = queue.space.listen();
            // Space may have freed up before the listener was registered.
            match self.try_send(record) {
                Err(PushError::Full(back)) => record = back,
                done => return done,
            }
            listener.await;
        }
    }

    /// Pushes `record`, blocking the thread while its shard's queue is full. Fails only when
    /// the job no longer takes records. Do not call it on a shard's own thread.
    pub fn send_blocking(&self, record: T) -> Result<(), PushError<T>> {
        futures_lite::future::block_on(self.send(record))
    }

    /// Takes no more records: every push from now on fails with [`PushError::Closed`]. The
    /// records already queued are still processed, then the ingress source ends.
    pub fn close(&self) {
        self.shared.refuse();
        self.shared.finish_producing();
    }

    /// How many records wait in the queues now.
    pub fn queued(&self) -> usize {
        self.shared.queues.iter().map(|q| q.records.len()).sum()
    }
}

/// The job's side of an [`Ingress`]: one split per shard, each reading its shard's queue.
pub(crate) struct IngressSource<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Source<T> for IngressSource<T> {
    fn split(&self, shard: usize, shards: usize) -> Box<dyn SourceSplit<T>> {
        assert_eq!(
            shards,
            self.shared.queues.len(),
            "an ingress serves the shard count of the job it was made for"
        );
        Box::new(IngressSplit {
            shared: self.shared.clone(),
            shard,
            taken: 0,
        })
    }
}

impl<T> Drop for IngressSource<T> {
    fn drop(&mut self) {
        // The job's graph is gone: the job ended, failed, never started, or had nothing
        // left to do (restored from its final checkpoint). No split reads from now on.
        self.shared.refuse();
    }
}

/// One shard's queue, as a source split. Its offset counts the records taken (a restart
/// cannot replay them: see the module documentation).
struct IngressSplit<T> {
    shared: Arc<Shared<T>>,
    shard: usize,
    taken: u64,
}

impl<T> IngressSplit<T> {
    fn queue(&self) -> &ShardQueue<T> {
        &self.shared.queues[self.shard]
    }
}

impl<T> SourceSplit<T> for IngressSplit<T> {
    fn next_batch(&mut self, out: &mut Vec<T>, max: usize) -> bool {
        let before = out.len();
        // Read whether producers are gone before draining: a record pushed before the last
        // handle dropped is then seen by this drain.
        let producers_done = self.shared.producers_done();
        let queue = self.queue();
        while out.len() - before < max {
            match queue.records.pop() {
                Some(record) => out.push(record),
                None => break,
            }
        }
        let taken = out.len() - before;
        if taken > 0 {
            queue.space.notify(usize::MAX);
        }
        let exhausted = producers_done && queue.records.is_empty();
        self.taken += taken as u64;
        !exhausted
    }

    fn offset(&self) -> u64 {
        self.taken
    }

    fn seek(&mut self, _offset: u64) {}

    fn wake_on_records(&mut self, waker: &Waker) -> bool {
        let queue = self.queue();
        queue.data_ready.arm(waker);
        if !queue.records.is_empty() || self.shared.producers_done() {
            queue.data_ready.disarm();
            waker.wake_by_ref();
        }
        true
    }
}

impl<T> Drop for IngressSplit<T> {
    fn drop(&mut self) {
        // The job is over on this shard (ended, failed or cancelled): nobody reads the
        // queues any more, so refuse records instead of letting producers wait forever.
        self.shared.refuse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_value(shards: usize) -> Route<u64> {
        Box::new(move |r: &u64| (*r as usize) % shards)
    }

    #[test]
    fn records_reach_the_split_of_their_shard() {
        let (ingress, source) = Ingress::new(2, 8, by_value(2));
        let mut splits: Vec<_> = (0..2).map(|s| source.split(s, 2)).collect();
        for r in 0..6 {
            ingress.try_send(r).unwrap();
        }
        let mut even = Vec::new();
        assert!(splits[0].next_batch(&mut even, 10));
        assert_eq!(even, [0, 2, 4]);
        assert_eq!(splits[0].offset(), 3);
        drop(ingress);
        let mut odd = Vec::new();
        assert!(!splits[1].next_batch(&mut odd, 10), "no producer is left");
        assert_eq!(odd, [1, 3, 5]);
    }

    #[test]
    fn a_full_queue_returns_the_record() {
        let (ingress, source) = Ingress::new(1, 2, by_value(1));
        let mut split = source.split(0, 1);
        ingress.try_send(1).unwrap();
        ingress.try_send(2).unwrap();
        assert!(matches!(ingress.try_send(3), Err(PushError::Full(3))));
        let mut out = Vec::new();
        split.next_batch(&mut out, 1);
        ingress.try_send(3).unwrap();
        assert_eq!(ingress.queued(), 2);
    }

    #[test]
    fn a_blocked_sender_resumes_when_the_split_takes_records() {
        let (ingress, source) = Ingress::new(1, 1, by_value(1));
        let mut split = source.split(0, 1);
        ingress.try_send(0).unwrap();
        let sender = {
            let ingress = ingress.clone();
            std::thread::spawn(move || ingress.send_blocking(1).map_err(|e| e.into_inner()))
        };
        let mut out = Vec::new();
        while out.len() < 2 {
            split.next_batch(&mut out, 1);
            std::thread::yield_now();
        }
        assert_eq!(sender.join().unwrap(), Ok(()));
        assert_eq!(out, [0, 1]);
    }

    #[test]
    fn pushes_fail_once_the_job_is_gone() {
        let (ingress, source) = Ingress::new(1, 4, by_value(1));
        drop(source.split(0, 1));
        assert!(matches!(ingress.try_send(1), Err(PushError::Closed(1))));
        assert!(matches!(
            ingress.send_blocking(2),
            Err(PushError::Closed(2))
        ));
    }
}
