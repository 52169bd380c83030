//! Running a job: one glommio executor per shard, a task per stage, and the job's control
//! block through which shards learn that the job failed or was cancelled.
//!
//! All glommio calls live in this module, so that changing the runtime crate (for example to
//! the maintained `glommio-ng` fork) is a one-line manifest change and touches nothing else.

mod alignment;
mod async_io;
mod job;
mod stage;
mod throttle;
mod user_tasks;

pub(crate) use alignment::{AlignmentSlot, WatermarkAlignment};
pub(crate) use async_io::{async_stage, AsyncOperator};
pub(crate) use job::start;
pub use job::{JobHandle, JobReport};
pub(crate) use stage::{receiver_stage, source_split, source_stage, two_input_stage, SourcePace};
pub use throttle::Throttle;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::checkpoint::shard::ShardCheckpoints;
use crate::config::JobConfig;
use crate::error::JobError;
use crate::metrics::JobMetrics;

/// Waits for `duration` on the shard's executor: the timer for async functions (see
/// `DataStream::async_map`) and anything else a job runs on a shard. Outside a shard it
/// panics.
pub async fn sleep(duration: std::time::Duration) {
    glommio::timer::sleep(duration).await;
}

/// Runs `future` as a task of the calling shard, next to the calling task: for a task of
/// [`crate::Env::spawn_on_shards`] to run more work concurrently, such as awaiting each reply
/// in a task of its own. A panic in it fails the job like a panic in the task that spawned
/// it. It runs until it ends or its shard does. Outside a shard's thread it panics.
pub fn spawn_local(future: impl std::future::Future<Output = ()> + 'static) {
    user_tasks::spawn_local(future);
}

/// What every shard shares: cancellation and the job's first (root) failure.
#[derive(Debug, Default)]
pub(crate) struct JobControl {
    cancelled: AtomicBool,
    /// The job stopped, as asked, after taking its savepoint.
    stopped: AtomicBool,
    failure: Mutex<Option<JobError>>,
}

impl JobControl {
    /// Asks every shard to stop.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Stops the job after its savepoint: the shards end as if cancelled, and the job
    /// reports success.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.cancel();
    }

    /// Whether the job was stopped with a savepoint.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Whether the job is stopping.
    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Records a failure and stops the job. The first root cause wins over the
    /// [`Disconnected`](JobError::Disconnected) echoes it causes on other shards, whatever the
    /// order they arrive in.
    pub(crate) fn fail(&self, error: JobError) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        let replace = match failure.as_ref() {
            None => true,
            Some(current) => current.is_consequence() && !error.is_consequence(),
        };
        if replace {
            *failure = Some(error);
        }
        drop(failure);
        self.cancel();
    }

    pub(crate) fn take_failure(&self) -> Option<JobError> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// What a shard's operators may read about where they run.
pub(crate) struct ShardContext {
    pub(crate) shard: usize,
    pub(crate) shards: usize,
    pub(crate) config: Arc<JobConfig>,
    pub(crate) control: Arc<JobControl>,
    pub(crate) metrics: Arc<JobMetrics>,
    pub(crate) operator_names: Arc<[String]>,
    /// The link to the checkpoint coordinator, if the job checkpoints.
    pub(crate) checkpoints: Option<ShardCheckpoints>,
    /// The shards' published watermarks, if the job aligns them.
    pub(crate) alignment: Option<Arc<WatermarkAlignment>>,
}
