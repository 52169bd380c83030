//! Request–reply: `scorer.score(event).await` resolves with the result the job emitted for
//! that very event.
//!
//! [`Env::request_reply`](crate::Env::request_reply) gives a [`Scorer`] and the keyed
//! stream of [`Request`]s it feeds. The engine gives every request an id; the job answers a
//! request by emitting [`Request::reply`]'s [`Reply`] (which carries the id) into
//! [`DataStream::reply_to`](crate::DataStream::reply_to), and the reply sink, on the shard
//! that computed it, completes the caller's future. Callers may be any threads or async
//! tasks, concurrently.
//!
//! The job must reply to every request once (later replies to the same id are ignored).
//! Requests the job never answers (it ended or failed first) resolve with
//! [`ScoreError::NoReply`] once the job's reply sinks are gone, so no caller waits forever.

use std::fmt;
use std::future::Future;
use std::sync::Mutex;

use futures_channel::oneshot;
use hashbrown::HashMap;

use super::{Ingress, PushError, SinkCount};
use crate::checkpoint::StageSnapshot;
use crate::operators::{enter, OperatorId, Output};
use crate::sync::{Arc, AtomicUsize, Ordering};
use crate::time::Timestamp;

/// The id the engine gives a request, to find its caller when the reply comes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct RequestId(pub u64);

/// An event sent by [`Scorer::score`], with its id.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Request<T> {
    /// The request's id: the reply carries it back.
    pub id: RequestId,
    /// The caller's event.
    pub event: T,
}

impl<T> Request<T> {
    /// The answer `value` to this request.
    pub fn reply<R>(&self, value: R) -> Reply<R> {
        Reply { id: self.id, value }
    }
}

/// The answer to a [`Request`]; emit it into
/// [`DataStream::reply_to`](crate::DataStream::reply_to).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reply<R> {
    /// The id of the request answered.
    pub id: RequestId,
    /// The answer.
    pub value: R,
}

/// Why [`Scorer::score`] has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    /// The job no longer takes requests (it ended, failed or was cancelled).
    #[error("the job no longer takes requests")]
    Closed,
    /// The job took the request but ended or failed before replying to it.
    #[error("the job ended before replying to the request")]
    NoReply,
}

/// How many locks the waiting callers are spread over, so that concurrent callers and shards
/// rarely meet on one.
const STRIPES: usize = 64;

/// The callers waiting for replies, by request id.
pub(crate) struct Pending<R> {
    stripes: Box<[Mutex<Stripe<R>>]>,
    next_id: std::sync::atomic::AtomicU64,
    /// Reply sinks still running, and the jobs' [`ReplySinks`] that may still make some:
    /// when the last goes, unanswered callers are told.
    sinks: AtomicUsize,
}

struct Stripe<R> {
    waiting: HashMap<u64, oneshot::Sender<R>>,
    /// No reply can come any more.
    closed: bool,
}

impl<R> Pending<R> {
    fn new() -> Self {
        Self {
            stripes: (0..STRIPES)
                .map(|_| {
                    Mutex::new(Stripe {
                        waiting: HashMap::new(),
                        closed: false,
                    })
                })
                .collect(),
            next_id: std::sync::atomic::AtomicU64::new(0),
            sinks: AtomicUsize::new(0),
        }
    }

    fn stripe(&self, id: RequestId) -> std::sync::MutexGuard<'_, Stripe<R>> {
        self.stripes[id.0 as usize % STRIPES]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A new request id and the receiver of its reply; `None` once no reply can come.
    fn register(&self) -> Option<(RequestId, oneshot::Receiver<R>)> {
        let id = RequestId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (sender, receiver) = oneshot::channel();
        let mut stripe = self.stripe(id);
        if stripe.closed {
            return None;
        }
        stripe.waiting.insert(id.0, sender);
        Some((id, receiver))
    }

    fn forget(&self, id: RequestId) {
        self.stripe(id).waiting.remove(&id.0);
    }

    /// Hands `value` to the caller of request `id` (if it still waits).
    fn complete(&self, id: RequestId, value: R) {
        let sender = self.stripe(id).waiting.remove(&id.0);
        if let Some(sender) = sender {
            // The caller may have stopped waiting: nothing to do then.
            let _ = sender.send(value);
        }
    }

    /// No reply can come any more: every waiting caller gets `NoReply`.
    fn close(&self) {
        for stripe in self.stripes.iter() {
            let mut stripe = stripe.lock().unwrap_or_else(|e| e.into_inner());
            stripe.closed = true;
            stripe.waiting.clear();
        }
    }
}

