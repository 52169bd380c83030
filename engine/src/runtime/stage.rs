//! The task of one stage on one shard: pull input (from a source split or from the stage's
//! gate), push it through the stage's operator chain, and keep the exchanges it feeds drained.
//!
//! A stage parks instead of spinning whenever it cannot go on: a source that is ahead of its
//! rate sleeps, a receiver with empty channels registers on all of them, a sender without
//! credit registers on the full channel. Before parking for input, a stage ships its partial
//! batches, so an idle stage never sits on records; a busy stage ships them once they are
//! older than the buffer timeout. After every batch it yields, so the other stages of its
//! shard get their turn.

use std::any::Any;
use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_lite::future::{or, yield_now};

use super::throttle::Throttle;
use super::{AlignmentSlot, ShardContext};
use crate::checkpoint::crash::crash_point;
use crate::checkpoint::StageSnapshot;
use crate::config::Batching;
use crate::connectors::{Source, SourceSplit};
use crate::error::JobError;
use crate::exchange::channel::Inbound;
use crate::exchange::gate::{Gate, Input};
use crate::exchange::outbox::Drain;
use crate::metrics::ShardCounters;
use crate::operators::{current, enter, BoxOutput, BoxTwoInput, OperatorId, ProcessingTimers};
use crate::plan::{Data, ExchangeId, ShardBuilder, StageParts, StageTask};
use crate::time::{processing_time_now, Timestamp};

/// How often a source whose split has nothing to give looks again.
const QUIET_POLL: Duration = Duration::from_millis(1);

/// The shortest nap of a source that is ahead of its rate: long enough to let its core rest,
/// short enough to add little latency (records due meanwhile go out in one batch).
const MIN_SLEEP: Duration = Duration::from_micros(50);

/// Runs `f`, turning a panic into the failure of the operator that was running.
pub(crate) fn guard<R>(context: &ShardContext, f: impl FnOnce() -> R) -> Result<R, JobError> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let operator = current().map_or_else(
            || "<unknown>".to_string(),
            |id| context.operator_names[id.0 as usize].clone(),
        );
        JobError::OperatorFailed {
            operator,
            shard: context.shard,
            message: panic_message(payload.as_ref()),
        }
    })
}

/// The message a panic's payload carries.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panicked with a non-string payload".to_string()
    }
}

/// This shard's split of `source`: all of it, or the positions this run reads when it
/// resumes from a savepoint or stops at one.
pub(crate) fn source_split<T: 'static>(
    source: &dyn Source<T>,
    builder: &ShardBuilder,
    operator: OperatorId,
) -> Result<Box<dyn SourceSplit<T>>, JobError> {
    let context = &builder.context;
    let range = context
        .checkpoints
        .as_ref()
        .map(|checkpoints| checkpoints.range)
        .unwrap_or_default();
    let positions = range.from..range.cut.unwrap_or(u64::MAX);
    if positions == (0..u64::MAX) {
        return Ok(source.split(context.shard, context.shards));
    }
    source
        .split_range(context.shard, context.shards, positions)
        .ok_or_else(|| {
            JobError::Config(format!(
                "source `{}` cannot start or stop at a position, which savepoints need",
                context.operator_names[operator.0 as usize]
            ))
        })
}

/// The stage of a source on this shard: reads `split` and pushes into the chain `head` makes.
pub(crate) fn source_stage<T: Data>(
    builder: &mut ShardBuilder,
    operator: OperatorId,
    split: Result<Box<dyn SourceSplit<T>>, JobError>,
    pace: SourcePace,
    head: impl FnOnce(&mut ShardBuilder) -> BoxOutput<T>,
) -> StageTask {
    let split = split.and_then(|mut split| {
        restore_offset(builder, operator, &mut *split)?;
        Ok(split)
    });
    let split = match split {
        Ok(split) => split,
        Err(error) => return Box::pin(async move { Err(error) }),
    };
    let (chain, parts) = builder.stage_chain(head);
    let stage = Stage::new(builder, chain, parts);
    Box::pin(stage.run_source(operator, split, pace))
}

