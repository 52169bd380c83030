//! Starting a job's shards, and the handle that waits for them.

use std::any::Any;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};

use super::stage::guard;
use super::user_tasks;
use super::{JobControl, ShardContext, WatermarkAlignment};
use crate::checkpoint::coordinator::{BarrierRequest, Coordinator, SourceRange};
use crate::checkpoint::restore::{self, RestorePoint};
use crate::checkpoint::shard::ShardCheckpoints;
use crate::checkpoint::{CheckpointConfig, CheckpointStats, Storage};
use crate::config::JobConfig;
use crate::error::JobError;
use crate::metrics::JobMetrics;
use crate::plan::{Graph, ShardBuilder, ShardTask};

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
    /// What the job's checkpoints did (all zero without checkpointing).
    pub checkpoints: CheckpointStats,
    /// How long after the start every shard was ready to process (its state restored).
    pub ready: Duration,
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
    /// The checkpoint coordinator's thread, which ends after the shards.
    coordinator: Option<std::thread::JoinHandle<CheckpointStats>>,
    /// The stats of a job with nothing left to run (it restored a final checkpoint).
    restored_finished: Option<CheckpointStats>,
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
        let checkpoints = self.join_coordinator();
        let failure = self.control.take_failure();
        // A job stopped with its savepoint ended as asked (its shards saw a cancellation).
        if let Some(failure) = failure.filter(|_| !self.control.is_stopped()) {
            return Err(failure);
        }
        Ok(JobReport {
            elapsed: self.started.elapsed(),
            source_records: self.metrics.source_records(),
            sink_records: self.metrics.sink_records(),
            checkpoints,
            ready: self.metrics.ready_after(),
        })
    }

    /// Waits for the coordinator (it ends once every shard has) and takes its stats.
    fn join_coordinator(&mut self) -> CheckpointStats {
        if let Some(stats) = self.restored_finished.take() {
            return stats;
        }
        match self.coordinator.take().map(std::thread::JoinHandle::join) {
            None => CheckpointStats::default(),
            Some(Ok(stats)) => stats,
            Some(Err(_)) => {
                self.control.fail(JobError::Checkpoint(
                    "the checkpoint coordinator panicked".into(),
                ));
                CheckpointStats::default()
            }
        }
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
        if let Some(coordinator) = self.coordinator.take() {
            let _ = coordinator.join();
        }
    }
}

