//! The sending side of an exchange on one shard.
//!
//! Records are staged per destination channel and shipped as full batches. A batch that finds
//! its channel without credit waits in that channel's backlog; the stage then parks until
//! credit returns ([`Drain::poll_drain`]) before it takes more input, so at most one input
//! batch's worth of records waits beyond the channels' credits. Partial batches are shipped
//! when the stage runs out of input ([`Drain::flush`]) and before every control message, so
//! records never wait for a batch to fill while the stage is idle. In latency mode
//! ([`Batching::Latency`](crate::config::Batching)) a stage also ships, after each input batch,
//! every partial batch whose receiver has taken all it was sent.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::task::{Context, Poll};

use super::channel::{Disconnected, Message, Outbound, SendError};
use super::partition::KeyGroups;
use super::StableKey;
use crate::checkpoint::StageSnapshot;
use crate::operators::{enter, OperatorId, Output};
use crate::time::Timestamp;

/// Staged batches and backlogs for every destination channel of one exchange on one shard.
pub(crate) struct Outbox<T> {
    channels: Vec<Outbound<T>>,
    staging: Vec<Vec<T>>,
    backlog: Vec<VecDeque<Message<T>>>,
    batch_size: usize,
    disconnected: bool,
}

impl<T> Outbox<T> {
    pub(crate) fn new(channels: Vec<Outbound<T>>, batch_size: usize) -> Self {
        let destinations = channels.len();
        Self {
            channels,
            staging: (0..destinations).map(|_| Vec::new()).collect(),
            backlog: (0..destinations).map(|_| VecDeque::new()).collect(),
            batch_size,
            disconnected: false,
        }
    }

    fn destinations(&self) -> usize {
        self.channels.len()
    }

    /// Adds one record for `destination`, shipping the batch when it is full.
    #[inline]
    fn stage(&mut self, destination: usize, record: T) {
        let staged = &mut self.staging[destination];
        if staged.capacity() == 0 {
            staged.reserve_exact(self.batch_size);
        }
        staged.push(record);
        if staged.len() >= self.batch_size {
            self.ship(destination);
        }
    }

    /// Adds a whole batch for `destination`.
    fn stage_all(&mut self, destination: usize, batch: Vec<T>) {
        let staged = &mut self.staging[destination];
        if staged.is_empty() {
            *staged = batch;
        } else {
            staged.extend(batch);
        }
        if staged.len() >= self.batch_size {
            self.ship(destination);
        }
    }

    fn ship(&mut self, destination: usize) {
        let batch = std::mem::take(&mut self.staging[destination]);
        if !batch.is_empty() {
            self.send(destination, Message::Data(batch));
        }
    }

    fn send(&mut self, destination: usize, message: Message<T>) {
        let backlog = &mut self.backlog[destination];
        if !backlog.is_empty() {
            backlog.push_back(message);
            return;
        }
        match self.channels[destination].try_send(message) {
            Ok(()) => {}
            Err(SendError::Full(message)) => backlog.push_back(message),
            Err(SendError::Disconnected) => self.disconnected = true,
        }
    }

    /// Ships every partial batch.
    fn flush(&mut self) {
        for destination in 0..self.destinations() {
            self.ship(destination);
        }
    }

    /// Ships the partial batches whose receivers have taken everything sent before (latency
    /// mode: a waiting receiver gets records at once; a busy one gets fuller batches).
    fn flush_drained(&mut self) {
        for destination in 0..self.destinations() {
            if !self.staging[destination].is_empty()
                && self.backlog[destination].is_empty()
                && self.channels[destination].is_drained()
            {
                self.ship(destination);
            }
        }
    }

    /// Ships every partial batch, then `control()` to every destination, in order after them.
    fn broadcast_control(&mut self, control: impl Fn() -> Message<T>) {
        for destination in 0..self.destinations() {
            self.ship(destination);
            self.send(destination, control());
        }
    }

