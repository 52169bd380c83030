//! The receiving side of a stage: all the channels that feed it, read fairly, with the
//! stage's watermark combined over them and checkpoint barriers aligned across them.
//!
//! Alignment (Flink's aligned checkpoints): a channel that delivers barrier `n` is blocked,
//! its later records held back in its ring, until every channel still open has delivered
//! `n`; then the gate hands the stage one `Barrier(n)`. A channel that ends counts as
//! aligned. A barrier newer than the one being aligned (the older checkpoint was abandoned)
//! restarts the alignment on the newer one; an older one is ignored.

use std::task::{Context, Poll};

use super::channel::{Disconnected, Inbound, Message, Received};
use crate::time::{Timestamp, WatermarkCombiner};

/// What a stage takes from its gate.
#[derive(Debug, PartialEq)]
pub(crate) enum Input<T> {
    /// A batch of records.
    Data(Vec<T>),
    /// The stage's watermark advanced to this.
    Watermark(Timestamp),
    /// Every input channel that has not ended is idle: the stage tells its outputs so.
    Idle,
    /// Every open channel has delivered checkpoint barrier `n`.
    Barrier(u64),
}

/// All input channels of one stage on one shard.
pub(crate) struct Gate<T> {
    channels: Vec<Inbound<T>>,
    ended: Vec<bool>,
    live: usize,
    watermarks: WatermarkCombiner,
    next_channel: usize,
    /// The barrier being aligned, and which channels have delivered it.
    aligning: Option<u64>,
    blocked: Vec<bool>,
    /// A watermark advance to report before reading on.
    deferred: Option<Timestamp>,
}

impl<T> Gate<T> {
    pub(crate) fn new(channels: Vec<Inbound<T>>) -> Self {
        let count = channels.len();
        Self {
            channels,
            ended: vec![false; count],
            live: count,
            watermarks: WatermarkCombiner::new(count),
            next_channel: 0,
            aligning: None,
            blocked: vec![false; count],
            deferred: None,
        }
    }

    /// Channel `index` delivered barrier `id`: blocks it, and reports the barrier once every
    /// open channel has.
    fn on_barrier(&mut self, index: usize, id: u64) -> Option<u64> {
        match self.aligning {
            Some(current) if id < current => return None,
            Some(current) if id > current => self.blocked.fill(false),
            _ => {}
        }
        self.aligning = Some(id);
        self.blocked[index] = true;
        self.aligned()
    }

    /// If every open channel has delivered the barrier being aligned, ends the alignment and
    /// returns it.
    fn aligned(&mut self) -> Option<u64> {
        let id = self.aligning?;
        let all = self
            .blocked
            .iter()
            .zip(&self.ended)
            .all(|(blocked, ended)| *blocked || *ended);
        if all {
            self.aligning = None;
            self.blocked.fill(false);
            Some(id)
        } else {
            None
        }
    }

    /// Whether every channel has ended.
    pub(crate) fn is_finished(&self) -> bool {
        self.live == 0
    }

    /// The next input available now, visiting channels round robin; `None` if nothing is
    /// waiting (or every channel has ended).
    pub(crate) fn try_next(&mut self) -> Result<Option<Input<T>>, Disconnected> {
        if let Some(watermark) = self.deferred.take() {
            return Ok(Some(Input::Watermark(watermark)));
        }
        let count = self.channels.len();
        let mut visited = 0;
        while visited < count && self.live > 0 {
            let index = self.next_channel;
            if self.ended[index] || self.blocked[index] {
                self.next_channel = (index + 1) % count;
                visited += 1;
                continue;
            }
            match self.channels[index].try_recv()? {
                Received::Message(Message::Data(batch)) => {
                    self.watermarks.activate(index);
                    self.next_channel = (index + 1) % count;
                    return Ok(Some(Input::Data(batch)));
                }
                Received::Message(Message::Idle) => {
                    let was_idle = self.watermarks.all_idle();
                    if let Some(advanced) = self.watermarks.set_idle(index) {
                        return Ok(Some(Input::Watermark(advanced)));
                    }
                    if !was_idle && self.watermarks.all_idle() {
                        return Ok(Some(Input::Idle));
                    }
                }
                Received::Message(Message::Watermark(watermark)) => {
                    if let Some(advanced) = self.watermarks.update(index, watermark) {
                        return Ok(Some(Input::Watermark(advanced)));
                    }
                }
                Received::Message(Message::Barrier(id)) => {
                    if let Some(id) = self.on_barrier(index, id) {
                        return Ok(Some(Input::Barrier(id)));
                    }
                }
                Received::Message(Message::End) => {
                    self.ended[index] = true;
                    self.live -= 1;
                    let advanced = self.watermarks.finish(index);
                    if let Some(id) = self.aligned() {
                        // The watermark this end releases is reported with the next call.
                        self.deferred = advanced;
                        return Ok(Some(Input::Barrier(id)));
                    }
                    if let Some(advanced) = advanced {
                        return Ok(Some(Input::Watermark(advanced)));
                    }
                }
                Received::Empty => {
                    self.next_channel = (index + 1) % count;
                    visited += 1;
                }
            }
        }
        Ok(None)
    }

