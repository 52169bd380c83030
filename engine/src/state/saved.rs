//! Keyed stores in checkpoints: the heap backend saves its entries, the memory-mapped one its
//! pages (all of them, or those changed since the last completed checkpoint, as a delta on
//! it); both restore the keys their shard owns.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};

use bytemuck::Pod;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{HeapStore, KeyedStore, MmapStore};
use crate::checkpoint::restore::{owner, restored_point};
use crate::checkpoint::StageSnapshot;
use crate::exchange::StableKey;
use crate::operators::{enter, OperatorId};
use crate::runtime::ShardContext;

/// A keyed store that checkpoints can save.
pub(crate) trait SavedStore<K, V>: KeyedStore<K, V> {
    /// Adds the store's state to `snapshot` as `operator`'s.
    fn save(&mut self, snapshot: &mut StageSnapshot, operator: OperatorId);
}

impl<K: Serialize + Hash + Eq + Clone, V: Serialize> SavedStore<K, V> for HeapStore<K, V> {
    fn save(&mut self, snapshot: &mut StageSnapshot, operator: OperatorId) {
        let (bytes, base) = HeapStore::save(self, snapshot.checkpoint, snapshot.completed);
        snapshot.add_bytes(operator.0, bytes, base);
    }
}

impl<K: Pod + Eq + Hash, V: Pod> SavedStore<K, V> for MmapStore<K, V> {
    fn save(&mut self, snapshot: &mut StageSnapshot, operator: OperatorId) {
        let (bytes, base) = MmapStore::save(self, snapshot.checkpoint, snapshot.completed);
        snapshot.add_bytes(operator.0, bytes, base);
    }
}

/// A heap store holding the entries the restored checkpoint (if any) has for `operator`
/// whose keys this shard owns (all of them when the shard count is unchanged; a share of
/// each old shard's when it changed, since key groups move between shards as whole ranges).
pub(crate) fn restored_heap_store<K, V>(
    context: &ShardContext,
    operator: OperatorId,
) -> HeapStore<K, V>
where
    K: DeserializeOwned + StableKey + Hash + Eq + Clone,
    V: DeserializeOwned,
{
    let mut store = HeapStore::default();
    let Some(point) = restored_point(context, operator) else {
        return store;
    };
    let owns = owner(context);
    for chain in point.chains(operator.0) {
        if let Err(error) = store.restore_chain(chain, &owns) {
            point.undecodable(error);
        }
    }
    // A new store's first checkpoint saves everything: the restored checkpoint's files
    // belong to the run that wrote them.
    store
}

/// Removes the state files that processes no longer alive left behind (a killed job cannot
/// remove its own): their names start with `state-<pid>-`. Done once per process, before
/// its first mapped store.
fn remove_orphans(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix("state-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = std::path::Path::new("/proc").join(pid.to_string()).exists();
        if !alive {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Distinguishes the state files of stores made in this process.
static STORES: AtomicU64 = AtomicU64::new(0);

/// A memory-mapped store for `operator` on this shard, in the job's state folder, holding
/// the restored checkpoint's state if there is one: its saved pages mapped back as they are
/// when the shard count is unchanged, else the entries of the keys this shard owns.
pub(crate) fn restored_mmap_store<K, V>(
    context: &ShardContext,
    operator: OperatorId,
) -> MmapStore<K, V>
where
    K: Pod + Eq + Hash + StableKey,
    V: Pod,
{
    enter(operator);
    let dir = &context.config.state_dir;
    let name = format!(
        "state-{}-{}-op{}-shard{}",
        std::process::id(),
        STORES.fetch_add(1, Ordering::Relaxed),
        operator.0,
        context.shard
    );
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| remove_orphans(dir));
    let created = |store: std::io::Result<MmapStore<K, V>>| {
        store.unwrap_or_else(|e| panic!("cannot create a state file in {}: {e}", dir.display()))
    };
    let point = restored_point(context, operator);
    let Some(point) = point.filter(|point| point.chains(operator.0).next().is_some()) else {
        return created(MmapStore::create(dir, &name));
    };
    // Either way a new store, whose first checkpoint saves everything: the restored
    // checkpoint's files belong to the run that wrote them.
    if point.shards as usize == context.shards {
        let chain = point
            .chain_of_shard(operator.0, context.shard)
            .unwrap_or_else(|| {
                panic!(
                    "checkpoint {} holds no state of this shard",
                    point.checkpoint
                )
            });
        MmapStore::from_chain(dir, &name, chain, point.checkpoint)
            .unwrap_or_else(|e| panic!("cannot restore its state: {e}"))
    } else {
        let owns = owner(context);
        let mut store = created(MmapStore::create(dir, &name));
        for chain in point.chains(operator.0) {
            let entries = MmapStore::<K, V>::entries_of(chain)
                .unwrap_or_else(|e| panic!("cannot restore its state: {e}"));
            for (key, value) in entries.into_iter().filter(|(key, _)| owns(key)) {
                *store.get_or_insert_with(&key, || value) = value;
            }
        }
        store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_of_dead_processes_are_removed() {
        let dir = std::env::temp_dir().join(format!("tw-orphans-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dead = format!("state-{}-0-op1-shard0.g0", u32::MAX);
        let alive = format!("state-{}-0-op1-shard0.g0", std::process::id());
        for name in [&dead, &alive, &"notes".to_string()] {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        remove_orphans(&dir);
        assert!(!dir.join(&dead).exists());
        assert!(dir.join(&alive).exists() && dir.join("notes").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