    /// Sends backlogged messages as credit allows; ready when no backlog is left.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Disconnected>> {
        let mut pending = false;
        for (channel, backlog) in self.channels.iter_mut().zip(&mut self.backlog) {
            while let Some(message) = backlog.pop_front() {
                match channel.try_send(message) {
                    Ok(()) => {}
                    Err(SendError::Disconnected) => return Poll::Ready(Err(Disconnected)),
                    Err(SendError::Full(message)) => {
                        backlog.push_front(message);
                        match channel.poll_credit(cx) {
                            Poll::Ready(Ok(())) => {}
                            Poll::Ready(Err(Disconnected)) => {
                                return Poll::Ready(Err(Disconnected))
                            }
                            Poll::Pending => {
                                pending = true;
                                break;
                            }
                        }
                    }
                }
            }
        }
        if self.disconnected {
            Poll::Ready(Err(Disconnected))
        } else if pending {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }
}

/// What a stage needs of each exchange it sends into, whatever the record type.
pub(crate) trait Drain {
    /// Ships partial batches (the stage is about to idle).
    fn flush(&self);
    /// Ships the partial batches whose receivers have taken everything sent before.
    fn flush_drained(&self);
    /// Ships partial batches, then tells every receiver that this sender is idle.
    fn idle(&self);
    /// Ready when every backlogged message has been handed to its channel.
    fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<Result<(), Disconnected>>;
}

impl<T> Drain for RefCell<Outbox<T>> {
    fn flush(&self) {
        self.borrow_mut().flush();
    }

    fn flush_drained(&self) {
        self.borrow_mut().flush_drained();
    }

    fn idle(&self) {
        self.borrow_mut().broadcast_control(|| Message::Idle);
    }

    fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<Result<(), Disconnected>> {
        self.borrow_mut().poll_drain(cx)
    }
}

/// How an exchange picks the destination channels of a batch's records.
pub(crate) trait Partitioner<T>: 'static {
    /// Stages every record of `batch` in `outbox`.
    fn route(&mut self, batch: Vec<T>, outbox: &mut Outbox<T>);
}

/// `key_by`: the shard that owns the record's key group.
pub(crate) struct ByKey<KF> {
    pub(crate) key: KF,
    pub(crate) groups: KeyGroups,
}

impl<T, K: StableKey, KF: FnMut(&T) -> K + 'static> Partitioner<T> for ByKey<KF> {
    #[inline]
    fn route(&mut self, batch: Vec<T>, outbox: &mut Outbox<T>) {
        for record in batch {
            let destination = self.groups.shard_of(&(self.key)(&record));
            outbox.stage(destination, record);
        }
    }
}

/// `rebalance`: round robin over all shards, per record.
pub(crate) struct RoundRobin {
    pub(crate) next: usize,
}

impl<T> Partitioner<T> for RoundRobin {
    fn route(&mut self, batch: Vec<T>, outbox: &mut Outbox<T>) {
        let destinations = outbox.destinations();
        for record in batch {
            outbox.stage(self.next, record);
            self.next = (self.next + 1) % destinations;
        }
    }
}

/// `broadcast`: every record to every shard.
pub(crate) struct Broadcast;

impl<T: Clone> Partitioner<T> for Broadcast {
    fn route(&mut self, batch: Vec<T>, outbox: &mut Outbox<T>) {
        let last = outbox.destinations() - 1;
        for destination in 0..last {
            outbox.stage_all(destination, batch.clone());
        }
        outbox.stage_all(last, batch);
    }
}

/// Forward: to the same shard's next stage (the one channel there is).
pub(crate) struct Forward;

impl<T> Partitioner<T> for Forward {
    fn route(&mut self, batch: Vec<T>, outbox: &mut Outbox<T>) {
        outbox.stage_all(0, batch);
    }
}

/// The operator at the end of a chain that feeds an exchange.
pub(crate) struct ExchangeOutput<T, P> {
    pub(crate) id: OperatorId,
    pub(crate) outbox: std::rc::Rc<RefCell<Outbox<T>>>,
    pub(crate) partitioner: P,
}

impl<T: 'static, P: Partitioner<T>> Output<T> for ExchangeOutput<T, P> {
    #[inline]
    fn push(&mut self, batch: Vec<T>) {
        enter(self.id);
        self.partitioner.route(batch, &mut self.outbox.borrow_mut());
    }

    fn watermark(&mut self, watermark: Timestamp) {
        self.outbox
            .borrow_mut()
            .broadcast_control(|| Message::Watermark(watermark));
    }

    fn end(&mut self) {
        self.outbox.borrow_mut().broadcast_control(|| Message::End);
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        let id = snapshot.checkpoint;
        self.outbox
            .borrow_mut()
            .broadcast_control(|| Message::Barrier(id));
    }
}
