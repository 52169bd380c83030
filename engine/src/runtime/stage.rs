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
use crate::exchange::gate::{Gate, Input};
use crate::exchange::outbox::Drain;
use crate::metrics::ShardCounters;
use crate::operators::{current, enter, BoxOutput, OperatorId, ProcessingTimers};
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
    let inbound = exchanges
        .iter()
        .flat_map(|&exchange| builder.inbound::<T>(exchange))
        .collect();
    let (chain, parts) = builder.stage_chain(head);
    let stage = Stage::new(builder, chain, parts);
    Box::pin(stage.run_receiver(Gate::new(inbound)))
}

struct Stage<T> {
    context: Rc<ShardContext>,
    chain: BoxOutput<T>,
    drains: Vec<Rc<dyn Drain>>,
    timers: Vec<Rc<dyn ProcessingTimers>>,
    /// When partial batches were last shipped.
    flushed_at: Instant,
}

impl<T: Data> Stage<T> {
    fn new(builder: &ShardBuilder, chain: BoxOutput<T>, parts: StageParts) -> Self {
        Self {
            context: builder.context.clone(),
            chain,
            drains: parts.drains,
            timers: parts.timers,
            flushed_at: Instant::now(),
        }
    }

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
                    self.flush().await?;
                    match self.next_timer() {
                        None => poll_fn(|cx| gate.poll_ready(cx)).await,
                        Some(deadline) => {
                            let wait = deadline.saturating_sub(processing_time_now()).max(0);
                            or(poll_fn(|cx| gate.poll_ready(cx)), async {
                                glommio::timer::sleep(Duration::from_millis(wait as u64)).await;
                            })
                            .await;
                            self.fire_timers()?;
                        }
                    }
                    continue;
                }
            }
            self.after_batch().await?;
        }
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
