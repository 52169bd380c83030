//! Choosing the checkpoint a job resumes from, and putting the folder and the sinks' output
//! in the state that checkpoint describes.

use std::collections::{BTreeSet, HashMap};
use std::ops::{Deref, Range};
use std::sync::Arc;

use serde::Deserialize;

use super::coordinator::{commit_files, remove_checkpoint_files};
use super::crash::crash_point;
use super::format::{self, FileKind};
use super::manifest::{state_file_name, Manifest};
use super::storage::{FileBytes, Storage};
use super::CheckpointError;

/// The checkpoint a job resumes from, loaded and checked.
#[derive(Debug)]
pub(crate) struct RestorePoint {
    /// Its id.
    pub(crate) checkpoint: u64,
    /// Whether the job it belongs to had already run to its end.
    pub(crate) finished: bool,
    /// The shard count it was taken with.
    pub(crate) shards: u32,
    /// Whether it is a savepoint being resumed from: the sources start at its cut, on any
    /// shard count, rather than at their splits' offsets.
    pub(crate) rescalable: bool,
    /// The global source position the run that took it started at.
    source_from: u64,
    /// For a savepoint: where the sources stopped.
    cut: Option<u64>,
    /// Per operator, each old shard's encoded state.
    parts: HashMap<u32, Vec<(u32, Chain)>>,
}

/// One old shard's state of one operator: a full part, then the deltas saved on it, oldest
/// first (only incremental stores save deltas; the store that saved them applies them).
pub(crate) type Chain = Vec<Part>;

/// One operator's saved state: a range of the (mapped) stage file that holds it, read in
/// place rather than copied out.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    file: Arc<FileBytes>,
    range: Range<usize>,
}

impl Deref for Part {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.file[self.range.clone()]
    }
}

impl AsRef<[u8]> for Part {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl RestorePoint {
    /// Where the resumed run's sources start: a savepoint's cut, or where the checkpointed
    /// run started.
    pub(crate) fn source_from(&self) -> u64 {
        if self.rescalable {
            self.cut.unwrap_or(0)
        } else {
            self.source_from
        }
    }

    /// This checkpoint as a savepoint to resume from on any shard count; an error if it is
    /// not one (it has no cut).
    pub(crate) fn into_savepoint(mut self) -> Result<Self, CheckpointError> {
        if self.cut.is_none() {
            return Err(CheckpointError::Incompatible {
                checkpoint: self.checkpoint,
                why: "it is a checkpoint, not a savepoint (no stop position)".into(),
            });
        }
        self.rescalable = true;
        Ok(self)
    }

    /// Every old shard's state of `operator` as saved by an incremental store: its chain
    /// (a keyed operator keeps the keys it now owns).
    pub(crate) fn chains(&self, operator: u32) -> impl Iterator<Item = &[Part]> {
        self.parts
            .get(&operator)
            .into_iter()
            .flatten()
            .map(|(_, chain)| chain.as_slice())
    }

    /// The chain of `operator`'s state on old shard `shard`.
    pub(crate) fn chain_of_shard(&self, operator: u32, shard: usize) -> Option<&[Part]> {
        self.parts
            .get(&operator)?
            .iter()
            .find(|(old, _)| *old as usize == shard)
            .map(|(_, chain)| chain.as_slice())
    }

    /// Every old shard's state of `operator`, which saves no deltas (a keyed operator keeps
    /// the keys it now owns).
    pub(crate) fn parts(&self, operator: u32) -> impl Iterator<Item = &[u8]> {
        self.chains(operator)
            .map(move |chain| self.whole(operator, chain))
    }

    /// The state of `operator` on old shard `shard` (a source's offset), which saves no
    /// deltas.
    pub(crate) fn part_of_shard(&self, operator: u32, shard: usize) -> Option<&[u8]> {
        let chain = self.chain_of_shard(operator, shard)?;
        Some(self.whole(operator, chain))
    }

    /// The one part of a chain of an operator that saves no deltas.
    fn whole<'a>(&self, operator: u32, chain: &'a [Part]) -> &'a [u8] {
        match chain {
            [whole] => whole,
            _ => panic!(
                "checkpoint {} holds deltas for operator {operator}, which saves none \
                 (is this the job that took it?)",
                self.checkpoint
            ),
        }
    }
}

/// Finds the newest checkpoint in `storage` that checks out, skipping damaged ones with a
/// warning; removes everything newer (damaged checkpoints, leftovers of unfinished ones) so
/// that the resumed job's checkpoints can take their ids; and redoes the commits of the
/// chosen checkpoint (see [`redo_commits`]). `None` when there is no usable checkpoint.
pub(crate) fn recover(
    storage: &dyn Storage,
    savepoint: bool,
) -> Result<Option<RestorePoint>, CheckpointError> {
    let mut chosen = None;
    for id in Manifest::ids(storage)? {
        match load(storage, id) {
            Ok(point) => {
                chosen = Some(point);
                break;
            }
            Err(error) => tracing::warn!(
                checkpoint = id,
                %error,
                "checkpoint is damaged; falling back to the one before"
            ),
        }
    }
    let newest_kept = chosen
        .as_ref()
        .map_or(0, |point: &RestorePoint| point.checkpoint);
    remove_checkpoint_files(storage, |id| id > newest_kept);
    remove_temporaries(storage);
    crash_point("during-recovery");
    if let Some(point) = &chosen {
        let manifest = Manifest::read(storage, point.checkpoint)?;
        redo_commits(&manifest.commits, savepoint)?;
    }
    Ok(chosen)
}

