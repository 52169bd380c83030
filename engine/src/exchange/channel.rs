//! One channel of an exchange: the path of messages from one shard's stage to another's.
//!
//! A channel between two shards is an SPSC [ring](super::ring) of [`Message`]s plus two
//! [`Signal`]s (one wakes the receiver when data arrives, one wakes the sender when a slot —
//! a credit — frees up) and two "closed" flags, so that either side going away (end of job,
//! failure, cancellation) wakes the other instead of leaving it parked. The channel from a
//! shard to itself skips the ring: it is a plain queue with the same credit bound, used only
//! by that shard's thread.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::exchange::ring::{self, Consumer, Full, Producer};
use crate::exchange::signal::Signal;
use crate::sync::{Arc, AtomicBool, Ordering};
use crate::time::Timestamp;

/// What travels through a channel: record batches and, in order with them, control messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Message<T> {
    /// A batch of records.
    Data(Vec<T>),
    /// No record with an earlier event time will follow on this channel.
    Watermark(Timestamp),
    /// The sender's sources have been idle for their idleness timeout: until its next
    /// message, this channel does not hold the receiver's watermark back.
    Idle,
    /// Checkpoint barrier `n`: every record before it belongs to checkpoint `n`'s state, every
    /// record after it does not.
    Barrier(u64),
    /// The sender is done: nothing follows.
    End,
}

/// The error of a send or receive whose other side has gone away before the end of stream:
/// the job is failing or being cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected;

/// Why [`Outbound::try_send`] did not send.
#[derive(Debug)]
pub enum SendError<T> {
    /// Every credit is taken: the message comes back.
    Full(Message<T>),
    /// The receiver has gone away.
    Disconnected,
}

/// The result of [`Inbound::try_recv`].
pub enum Received<T> {
    /// The next message.
    Message(Message<T>),
    /// Nothing waiting now.
    Empty,
}

#[derive(Default)]
struct Shared {
    data_ready: Signal,
    credit_ready: Signal,
    sender_gone: AtomicBool,
    receiver_gone: AtomicBool,
}

struct RingSender<T> {
    producer: Producer<Message<T>>,
    shared: Arc<Shared>,
}

struct RingReceiver<T> {
    consumer: Consumer<Message<T>>,
    shared: Arc<Shared>,
}

impl<T> Drop for RingSender<T> {
    fn drop(&mut self) {
        self.shared.sender_gone.store(true, Ordering::Release);
        self.shared.data_ready.notify();
    }
}

impl<T> Drop for RingReceiver<T> {
    fn drop(&mut self) {
        self.shared.receiver_gone.store(true, Ordering::Release);
        self.shared.credit_ready.notify();
    }
}

/// The sending end of a channel between two shards, not yet placed on its shard.
pub(crate) struct RemoteSender<T>(RingSender<T>);
/// The receiving end of a channel between two shards, not yet placed on its shard.
pub(crate) struct RemoteReceiver<T>(RingReceiver<T>);

/// Creates a channel between two shards with `credits` batch slots.
pub(crate) fn remote<T>(credits: usize) -> (RemoteSender<T>, RemoteReceiver<T>) {
    let (producer, consumer) = ring::ring(credits);
    let shared = Arc::new(Shared::default());
    (
        RemoteSender(RingSender {
            producer,
            shared: shared.clone(),
        }),
        RemoteReceiver(RingReceiver { consumer, shared }),
    )
}

struct LocalQueue<T> {
    messages: VecDeque<Message<T>>,
    credits: usize,
    receiver_waker: Option<Waker>,
    sender_waker: Option<Waker>,
    /// One end has gone away; only the other one reads this.
    closed: bool,
}

/// Creates the channel from a shard to itself with `credits` batch slots.
pub(crate) fn local<T>(credits: usize) -> (Outbound<T>, Inbound<T>) {
    let queue = Rc::new(RefCell::new(LocalQueue {
        messages: VecDeque::with_capacity(credits),
        credits,
        receiver_waker: None,
        sender_waker: None,
        closed: false,
    }));
    (
        Outbound(OutboundKind::Local(LocalEnd(queue.clone()))),
        Inbound(InboundKind::Local(LocalEnd(queue))),
    )
}

/// One end of a shard-local queue; dropping it tells the other end.
struct LocalEnd<T>(Rc<RefCell<LocalQueue<T>>>);

/// The sending end of a channel, on its shard.
pub struct Outbound<T>(OutboundKind<T>);

enum OutboundKind<T> {
    Remote(RingSender<T>),
    Local(LocalEnd<T>),
}

/// The receiving end of a channel, on its shard.
pub struct Inbound<T>(InboundKind<T>);

enum InboundKind<T> {
    Remote(RingReceiver<T>),
    Local(LocalEnd<T>),
}

impl<T> From<RemoteSender<T>> for Outbound<T> {
    fn from(sender: RemoteSender<T>) -> Self {
        Outbound(OutboundKind::Remote(sender.0))
    }
}

