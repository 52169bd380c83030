//! JSON lines in and out: the streaming event reader behind `--input`, and the result writer
//! behind `--output`.
//!
//! The reader takes one line at a time through a `BufReader` (never the whole file) and
//! fails on the first line that is not an event, naming the file, the line and the byte
//! offset: nothing is skipped or repeated silently. Lines that are empty or only whitespace
//! carry no event and are passed over. A file can be read in byte ranges, one per shard
//! ([`EventReader::open_range`]): a range reads the lines that *start* in it, so that
//! adjacent ranges read every line exactly once.
//!
//! The writer ([`ResultFile`]) takes result rows from every shard; each shard buffers whole
//! lines and appends them to the file in chunks, so the lines of one shard stay in the order
//! that shard wrote them (a row and its later retraction come from the same shard). Each
//! line is the row's columns plus `"op"`: `"+"` or `"-"`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tidewater::connectors::line_number;

use serde::Serialize;

use super::event::Event;

/// Why JSON lines could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    /// The file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A line is not a well-formed event (bad JSON, a missing field, a wrong type, an unknown
    /// `"type"`, or a last line cut short).
    #[error(
        "{}: line {line}, column {column} (byte offset {offset}): malformed event: {message}",
        path.display()
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: u64,
        /// The column in the line where parsing failed, from 1, in bytes.
        column: u64,
        /// The byte offset in the file where parsing failed, from 0.
        offset: u64,
        /// What is wrong.
        message: String,
    },
}

impl JsonlError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        JsonlError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Reads events from JSON lines, one line at a time.
pub struct EventReader<R> {
    reader: R,
    path: PathBuf,
    /// The byte offset of the next line.
    offset: u64,
    /// The number of the next line, if known (a range that starts mid-file counts its lines
    /// only if it has to report one).
    line: Option<u64>,
    /// Stop before a line that starts at or after this offset.
    end: u64,
    buffer: Vec<u8>,
}

impl<R: BufRead> EventReader<R> {
    /// Reads all of `reader`, whose lines are named as those of `path` in errors.
    pub fn new(reader: R, path: impl Into<PathBuf>) -> Self {
        Self {
            reader,
            path: path.into(),
            offset: 0,
            line: Some(1),
            end: u64::MAX,
            buffer: Vec::with_capacity(512),
        }
    }

    /// The byte offset of the next line to read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next event, `None` at the end of the input (or of the range).
    pub fn next_event(&mut self) -> Result<Option<Event>, JsonlError> {
        loop {
            if self.offset >= self.end {
                return Ok(None);
            }
            self.buffer.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut self.buffer)
                .map_err(|e| JsonlError::io(&self.path, e))?;
            if read == 0 {
                return Ok(None);
            }
            let (start, line) = (self.offset, self.line);
            self.offset += read as u64;
            self.line = line.map(|line| line + 1);
            if self.buffer.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return match serde_json::from_slice::<Event>(&self.buffer) {
                Ok(event) => Ok(Some(event)),
                Err(error) => Err(self.malformed(start, line, &error)),
            };
        }
    }

    /// The error for the line at byte `start` (line number `line`, if known).
    fn malformed(&self, start: u64, line: Option<u64>, error: &serde_json::Error) -> JsonlError {
        let line = match line {
            Some(line) => line,
            None => match line_number(&self.path, start) {
                Ok(line) => line,
                Err(source) => return JsonlError::io(&self.path, source),
            },
        };
        // serde_json counts columns in bytes from 1; a line cut short fails after its end.
        let column = (error.column() as u64).max(1);
        let mut message = error.to_string();
        if let Some(position) = message.rfind(" at line ") {
            message.truncate(position);
        }
        JsonlError::Malformed {
            path: self.path.clone(),
            line,
            column,
            offset: start + column - 1,
            message,
        }
    }
}

impl EventReader<BufReader<File>> {
    /// Reads all of the file at `path`.
    pub fn open(path: &Path) -> Result<Self, JsonlError> {
        Self::open_range(path, 0, u64::MAX)
    }

    /// Reads the lines of the file at `path` that start at a byte offset in `start..end`.
    pub fn open_range(path: &Path, start: u64, end: u64) -> Result<Self, JsonlError> {
        let file = File::open(path).map_err(|e| JsonlError::io(path, e))?;
        let mut reader = Self::new(BufReader::with_capacity(1 << 16, file), path);
        reader.end = end;
        if start > 0 {
            // The line that holds byte `start - 1` belongs to an earlier range (it ends there
            // if that byte is its newline): skip through its end.
            reader
                .seek_to(start - 1)
                .map_err(|e| JsonlError::io(path, e))?;
            let skipped = reader
                .reader
                .read_until(b'\n', &mut reader.buffer)
                .map_err(|e| JsonlError::io(path, e))?;
            reader.offset += skipped as u64;
        }
        Ok(reader)
    }