/// Seeks `split` to the offset the restored checkpoint holds for it.
fn restore_offset<T>(
    builder: &ShardBuilder,
    operator: OperatorId,
    split: &mut dyn SourceSplit<T>,
) -> Result<(), JobError> {
    let context = &builder.context;
    // A savepoint's splits are those of another shard count: its sources start at its
    // cut, through `source_split`, not at offsets.
    let restored = context
        .checkpoints
        .as_ref()
        .and_then(|c| c.restore.as_ref());
    let Some(point) = restored.filter(|point| !point.rescalable) else {
        return Ok(());
    };
    let restore_error = |why: String| {
        JobError::Checkpoint(format!(
            "cannot restore source `{}` on shard {} from checkpoint {}: {why}",
            context.operator_names[operator.0 as usize], context.shard, point.checkpoint
        ))
    };
    let bytes = point
        .part_of_shard(operator.0, context.shard)
        .ok_or_else(|| restore_error("the checkpoint holds no offset for it".into()))?;
    let offset: u64 = postcard::from_bytes(bytes)
        .map_err(|e| restore_error(format!("undecodable offset: {e}")))?;
    split.seek(offset);
    Ok(())
}

/// How a source split is paced: its rate limit, and after how long without records it
/// declares itself idle.
pub(crate) struct SourcePace {
    pub(crate) rate_per_shard: Option<f64>,
    pub(crate) idle_timeout: Option<Duration>,
}

/// The stage that receives `exchanges` on this shard and pushes into the chain `head` makes.
pub(crate) fn receiver_stage<T: Data>(
    builder: &mut ShardBuilder,
    exchanges: &[ExchangeId],
    head: impl FnOnce(&mut ShardBuilder) -> BoxOutput<T>,
) -> StageTask {
    let gate = Gate::new(inbound_of::<T>(builder, exchanges));
    let (chain, parts) = builder.stage_chain(head);
    let stage = Stage::new(builder, chain, parts);
    Box::pin(stage.run_receiver(gate))
}

/// The stage of a two-input operator: receives `first` and `second` on this shard and
/// drives the operator `head` makes.
pub(crate) fn two_input_stage<A: Data, B: Data>(
    builder: &mut ShardBuilder,
    first: &[ExchangeId],
    second: &[ExchangeId],
    head: impl FnOnce(&mut ShardBuilder) -> BoxTwoInput<A, B>,
) -> StageTask {
    let first = Gate::new(inbound_of::<A>(builder, first));
    let second = Gate::new(inbound_of::<B>(builder, second));
    let (chain, parts) = builder.stage_chain(head);
    let stage = Stage::new(builder, chain, parts);
    Box::pin(stage.run_two_input(first, second))
}

pub(super) fn inbound_of<T: Data>(
    builder: &mut ShardBuilder,
    exchanges: &[ExchangeId],
) -> Vec<Inbound<T>> {
    exchanges
        .iter()
        .flat_map(|&exchange| builder.inbound::<T>(exchange))
        .collect()
}

/// What a stage pushes its input into: a one-input chain or a two-input operator.
pub(super) trait StageChain {
    /// The stage's input is over.
    fn end(&mut self);
    /// A checkpoint barrier passes the stage.
    fn barrier(&mut self, snapshot: &mut StageSnapshot);
}

impl<T> StageChain for BoxOutput<T> {
    fn end(&mut self) {
        self.as_mut().end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        self.as_mut().barrier(snapshot);
    }
}

impl<A, B> StageChain for BoxTwoInput<A, B> {
    fn end(&mut self) {
        self.as_mut().end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        self.as_mut().barrier(snapshot);
    }
}

pub(super) struct Stage<C> {
    pub(super) context: Rc<ShardContext>,
    pub(super) chain: C,
    drains: Vec<Rc<dyn Drain>>,
    timers: Vec<Rc<dyn ProcessingTimers>>,
    /// The aligned watermarks of the chain: a source stage reads only while none is ahead.
    alignments: Vec<Rc<AlignmentSlot>>,
    /// When partial batches were last shipped.
    flushed_at: Instant,
    /// The stage's index in the job, which names its checkpoint files.
    index: usize,
}

