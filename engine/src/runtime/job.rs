//! Starting a job's shards, and the handle that waits for them.

use std::any::Any;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};

use super::stage::guard;
use super::{JobControl, ShardContext};
use crate::config::JobConfig;
use crate::error::JobError;
use crate::metrics::JobMetrics;
use crate::plan::{Graph, ShardBuilder};

static NEXT_JOB: AtomicU64 = AtomicU64::new(0);

/// What a finished job reports.
#[derive(Debug, Clone)]
pub struct JobReport {
    /// Wall-clock time from start to the last shard's end.
    pub elapsed: Duration,
    /// Records emitted by all sources.
    pub source_records: u64,
    /// Records taken by all sinks.
    pub sink_records: u64,
}

/// A running job: wait for it, cancel it, or read its metrics while it runs.
///
/// Dropping the handle cancels the job and waits for its shards, so no shard thread outlives
/// it.
pub struct JobHandle {
    id: u64,
    shards: Vec<ExecutorJoinHandle<()>>,
    control: Arc<JobControl>,
    metrics: Arc<JobMetrics>,
    started: Instant,
}

impl JobHandle {
    /// Asks every shard to stop; [`join`](JobHandle::join) then returns
    /// [`JobError::Cancelled`] (unless the job finished first).
    pub fn cancel(&self) {
        self.control.fail(JobError::Cancelled);
    }

    /// The job's live counters.
    pub fn metrics(&self) -> &Arc<JobMetrics> {
        &self.metrics
    }

    /// The prefix of the names of this job's shard threads (`tw<job>-s<shard>`).
    pub fn thread_name_prefix(&self) -> String {
        format!("tw{}-s", self.id)
    }

    /// Waits for every shard to end and reports the job's success or its root failure.
    pub fn join(mut self) -> Result<JobReport, JobError> {
        self.join_shards();
        if let Some(failure) = self.control.take_failure() {
            return Err(failure);
        }
        Ok(JobReport {
            elapsed: self.started.elapsed(),
            source_records: self.metrics.source_records(),
            sink_records: self.metrics.sink_records(),
        })
    }

    fn join_shards(&mut self) {
        for (shard, handle) in std::mem::take(&mut self.shards).into_iter().enumerate() {
            if let Err(error) = handle.join() {
                self.control.fail(JobError::Runtime {
                    shard,
                    message: format!("shard thread failed: {error}"),
                });
            }
        }
    }
}

impl Drop for JobHandle {
    fn drop(&mut self) {
        if !self.shards.is_empty() {
            self.control.cancel();
            self.join_shards();
        }
    }
}

/// Wires the exchanges and starts one executor per shard.
pub(crate) fn start(graph: Graph, config: JobConfig) -> Result<JobHandle, JobError> {
    config.validate()?;
    let shards = config.shards;
    let graph = Arc::new(graph);
    let config = Arc::new(config);
    let control = Arc::new(JobControl::default());
    let metrics = Arc::new(JobMetrics::new(shards));
    let operator_names: Arc<[String]> = graph.operator_names.clone().into();

    let mut bundles: Vec<Vec<Box<dyn Any + Send>>> = (0..shards).map(|_| Vec::new()).collect();
    for wiring in &graph.exchanges {
        for (shard, bundle) in wiring
            .wire(shards, config.channel_credits)
            .into_iter()
            .enumerate()
        {
            bundles[shard].push(bundle);
        }
    }

    let id = NEXT_JOB.fetch_add(1, Ordering::Relaxed);
    let mut handle = JobHandle {
        id,
        shards: Vec::with_capacity(shards),
        control: control.clone(),
        metrics: metrics.clone(),
        started: Instant::now(),
    };
    for (shard, bundles) in bundles.into_iter().enumerate() {
        let placement = config
            .core_of(shard)
            .map_or(Placement::Unbound, Placement::Fixed);
        let executor = LocalExecutorBuilder::new(placement)
            .name(&format!("{}{shard}", handle.thread_name_prefix()))
            .io_memory(config.io_memory)
            .spin_before_park(config.spin_before_park);
        let graph = graph.clone();
        let parts = (
            config.clone(),
            control.clone(),
            metrics.clone(),
            operator_names.clone(),
        );
        let spawned = executor.spawn(move || async move {
            let (config, control, metrics, operator_names) = parts;
            let context = Rc::new(ShardContext {
                shard,
                shards,
                config,
                control,
                metrics,
                operator_names,
            });
            run_shard(graph, context, bundles).await;
        });
        match spawned {
            Ok(joiner) => handle.shards.push(joiner),
            Err(error) => {
                // The shards already started see this shard's channels close and stop.
                control.fail(JobError::Runtime {
                    shard,
                    message: format!("cannot start the shard's executor: {error}"),
                });
                break;
            }
        }
    }
    Ok(handle)
}

/// Builds this shard's stages and runs them to the end; failures go to the job's control.
async fn run_shard(
    graph: Arc<Graph>,
    context: Rc<ShardContext>,
    bundles: Vec<Box<dyn Any + Send>>,
) {
    let mut builder = ShardBuilder::new(graph.clone(), context.clone(), bundles);
    let tasks = guard(&context, || {
        graph
            .stages
            .iter()
            .map(|make| make(&mut builder))
            .collect::<Vec<_>>()
    });
    drop(builder);
    let tasks = match tasks {
        Ok(tasks) => tasks,
        Err(error) => return context.control.fail(error),
    };
    let running: Vec<_> = tasks
        .into_iter()
        .map(|task| {
            let control = context.control.clone();
            glommio::spawn_local(async move {
                if let Err(error) = task.await {
                    control.fail(error);
                }
            })
        })
        .collect();
    for task in running {
        task.await;
    }
}