/// Commits a restored checkpoint's sink files again: a crash may have come between its
/// manifest and its commits, so a pending file that is gone must have been committed. A
/// savepoint's output was committed by the job that stopped with it, and the savepoint may
/// since have moved to another folder or machine: its pending files that are gone are only
/// warned about.
fn redo_commits(pending: &[String], savepoint: bool) -> Result<(), CheckpointError> {
    let failed = |e| CheckpointError::Io("<sink output>".into(), e);
    if !savepoint {
        return commit_files(pending).map_err(failed);
    }
    for path in pending {
        match commit_files(std::slice::from_ref(path)) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(%error, "a savepoint's output file is not where it was written");
            }
            other => other.map_err(failed)?,
        }
    }
    Ok(())
}

/// The newest checkpoint in `storage`, for a job told not to restore: it must not silently
/// mix its checkpoints with an earlier run's.
pub(crate) fn newest(storage: &dyn Storage) -> Result<Option<u64>, CheckpointError> {
    Ok(Manifest::ids(storage)?.first().copied())
}

/// Reads checkpoint `id` and every file it names, checking each.
fn load(storage: &dyn Storage, id: u64) -> Result<RestorePoint, CheckpointError> {
    let manifest = Manifest::read(storage, id)?;
    let inherited: BTreeSet<String> = manifest
        .inherited
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    // Each stage file (with its delta chains) on its own thread: reading and checking a
    // large store's image is most of a restore's time (the store applies its chain).
    let loaded: Vec<Result<LoadedFile, CheckpointError>> = std::thread::scope(|scope| {
        let loading: Vec<_> = manifest
            .files
            .iter()
            .map(|(name, _)| {
                let inherited = &inherited;
                scope.spawn(move || {
                    let file = read_stage_file(storage, name, id)?;
                    let place = (file.shard, file.stage);
                    // Base files read once for all of the file's parts.
                    let mut bases = HashMap::new();
                    file.parts
                        .into_iter()
                        .map(|part| {
                            let operator = part.operator;
                            let chain = resolve(storage, place, part, inherited, &mut bases)?;
                            Ok((operator, place.0, chain))
                        })
                        .collect()
                })
            })
            .collect();
        loading
            .into_iter()
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut parts: HashMap<u32, Vec<(u32, Chain)>> = HashMap::new();
    for file in loaded {
        for (operator, shard, chain) in file? {
            parts.entry(operator).or_default().push((shard, chain));
        }
    }
    Ok(RestorePoint {
        checkpoint: id,
        finished: manifest.finished,
        shards: manifest.shards,
        rescalable: false,
        source_from: manifest.source_from,
        cut: manifest.cut,
        parts,
    })
}

/// One stage file's parts, with their chains: `(operator, old shard, state)`.
type LoadedFile = Vec<(u32, u32, Chain)>;

/// A stage file as read: its operators' state parts, in place in the file.
struct ReadStageFile {
    shard: u32,
    stage: u32,
    parts: Vec<ReadPart>,
}

/// One operator's state part of a stage file, in place.
#[derive(Clone)]
struct ReadPart {
    operator: u32,
    base: Option<u64>,
    bytes: Part,
}

/// How [`StageFile`](super::StageFile) decodes borrowing its state bytes from the file.
#[derive(Deserialize)]
struct StageFileRef<'a> {
    shard: u32,
    stage: u32,
    #[serde(borrow)]
    parts: Vec<StatePartRef<'a>>,
}

/// How [`StatePart`](super::StatePart) decodes borrowing its bytes.
#[derive(Deserialize)]
struct StatePartRef<'a> {
    operator: u32,
    bytes: &'a [u8],
    base: Option<u64>,
}

/// Maps and checks the stage file `name` of checkpoint `id`.
fn read_stage_file(
    storage: &dyn Storage,
    name: &str,
    id: u64,
) -> Result<ReadStageFile, CheckpointError> {
    let corrupt = |what: String| CheckpointError::Corrupt {
        file: name.to_string(),
        offset: format::HEADER_LEN as u64,
        what,
    };
    let file = Arc::new(
        storage
            .map(name)
            .map_err(|e| CheckpointError::Io(name.to_string(), e))?,
    );
    let payload = format::decode(name, &file, FileKind::StageState, id)?;
    let decoded: StageFileRef = postcard::from_bytes(payload)
        .map_err(|e| corrupt(format!("undecodable stage state: {e}")))?;
    if state_file_name(id, decoded.shard as usize, decoded.stage as usize) != name {
        return Err(corrupt(format!(
            "holds the state of shard {} stage {}, not what its name says (files swapped?)",
            decoded.shard, decoded.stage
        )));
    }
    // Each part's bytes lie inside the file: keep their place, not a copy.
    let start = file.as_ptr() as usize;
    let parts = decoded
        .parts
        .iter()
        .map(|part| {
            let at = part.bytes.as_ptr() as usize - start;
            ReadPart {
                operator: part.operator,
                base: part.base,
                bytes: Part {
                    file: file.clone(),
                    range: at..at + part.bytes.len(),
                },
            }
        })
        .collect();
    Ok(ReadStageFile {
        shard: decoded.shard,
        stage: decoded.stage,
        parts,
    })
}