impl<T: Data> Stage<BoxOutput<T>> {
    async fn run_source(
        mut self,
        operator: OperatorId,
        mut split: Box<dyn SourceSplit<T>>,
        pace: SourcePace,
    ) -> Result<(), JobError> {
        let batch_size = self.context.config.batch_size;
        let mut throttle = pace.rate_per_shard.map(Throttle::new);
        // Since when the split has had nothing to give, and whether it said so downstream.
        let mut quiet_since: Option<Instant> = None;
        let mut announced_idle = false;
        let mut injected = 0;
        loop {
            if self.context.control.is_cancelled() {
                return Err(JobError::Cancelled);
            }
            self.inject_due_barrier(operator, &*split, &mut injected)?;
            if self.alignments.iter().any(|slot| slot.ahead()) {
                // Too far ahead of another shard in event time: let it catch up, shipping,
                // checkpointing and firing timers meanwhile.
                self.flush().await?;
                self.fire_timers()?;
                glommio::timer::sleep(QUIET_POLL).await;
                continue;
            }
            let max = match throttle.as_ref().map(|t| t.due(batch_size)) {
                None => batch_size,
                Some(Ok(due)) => due,
                Some(Err(wait)) => {
                    self.flush().await?;
                    glommio::timer::sleep(wait.max(MIN_SLEEP)).await;
                    continue;
                }
            };
            let mut batch = Vec::with_capacity(max);
            let more = guard(&self.context, || {
                enter(operator);
                split.next_batch(&mut batch, max)
            })?;
            if let Some(throttle) = throttle.as_mut() {
                throttle.emitted(batch.len());
            }
            let counters = self.context.metrics.shard(self.context.shard);
            ShardCounters::add(&counters.source_records, batch.len());
            if !more {
                if !batch.is_empty() {
                    guard(&self.context, || self.chain.push(batch))?;
                }
                let stopping = self
                    .context
                    .checkpoints
                    .as_ref()
                    .is_some_and(|c| c.range.cut.is_some());
                if stopping {
                    return self.wait_at_cut(operator, &*split, injected).await;
                }
                let mut end = StageSnapshot::default();
                end.add(operator.0, &split.offset());
                return self.finish_with(end).await;
            }
            if batch.is_empty() {
                // Nothing to read now: ship what is held, say so after the idleness
                // timeout, and look again shortly.
                let since = *quiet_since.get_or_insert_with(Instant::now);
                self.flush().await?;
                if !announced_idle && pace.idle_timeout.is_some_and(|t| since.elapsed() >= t) {
                    self.announce_idle().await?;
                    announced_idle = true;
                }
                self.fire_timers()?;
                // Until records may be there (if the split can tell), at most a short nap:
                // barriers, timers and cancellation are looked at after it.
                let mut registered = false;
                let records = poll_fn(|cx| {
                    if registered {
                        return Poll::Ready(());
                    }
                    registered = split.wake_on_records(cx.waker());
                    Poll::Pending
                });
                or(records, glommio::timer::sleep(QUIET_POLL)).await;
                continue;
            }
            quiet_since = None;
            announced_idle = false;
            guard(&self.context, || self.chain.push(batch))?;
            self.after_batch().await?;
        }
    }

    /// Sends barrier `n` down the chain if the coordinator asks for a newer one than the
    /// split has seen, with the split's offset.
    fn inject_due_barrier(
        &mut self,
        operator: OperatorId,
        split: &dyn SourceSplit<T>,
        injected: &mut u64,
    ) -> Result<(), JobError> {
        let Some(checkpoints) = &self.context.checkpoints else {
            return Ok(());
        };
        let requested = checkpoints.request.requested();
        if requested > *injected {
            *injected = requested;
            let offset = split.offset();
            self.checkpoint(requested, |snapshot| snapshot.add(operator.0, &offset))?;
        }
        Ok(())
    }

    /// The split stands at the position where the job stops with a savepoint: say so, then
    /// pass on the barriers the coordinator asks for (the savepoint's among them) without
    /// ending the stream, until the coordinator stops the job.
    async fn wait_at_cut(
        mut self,
        operator: OperatorId,
        split: &dyn SourceSplit<T>,
        mut injected: u64,
    ) -> Result<(), JobError> {
        self.flush().await?;
        if let Some(checkpoints) = &self.context.checkpoints {
            checkpoints.at_cut(self.context.shard, self.index);
        }
        loop {
            if self.context.control.is_cancelled() {
                return Err(JobError::Cancelled);
            }
            self.inject_due_barrier(operator, split, &mut injected)?;
            self.flush().await?;
            self.fire_timers()?;
            glommio::timer::sleep(QUIET_POLL).await;
        }
    }

    async fn run_receiver(mut self, mut gate: Gate<T>) -> Result<(), JobError> {
        loop {
            let input = gate.try_next().map_err(|_| self.disconnected())?;
            match input {
                Some(Input::Data(batch)) => guard(&self.context, || self.chain.push(batch))?,
                Some(Input::Watermark(watermark)) => {
                    guard(&self.context, || self.chain.watermark(watermark))?
                }
                Some(Input::Idle) => self.announce_idle().await?,
                Some(Input::Barrier(id)) => self.checkpoint(id, |_| {})?,
                None if gate.is_finished() => return self.finish().await,
                None => {
                    self.wait_for_input(|cx| gate.poll_ready(cx)).await?;
                    continue;
                }
            }
            self.after_batch().await?;
        }
    }
}

