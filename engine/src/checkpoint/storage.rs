//! Where checkpoint files go: a small trait over the file operations checkpoints use, so that
//! tests can make them fail (power loss, torn sectors, a full disk, fsync errors).
//!
//! Every name is a plain file name inside the storage's folder: [`check_name`] refuses
//! separators, `..`, and empty names, and [`FsStorage`] opens nothing through a symlink.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file operations a checkpoint needs, on one folder.
///
/// A write is durable only after [`sync`](Storage::sync) of the file (its contents) and
/// [`sync_dir`](Storage::sync_dir) (its name): a crash before them may lose it or tear it.
pub trait Storage: Send + Sync {
    /// Creates `name` with `bytes` (it must not exist: checkpoint files are immutable).
    fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()>;
    /// Makes `name`'s contents durable (`fsync`).
    fn sync(&self, name: &str) -> io::Result<()>;
    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Makes the folder's entries (creations, renames, removals) durable.
    fn sync_dir(&self) -> io::Result<()>;
    /// The size of `name` in bytes.
    fn size(&self, name: &str) -> io::Result<u64>;
    /// The whole contents of `name`.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    /// The whole contents of `name`, mapped into memory where the storage can (a large
    /// state file is then read from the page cache, not copied). The caller checks the
    /// file's size first ([`Manifest::read`](super::manifest::Manifest::read) does), so a
    /// truncated file is never mapped.
    fn map(&self, name: &str) -> io::Result<FileBytes> {
        self.read(name).map(FileBytes::Held)
    }
    /// Removes `name`.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// The names of the folder's files, sorted.
    fn list(&self) -> io::Result<Vec<String>>;
}

/// Refuses names that could leave the folder: only plain file names are allowed.
pub fn check_name(name: &str) -> io::Result<()> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.starts_with('.');
    if plain {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{name}` is not a plain file name inside the checkpoint folder"),
        ))
    }
}

/// The name of the lock file in a checkpoint folder.
const LOCK_FILE: &str = "LOCK";

/// Checkpoint files in a folder of the local file system, locked against other processes.
#[derive(Debug)]
pub struct FsStorage {
    dir: PathBuf,
    /// Held (with an exclusive lock) for as long as the storage lives.
    _lock: File,
}

impl FsStorage {
    /// Opens (creating if needed) the checkpoint folder `dir` and locks it; fails if another
    /// process (or another job in this one) holds it.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| annotate(e, dir, "cannot create"))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&lock_path)
            .map_err(|e| annotate(e, &lock_path, "cannot open"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "checkpoint folder {} is in use by another job (locked)",
                        dir.display()
                    ),
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(annotate(e, &lock_path, "cannot lock"))
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        check_name(name)?;
        Ok(self.dir.join(name))
    }

    fn open_existing(&self, name: &str, write: bool) -> io::Result<File> {
        let path = self.path(name)?;
        OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| annotate(e, &path, "cannot open"))
    }
}

/// A file's contents: mapped read-only, or held in memory.
#[derive(Debug)]
pub enum FileBytes {
    /// A read-only mapping of the file.
    Mapped(memmap2::Mmap),
    /// A copy of the file's bytes.
    Held(Vec<u8>),
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Mapped(map) => map,
            Self::Held(bytes) => bytes,
        }
    }
}

/// Adds the path and what was being done to an I/O error.
fn annotate(error: io::Error, path: &Path, doing: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{doing} {}: {error}", path.display()))
}

impl Storage for FsStorage {
    fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(name)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| annotate(e, &path, "cannot create"))?;
        file.write_all(bytes)
            .map_err(|e| annotate(e, &path, "cannot write"))
    }

    fn sync(&self, name: &str) -> io::Result<()> {
        let file = self.open_existing(name, true)?;
        file.sync_data()
            .map_err(|e| annotate(e, &self.dir.join(name), "cannot fsync"))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let (from_path, to_path) = (self.path(from)?, self.path(to)?);
        std::fs::rename(&from_path, &to_path).map_err(|e| annotate(e, &from_path, "cannot rename"))
    }

    fn sync_dir(&self) -> io::Result<()> {
        sync_dir(&self.dir)
    }

    fn size(&self, name: &str) -> io::Result<u64> {
        Ok(self.open_existing(name, false)?.metadata()?.len())
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_existing(name, false)?
            .read_to_end(&mut bytes)
            .map_err(|e| annotate(e, &self.dir.join(name), "cannot read"))?;
        Ok(bytes)
    }

    fn map(&self, name: &str) -> io::Result<FileBytes> {
        let file = self.open_existing(name, false)?;
        if file.metadata()?.len() == 0 {
            // An empty file cannot be mapped.
            return Ok(FileBytes::Held(Vec::new()));
        }
        // SAFETY: checkpoint files are immutable once written and the folder is locked
        // against other processes (`FsStorage::open`), so nothing writes or truncates the
        // file while it is mapped; the caller checked its size against the manifest.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| annotate(e, &self.dir.join(name), "cannot map"))?;
        Ok(FileBytes::Mapped(map))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let path = self.path(name)?;
        std::fs::remove_file(&path).map_err(|e| annotate(e, &path, "cannot remove"))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in
            std::fs::read_dir(&self.dir).map_err(|e| annotate(e, &self.dir, "cannot list"))?
        {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            if let Some(name) = entry.file_name().to_str() {
                if name != LOCK_FILE && check_name(name).is_ok() {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Makes a folder's entries durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|folder| folder.sync_all())
        .map_err(|e| annotate(e, dir, "cannot fsync folder"))
}

/// A fault to inject into a [`MemoryStorage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Writes fail with "no space left on device".
    DiskFull,
    /// `sync` fails (as `fsync` does after a write-back error).
    SyncFails,
}