    /// Ready when some channel may have input; otherwise registers the task on all of them.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut ready = false;
        for ((channel, ended), blocked) in
            self.channels.iter_mut().zip(&self.ended).zip(&self.blocked)
        {
            if !ended && !blocked && channel.register(cx.waker()) {
                ready = true;
            }
        }
        if ready || self.live == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::channel::{local, remote, Outbound};

    fn send<T>(channel: &mut Outbound<T>, message: Message<T>) {
        assert!(channel.try_send(message).is_ok());
    }

    #[test]
    fn control_messages_stay_in_order_and_watermarks_take_the_minimum() {
        let (remote_tx, remote_rx) = remote::<u32>(8);
        let (mut local_tx, local_rx) = local::<u32>(8);
        let mut remote_tx = Outbound::from(remote_tx);
        let mut gate = Gate::new(vec![remote_rx.into(), local_rx]);

        send(&mut remote_tx, Message::Data(vec![1]));
        send(&mut remote_tx, Message::Watermark(10));
        send(&mut remote_tx, Message::Data(vec![2]));
        send(&mut local_tx, Message::Watermark(5));
        send(&mut local_tx, Message::Data(vec![3]));
        send(&mut local_tx, Message::End);
        send(&mut remote_tx, Message::End);

        let mut inputs = Vec::new();
        while let Some(input) = gate.try_next().unwrap() {
            inputs.push(input);
        }
        assert!(gate.is_finished());
        let data: Vec<_> = inputs
            .iter()
            .filter_map(|input| match input {
                Input::Data(batch) => Some(batch[0]),
                Input::Watermark(_) | Input::Idle | Input::Barrier(_) => None,
            })
            .collect();
        let watermarks: Vec<_> = inputs
            .iter()
            .filter_map(|input| match input {
                Input::Watermark(w) => Some(*w),
                Input::Data(_) | Input::Idle | Input::Barrier(_) => None,
            })
            .collect();
        // Each channel's own order holds: 1 before 2 on the remote channel.
        let position = |x| data.iter().position(|&d| d == x).unwrap();
        assert!(position(1) < position(2));
        assert_eq!(data.len(), 3);
        // The combined watermark only rises and ends at +infinity.
        assert!(watermarks.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(watermarks.last(), Some(&Timestamp::MAX));
        assert!(watermarks
            .iter()
            .all(|&w| w == 5 || w == 10 || w == Timestamp::MAX));
    }

    #[test]
    fn barriers_align_across_channels_holding_back_the_early_ones() {
        let (remote_tx, remote_rx) = remote::<u32>(8);
        let (mut local_tx, local_rx) = local::<u32>(8);
        let mut remote_tx = Outbound::from(remote_tx);
        let mut gate = Gate::new(vec![remote_rx.into(), local_rx]);

        send(&mut remote_tx, Message::Data(vec![1]));
        send(&mut remote_tx, Message::Barrier(1));
        send(&mut remote_tx, Message::Data(vec![10]));
        send(&mut local_tx, Message::Data(vec![2]));
        send(&mut local_tx, Message::Data(vec![3]));

        let mut seen = Vec::new();
        while let Some(input) = gate.try_next().unwrap() {
            seen.push(input);
        }
        // Record 10 (after the barrier on its channel) waits for the other channel's barrier.
        assert_eq!(seen.len(), 3);
        assert!(!seen.contains(&Input::Data(vec![10])));
        send(&mut local_tx, Message::Barrier(1));
        assert_eq!(gate.try_next().unwrap(), Some(Input::Barrier(1)));
        assert_eq!(gate.try_next().unwrap(), Some(Input::Data(vec![10])));
    }

    #[test]
    fn an_ended_channel_counts_as_aligned_and_newer_barriers_restart_alignment() {
        let (remote_tx, remote_rx) = remote::<u32>(8);
        let (mut local_tx, local_rx) = local::<u32>(8);
        let mut remote_tx = Outbound::from(remote_tx);
        let mut gate = Gate::new(vec![remote_rx.into(), local_rx]);

        send(&mut remote_tx, Message::Barrier(1));
        send(&mut local_tx, Message::Barrier(2));
        assert_eq!(
            gate.try_next().unwrap(),
            None,
            "1 abandoned for 2, which waits"
        );
        send(&mut remote_tx, Message::Barrier(2));
        assert_eq!(gate.try_next().unwrap(), Some(Input::Barrier(2)));
        send(&mut remote_tx, Message::Barrier(3));
        send(&mut local_tx, Message::End);
        assert_eq!(gate.try_next().unwrap(), Some(Input::Barrier(3)));
    }

    #[test]
    fn a_vanished_sender_is_reported_not_mistaken_for_the_end() {
        let (tx, rx) = remote::<u32>(2);
        let mut gate = Gate::new(vec![rx.into()]);
        drop(tx);
        assert_eq!(gate.try_next(), Err(Disconnected));
    }
}
