//! The checkpoint coordinator: a thread per job that triggers barriers, collects every
//! stage's snapshot, writes the files and the manifest, commits the sinks' output and
//! retires old checkpoints.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::crash::{crash_now, crash_point, visit_is_armed};
use super::format::{self, FileKind};
use super::manifest::{checkpoint_of, manifest_name, state_file_name, Manifest};
use super::storage::{self, Storage};
use super::{CheckpointConfig, CheckpointError, CheckpointStats, OnCheckpointFailure};
use super::{StageFile, StageSnapshot};
use crate::connectors::committed_path;
use crate::error::JobError;
use crate::metrics::JobMetrics;
use crate::runtime::JobControl;

/// What sources and the coordinator share: the newest barrier the sources should inject.
#[derive(Debug, Default)]
pub(crate) struct BarrierRequest {
    requested: AtomicU64,
    /// The newest completed checkpoint (in the checkpoint folder).
    completed: AtomicU64,
    /// The id of the savepoint barrier, once requested (0: none).
    savepoint: AtomicU64,
}

impl BarrierRequest {
    /// What incremental state may save a delta on at barrier `id`: the newest completed
    /// checkpoint, or 0 (save everything) for the savepoint.
    pub(crate) fn delta_base(&self, id: u64) -> u64 {
        if self.savepoint.load(Ordering::Acquire) == id {
            0
        } else {
            self.completed.load(Ordering::Acquire)
        }
    }

    /// The newest barrier requested (0: none yet).
    #[inline]
    pub(crate) fn requested(&self) -> u64 {
        self.requested.load(Ordering::Acquire)
    }
}

/// What a stage tells the coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckKind {
    /// Its snapshot for a checkpoint.
    Snapshot,
    /// It reached the end of its input; the snapshot holds its sinks' last files.
    Finished,
    /// (A source stage) it reached the position where the job stops with a savepoint.
    AtCut,
}

/// A stage's acknowledgement.
#[derive(Debug)]
pub(crate) struct Ack {
    pub(crate) shard: usize,
    pub(crate) stage: usize,
    pub(crate) kind: AckKind,
    pub(crate) snapshot: StageSnapshot,
}

/// The checkpoint being collected.
struct Pending {
    id: u64,
    started: Instant,
    acks: Vec<Ack>,
    /// Whether it is the savepoint the job stops with.
    savepoint: bool,
}

/// Where the sources of this run read from and stop, recorded in every manifest.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SourceRange {
    /// The global source position this run's splits start at (0, or a savepoint's cut).
    pub(crate) from: u64,
    /// The position the job stops at with a savepoint, if it does.
    pub(crate) cut: Option<u64>,
}

/// Collects acknowledgements and completes checkpoints; see the module docs.
pub(crate) struct Coordinator {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) config: CheckpointConfig,
    pub(crate) request: Arc<BarrierRequest>,
    pub(crate) control: Arc<JobControl>,
    pub(crate) metrics: Arc<JobMetrics>,
    /// Acknowledgements a checkpoint needs: one per stage per shard.
    pub(crate) expected: usize,
    pub(crate) shards: u32,
    pub(crate) max_key_groups: u32,
    /// Source stages in the job (one per shard each): how many report reaching the cut.
    pub(crate) sources: usize,
    pub(crate) range: SourceRange,
    /// Where the job's savepoint goes, if it stops with one.
    pub(crate) savepoint: Option<Arc<dyn Storage>>,
    /// The newest checkpoint id used (the restored one, or 0).
    pub(crate) last_id: u64,
    pub(crate) stats: CheckpointStats,
    /// Sink files of checkpoints that failed or were abandoned: still pending, they are
    /// committed by the next checkpoint that completes (whose state covers them too).
    pub(crate) carried: Vec<String>,
}