/// How a simulated power loss treats data not yet made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerLoss {
    /// Everything written since the last sync is gone.
    DropUnsynced,
    /// Unsynced files keep a prefix of whole 4 KiB sectors, the rest is zeroed (torn writes).
    TearSectors,
}

/// An in-memory [`Storage`] for tests that can lose power and inject faults: it tracks, per
/// file, what has been written and what has been made durable.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    /// What readers see now.
    files: BTreeMap<String, Vec<u8>>,
    /// What survives a power loss: file contents synced, under names synced.
    durable: BTreeMap<String, Vec<u8>>,
    /// Contents synced but not yet under a durable name (name changes await `sync_dir`).
    synced: BTreeMap<String, Vec<u8>>,
    fault: Option<Fault>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes every later operation of the kind `fault` names fail, until cleared with `None`.
    pub fn inject(&self, fault: Option<Fault>) {
        self.state().fault = fault;
    }

    /// Simulates a power loss: the files revert to what was durable (`model` says what
    /// happens to data that was not).
    pub fn lose_power(&self, model: PowerLoss) {
        let mut state = self.state();
        let mut after = state.durable.clone();
        if model == PowerLoss::TearSectors {
            for (name, bytes) in &state.files {
                if after.get(name) != Some(bytes) {
                    // A name that became visible without sync_dir may survive torn: whole
                    // sectors of the new contents, then zeros.
                    let kept = (bytes.len() / 2) / 4096 * 4096;
                    let mut torn = bytes[..kept].to_vec();
                    torn.resize(bytes.len(), 0);
                    after.insert(name.clone(), torn);
                }
            }
        }
        state.files = after.clone();
        state.synced = after.clone();
        state.durable = after;
    }

    /// Overwrites `name`'s contents (for corruption tests), durably.
    pub fn corrupt(&self, name: &str, change: impl FnOnce(&mut Vec<u8>)) {
        let mut state = self.state();
        if let Some(bytes) = state.files.get_mut(name) {
            change(bytes);
            let bytes = bytes.clone();
            state.synced.insert(name.to_string(), bytes.clone());
            state.durable.insert(name.to_string(), bytes);
        }
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such file"))
}

