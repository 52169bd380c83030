//! The stage of an async operator: up to `capacity` requests in flight per shard, polled by
//! the stage's own task (no task per request), each raced against its timeout.
//!
//! In-flight requests and watermarks sit in one queue in input order. Ordered mode emits
//! from the head as requests complete; unordered mode emits any completed request that no
//! watermark precedes. Either way a watermark leaves only after every request before it, so
//! results are never late because of the asynchrony. A full queue stops reading input, so
//! a slow service backpressures the sources.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::future::or;

use super::stage::{guard, inbound_of, Stage};
use crate::error::JobError;
use crate::exchange::gate::{Gate, Input};
use crate::operators::{
    enter, AsyncOptions, BoxOutput, OperatorId, ResultOrder, SideOutputs, TimeoutPolicy,
};
use crate::plan::{Data, ExchangeId, ShardBuilder, StageTask};
use crate::time::Timestamp;

/// A request's outcome: its result, or a timeout (with the record that asked, if the
/// timeout policy needs it).
type Outcome<T, U> = Result<U, Option<T>>;

/// A request in flight.
type Request<T, U> = Pin<Box<dyn Future<Output = Outcome<T, U>>>>;

enum Entry<T, U> {
    Pending(Request<T, U>),
    Done(Outcome<T, U>),
    /// A control message, passed on once everything before it has left.
    Marker(Marker),
}

/// The control messages that queue up behind requests.
#[derive(Clone, Copy)]
enum Marker {
    Watermark(Timestamp),
    /// The input went idle.
    Idle,
    /// Checkpoint barrier `n`: it passes once every request before it has completed, so a
    /// checkpoint never holds requests in flight.
    Barrier(u64),
}

/// What the async stage needs besides its input and chain.
pub(crate) struct AsyncOperator<T, F> {
    pub(crate) id: OperatorId,
    pub(crate) function: F,
    pub(crate) options: AsyncOptions<T>,
    pub(crate) side: SideOutputs,
}

/// The async stage on this shard: receives `exchange` and calls `operator.function` on each
/// record, pushing results into the chain `head` makes.
pub(crate) fn async_stage<T, U, F, Fut>(
    builder: &mut ShardBuilder,
    exchange: ExchangeId,
    operator: AsyncOperator<T, F>,
    head: impl FnOnce(&mut ShardBuilder) -> BoxOutput<U>,
) -> StageTask
where
    T: Data,
    U: Data,
    F: Fn(T) -> Fut + 'static,
    Fut: Future<Output = U> + 'static,
{
    let gate = Gate::new(inbound_of::<T>(builder, &[exchange]));
    let (chain, parts) = builder.stage_chain(head);
    let stage = Stage::new(builder, chain, parts);
    Box::pin(stage.run_async(gate, operator))
}

