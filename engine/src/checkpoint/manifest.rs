//! A checkpoint's manifest: which files make it up, and the output it commits. A checkpoint
//! exists once its manifest is durable under its final name; files without one are leftovers.

use serde::{Deserialize, Serialize};

use super::crash::crash_point;
use super::format::{self, FileKind};
use super::storage::{check_name, Storage};
use super::CheckpointError;

/// The name of checkpoint `id`'s manifest.
pub fn manifest_name(id: u64) -> String {
    format!("manifest-{id:010}")
}

/// The name of the state file of `stage` on `shard` in checkpoint `id`.
pub fn state_file_name(id: u64, shard: usize, stage: usize) -> String {
    format!("chk-{id:010}-shard{shard:05}-stage{stage:03}")
}

/// The checkpoint a file name belongs to, if it is a checkpoint file.
pub fn checkpoint_of(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix("manifest-")
        .or_else(|| name.strip_prefix("chk-"))?;
    digits.get(..10)?.parse().ok()
}

/// What a completed checkpoint holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The checkpoint's id (barriers count from 1).
    pub checkpoint: u64,
    /// The shard count of the job that took it.
    pub shards: u32,
    /// The job's key groups.
    pub max_key_groups: u32,
    /// Whether this is the final checkpoint of a job that ran to its end.
    pub finished: bool,
    /// The state files, each with its size in bytes.
    pub files: Vec<(String, u64)>,
    /// Files of earlier checkpoints that this one's deltas apply on (their base chains).
    pub inherited: Vec<(String, u64)>,
    /// The transactional sinks' pending files this checkpoint commits (absolute paths).
    pub commits: Vec<String>,
    /// The global source position the run's splits started at (0, or the cut of the
    /// savepoint it resumed from): a restore splits the sources the same way.
    pub source_from: u64,
    /// For a savepoint: the global source position every source stopped at, where a job
    /// resuming from it starts (on any shard count).
    pub cut: Option<u64>,
}

impl Manifest {
    /// Writes the manifest atomically: a temporary file, fsync, rename, fsync of the folder.
    pub fn write(&self, storage: &dyn Storage) -> Result<u64, CheckpointError> {
        let name = manifest_name(self.checkpoint);
        let temporary = format!("{name}.tmp");
        let payload =
            postcard::to_stdvec(self).map_err(|e| CheckpointError::Encode(e.to_string()))?;
        let bytes = format::encode(FileKind::Manifest, self.checkpoint, &payload);
        let io = |e| CheckpointError::Io(name.clone(), e);
        // A temporary left by an earlier attempt at this id is stale: replace it.
        if storage.size(&temporary).is_ok() {
            storage.remove(&temporary).map_err(io)?;
        }
        storage.write(&temporary, &bytes).map_err(io)?;
        crash_point("before-manifest-fsync");
        storage.sync(&temporary).map_err(io)?;
        crash_point("after-manifest-fsync");
        storage.rename(&temporary, &name).map_err(io)?;
        crash_point("after-manifest-rename");
        storage.sync_dir().map_err(io)?;
        Ok(bytes.len() as u64)
    }

    /// Reads and checks manifest `id`, and checks that every file it names is there with
    /// the size it records (so that a truncated file is never mapped or decoded).
    pub fn read(storage: &dyn Storage, id: u64) -> Result<Self, CheckpointError> {
        let name = manifest_name(id);
        let bytes = storage
            .read(&name)
            .map_err(|e| CheckpointError::Io(name.clone(), e))?;
        let payload = format::decode(&name, &bytes, FileKind::Manifest, id)?;
        let manifest: Manifest =
            postcard::from_bytes(payload).map_err(|e| CheckpointError::Corrupt {
                file: name.clone(),
                offset: format::HEADER_LEN as u64,
                what: format!("undecodable manifest: {e}"),
            })?;
        for (file, size) in manifest.files.iter().chain(&manifest.inherited) {
            check_name(file).map_err(|e| CheckpointError::Io(name.clone(), e))?;
            let found = storage
                .size(file)
                .map_err(|e| CheckpointError::Io(file.clone(), e))?;
            if found != *size {
                return Err(CheckpointError::Corrupt {
                    file: file.clone(),
                    offset: found.min(*size),
                    what: format!("{found} bytes, the manifest records {size}"),
                });
            }
        }
        Ok(manifest)
    }

    /// The ids of the checkpoints whose manifest is in `storage`, newest first.
    pub fn ids(storage: &dyn Storage) -> Result<Vec<u64>, CheckpointError> {
        let names = storage
            .list()
            .map_err(|e| CheckpointError::Io("<checkpoint folder>".into(), e))?;
        let mut ids: Vec<u64> = names
            .iter()
            .filter(|name| name.starts_with("manifest-") && !name.ends_with(".tmp"))
            .filter_map(|name| checkpoint_of(name))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::storage::{MemoryStorage, PowerLoss};

    fn manifest(id: u64) -> Manifest {
        Manifest {
            checkpoint: id,
            shards: 2,
            max_key_groups: 128,
            finished: false,
            files: vec![(state_file_name(id, 0, 1), 3)],
            inherited: Vec::new(),
            commits: vec!["/out/.part-0000000001-00000.pending".into()],
            source_from: 0,
            cut: None,
        }
    }

    #[test]
    fn a_manifest_round_trips_and_checks_its_files() {
        let storage = MemoryStorage::new();
        storage.write(&state_file_name(4, 0, 1), b"abc").unwrap();
        manifest(4).write(&storage).unwrap();
        assert_eq!(Manifest::read(&storage, 4).unwrap(), manifest(4));
        assert_eq!(Manifest::ids(&storage).unwrap(), [4]);
        storage.corrupt(&state_file_name(4, 0, 1), |bytes| bytes.truncate(2));
        let error = Manifest::read(&storage, 4).unwrap_err().to_string();
        assert!(error.contains("2 bytes, the manifest records 3"), "{error}");
    }

    #[test]
    fn a_manifest_is_all_or_nothing_across_power_loss() {
        let storage = MemoryStorage::new();
        storage.write(&state_file_name(1, 0, 1), b"abc").unwrap();
        storage.sync(&state_file_name(1, 0, 1)).unwrap();
        manifest(1).write(&storage).unwrap();
        storage.lose_power(PowerLoss::DropUnsynced);
        assert_eq!(Manifest::read(&storage, 1).unwrap(), manifest(1));
    }

    #[test]
    fn names_parse_back_to_their_checkpoint() {
        assert_eq!(checkpoint_of(&manifest_name(12)), Some(12));
        assert_eq!(checkpoint_of(&state_file_name(9, 1, 2)), Some(9));
        assert_eq!(checkpoint_of("LOCK"), None);
    }
}
