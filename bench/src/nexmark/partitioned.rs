//! q10's output: result lines in files partitioned by date and minute,
//! `DIR/dt=yyyy-MM-dd/hm=HH:mm/part-N.jsonl`, where each shard's writer has its own part
//! number `N`, so that no two shards share a file. A writer buffers each partition's lines
//! and appends them to its part file in chunks (opening it for each chunk, so that a long
//! run does not hold one file open per minute of event time); the folder must be empty (or
//! not exist) when the run starts, so that nothing is appended to an older run's files.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::jsonl::{encode_line, JsonlError, Op, CHUNK_BYTES};

/// A writer flushes every partition it buffers once it buffers this many.
const MAX_BUFFERED_PARTITIONS: usize = 64;

/// The partitioned output folder of a run, shared by the shards' [`PartitionedWriter`]s.
#[derive(Clone)]
pub struct PartitionedOutput {
    dir: Arc<PathBuf>,
    next_part: Arc<AtomicUsize>,
    error: Arc<Mutex<Option<JsonlError>>>,
}

impl PartitionedOutput {
    /// Creates the folder `dir`; fails if it exists and is not empty.
    pub fn create(dir: &Path) -> Result<Self, JsonlError> {
        std::fs::create_dir_all(dir).map_err(|e| JsonlError::io(dir, e))?;
        let mut entries = std::fs::read_dir(dir).map_err(|e| JsonlError::io(dir, e))?;
        if entries.next().is_some() {
            let message = "the output folder is not empty (q10 writes new part files into it)";
            return Err(JsonlError::io(dir, std::io::Error::other(message)));
        }
        Ok(Self {
            dir: Arc::new(dir.to_path_buf()),
            next_part: Arc::default(),
            error: Arc::default(),
        })
    }

    /// A writer with a part number of its own.
    pub fn writer(&self) -> PartitionedWriter {
        PartitionedWriter {
            part: self.next_part.fetch_add(1, Ordering::Relaxed),
            buffers: HashMap::new(),
            output: self.clone(),
        }
    }

    /// Reports the first failed write, once every writer has been dropped (flushed).
    pub fn finish(self) -> Result<(), JsonlError> {
        let mut error = self.error.lock().unwrap_or_else(|e| e.into_inner());
        error.take().map_or(Ok(()), Err)
    }
}

/// One shard's writer into a [`PartitionedOutput`]. Cloning gives a fresh writer with a new
/// part number; dropping it writes what it holds.
pub struct PartitionedWriter {
    part: usize,
    /// Buffered lines by partition folder (`dt=…/hm=…`).
    buffers: HashMap<String, Vec<u8>>,
    output: PartitionedOutput,
}

impl PartitionedWriter {
    /// Appends `row` with `op` as one line to the part file of partition `(dt, hm)`.
    pub fn write<R: Serialize>(&mut self, dt: &str, hm: &str, op: Op, row: &R) {
        let partition = format!("dt={dt}/hm={hm}");
        let buffer = self.buffers.entry(partition).or_default();
        encode_line(buffer, op, row);
        if buffer.len() >= CHUNK_BYTES || self.buffers.len() > MAX_BUFFERED_PARTITIONS {
            self.flush();
        }
    }

    /// Appends every buffered partition's lines to its part file.
    fn flush(&mut self) {
        for (partition, lines) in self.buffers.drain() {
            let folder = self.output.dir.join(partition);
            let path = folder.join(format!("part-{}.jsonl", self.part));
            let written = std::fs::create_dir_all(&folder).and_then(|()| {
                let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
                file.write_all(&lines)
            });
            if let Err(error) = written {
                let mut first = self.output.error.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert(JsonlError::io(&path, error));
            }
        }
    }
}

impl Clone for PartitionedWriter {
    fn clone(&self) -> Self {
        self.output.writer()
    }
}

impl Drop for PartitionedWriter {
    fn drop(&mut self) {
        self.flush();
    }
}