impl Coordinator {
    /// Runs until every stage has finished (then takes the final checkpoint) or every shard
    /// has gone (the job failed or was cancelled).
    pub(crate) fn run(mut self, acks: Receiver<Ack>) -> CheckpointStats {
        let mut pending: Option<Pending> = None;
        let mut finals: Vec<Ack> = Vec::new();
        let mut at_cut = 0;
        let mut next_trigger = Instant::now() + self.config.interval;
        loop {
            // Once every source stands at the cut, the savepoint is due at once.
            let savepoint_due = self.savepoint.is_some() && at_cut == self.sources;
            if savepoint_due {
                next_trigger = Instant::now();
            }
            let wait = if pending.is_none() {
                next_trigger.saturating_duration_since(Instant::now())
            } else {
                Duration::from_secs(3600)
            };
            match acks.recv_timeout(wait) {
                Ok(ack) if ack.kind == AckKind::AtCut => at_cut += 1,
                Ok(ack) if ack.kind == AckKind::Finished => {
                    finals.push(ack);
                    if finals.len() == self.expected {
                        if let Some(abandoned) = pending.take() {
                            self.carried.extend(commits_of(&abandoned.acks));
                        }
                        self.finish(finals);
                        return self.stats;
                    }
                }
                Ok(ack) => {
                    let Some(current) = pending.as_mut() else {
                        continue;
                    };
                    if ack.snapshot.checkpoint != current.id {
                        continue;
                    }
                    current.acks.push(ack);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if pending.is_none() && !self.control.is_cancelled() {
                        self.last_id += 1;
                        if savepoint_due {
                            self.request
                                .savepoint
                                .store(self.last_id, Ordering::Release);
                        }
                        self.request
                            .requested
                            .store(self.last_id, Ordering::Release);
                        pending = Some(Pending {
                            id: self.last_id,
                            started: Instant::now(),
                            acks: Vec::with_capacity(self.expected),
                            savepoint: savepoint_due,
                        });
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return self.stats,
            }
            // Complete once every stage has acknowledged or finished (Flink's checkpoints
            // after tasks finished): the job may run on long after some sources ended.
            if pending
                .as_ref()
                .is_some_and(|current| self.covered(current, &finals))
            {
                if let Some(mut done) = pending.take() {
                    add_finished(&mut done, &mut finals);
                    let savepoint = done.savepoint;
                    if self.complete(done) && savepoint {
                        self.control.stop();
                        return self.stats;
                    }
                }
                next_trigger = Instant::now() + self.config.interval;
            }
        }
    }

    /// Whether every stage has acknowledged `pending` or finished.
    fn covered(&self, pending: &Pending, finals: &[Ack]) -> bool {
        let stages: BTreeSet<(usize, usize)> = pending
            .acks
            .iter()
            .chain(finals)
            .map(|ack| (ack.shard, ack.stage))
            .collect();
        stages.len() == self.expected
    }

    /// Writes checkpoint `pending`'s files and manifest (into the savepoint folder for the
    /// savepoint), then commits its sinks' output; whether it completed.
    fn complete(&mut self, pending: Pending) -> bool {
        let id = pending.id;
        let mut commits = std::mem::take(&mut self.carried);
        commits.extend(commits_of(&pending.acks));
        let storage = match (&self.savepoint, pending.savepoint) {
            (Some(savepoint), true) => savepoint.clone(),
            _ => self.storage.clone(),
        };
        match self.write(&*storage, id, pending.acks, commits.clone(), false) {
            Ok(bytes) => {
                self.stats.record(pending.started.elapsed(), bytes);
                tracing::debug!(checkpoint = id, bytes, "checkpoint complete");
                crash_point("before-sink-commit");
                self.commit(&commits);
                if pending.savepoint {
                    self.stats.savepoint = Some(id);
                } else {
                    self.request.completed.store(id, Ordering::Release);
                    self.retire(id);
                }
                self.metrics
                    .checkpoints_completed
                    .fetch_add(1, Ordering::AcqRel);
                true
            }
            Err(error) => {
                self.carried = commits;
                self.failed(id, error);
                false
            }
        }
    }

    /// The final checkpoint: every stage has finished; commit their last output.
    fn finish(&mut self, finals: Vec<Ack>) {
        self.last_id += 1;
        let id = self.last_id;
        let started = Instant::now();
        let mut commits = std::mem::take(&mut self.carried);
        commits.extend(commits_of(&finals));
        let storage = self.storage.clone();
        match self.write(&*storage, id, Vec::new(), commits.clone(), true) {
            Ok(bytes) => {
                self.stats.record(started.elapsed(), bytes);
                self.commit(&commits);
                self.retire(id);
            }
            Err(error) => {
                self.stats.failed += 1;
                self.control.fail(JobError::Checkpoint(format!(
                    "the final checkpoint {id} failed, so the last output stays uncommitted: {error}"
                )));
            }
        }
    }

    /// Writes the stage files and the manifest; returns the bytes written.
    fn write(
        &self,
        storage: &dyn Storage,
        id: u64,
        acks: Vec<Ack>,
        commits: Vec<String>,
        finished: bool,
    ) -> Result<u64, CheckpointError> {
        let mut files = Vec::with_capacity(acks.len());
        let mut inherited = BTreeSet::new();
        let mut written = 0;
        for ack in acks {
            let name = state_file_name(id, ack.shard, ack.stage);
            // A delta needs the files of its base chain, for this shard and stage.
            let bases: BTreeSet<u64> = ack
                .snapshot
                .parts
                .iter()
                .filter_map(|part| part.base)
                .collect();
            for base in bases {
                let manifest = Manifest::read(storage, base)?;
                let suffix = stage_suffix(ack.shard, ack.stage);
                inherited.extend(
                    manifest
                        .files
                        .into_iter()
                        .chain(manifest.inherited)
                        .filter(|(file, _)| file.ends_with(&suffix)),
                );
            }
            let file = StageFile {
                shard: ack.shard as u32,
                stage: ack.stage as u32,
                parts: ack.snapshot.parts,
            };
            // Encoded straight after the header's place: the state is copied once here.
            let bytes = postcard::to_extend(&file, vec![0; format::HEADER_LEN])
                .map_err(|e| CheckpointError::Encode(e.to_string()))?;
            let bytes = format::seal(FileKind::StageState, id, bytes);
            let io = |e| CheckpointError::Io(name.clone(), e);
            if visit_is_armed("mid-state-write") {
                // Half a file on disk, then the crash.
                storage
                    .write(&name, &bytes[..bytes.len() / 2])
                    .map_err(io)?;
                crash_now("mid-state-write");
            }
            storage.write(&name, &bytes).map_err(io)?;
            storage.sync(&name).map_err(io)?;
            written += bytes.len() as u64;
            files.push((name, bytes.len() as u64));
        }
        let manifest = Manifest {
            checkpoint: id,
            shards: self.shards,
            max_key_groups: self.max_key_groups,
            finished,
            files,
            inherited: inherited.into_iter().collect(),
            commits,
            source_from: self.range.from,
            cut: self.range.cut,
        };
        Ok(written + manifest.write(storage)?)
    }

    /// A checkpoint failed: remove what it wrote and apply the failure policy.
    fn failed(&mut self, id: u64, error: CheckpointError) {
        self.stats.failed += 1;
        self.metrics
            .checkpoints_failed
            .fetch_add(1, Ordering::AcqRel);
        remove_checkpoint_files(&*self.storage, |other| other == id);
        tracing::warn!(checkpoint = id, %error, "checkpoint failed; the previous complete one stands");
        if self.config.on_failure == OnCheckpointFailure::FailJob {
            self.control.fail(JobError::Checkpoint(format!(
                "checkpoint {id} failed: {error}"
            )));
        }
    }

    /// Makes the sinks' files of a completed checkpoint visible; a failure here fails the
    /// job (a restart completes the commit from the manifest).
    fn commit(&self, commits: &[String]) {
        if let Err(error) = commit_files(commits) {
            self.control.fail(JobError::Checkpoint(format!(
                "cannot commit the sinks' output: {error}"
            )));
        }
    }

    /// Removes the checkpoints older than the newest `retain`, and the leftovers of failed
    /// ones.
    /// Files of an older checkpoint that a kept one's delta chain needs stay.
    fn retire(&self, newest: u64) {
        let Ok(ids) = Manifest::ids(&*self.storage) else {
            return;
        };
        let mut keep = BTreeSet::new();
        for id in ids.into_iter().take(self.config.retain) {
            let Ok(manifest) = Manifest::read(&*self.storage, id) else {
                return; // Unsure what is needed: remove nothing.
            };
            keep.insert(manifest_name(id));
            keep.extend(manifest.files.into_iter().map(|(name, _)| name));
            keep.extend(manifest.inherited.into_iter().map(|(name, _)| name));
        }
        remove_files(&*self.storage, |name| {
            checkpoint_of(name).is_some_and(|id| id <= newest) && !keep.contains(name)
        });
    }
}

/// Adds to `pending` the part of every stage that finished without acknowledging it: its
/// sources at their end (a restored run finds them finished) and, the first time, its last
/// output to commit. (A stage that acknowledged before it finished keeps its last output for
/// the next checkpoint: it holds records after this one's barrier.)
fn add_finished(pending: &mut Pending, finals: &mut [Ack]) {
    for finished in finals.iter_mut() {
        let acknowledged = pending
            .acks
            .iter()
            .any(|ack| (ack.shard, ack.stage) == (finished.shard, finished.stage));
        if acknowledged {
            continue;
        }
        let snapshot = StageSnapshot {
            checkpoint: pending.id,
            completed: 0,
            parts: finished.snapshot.parts.clone(),
            commits: std::mem::take(&mut finished.snapshot.commits),
        };
        pending.acks.push(Ack {
            shard: finished.shard,
            stage: finished.stage,
            kind: AckKind::Snapshot,
            snapshot,
        });
    }
}

/// The sinks' pending files the acknowledgements ask to commit.
fn commits_of(acks: &[Ack]) -> Vec<String> {
    acks.iter()
        .flat_map(|ack| &ack.snapshot.commits)
        .map(|path| path.display().to_string())
        .collect()
}

/// The end of the state file names of `stage` on `shard`, whatever the checkpoint.
fn stage_suffix(shard: usize, stage: usize) -> String {
    let name = state_file_name(0, shard, stage);
    name["chk-0000000000".len()..].to_string()
}

/// Removes every checkpoint file (manifests first) whose checkpoint `doomed` names.
pub(crate) fn remove_checkpoint_files(storage: &dyn Storage, doomed: impl Fn(u64) -> bool) {
    remove_files(storage, |name| checkpoint_of(name).is_some_and(&doomed));
}

/// Removes every checkpoint file `doomed` names, manifests first.
fn remove_files(storage: &dyn Storage, doomed: impl Fn(&str) -> bool) {
    let Ok(names) = storage.list() else { return };
    let (manifests, others): (Vec<_>, Vec<_>) = names
        .into_iter()
        .filter(|name| doomed(name))
        .partition(|name| name.starts_with("manifest-"));
    // Manifests first: a checkpoint without its manifest is a leftover, never a checkpoint
    // with missing files.
    for name in manifests.iter().chain(&others) {
        if let Err(error) = storage.remove(name) {
            tracing::warn!(%error, "cannot remove an old checkpoint file");
        }
    }
    if storage.sync_dir().is_err() {
        tracing::warn!("cannot fsync the checkpoint folder after removing old files");
    }
}

/// Renames each pending sink file (`….pending`) to its committed name; a file already
/// renamed (a commit redone after a restart) is fine. Then makes the renames durable.
pub(crate) fn commit_files(pending: &[String]) -> std::io::Result<()> {
    let mut folders = BTreeSet::new();
    for path in pending {
        let Some(committed) = committed_path(Path::new(path)) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{path} is not a pending sink file"),
            ));
        };
        match std::fs::rename(path, &committed) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if !committed.exists() {
                    return Err(std::io::Error::new(
                        error.kind(),
                        format!("{path} is missing and was never committed"),
                    ));
                }
            }
            Err(error) => {
                return Err(std::io::Error::new(
                    error.kind(),
                    format!("{path}: {error}"),
                ))
            }
        }
        if let Some(folder) = committed.parent() {
            folders.insert(folder.to_path_buf());
        }
    }
    for folder in folders {
        storage::sync_dir(&folder)?;
    }
    Ok(())
}