impl<T> From<RemoteReceiver<T>> for Inbound<T> {
    fn from(receiver: RemoteReceiver<T>) -> Self {
        Inbound(InboundKind::Remote(receiver.0))
    }
}

impl<T> Outbound<T> {
    /// Sends `message` if a credit is free; otherwise hands it back.
    #[inline]
    pub fn try_send(&mut self, message: Message<T>) -> Result<(), SendError<T>> {
        match &mut self.0 {
            OutboundKind::Remote(ring) => {
                if ring.shared.receiver_gone.load(Ordering::Acquire) {
                    return Err(SendError::Disconnected);
                }
                ring.producer
                    .push(message)
                    .map_err(|Full(message)| SendError::Full(message))?;
                ring.shared.data_ready.notify();
                Ok(())
            }
            OutboundKind::Local(LocalEnd(queue)) => {
                let mut queue = queue.borrow_mut();
                if queue.closed {
                    return Err(SendError::Disconnected);
                }
                if queue.messages.len() >= queue.credits {
                    return Err(SendError::Full(message));
                }
                queue.messages.push_back(message);
                if let Some(waker) = queue.receiver_waker.take() {
                    waker.wake();
                }
                Ok(())
            }
        }
    }

    /// Whether the receiver has taken every message sent so far.
    #[inline]
    pub fn is_drained(&mut self) -> bool {
        match &mut self.0 {
            OutboundKind::Remote(ring) => ring.producer.is_drained(),
            OutboundKind::Local(LocalEnd(queue)) => queue.borrow().messages.is_empty(),
        }
    }

    /// Ready when a credit is free (or the receiver is gone); otherwise arranges a wake-up.
    pub fn poll_credit(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Disconnected>> {
        match &mut self.0 {
            OutboundKind::Remote(ring) => {
                let check = |ring: &mut RingSender<T>| {
                    if ring.shared.receiver_gone.load(Ordering::Acquire) {
                        Some(Err(Disconnected))
                    } else if ring.producer.free_slots() > 0 {
                        Some(Ok(()))
                    } else {
                        None
                    }
                };
                if let Some(ready) = check(ring) {
                    return Poll::Ready(ready);
                }
                ring.shared.credit_ready.arm(cx.waker());
                match check(ring) {
                    Some(ready) => {
                        ring.shared.credit_ready.disarm();
                        Poll::Ready(ready)
                    }
                    None => Poll::Pending,
                }
            }
            OutboundKind::Local(LocalEnd(queue)) => {
                let mut queue = queue.borrow_mut();
                if queue.closed {
                    Poll::Ready(Err(Disconnected))
                } else if queue.messages.len() < queue.credits {
                    Poll::Ready(Ok(()))
                } else {
                    queue.sender_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }
    }
}

impl<T> Inbound<T> {
    /// Takes the next message if one is waiting.
    #[inline]
    pub fn try_recv(&mut self) -> Result<Received<T>, Disconnected> {
        match &mut self.0 {
            InboundKind::Remote(ring) => {
                if let Some(message) = ring.consumer.pop() {
                    ring.shared.credit_ready.notify();
                    return Ok(Received::Message(message));
                }
                if ring.shared.sender_gone.load(Ordering::Acquire) {
                    // The sender may have pushed its last messages just before leaving.
                    return match ring.consumer.pop() {
                        Some(message) => Ok(Received::Message(message)),
                        None => Err(Disconnected),
                    };
                }
                Ok(Received::Empty)
            }
            InboundKind::Local(LocalEnd(queue)) => {
                let mut queue = queue.borrow_mut();
                match queue.messages.pop_front() {
                    Some(message) => {
                        if let Some(waker) = queue.sender_waker.take() {
                            waker.wake();
                        }
                        Ok(Received::Message(message))
                    }
                    None if queue.closed => Err(Disconnected),
                    None => Ok(Received::Empty),
                }
            }
        }
    }

    /// Arranges for `waker` to be woken when a message arrives or the sender goes away.
    /// Returns `true` if one may already be there, in which case the caller should poll again
    /// instead of parking.
    pub fn register(&mut self, waker: &Waker) -> bool {
        match &mut self.0 {
            InboundKind::Remote(ring) => {
                ring.shared.data_ready.arm(waker);
                let ready =
                    !ring.consumer.is_empty() || ring.shared.sender_gone.load(Ordering::Acquire);
                if ready {
                    ring.shared.data_ready.disarm();
                }
                ready
            }
            InboundKind::Local(LocalEnd(queue)) => {
                let mut queue = queue.borrow_mut();
                let ready = !queue.messages.is_empty() || queue.closed;
                if !ready {
                    queue.receiver_waker = Some(waker.clone());
                }
                ready
            }
        }
    }
}

impl<T> Drop for LocalEnd<T> {
    fn drop(&mut self) {
        let mut queue = self.0.borrow_mut();
        queue.closed = true;
        let sender = queue.sender_waker.take();
        let receiver = queue.receiver_waker.take();
        drop(queue);
        for waker in [sender, receiver].into_iter().flatten() {
            waker.wake();
        }
    }
}