/// The chain of `part` (of the stage file of `(shard, stage)`): itself, or for a delta the
/// full part its bases (files the manifest inherits) lead back to and every delta since,
/// oldest first.
fn resolve(
    storage: &dyn Storage,
    (shard, stage): (u32, u32),
    part: ReadPart,
    inherited: &BTreeSet<String>,
    bases: &mut HashMap<u64, ReadStageFile>,
) -> Result<Chain, CheckpointError> {
    let operator = part.operator;
    // Walk back to the full image, keeping the deltas (newest first).
    let mut chain = Vec::new();
    let mut current = part;
    while let Some(base) = current.base {
        let name = state_file_name(base, shard as usize, stage as usize);
        let corrupt = |what: String| CheckpointError::Corrupt {
            file: name.clone(),
            offset: format::HEADER_LEN as u64,
            what,
        };
        if !inherited.contains(&name) {
            return Err(corrupt("a delta's base file is not in the manifest".into()));
        }
        let base_file = match bases.entry(base) {
            std::collections::hash_map::Entry::Occupied(read) => read.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(read_stage_file(storage, &name, base)?)
            }
        };
        let base_part = base_file
            .parts
            .iter()
            .find(|candidate| candidate.operator == operator)
            .cloned()
            .ok_or_else(|| corrupt(format!("holds no state of operator {operator}")))?;
        chain.push(std::mem::replace(&mut current, base_part).bytes);
    }
    chain.push(current.bytes);
    chain.reverse();
    Ok(chain)
}

fn remove_temporaries(storage: &dyn Storage) {
    for name in storage.list().unwrap_or_default() {
        if name.ends_with(".tmp") {
            let _ = storage.remove(&name);
        }
    }
}

/// The checkpoint the job restored, if any, for `operator` to restore its state from (the
/// operator is entered, so that a failure names it).
pub(crate) fn restored_point(
    context: &crate::runtime::ShardContext,
    operator: crate::operators::OperatorId,
) -> Option<&RestorePoint> {
    let point = context.checkpoints.as_ref()?.restore.as_ref()?;
    crate::operators::enter(operator);
    Some(point)
}

impl RestorePoint {
    /// Fails the operator whose state does not decode: the checkpoint belongs to another
    /// job, or another version of this one.
    pub(crate) fn undecodable(&self, error: impl std::fmt::Display) -> ! {
        panic!(
            "cannot decode its state in checkpoint {}: {error} (is this the job that took it?)",
            self.checkpoint
        )
    }

    /// `bytes` decoded, or the operator failed.
    fn decode<S: serde::de::DeserializeOwned>(&self, bytes: &[u8]) -> S {
        postcard::from_bytes(bytes).unwrap_or_else(|e| self.undecodable(e))
    }
}

/// The state each old shard saved for `operator` in the checkpoint the job restored, decoded;
/// `None` when the job did not restore one. A part that does not decode fails the operator.
pub(crate) fn restored_parts<S: serde::de::DeserializeOwned>(
    context: &crate::runtime::ShardContext,
    operator: crate::operators::OperatorId,
) -> Option<Vec<S>> {
    let point = restored_point(context, operator)?;
    Some(
        point
            .parts(operator.0)
            .map(|bytes| point.decode(bytes))
            .collect(),
    )
}

/// Each old shard's chain of parts (whole, then deltas) that `operator` saved in the
/// checkpoint the job restored, decoded; `None` when the job did not restore one.
pub(crate) fn restored_chains<S: serde::de::DeserializeOwned>(
    context: &crate::runtime::ShardContext,
    operator: crate::operators::OperatorId,
) -> Option<Vec<Vec<S>>> {
    let point = restored_point(context, operator)?;
    let decode_chain = |chain: &[Part]| chain.iter().map(|bytes| point.decode(bytes)).collect();
    Some(point.chains(operator.0).map(decode_chain).collect())
}

/// Whether this shard owns `key` (its key group is in the shard's range).
pub(crate) fn owner<K: crate::exchange::StableKey>(
    context: &crate::runtime::ShardContext,
) -> impl Fn(&K) -> bool + '_ {
    let groups = crate::exchange::KeyGroups::new(context.config.max_key_groups, context.shards);
    move |key: &K| groups.shard_of(key) == context.shard
}
