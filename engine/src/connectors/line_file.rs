//! A text file read line by line, split across shards by byte ranges: the replayable file
//! source checkpoints need (a split's offset is the byte where its next line starts).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Source, SourceSplit};

/// The lines of a file, each parsed into a record by a user function.
///
/// Shard `s` of `S` reads the lines that start in the `s`-th of `S` equal byte ranges of the
/// file. A line that does not parse fails the job with the file, line number, byte offset and
/// the parser's message; so does a file that cannot be read.
pub struct LineFile<F> {
    path: Arc<PathBuf>,
    parse: F,
    rate: Option<f64>,
}

impl<F> LineFile<F> {
    /// The lines of the file at `path`, parsed by `parse` (the line comes without its `\n`).
    pub fn new(path: impl Into<PathBuf>, parse: F) -> Self {
        Self {
            path: Arc::new(path.into()),
            parse,
            rate: None,
        }
    }

    /// Emits at most `lines_per_s` records per second in total.
    pub fn rate_limited(mut self, lines_per_s: f64) -> Self {
        self.rate = Some(lines_per_s);
        self
    }
}

impl<T, F> Source<T> for LineFile<F>
where
    F: Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static,
{
    fn split(&self, shard: usize, shards: usize) -> Box<dyn SourceSplit<T>> {
        self.split_range(shard, shards, 0..u64::MAX)
            .expect("a line file splits any byte range")
    }

    /// Positions are byte offsets: the split reads the lines that start in its share of
    /// `positions`.
    fn split_range(
        &self,
        shard: usize,
        shards: usize,
        positions: std::ops::Range<u64>,
    ) -> Option<Box<dyn SourceSplit<T>>> {
        let size = std::fs::metadata(&*self.path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.path.display()))
            .len();
        let (first, last) = (positions.start.min(size), positions.end.min(size));
        let part =
            |i: usize| first + (u128::from(last - first) * i as u128 / shards as u128) as u64;
        let (start, end) = (part(shard), part(shard + 1));
        let mut split = LineSplit {
            path: self.path.clone(),
            parse: self.parse.clone(),
            reader: None,
            start,
            next: start,
            end,
            line: Vec::new(),
        };
        split.next = split.first_line_at_or_after(start);
        split.start = split.next;
        Some(Box::new(split))
    }

    fn rate_limit(&self) -> Option<f64> {
        self.rate
    }
}

struct LineSplit<F> {
    path: Arc<PathBuf>,
    parse: F,
    reader: Option<BufReader<File>>,
    /// Where the split's first line starts.
    start: u64,
    /// Where the next line starts.
    next: u64,
    /// Lines starting at or after this belong to the next split.
    end: u64,
    line: Vec<u8>,
}

impl<F> LineSplit<F> {
    fn fail(&self, offset: u64, what: &str) -> ! {
        let line = line_number(&self.path, offset)
            .map_or_else(|_| "?".to_string(), |line| line.to_string());
        panic!(
            "{}: line {line} (byte offset {offset}): {what}",
            self.path.display()
        )
    }

    /// A reader positioned at `offset`.
    fn reader_at(&self, offset: u64) -> BufReader<File> {
        let mut file =
            File::open(&*self.path).unwrap_or_else(|e| self.fail(offset, &format!("{e}")));
        if let Err(error) = file.seek(SeekFrom::Start(offset)) {
            self.fail(offset, &format!("cannot seek: {error}"));
        }
        BufReader::with_capacity(1 << 16, file)
    }

    /// Where the first line that starts at or after `offset` begins: the line holding byte
    /// `offset - 1` belongs to the range before.
    fn first_line_at_or_after(&mut self, offset: u64) -> u64 {
        if offset == 0 {
            return 0;
        }
        let mut reader = self.reader_at(offset - 1);
        let mut skipped = Vec::new();
        let read = reader
            .read_until(b'\n', &mut skipped)
            .unwrap_or_else(|e| self.fail(offset, &format!("{e}")));
        offset - 1 + read as u64
    }
}

impl<T, F: Fn(&str) -> Result<T, String>> SourceSplit<T> for LineSplit<F> {
    fn next_batch(&mut self, out: &mut Vec<T>, max: usize) -> bool {
        if self.reader.is_none() {
            self.reader = Some(self.reader_at(self.next));
        }
        for _ in 0..max {
            if self.next >= self.end {
                return false;
            }
            self.line.clear();
            let Some(reader) = self.reader.as_mut() else {
                return false;
            };
            let read = match reader.read_until(b'\n', &mut self.line) {
                Ok(read) => read,
                Err(error) => self.fail(self.next, &format!("{error}")),
            };
            if read == 0 {
                return false;
            }
            let text = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            let record = std::str::from_utf8(text)
                .map_err(|e| format!("not UTF-8: {e}"))
                .and_then(&self.parse)
                .unwrap_or_else(|what| self.fail(self.next, &what));
            out.push(record);
            self.next += read as u64;
        }
        self.next < self.end
    }

    fn offset(&self) -> u64 {
        self.next - self.start
    }

    fn seek(&mut self, offset: u64) {
        self.next = self.start.saturating_add(offset);
        self.reader = None;
    }
}

/// The number (from 1) of the line that starts at byte `offset` of the file at `path`: one
/// more than the newlines before it (read when an error needs it, not kept while reading).
pub fn line_number(path: &Path, offset: u64) -> std::io::Result<u64> {
    let mut before = File::open(path)?.take(offset);
    let mut chunk = vec![0u8; 1 << 16];
    let mut newlines = 0;
    loop {
        let read = before.read(&mut chunk)?;
        if read == 0 {
            return Ok(newlines + 1);
        }
        newlines += chunk[..read].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("tw-lines-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn read_all(split: &mut dyn SourceSplit<u32>) -> Vec<u32> {
        let mut out = Vec::new();
        while split.next_batch(&mut out, 2) {}
        out
    }

    #[test]
    fn splits_cover_every_line_once_and_replay_from_an_offset() {
        let text: String = (0..50).map(|i| format!("{i}\n")).collect();
        let path = file("cover", &text);
        let source = LineFile::new(&path, |line: &str| {
            line.parse::<u32>().map_err(|e| e.to_string())
        });
        for shards in 1..5 {
            let mut all: Vec<u32> = (0..shards)
                .flat_map(|s| read_all(&mut *source.split(s, shards)))
                .collect();
            all.sort_unstable();
            assert_eq!(all, (0..50).collect::<Vec<_>>(), "{shards} shards");
        }
        let mut split = source.split(1, 2);
        let mut first = Vec::new();
        split.next_batch(&mut first, 3);
        let offset = split.offset();
        let rest = read_all(&mut *split);
        split.seek(offset);
        assert_eq!(read_all(&mut *split), rest);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_bad_line_names_the_file_line_and_offset() {
        let path = file("bad", "1\n2\nx\n");
        let source = LineFile::new(&path, |line: &str| {
            line.parse::<u32>().map_err(|e| e.to_string())
        });
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_all(&mut *source.split(0, 1))
        }))
        .unwrap_err();
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(message.contains("line 3 (byte offset 4)"), "{message}");
        std::fs::remove_file(path).unwrap();
    }
}
