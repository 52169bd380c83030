//! The transactional file sink: exactly-once output by two-phase commit.
//!
//! Each shard writes the records between two checkpoint barriers into its own *pending* file,
//! `.part-<epoch>-<shard><suffix>.pending` (hidden: it starts with a dot), where epoch `n`
//! holds the records after barrier `n-1` and before barrier `n`. At barrier `n` the file is flushed and fsynced (phase one);
//! once checkpoint `n` is complete, the coordinator renames it to its committed name,
//! `part-<epoch>-<shard><suffix>` (phase two). A restart from checkpoint `n` first finishes the commits `n` lists, then deletes
//! every pending file and every committed file of a later epoch (output the restored state
//! does not cover, which the replay writes again): committed output is never lost or
//! repeated. Without checkpointing, each shard commits its one file at the end of its input.
//!
//! A reader sees only committed files; their names sort in commit order (epoch first), and
//! concatenated in that order they give each shard's output in the order the shard wrote it.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::SinkCount;
use crate::checkpoint::storage::sync_dir;
use crate::checkpoint::StageSnapshot;
use crate::operators::{enter, OperatorId, Output};
use crate::runtime::ShardContext;
use crate::time::Timestamp;

/// Where and how a [`sink_to_files`](crate::DataStream::sink_to_files) writes: a folder, and
/// a function that appends one record's bytes (a line, say) to a buffer.
#[derive(Clone)]
pub struct FileSink<F> {
    pub(crate) dir: PathBuf,
    pub(crate) suffix: String,
    pub(crate) encode: F,
}

impl<F> FileSink<F> {
    /// Writes into the folder `dir` (created if needed); `encode(record, buffer)` appends a
    /// record's bytes, separator included.
    pub fn new(dir: impl Into<PathBuf>, encode: F) -> Self {
        Self {
            dir: dir.into(),
            suffix: String::new(),
            encode,
        }
    }

    /// Ends every file name with `suffix` (such as `.jsonl`). Default: none.
    pub fn suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = suffix.into();
        self
    }
}

/// The committed name of `shard`'s file for `epoch`.
fn committed_name(shard: usize, epoch: u64, suffix: &str) -> String {
    format!("part-{epoch:010}-{shard:05}{suffix}")
}

/// The name a committed file has while it is pending.
fn pending_name(committed: &str) -> String {
    format!(".{committed}.pending")
}

/// The committed path of a pending file, if `pending` names one.
pub(crate) fn committed_path(pending: &Path) -> Option<PathBuf> {
    let name = pending.file_name()?.to_str()?;
    let committed = name.strip_prefix('.')?.strip_suffix(".pending")?;
    Some(pending.with_file_name(committed))
}

/// The epoch of a committed file name of this sink, if it is one.
fn epoch_of(name: &str, suffix: &str) -> Option<u64> {
    let rest = name.strip_prefix("part-")?.strip_suffix(suffix)?;
    let (epoch, shard) = rest.split_once('-')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    (digits(shard, 5) && digits(epoch, 10)).then(|| epoch.parse().ok())?
}

/// Before a (re)start from checkpoint `resumed` (0: none): creates the folder, and removes
/// what that checkpoint does not cover: pending files, and committed files of later epochs.
pub(crate) fn prepare_folder(dir: &Path, suffix: &str, resumed: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let pending = name
            .strip_prefix('.')
            .and_then(|name| name.strip_suffix(".pending"));
        let uncovered = match pending {
            Some(pending) => epoch_of(pending, suffix).is_some(),
            None => epoch_of(name, suffix).is_some_and(|epoch| epoch > resumed),
        };
        if uncovered {
            std::fs::remove_file(dir.join(name))?;
        }
    }
    sync_dir(dir)
}

/// One shard's transactional file sink.
pub(crate) struct FileSinkWriter<F> {
    pub(crate) id: OperatorId,
    pub(crate) sink: FileSink<F>,
    pub(crate) context: Rc<ShardContext>,
    pub(crate) count: SinkCount,
    /// The epoch the records now arriving belong to.
    pub(crate) epoch: u64,
    /// The open pending file and its path.
    pub(crate) file: Option<(BufWriter<File>, PathBuf)>,
    pub(crate) buffer: Vec<u8>,
}