/// Wires the exchanges and starts one executor per shard.
pub(crate) fn start(mut graph: Graph, config: JobConfig) -> Result<JobHandle, JobError> {
    config.validate()?;
    let shards = config.shards;
    // Not kept with the graph, which the shards hold to the end: see `user_tasks::start`.
    let user_task_makers = Arc::new(std::mem::take(&mut graph.shard_tasks));
    let graph = Arc::new(graph);
    let config = Arc::new(config);
    let control = Arc::new(JobControl::default());
    let metrics = Arc::new(JobMetrics::new(shards));
    let operator_names: Arc<[String]> = graph.operator_names.clone().into();
    let alignment = config.watermark_alignment.map(|drift| {
        let drift = i64::try_from(drift.as_millis()).unwrap_or(i64::MAX);
        WatermarkAlignment::new(drift, operator_names.len(), shards)
    });
    let id = NEXT_JOB.fetch_add(1, Ordering::Relaxed);
    let mut handle = JobHandle {
        id,
        shards: Vec::with_capacity(shards),
        control: control.clone(),
        metrics: metrics.clone(),
        started: Instant::now(),
        coordinator: None,
        restored_finished: None,
    };
    let checkpoints = match &config.checkpointing {
        None => None,
        Some(checkpointing) => {
            let prepared = prepare_checkpoints(checkpointing, &config)?;
            if let Some(point) = prepared.restore.as_ref().filter(|point| point.finished) {
                // The job had already run to its end: there is nothing left to do.
                handle.restored_finished = Some(CheckpointStats {
                    restored_from: Some(point.checkpoint),
                    ..CheckpointStats::default()
                });
                return Ok(handle);
            }
            let (acks, received) = std::sync::mpsc::channel();
            let request = Arc::new(BarrierRequest::default());
            let range = SourceRange {
                from: prepared
                    .restore
                    .as_ref()
                    .map_or(0, RestorePoint::source_from),
                cut: checkpointing.stop_at.as_ref().map(|(_, at)| *at),
            };
            let coordinator = Coordinator {
                storage: prepared.storage,
                config: checkpointing.clone(),
                request: request.clone(),
                control: control.clone(),
                metrics: metrics.clone(),
                expected: shards * graph.stages.len(),
                shards: shards as u32,
                max_key_groups: config.max_key_groups,
                sources: shards * graph.source_stages,
                range,
                savepoint: prepared.savepoint,
                last_id: prepared
                    .restore
                    .as_ref()
                    .map_or(0, |point| point.checkpoint),
                stats: CheckpointStats {
                    restored_from: prepared.restore.as_ref().map(|point| point.checkpoint),
                    ..CheckpointStats::default()
                },
                carried: Vec::new(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("tw{id}-checkpoints"))
                .spawn(move || coordinator.run(received))
                .map_err(|e| JobError::Checkpoint(format!("cannot start the coordinator: {e}")))?;
            handle.coordinator = Some(thread);
            Some((request, acks, prepared.restore.map(Arc::new), range))
        }
    };

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

    let resumed = checkpoints
        .as_ref()
        .and_then(|(_, _, restore, _)| restore.as_ref())
        .map_or(0, |point| point.checkpoint);
    for recover in &graph.sink_recovery {
        recover(resumed)
            .map_err(|e| JobError::Config(format!("cannot prepare a sink's output folder: {e}")))?;
    }
    for (shard, bundles) in bundles.into_iter().enumerate() {
        let placement = config
            .core_of(shard)
            .map_or(Placement::Unbound, Placement::Fixed);
        let executor = LocalExecutorBuilder::new(placement)
            .name(&format!("{}{shard}", handle.thread_name_prefix()))
            .io_memory(config.io_memory)
            .spin_before_park(config.spin_before_park);
        let graph = graph.clone();
        let makers = user_task_makers.clone();
        let link = checkpoints.as_ref().map(|(request, acks, restore, range)| {
            (request.clone(), acks.clone(), restore.clone(), *range)
        });
        let parts = (
            config.clone(),
            control.clone(),
            metrics.clone(),
            operator_names.clone(),
            alignment.clone(),
        );
        let spawned = executor.spawn(move || async move {
            let (config, control, metrics, operator_names, alignment) = parts;
            user_tasks::enter_shard(control.clone(), shard);
            let checkpoints = link.map(|(request, acks, restore, range)| {
                ShardCheckpoints::new(request, acks, restore, range)
            });
            let context = Rc::new(ShardContext {
                shard,
                shards,
                config,
                control,
                metrics,
                operator_names,
                checkpoints,
                alignment,
            });
            run_shard(graph, makers, context, bundles).await;
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
    user_task_makers: Arc<Vec<ShardTask>>,
    context: Rc<ShardContext>,
    bundles: Vec<Box<dyn Any + Send>>,
) {
    let mut builder = ShardBuilder::new(graph.clone(), context.clone(), bundles);
    let tasks = guard(&context, || {
        graph
            .stages
            .iter()
            .enumerate()
            .map(|(stage, make)| {
                builder.begin_stage(stage);
                make(&mut builder)
            })
            .collect::<Vec<_>>()
    });
    drop(builder);
    let tasks = match tasks {
        Ok(tasks) => tasks,
        Err(error) => return context.control.fail(error),
    };
    context.metrics.mark_ready();
    let user_tasks = match user_tasks::start(user_task_makers, &context) {
        Ok(user_tasks) => user_tasks,
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
    // The user tasks keep the shard until they end, unless the job fails or is cancelled.
    user_tasks::finish(user_tasks, &context).await;
}

/// The checkpoint storage, opened and locked, the checkpoint to resume from, and where the
/// savepoint goes if the job stops with one.
struct PreparedCheckpoints {
    storage: Arc<dyn Storage>,
    restore: Option<RestorePoint>,
    savepoint: Option<Arc<dyn Storage>>,
}

/// Opens the checkpoint folder, finds the checkpoint to resume from (the newest complete
/// one if told to restore, else the savepoint if given one) and checks that this job can
/// resume from it.
fn prepare_checkpoints(
    checkpointing: &CheckpointConfig,
    config: &JobConfig,
) -> Result<PreparedCheckpoints, JobError> {
    let failed = |e: crate::checkpoint::CheckpointError| JobError::Checkpoint(e.to_string());
    let storage = checkpointing.open_storage().map_err(failed)?;
    let savepoint = match &checkpointing.stop_at {
        Some((dir, _)) => Some(open_savepoint_folder(dir, true)?),
        None => None,
    };
    let from_checkpoint = if checkpointing.restore {
        restore::recover(&*storage, false).map_err(failed)?
    } else {
        None
    };
    let restore = if from_checkpoint.is_some() {
        from_checkpoint
    } else if let Some(dir) = &checkpointing.from_savepoint {
        let folder = open_savepoint_folder(dir, false)?;
        let point = restore::recover(&*folder, true)
            .map_err(failed)?
            .ok_or_else(|| {
                JobError::Checkpoint(format!("{} holds no complete savepoint", dir.display()))
            })?;
        Some(point.into_savepoint().map_err(failed)?)
    } else {
        if let Some(newest) = restore::newest(&*storage).map_err(failed)? {
            return Err(JobError::Checkpoint(format!(
                "the checkpoint folder {} holds checkpoints (the newest is {newest}) of an \
                 earlier run: restore from them, or start afresh in an empty folder",
                checkpointing.dir.display()
            )));
        }
        None
    };
    if let Some(point) = restore
        .as_ref()
        .filter(|point| !point.finished && !point.rescalable)
    {
        if point.shards as usize != config.shards {
            return Err(JobError::Checkpoint(format!(
                "checkpoint {} was taken with {} shards and this job has {}: a checkpoint \
                 resumes with the same shard count (a savepoint resumes with any)",
                point.checkpoint, point.shards, config.shards
            )));
        }
    }
    Ok(PreparedCheckpoints {
        storage,
        restore,
        savepoint,
    })
}

/// Opens a savepoint folder: empty, to write one (`fresh`), or holding one, to read it.
fn open_savepoint_folder(dir: &std::path::Path, fresh: bool) -> Result<Arc<dyn Storage>, JobError> {
    let failed = |e: crate::checkpoint::CheckpointError| JobError::Checkpoint(e.to_string());
    let folder = crate::checkpoint::FsStorage::open(dir).map_err(|e| {
        failed(crate::checkpoint::CheckpointError::Io(
            dir.display().to_string(),
            e,
        ))
    })?;
    if fresh && restore::newest(&folder).map_err(failed)?.is_some() {
        return Err(JobError::Checkpoint(format!(
            "the savepoint folder {} already holds a savepoint: choose an empty folder",
            dir.display()
        )));
    }
    Ok(Arc::new(folder))
}