    /// Goes to byte `offset`, which must be the start of a line (an [`offset`](Self::offset)
    /// this reader returned).
    pub fn seek_to(&mut self, offset: u64) -> io::Result<()> {
        self.reader.seek(SeekFrom::Start(offset))?;
        self.offset = offset;
        self.line = (offset == 0).then_some(1);
        Ok(())
    }
}

impl<R: BufRead> Iterator for EventReader<R> {
    type Item = Result<Event, JsonlError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

/// Writes `event` as one JSON line.
pub fn write_event(out: &mut impl Write, event: &Event) -> io::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")
}

/// Whether a result line inserts or retracts its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `"+"`: the row is added to the result table.
    Insert,
    /// `"-"`: an earlier identical row is taken out of the result table.
    Retract,
}

impl Op {
    /// `"+"` or `"-"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Insert => "+",
            Op::Retract => "-",
        }
    }
}

/// One result line: the row's columns, then `"op"`.
#[derive(Serialize)]
struct Line<'a, R> {
    #[serde(flatten)]
    row: &'a R,
    op: &'static str,
}

/// Appends `row` with `op` to `buffer` as one result line.
#[inline]
pub fn encode_line<R: Serialize>(buffer: &mut Vec<u8>, op: Op, row: &R) {
    let line = Line {
        row,
        op: op.as_str(),
    };
    // Writing into a Vec fails only if the row's `Serialize` does, which those of the
    // result rows (structs with string keys) never do.
    serde_json::to_writer(&mut *buffer, &line).expect("result rows serialise to JSON");
    buffer.push(b'\n');
}

/// A shard writes a chunk to the file once it has buffered this many bytes.
pub const CHUNK_BYTES: usize = 64 << 10;

/// The result file of a run, shared by the shards' [`ResultWriter`]s.
#[derive(Clone)]
pub struct ResultFile {
    path: Arc<PathBuf>,
    shared: Arc<Mutex<Shared>>,
}

struct Shared {
    file: File,
    /// The first write that failed; later chunks are not written.
    error: Option<io::Error>,
}

impl ResultFile {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> Result<Self, JsonlError> {
        let file = File::create(path).map_err(|e| JsonlError::io(path, e))?;
        Ok(Self {
            path: Arc::new(path.to_path_buf()),
            shared: Arc::new(Mutex::new(Shared { file, error: None })),
        })
    }

    /// A writer for one shard.
    pub fn writer(&self) -> ResultWriter {
        ResultWriter {
            buffer: Vec::with_capacity(CHUNK_BYTES + 1024),
            file: self.clone(),
        }
    }

    /// Reports the first failed write, once every writer has been dropped (flushed).
    pub fn finish(self) -> Result<(), JsonlError> {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        match shared.error.take() {
            Some(error) => Err(JsonlError::io(&self.path, error)),
            None => shared
                .file
                .flush()
                .map_err(|e| JsonlError::io(&self.path, e)),
        }
    }
}

/// One shard's buffered writer into a [`ResultFile`]. Cloning gives a fresh, empty writer
/// into the same file (each shard clones the sink); dropping it writes what it holds.
pub struct ResultWriter {
    buffer: Vec<u8>,
    file: ResultFile,
}

impl ResultWriter {
    /// Appends `row` with `op` as one line.
    #[inline]
    pub fn write<R: Serialize>(&mut self, op: Op, row: &R) {
        encode_line(&mut self.buffer, op, row);
        if self.buffer.len() >= CHUNK_BYTES {
            self.flush();
        }
    }

    /// Appends the buffered lines to the file.
    fn flush(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let mut shared = self.file.shared.lock().unwrap_or_else(|e| e.into_inner());
        if shared.error.is_none() {
            if let Err(error) = shared.file.write_all(&self.buffer) {
                shared.error = Some(error);
            }
        }
        self.buffer.clear();
    }
}

impl Clone for ResultWriter {
    fn clone(&self) -> Self {
        self.file.writer()
    }
}

impl Drop for ResultWriter {
    fn drop(&mut self) {
        self.flush();
    }
}
