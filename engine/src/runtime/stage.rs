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
use super::ShardContext;
use crate::connectors::SourceSplit;
use crate::error::JobError;
use crate::exchange::channel::Inbound;
use crate::exchange::gate::{Gate, Input};
use crate::exchange::outbox::Drain;
use crate::metrics::ShardCounters;
use crate::operators::{current, enter, BoxOutput, BoxTwoInput, OperatorId, ProcessingTimers};
use crate::plan::{Data, ExchangeId, ShardBuilder, StageParts, StageTask};
use crate::time::{processing_time_now, Timestamp};

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

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panicked with a non-string payload".to_string()
    }
}

/// The stage of a source on this shard: reads `split` and pushes into the chain `head` makes.
pub(crate) fn source_stage<T: Data>(
    builder: &mut ShardBuilder,
    operator: OperatorId,
    split: Box<dyn SourceSplit<T>>,
    rate_per_shard: Option<f64>,
    head: impl FnOnce(&mut ShardBuilder) -> BoxOutput<T>,
) -> StageTask {
    let (chain, parts) = builder.stage_chain(head);
    let stage = Stage::new(builder, chain, parts);
    Box::pin(stage.run_source(operator, split, rate_per_shard.map(Throttle::new)))
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

fn inbound_of<T: Data>(builder: &mut ShardBuilder, exchanges: &[ExchangeId]) -> Vec<Inbound<T>> {
    exchanges
        .iter()
        .flat_map(|&exchange| builder.inbound::<T>(exchange))
        .collect()
}

/// What a stage pushes its input into: a one-input chain or a two-input operator.
trait StageChain {
    /// The stage's input is over.
    fn end(&mut self);
}

impl<T> StageChain for BoxOutput<T> {
    fn end(&mut self) {
        self.as_mut().end();
    }
}

impl<A, B> StageChain for BoxTwoInput<A, B> {
    fn end(&mut self) {
        self.as_mut().end();
    }
}

struct Stage<C> {
    context: Rc<ShardContext>,
    chain: C,
    drains: Vec<Rc<dyn Drain>>,
    timers: Vec<Rc<dyn ProcessingTimers>>,
    /// When partial batches were last shipped.
    flushed_at: Instant,
}

impl<T: Data> Stage<BoxOutput<T>> {
    async fn run_source(
        mut self,
        operator: OperatorId,
        mut split: Box<dyn SourceSplit<T>>,
        mut throttle: Option<Throttle>,
    ) -> Result<(), JobError> {
        let batch_size = self.context.config.batch_size;
        loop {
            if self.context.control.is_cancelled() {
                return Err(JobError::Cancelled);
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
            if !batch.is_empty() {
                guard(&self.context, || self.chain.push(batch))?;
            }
            if !more {
                return self.finish().await;
            }
            self.after_batch().await?;
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
        let mut combined = Timestamp::MIN;
        loop {
            let first_input = first.try_next().map_err(|_| self.disconnected())?;
            let second_input = second.try_next().map_err(|_| self.disconnected())?;
            let progressed = first_input.is_some() || second_input.is_some();
            match first_input {
                Some(Input::Data(batch)) => guard(&self.context, || self.chain.push_first(batch))?,
                Some(Input::Watermark(watermark)) => watermarks[0] = watermark,
                None => {}
            }
            match second_input {
                Some(Input::Data(batch)) => guard(&self.context, || self.chain.push_second(batch))?,
                Some(Input::Watermark(watermark)) => watermarks[1] = watermark,
                None => {}
            }
            let minimum = watermarks[0].min(watermarks[1]);
            if minimum > combined {
                combined = minimum;
                guard(&self.context, || self.chain.watermark(minimum))?;
            }
            if progressed {
                self.after_batch().await?;
            } else if first.is_finished() && second.is_finished() {
                return self.finish().await;
            } else {
                // A finished gate is always ready; wait only on the live ones.
                self.wait_for_input(|cx| {
                    let first_ready = !first.is_finished() && first.poll_ready(cx).is_ready();
                    let second_ready = !second.is_finished() && second.poll_ready(cx).is_ready();
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

impl<C: StageChain> Stage<C> {
    fn new(builder: &ShardBuilder, chain: C, parts: StageParts) -> Self {
        Self {
            context: builder.context.clone(),
            chain,
            drains: parts.drains,
            timers: parts.timers,
            flushed_at: Instant::now(),
        }
    }

    /// Nothing to read: ships partial batches, then waits until `ready` says some input may
    /// be there or the next processing-time timer is due (and fires it).
    async fn wait_for_input(
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
    async fn after_batch(&mut self) -> Result<(), JobError> {
        self.fire_timers()?;
        if !self.drains.is_empty()
            && self.flushed_at.elapsed() >= self.context.config.buffer_timeout
        {
            self.flush().await?;
        } else {
            self.drain().await?;
        }
        yield_now().await;
        Ok(())
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
    async fn finish(mut self) -> Result<(), JobError> {
        guard(&self.context, || self.chain.end())?;
        self.flush().await
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

    fn disconnected(&self) -> JobError {
        JobError::Disconnected {
            shard: self.context.shard,
        }
    }
}