impl<A: Data, B: Data> Stage<BoxTwoInput<A, B>> {
    async fn run_two_input(
        mut self,
        mut first: Gate<A>,
        mut second: Gate<B>,
    ) -> Result<(), JobError> {
        let mut watermarks = [Timestamp::MIN; 2];
        let mut idle = [false; 2];
        let mut combined = Timestamp::MIN;
        // The barrier each input has delivered and is held at until the other delivers it.
        let mut held: [Option<u64>; 2] = [None; 2];
        loop {
            let first_input = match held[0] {
                None => first.try_next().map_err(|_| self.disconnected())?,
                Some(_) => None,
            };
            let second_input = match held[1] {
                None => second.try_next().map_err(|_| self.disconnected())?,
                Some(_) => None,
            };
            let progressed = first_input.is_some() || second_input.is_some();
            idle[0] =
                matches!(first_input, Some(Input::Idle)) || (idle[0] && first_input.is_none());
            idle[1] =
                matches!(second_input, Some(Input::Idle)) || (idle[1] && second_input.is_none());
            match first_input {
                Some(Input::Data(batch)) => guard(&self.context, || self.chain.push_first(batch))?,
                Some(Input::Watermark(watermark)) => watermarks[0] = watermark,
                Some(Input::Barrier(id)) => held[0] = Some(id),
                Some(Input::Idle) | None => {}
            }
            match second_input {
                Some(Input::Data(batch)) => guard(&self.context, || self.chain.push_second(batch))?,
                Some(Input::Watermark(watermark)) => watermarks[1] = watermark,
                Some(Input::Barrier(id)) => held[1] = Some(id),
                Some(Input::Idle) | None => {}
            }
            if let Some(id) = align(&mut held, [first.is_finished(), second.is_finished()]) {
                self.checkpoint(id, |_| {})?;
            }
            // An idle input does not hold the watermark back; two idle inputs make the
            // stage idle.
            let active = watermarks
                .iter()
                .zip(idle)
                .filter(|(_, idle)| !idle)
                .map(|(watermark, _)| *watermark)
                .min();
            match active {
                Some(minimum) if minimum > combined => {
                    combined = minimum;
                    guard(&self.context, || self.chain.watermark(minimum))?;
                }
                Some(_) => {}
                None => self.announce_idle().await?,
            }
            if progressed {
                self.after_batch().await?;
            } else if first.is_finished() && second.is_finished() {
                return self.finish().await;
            } else {
                // A finished gate is always ready; wait only on the live ones.
                // A finished gate is always ready, and a held one must not be read: wait only
                // on the others.
                self.wait_for_input(|cx| {
                    let first_ready = !first.is_finished()
                        && held[0].is_none()
                        && first.poll_ready(cx).is_ready();
                    let second_ready = !second.is_finished()
                        && held[1].is_none()
                        && second.poll_ready(cx).is_ready();
                    if first_ready || second_ready {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await?;
            }
        }
    }
}

/// Aligns a barrier across the two inputs of a stage: `held` is the barrier each input has
/// delivered. A barrier older than the other input's was abandoned and is dropped. Returns
/// the barrier once each input has delivered it or finished, and releases both.
fn align(held: &mut [Option<u64>; 2], finished: [bool; 2]) -> Option<u64> {
    let newest = held.iter().flatten().copied().max()?;
    for slot in held.iter_mut() {
        if slot.is_some_and(|id| id < newest) {
            *slot = None;
        }
    }
    let complete = held
        .iter()
        .zip(finished)
        .all(|(slot, finished)| *slot == Some(newest) || finished);
    complete.then(|| {
        *held = [None; 2];
        newest
    })
}

impl<C: StageChain> Stage<C> {
    pub(super) fn new(builder: &ShardBuilder, chain: C, parts: StageParts) -> Self {
        Self {
            context: builder.context.clone(),
            chain,
            drains: parts.drains,
            timers: parts.timers,
            alignments: parts.alignments,
            flushed_at: Instant::now(),
            index: builder.stage_index(),
        }
    }

    /// Barrier `id` reached the stage: `also` adds what the stage itself holds (a source's
    /// offset), the barrier passes the chain (each operator adds its state and forwards it),
    /// and the snapshot goes to the coordinator.
    pub(super) fn checkpoint(
        &mut self,
        id: u64,
        also: impl FnOnce(&mut StageSnapshot),
    ) -> Result<(), JobError> {
        let Some(checkpoints) = &self.context.checkpoints else {
            return Ok(());
        };
        let mut snapshot = StageSnapshot::new(id);
        snapshot.completed = checkpoints.request.delta_base(id);
        also(&mut snapshot);
        guard(&self.context, || self.chain.barrier(&mut snapshot))?;
        // In a guard: a crash point armed in process (tests) panics, and fails the job.
        guard(&self.context, || crash_point("after-barrier-alignment"))?;
        checkpoints.ack(self.context.shard, self.index, snapshot);
        Ok(())
    }

    /// Nothing to read: ships partial batches, then waits until `ready` says some input may
    /// be there or the next processing-time timer is due (and fires it).
    pub(super) async fn wait_for_input(
        &mut self,
        mut ready: impl FnMut(&mut std::task::Context<'_>) -> Poll<()>,
    ) -> Result<(), JobError> {
        self.flush().await?;
        match self.next_timer() {
            None => poll_fn(ready).await,
            Some(deadline) => {
                let wait = deadline.saturating_sub(processing_time_now()).max(0);
                or(poll_fn(&mut ready), async {
                    glommio::timer::sleep(Duration::from_millis(wait as u64)).await;
                })
                .await;
                self.fire_timers()?;
            }
        }
        Ok(())
    }

    /// Keeps the exchanges moving after a batch: ships partial batches older than the buffer
    /// timeout, waits for credit for whatever is backlogged, and lets the shard's other stages
    /// run.
    pub(super) async fn after_batch(&mut self) -> Result<(), JobError> {
        self.fire_timers()?;
        if !self.drains.is_empty()
            && self.flushed_at.elapsed() >= self.context.config.buffer_timeout
        {
            self.flush().await?;
        } else {
            if self.context.config.batching == Batching::Latency {
                for drain in &self.drains {
                    drain.flush_drained();
                }
            }
            self.drain().await?;
        }
        yield_now().await;
        Ok(())
    }

    /// Tells every receiver of the stage's exchanges that this shard's part of the stream is
    /// idle (after shipping partial batches).
    pub(super) async fn announce_idle(&mut self) -> Result<(), JobError> {
        self.mark_idle();
        self.drain().await
    }

    /// Ships partial batches and queues the idle mark on every exchange (the next drain
    /// sends it).
    pub(super) fn mark_idle(&mut self) {
        for drain in &self.drains {
            drain.idle();
        }
        // An idle stage holds no other shard back; its next batch publishes again.
        for slot in &self.alignments {
            slot.release();
        }
        self.flushed_at = Instant::now();
    }

    /// The earliest processing-time timer of the stage's operators.
    fn next_timer(&self) -> Option<Timestamp> {
        self.timers
            .iter()
            .filter_map(|t| t.next_processing_time())
            .min()
    }

    /// Fires the processing-time timers that are due.
    fn fire_timers(&self) -> Result<(), JobError> {
        if self.timers.is_empty() {
            return Ok(());
        }
        let now = processing_time_now();
        for timers in &self.timers {
            if timers
                .next_processing_time()
                .is_some_and(|next| next <= now)
            {
                guard(&self.context, || timers.on_processing_time(now))?;
            }
        }
        Ok(())
    }

    /// End of input: the chain flushes and sends end-of-stream downstream.
    pub(super) async fn finish(self) -> Result<(), JobError> {
        self.finish_with(StageSnapshot::default()).await
    }

    /// End of input, with what checkpoints taken after it save for this stage (a source
    /// stage's offset at the end of its split; its operators, flushed, save nothing).
    async fn finish_with(mut self, end: StageSnapshot) -> Result<(), JobError> {
        guard(&self.context, || self.chain.end())?;
        self.flush().await?;
        if let Some(checkpoints) = &self.context.checkpoints {
            checkpoints.finished(self.context.shard, self.index, end);
        }
        Ok(())
    }

    /// Ships partial batches and waits until every exchange has taken them.
    async fn flush(&mut self) -> Result<(), JobError> {
        for drain in &self.drains {
            drain.flush();
        }
        self.flushed_at = Instant::now();
        self.drain().await
    }

    /// Waits until every backlogged batch has found credit.
    async fn drain(&self) -> Result<(), JobError> {
        poll_fn(|cx| {
            let mut pending = false;
            for drain in &self.drains {
                match drain.poll_drain(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(Err(self.disconnected())),
                    Poll::Pending => pending = true,
                }
            }
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        })
        .await
    }

    pub(super) fn disconnected(&self) -> JobError {
        JobError::Disconnected {
            shard: self.context.shard,
        }
    }
}
