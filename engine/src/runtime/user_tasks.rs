//! The user tasks of [`crate::Env::spawn_on_shards`] on one shard: made when the shard
//! starts, run next to its stages, waited for after them, and cancelled with the job; and the
//! tasks they spawn with [`crate::runtime::spawn_local`], whose panics fail the job too.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
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
        .map(|task| glommio::spawn_local(failing_the_job(task, context.control.clone(), shard)))
        .collect())
}

/// [`crate::runtime::spawn_local`]: a detached task of this shard whose panic fails the job.
pub(crate) fn spawn_local(future: impl Future<Output = ()> + 'static) {
    let (control, shard) = SHARD
        .with(|slot| slot.borrow().clone())
        .expect("tidewater::runtime::spawn_local runs on a shard's thread");
    glommio::spawn_local(failing_the_job(future, control, shard)).detach();
}

/// Runs `task`; if it panics, fails the job with the panic's message.
async fn failing_the_job(task: impl Future<Output = ()>, control: Arc<JobControl>, shard: usize) {
    if let Err(payload) = AssertUnwindSafe(task).catch_unwind().await {
        control.fail(failure(shard, payload.as_ref()));
    }
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

thread_local! {
    /// The job and shard this thread runs, for [`spawn_local`].
    static SHARD: RefCell<Option<(Arc<JobControl>, usize)>> = const { RefCell::new(None) };
}

/// Notes that this thread runs `shard` of the job controlled by `control`.
pub(crate) fn enter_shard(control: Arc<JobControl>, shard: usize) {
    SHARD.with(|slot| *slot.borrow_mut() = Some((control, shard)));
}