impl<F> FileSinkWriter<F> {
    /// A writer on `context`'s shard, starting after the restored checkpoint (if any).
    pub(crate) fn new(
        id: OperatorId,
        sink: FileSink<F>,
        context: Rc<ShardContext>,
        count: SinkCount,
    ) -> Self {
        let restored = context
            .checkpoints
            .as_ref()
            .and_then(|c| c.restore.as_ref())
            .map_or(0, |point| point.checkpoint);
        Self {
            id,
            sink,
            context,
            count,
            epoch: restored + 1,
            file: None,
            buffer: Vec::new(),
        }
    }

    fn pending_path(&self) -> PathBuf {
        let name = committed_name(self.context.shard, self.epoch, &self.sink.suffix);
        self.sink.dir.join(pending_name(&name))
    }

    /// Flushes and fsyncs the open pending file, if any, and returns its path.
    fn close(&mut self) -> Option<PathBuf> {
        let (mut writer, path) = self.file.take()?;
        let synced = writer.flush().and_then(|()| writer.get_ref().sync_data());
        if let Err(error) = synced {
            panic!("cannot write {}: {error}", path.display());
        }
        Some(path)
    }
}

impl<T, F: Fn(&T, &mut Vec<u8>)> Output<T> for FileSinkWriter<F> {
    fn push(&mut self, batch: Vec<T>) {
        enter(self.id);
        if self.file.is_none() {
            let path = self.pending_path();
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
            self.file = Some((BufWriter::with_capacity(1 << 16, file), path));
        }
        self.buffer.clear();
        for record in &batch {
            (self.sink.encode)(record, &mut self.buffer);
        }
        if let Some((writer, path)) = self.file.as_mut() {
            if let Err(error) = writer.write_all(&self.buffer) {
                panic!("cannot write {}: {error}", path.display());
            }
        }
        self.count.add(batch.len());
    }

    fn watermark(&mut self, _watermark: Timestamp) {}

    fn end(&mut self) {
        enter(self.id);
        let Some(pending) = self.close() else { return };
        match &self.context.checkpoints {
            Some(checkpoints) => checkpoints.commit_at_end(pending),
            None => {
                let committed = committed_path(&pending).expect("a pending name");
                let renamed =
                    std::fs::rename(&pending, &committed).and_then(|()| sync_dir(&self.sink.dir));
                if let Err(error) = renamed {
                    panic!("cannot commit {}: {error}", pending.display());
                }
            }
        }
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        enter(self.id);
        if let Some(pending) = self.close() {
            snapshot.commits.push(pending);
        }
        self.epoch = snapshot.checkpoint + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_sinks_names_parse() {
        assert_eq!(epoch_of("part-0000000007-00001.jsonl", ".jsonl"), Some(7));
        assert_eq!(epoch_of("part-0000000007-00001", ""), Some(7));
        assert_eq!(epoch_of("part-7-1.jsonl", ".jsonl"), None);
        assert_eq!(epoch_of("notes.txt", ""), None);
        assert_eq!(epoch_of("part-0000000007-00001.jsonl", ".csv"), None);
        let pending = Path::new("/out").join(pending_name(&committed_name(1, 7, ".jsonl")));
        assert_eq!(
            committed_path(&pending),
            Some(PathBuf::from("/out/part-0000000007-00001.jsonl"))
        );
    }

    #[test]
    fn preparing_drops_pending_and_later_epochs_only() {
        let dir = std::env::temp_dir().join(format!("tw-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "part-0000000001-00000.txt",
            "part-0000000002-00000.txt",
            "part-0000000003-00001.txt",
            ".part-0000000004-00001.txt.pending",
            "README",
        ] {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        prepare_folder(&dir, ".txt", 2).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "README",
                "part-0000000001-00000.txt",
                "part-0000000002-00000.txt"
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
