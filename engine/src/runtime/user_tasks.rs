//! The user tasks of [`crate::Env::spawn_on_shards`] on one shard: made when the shard
//! starts, run next to its stages, waited for after them, and cancelled with the job.

use std::any::Any;
use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::FutureExt;

use super::stage::panic_message;
use super::{JobControl, ShardContext};
use crate::error::JobError;
use crate::plan::ShardTask;

/// How often a shard whose stages have ended looks whether the job was cancelled while its
/// user tasks run on.
const CANCEL_POLL: Duration = Duration::from_millis(10);

/// The operator a failing user task is reported as.
const OPERATOR: &str = "a task spawned on the shards";

/// Makes this shard's user tasks and starts them. The makers are dropped here, once made:
/// whatever a maker captured (a `Scorer`, say, which keeps the job's requests open) then lives
/// only as long as the tasks that took a copy of it.
pub(crate) fn start(
    makers: Arc<Vec<ShardTask>>,
    context: &ShardContext,
) -> Result<Vec<glommio::Task<()>>, JobError> {
    let shard = context.shard;
    let made = std::panic::catch_unwind(AssertUnwindSafe(|| {
        makers.iter().map(|make| make(shard)).collect::<Vec<_>>()
    }));
    drop(makers);
    let made = made.map_err(|payload| failure(shard, payload.as_ref()))?;
    Ok(made
        .into_iter()
        .map(|task| {
            let control = context.control.clone();
            glommio::spawn_local(async move {
                if let Err(payload) = AssertUnwindSafe(task).catch_unwind().await {
                    control.fail(failure(shard, payload.as_ref()));
                }
            })
        })
        .collect())
}

/// Waits for `tasks` to end, unless the job fails or is cancelled first: then the tasks
/// still running are cancelled, and their futures dropped before this returns (a task waiting
/// for a reply or for room in an ingress would otherwise outlive its shard).
pub(crate) async fn finish(mut tasks: Vec<glommio::Task<()>>, context: &ShardContext) {
    let all_done = async {
        while let Some(task) = tasks.last_mut() {
            task.await;
            tasks.pop();
        }
    };
    let cancelled = async {
        while !context.control.is_cancelled() {
            glommio::timer::sleep(CANCEL_POLL).await;
        }
    };
    all_done.or(cancelled).await;
    for task in tasks {
        task.cancel().await;
    }
}

/// A user task's panic as the job's failure.
fn failure(shard: usize, payload: &(dyn Any + Send)) -> JobError {
    JobError::OperatorFailed {
        operator: OPERATOR.to_string(),
        shard,
        message: panic_message(payload),
    }
}

/// Watches a shard's thread for an end before its shard's: a panic the job's own guards did
/// not catch (in a task that a user task spawned with `glommio::spawn_local`, once that task
/// has waited: glommio runs a new task's first steps inside its spawner) unwinds out of the
/// executor, and the shard's future is never dropped. The watch lives in a thread-local, so
/// the thread's exit drops it, and it then fails the job, so that the other shards stop
/// instead of waiting for this one.
pub(crate) struct ExitWatch {
    /// The job's control block.
    control: Arc<JobControl>,
    /// The shard.
    shard: usize,
    /// The shard ran to its end.
    finished: bool,
}

thread_local! {
    static EXIT_WATCH: RefCell<Option<ExitWatch>> = const { RefCell::new(None) };
}

impl ExitWatch {
    /// Starts watching this thread, which runs `shard`.
    pub(crate) fn start(control: Arc<JobControl>, shard: usize) {
        let watch = ExitWatch {
            control,
            shard,
            finished: false,
        };
        EXIT_WATCH.with(|slot| *slot.borrow_mut() = Some(watch));
    }

    /// The shard has ended as it should: the thread may end.
    pub(crate) fn finished() {
        EXIT_WATCH.with(|slot| {
            if let Some(watch) = slot.borrow_mut().as_mut() {
                watch.finished = true;
            }
        });
    }
}

impl Drop for ExitWatch {
    fn drop(&mut self) {
        if !self.finished {
            self.control.fail(JobError::Runtime {
                shard: self.shard,
                message: "a task on the shard's thread panicked outside the job's operators \
                          and its spawn_on_shards tasks (the panic message is on stderr)"
                    .to_string(),
            });
        }
    }
}