impl Storage for MemoryStorage {
    fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        check_name(name)?;
        let mut state = self.state();
        if state.fault == Some(Fault::DiskFull) {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("cannot write {name}: no space left on device"),
            ));
        }
        if state.files.contains_key(name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{name} exists"),
            ));
        }
        state.files.insert(name.to_string(), bytes.to_vec());
        Ok(())
    }

    fn sync(&self, name: &str) -> io::Result<()> {
        let mut state = self.state();
        if state.fault == Some(Fault::SyncFails) {
            return Err(io::Error::other(format!("cannot fsync {name}: I/O error")));
        }
        let bytes = state
            .files
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))?;
        if state.durable.contains_key(name) {
            state.durable.insert(name.to_string(), bytes.clone());
        }
        state.synced.insert(name.to_string(), bytes);
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        check_name(to)?;
        let mut state = self.state();
        let bytes = state.files.remove(from).ok_or_else(|| not_found(from))?;
        state.files.insert(to.to_string(), bytes);
        if let Some(synced) = state.synced.remove(from) {
            state.synced.insert(to.to_string(), synced);
        }
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut state = self.state();
        if state.fault == Some(Fault::SyncFails) {
            return Err(io::Error::other("cannot fsync the folder: I/O error"));
        }
        // Names now durable: each visible file keeps the contents last synced under it (a
        // file never synced is durable as empty, as after a crash with its data unwritten).
        let names: Vec<String> = state.files.keys().cloned().collect();
        let durable = names
            .into_iter()
            .map(|name| {
                let bytes = state.synced.get(&name).cloned().unwrap_or_default();
                (name, bytes)
            })
            .collect();
        state.durable = durable;
        Ok(())
    }

    fn size(&self, name: &str) -> io::Result<u64> {
        let state = self.state();
        let bytes = state.files.get(name).ok_or_else(|| not_found(name))?;
        Ok(bytes.len() as u64)
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        self.state()
            .files
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.state()
            .files
            .remove(name)
            .map(drop)
            .ok_or_else(|| not_found(name))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.state().files.keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_stay_inside_the_folder() {
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/etc/passwd",
            ".hidden",
            "a\\b",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        check_name("manifest-0000000001").unwrap();
    }

    #[test]
    fn power_loss_keeps_only_what_was_synced_under_a_synced_name() {
        let storage = MemoryStorage::new();
        storage.write("a", b"durable").unwrap();
        storage.sync("a").unwrap();
        storage.sync_dir().unwrap();
        storage.write("b", b"synced, name not").unwrap();
        storage.sync("b").unwrap();
        storage.write("c", b"never synced").unwrap();
        storage.lose_power(PowerLoss::DropUnsynced);
        assert_eq!(storage.list().unwrap(), ["a"]);
        assert_eq!(storage.read("a").unwrap(), b"durable");
    }

    #[test]
    fn a_rename_is_durable_only_after_sync_dir() {
        let storage = MemoryStorage::new();
        storage.write("tmp", b"x").unwrap();
        storage.sync("tmp").unwrap();
        storage.rename("tmp", "final").unwrap();
        storage.lose_power(PowerLoss::DropUnsynced);
        assert!(storage.list().unwrap().is_empty());
        storage.write("tmp", b"x").unwrap();
        storage.sync("tmp").unwrap();
        storage.rename("tmp", "final").unwrap();
        storage.sync_dir().unwrap();
        storage.lose_power(PowerLoss::DropUnsynced);
        assert_eq!(storage.read("final").unwrap(), b"x");
    }

    #[test]
    fn faults_fail_the_operations_they_name() {
        let storage = MemoryStorage::new();
        storage.inject(Some(Fault::DiskFull));
        assert_eq!(
            storage.write("a", b"x").unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
        storage.inject(Some(Fault::SyncFails));
        storage.write("a", b"x").unwrap();
        assert!(storage.sync("a").is_err());
        storage.inject(None);
        storage.sync("a").unwrap();
    }

    #[test]
    fn the_folder_is_locked_against_a_second_user() {
        let dir = std::env::temp_dir().join(format!("tw-lock-{}", std::process::id()));
        let first = FsStorage::open(&dir).unwrap();
        let error = FsStorage::open(&dir).unwrap_err();
        assert!(error.to_string().contains("in use"), "{error}");
        first.write("x", b"1").unwrap();
        assert_eq!(first.list().unwrap(), ["x"]);
        assert!(first.write("x", b"2").is_err(), "files are immutable");
        drop(first);
        FsStorage::open(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn symlinks_are_not_followed() {
        let dir = std::env::temp_dir().join(format!("tw-link-{}", std::process::id()));
        let storage = FsStorage::open(&dir).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.join("link")).unwrap();
        assert!(storage.read("link").is_err());
        assert!(storage.map("link").is_err());
        assert!(!storage.list().unwrap().contains(&"link".to_string()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_mapped_file_reads_as_its_contents() {
        let dir = std::env::temp_dir().join(format!("tw-map-{}", std::process::id()));
        let storage = FsStorage::open(&dir).unwrap();
        let contents: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        storage.write("a", &contents).unwrap();
        storage.write("empty", b"").unwrap();
        let mapped = storage.map("a").unwrap();
        assert!(matches!(mapped, FileBytes::Mapped(_)));
        assert_eq!(&*mapped, &contents[..]);
        assert!(storage.map("empty").unwrap().is_empty());
        assert!(storage.map("missing").is_err());
        let memory = MemoryStorage::new();
        memory.write("a", &contents).unwrap();
        assert_eq!(&*memory.map("a").unwrap(), &contents[..]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