impl<U: Data> Stage<BoxOutput<U>> {
    async fn run_async<T, F, Fut>(
        mut self,
        mut gate: Gate<T>,
        mut operator: AsyncOperator<T, F>,
    ) -> Result<(), JobError>
    where
        T: Data,
        F: Fn(T) -> Fut + 'static,
        Fut: Future<Output = U> + 'static,
    {
        let mut queue: VecDeque<Entry<T, U>> = VecDeque::new();
        let mut waiting: VecDeque<T> = VecDeque::new();
        loop {
            let mut in_flight = queue
                .iter()
                .filter(|entry| matches!(entry, Entry::Pending(_)))
                .count();
            // Start requests while there is room, reading input only when nothing waits.
            let mut progressed = false;
            while in_flight < operator.options.capacity {
                if let Some(record) = waiting.pop_front() {
                    let request = guard(&self.context, || start(&operator, record))?;
                    queue.push_back(Entry::Pending(request));
                    in_flight += 1;
                    progressed = true;
                    continue;
                }
                match gate.try_next().map_err(|_| self.disconnected())? {
                    Some(Input::Data(batch)) => waiting.extend(batch),
                    Some(Input::Watermark(watermark)) => {
                        queue.push_back(Entry::Marker(Marker::Watermark(watermark)))
                    }
                    Some(Input::Idle) => queue.push_back(Entry::Marker(Marker::Idle)),
                    Some(Input::Barrier(id)) => queue.push_back(Entry::Marker(Marker::Barrier(id))),
                    None => break,
                }
                progressed = true;
            }
            let completed = poll_fn(|cx| Poll::Ready(poll_requests(&mut queue, cx))).await;
            in_flight -= completed;
            let emitted = self.emit_ready(&mut queue, &mut operator)?;
            if progressed || completed > 0 || emitted {
                self.after_batch().await?;
                continue;
            }
            if gate.is_finished() && waiting.is_empty() && queue.is_empty() {
                guard(&self.context, || operator.side.end())?;
                return self.finish().await;
            }
            // Wait for a request to complete or for input (if there is room for it).
            let room = in_flight < operator.options.capacity && !gate.is_finished();
            self.wait_for_input(|cx| {
                let request_done = poll_requests(&mut queue, cx) > 0;
                let input = room && gate.poll_ready(cx).is_ready();
                if request_done || input {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await?;
        }
    }

    /// Emits what may leave the queue now; returns whether anything did.
    fn emit_ready<T: Data, F>(
        &mut self,
        queue: &mut VecDeque<Entry<T, U>>,
        operator: &mut AsyncOperator<T, F>,
    ) -> Result<bool, JobError> {
        let mut results = Vec::new();
        let mut timed_out = Vec::new();
        // Control messages with the number of results that go before them.
        let mut markers: Vec<(usize, Marker)> = Vec::new();
        loop {
            match queue.front() {
                Some(Entry::Done(_)) => {
                    if let Some(Entry::Done(result)) = queue.pop_front() {
                        sort_result(result, &mut results, &mut timed_out);
                    }
                }
                Some(Entry::Marker(marker)) => {
                    // Everything before it has left: it may go, after the results.
                    markers.push((results.len(), *marker));
                    queue.pop_front();
                }
                Some(Entry::Pending(_)) if operator.options.order == ResultOrder::Unordered => {
                    // Completed requests up to the next watermark may overtake pending ones.
                    let segment = queue
                        .iter()
                        .position(|entry| matches!(entry, Entry::Marker(_)))
                        .unwrap_or(queue.len());
                    let mut index = 0;
                    let mut remaining = segment;
                    while index < remaining {
                        if matches!(queue[index], Entry::Done(_)) {
                            if let Some(Entry::Done(result)) = queue.remove(index) {
                                sort_result(result, &mut results, &mut timed_out);
                            }
                            remaining -= 1;
                        } else {
                            index += 1;
                        }
                    }
                    break;
                }
                Some(Entry::Pending(_)) | None => break,
            }
        }
        if !timed_out.is_empty() {
            match &operator.options.on_timeout {
                TimeoutPolicy::Fail => {
                    return Err(JobError::OperatorFailed {
                        operator: self.context.operator_names[operator.id.0 as usize].clone(),
                        shard: self.context.shard,
                        message: format!(
                            "an async request timed out after {:?}",
                            operator.options.timeout
                        ),
                    });
                }
                TimeoutPolicy::SideOutput(tag) => {
                    for record in timed_out.into_iter().flatten() {
                        operator.side.emit(tag, record);
                    }
                    operator.side.flush();
                }
            }
        }
        let emitted = !results.is_empty() || !markers.is_empty();
        // Results and markers leave interleaved as they were queued.
        let mut sent = 0;
        for (before, marker) in markers {
            let batch: Vec<U> = results.drain(..before - sent).collect();
            sent = before;
            if !batch.is_empty() {
                guard(&self.context, || self.chain.push(batch))?;
            }
            match marker {
                Marker::Watermark(watermark) => {
                    guard(&self.context, || self.chain.watermark(watermark))?;
                    operator.side.watermark(watermark);
                }
                Marker::Idle => self.mark_idle(),
                Marker::Barrier(id) => {
                    self.checkpoint(id, |snapshot| operator.side.barrier(snapshot))?
                }
            }
        }
        if !results.is_empty() {
            guard(&self.context, || self.chain.push(results))?;
        }
        Ok(emitted)
    }
}

/// Starts the request for `record`, raced against the timeout.
fn start<T: Data, U: 'static, F, Fut>(operator: &AsyncOperator<T, F>, record: T) -> Request<T, U>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = U> + 'static,
{
    enter(operator.id);
    let keep = match operator.options.on_timeout {
        TimeoutPolicy::Fail => None,
        TimeoutPolicy::SideOutput(_) => Some(record.clone()),
    };
    let request = (operator.function)(record);
    let timeout = operator.options.timeout;
    Box::pin(or(async move { Ok(request.await) }, async move {
        glommio::timer::sleep(timeout).await;
        Err(keep)
    }))
}

/// Polls every pending request once; returns how many completed.
fn poll_requests<T, U>(queue: &mut VecDeque<Entry<T, U>>, cx: &mut Context<'_>) -> usize {
    let mut completed = 0;
    for entry in queue.iter_mut() {
        if let Entry::Pending(request) = entry {
            if let Poll::Ready(result) = request.as_mut().poll(cx) {
                *entry = Entry::Done(result);
                completed += 1;
            }
        }
    }
    completed
}

fn sort_result<T, U>(result: Outcome<T, U>, results: &mut Vec<U>, timed_out: &mut Vec<Option<T>>) {
    match result {
        Ok(value) => results.push(value),
        Err(record) => timed_out.push(record),
    }
}