/// Sends events into a running job and awaits each one's reply; cheap to clone, usable from
/// any thread or async task. See the [module documentation](self).
pub struct Scorer<T, R> {
    ingress: Ingress<Request<T>>,
    pending: Arc<Pending<R>>,
}

impl<T, R> Clone for Scorer<T, R> {
    fn clone(&self) -> Self {
        Self {
            ingress: self.ingress.clone(),
            pending: self.pending.clone(),
        }
    }
}

impl<T, R> fmt::Debug for Scorer<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scorer").finish_non_exhaustive()
    }
}

impl<T: Send + 'static, R: Send + 'static> Scorer<T, R> {
    pub(crate) fn new(ingress: Ingress<Request<T>>) -> Self {
        Self {
            ingress,
            pending: Arc::new(Pending::new()),
        }
    }

    /// Sends `event` (waiting while its shard's queue is full) and resolves with the job's
    /// reply to it.
    pub async fn score(&self, event: T) -> Result<R, ScoreError> {
        let (id, reply) = self.pending.register().ok_or(ScoreError::Closed)?;
        if self.ingress.send(Request { id, event }).await.is_err() {
            self.pending.forget(id);
            return Err(ScoreError::Closed);
        }
        reply.await.map_err(|_| ScoreError::NoReply)
    }

    /// [`Scorer::score`], blocking the thread until the reply comes. Do not call it on a
    /// shard's own thread.
    pub fn score_blocking(&self, event: T) -> Result<R, ScoreError> {
        futures_lite::future::block_on(self.score(event))
    }

    /// Sends `event` if its shard's queue has space (otherwise returns it) and gives the
    /// future of its reply.
    pub fn try_score(
        &self,
        event: T,
    ) -> Result<impl Future<Output = Result<R, ScoreError>> + Send + 'static, PushError<T>> {
        let Some((id, reply)) = self.pending.register() else {
            return Err(PushError::Closed(event));
        };
        match self.ingress.try_send(Request { id, event }) {
            Ok(()) => Ok(async move { reply.await.map_err(|_| ScoreError::NoReply) }),
            Err(error) => {
                self.pending.forget(id);
                Err(match error {
                    PushError::Full(request) => PushError::Full(request.event),
                    PushError::Closed(request) => PushError::Closed(request.event),
                })
            }
        }
    }

    /// Sends no more requests from any clone of this scorer: the job's request stream ends
    /// once the queued requests are processed.
    pub fn close(&self) {
        self.ingress.close();
    }

    /// The maker of the job's reply sinks (one per shard): the callers are told that no
    /// reply will come once it and every reply sink are gone.
    pub(crate) fn reply_sinks(&self) -> ReplySinks<R> {
        self.pending.sinks.fetch_add(1, Ordering::AcqRel);
        ReplySinks {
            pending: self.pending.clone(),
        }
    }
}

impl<R> Pending<R> {
    /// A reply sink or their maker went away.
    fn sink_gone(&self) {
        if self.sinks.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.close();
        }
    }
}

/// Makes the reply sink of each shard; it lives as long as the job's graph, so callers of a
/// job that never runs are told too.
pub(crate) struct ReplySinks<R> {
    pending: Arc<Pending<R>>,
}

impl<R> Drop for ReplySinks<R> {
    fn drop(&mut self) {
        self.pending.sink_gone();
    }
}

impl<R> ReplySinks<R> {
    /// A shard's reply sink.
    pub(crate) fn sink(&self, id: OperatorId, count: SinkCount) -> ReplySink<R> {
        self.pending.sinks.fetch_add(1, Ordering::AcqRel);
        ReplySink {
            id,
            count,
            pending: self.pending.clone(),
        }
    }
}

/// Completes the callers' futures with the replies of one shard.
pub(crate) struct ReplySink<R> {
    id: OperatorId,
    count: SinkCount,
    pending: Arc<Pending<R>>,
}

impl<R> Output<Reply<R>> for ReplySink<R> {
    fn push(&mut self, batch: Vec<Reply<R>>) {
        enter(self.id);
        self.count.add(batch.len());
        for reply in batch {
            self.pending.complete(reply.id, reply.value);
        }
    }

    fn watermark(&mut self, _watermark: Timestamp) {}

    fn end(&mut self) {}

    fn barrier(&mut self, _snapshot: &mut StageSnapshot) {}
}

impl<R> Drop for ReplySink<R> {
    fn drop(&mut self) {
        self.pending.sink_gone();
    }
}
