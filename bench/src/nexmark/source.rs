//! The Nexmark sources on Tidewater: the generator split across shards, and a JSON-lines
//! file split by byte ranges. Both emit [`Stamped`] events, which carry the birth time of
//! one event in `latency_sample` to the sink for latency.
//!
//! # How the generator is split
//!
//! Shard `s` of `S` makes events `s`, `s + S`, `s + 2S`, …: the shards interleave rather than
//! take contiguous ranges, so their event times advance together (as the partitions of a
//! Kafka topic do), and the watermark, the minimum over the shards, keeps up with the data.
//! A contiguous split would start the second shard half the run's event time ahead of the
//! first, and every window of the second half would wait, state held, for the first shard
//! (see [`crate::event_time`]). The events themselves do not depend on the shard count:
//! event `n` is the generator's event `n` wherever it is made. Each shard's part is an
//! engine [`Generator`], so its offset (checkpoints) is the position in that part.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tidewater::prelude::*;

use super::event::Event;
use super::generator::NexmarkGenerator;
use super::jsonl::{EventReader, JsonlError};
use crate::workload::now_ns;

/// A record with the birth time of the input event it comes from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stamped<T> {
    /// The record.
    pub value: T,
    /// Nanoseconds since the process clock's start when the source made the input event, or
    /// 0 if it is not sampled for latency.
    pub born_ns: u64,
    /// The input event's position in the input: its event number, or the byte offset of its
    /// line in the file. Queries that break ties by input order (q18, q19) compare it.
    pub seq: u64,
}

impl<T> Stamped<T> {
    /// `f` of the record, with the same birth time.
    #[inline]
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Stamped<U> {
        Stamped {
            value: f(self.value),
            born_ns: self.born_ns,
            seq: self.seq,
        }
    }

    /// `f` of the record with the same birth time, or `None` if `f` gives `None`.
    #[inline]
    pub fn filter_map<U>(self, f: impl FnOnce(T) -> Option<U>) -> Option<Stamped<U>> {
        let (born_ns, seq) = (self.born_ns, self.seq);
        f(self.value).map(|value| Stamped {
            value,
            born_ns,
            seq,
        })
    }
}

/// Which events are sampled for latency: one in `2^k`, by position in the shard's part.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sampling {
    mask: u64,
}

impl Sampling {
    /// One in `sample`, rounded up to a power of two.
    pub(crate) fn new(sample: u64) -> Self {
        Self {
            mask: sample.max(1).next_power_of_two() - 1,
        }
    }

    #[inline]
    pub(crate) fn born_ns(self, position: u64) -> u64 {
        if position & self.mask == 0 {
            now_ns()
        } else {
            0
        }
    }
}

/// The first `count` events of a [`NexmarkGenerator`], interleaved over the shards (see the
/// module docs).
#[derive(Clone)]
pub struct GeneratedEvents {
    generator: NexmarkGenerator,
    count: u64,
    sampling: Sampling,
    rate: Option<f64>,
}

impl GeneratedEvents {
    /// Events `0..count` of `generator`; one in `latency_sample` (rounded up to a power of
    /// two) carries its birth time.
    pub fn new(generator: NexmarkGenerator, count: u64, latency_sample: u64) -> Self {
        Self {
            generator,
            count,
            sampling: Sampling::new(latency_sample),
            rate: None,
        }
    }

    /// Emits at most `events_per_s` events per second in total.
    pub fn rate_limited(mut self, events_per_s: f64) -> Self {
        self.rate = Some(events_per_s);
        self
    }
}

/// The event numbers shard `shard` of `shards` makes out of `0..count`: `shard`,
/// `shard + shards`, … (how many, and the `j`-th).
pub fn interleaved(count: u64, shard: usize, shards: usize) -> impl Iterator<Item = u64> {
    let (shard, shards) = (shard as u64, shards.max(1) as u64);
    (0..part_len(count, shard, shards)).map(move |j| shard + j * shards)
}

/// How many of `0..count` are `shard` modulo `shards`.
fn part_len(count: u64, shard: u64, shards: u64) -> u64 {
    count.saturating_sub(shard).div_ceil(shards)
}

impl Source<Stamped<Event>> for GeneratedEvents {
    fn split(&self, shard: usize, shards: usize) -> Box<dyn SourceSplit<Stamped<Event>>> {
        self.split_range(shard, shards, 0..u64::MAX)
            .expect("the generator splits any range")
    }

    /// Positions are event numbers: shard `s` of `S` makes those in `positions` that are
    /// `s` places after the range's start modulo `S`.
    fn split_range(
        &self,
        shard: usize,
        shards: usize,
        positions: std::ops::Range<u64>,
    ) -> Option<Box<dyn SourceSplit<Stamped<Event>>>> {
        let step = shards.max(1) as u64;
        let (start, end) = (
            positions.start.min(self.count),
            positions.end.min(self.count),
        );
        let first = start + shard as u64;
        let generator = self.generator.clone();
        let sampling = self.sampling;
        let make = move |position: u64| {
            let seq = first + position * step;
            Stamped {
                born_ns: sampling.born_ns(position),
                value: generator.event(seq),
                seq,
            }
        };
        Some(Generator::new(part_len(end, first, step), make).split(0, 1))
    }

    fn rate_limit(&self) -> Option<f64> {
        self.rate
    }
}

/// Where a file source's first error is kept, so that the run can report it as it is (the
/// engine only sees the panic that stops the job).
pub type ErrorSlot = Arc<Mutex<Option<JsonlError>>>;

/// Events read from a JSON-lines file, shard `s` of `S` reading the lines that start in the
/// `s`-th of `S` equal byte ranges. A malformed line stops the job: its [`JsonlError`] goes
/// into the [`ErrorSlot`] and the source panics with it.
pub struct FileEvents {
    path: PathBuf,
    len: u64,
    sampling: Sampling,
    rate: Option<f64>,
    errors: ErrorSlot,
}

impl FileEvents {
    /// The events in the file at `path`; one in `latency_sample` (rounded up to a power of
    /// two) carries its birth time. Fails if the file cannot be read.
    pub fn open(path: &Path, latency_sample: u64, errors: ErrorSlot) -> Result<Self, JsonlError> {
        let io = |source| JsonlError::Io {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        // Fail now, not on a shard, if the file cannot be opened.
        std::fs::File::open(path).map_err(io)?;
        Ok(Self {
            path: path.to_path_buf(),
            len,
            sampling: Sampling::new(latency_sample),
            rate: None,
            errors,
        })
    }

    /// Emits at most `events_per_s` events per second in total.
    pub fn rate_limited(mut self, events_per_s: f64) -> Self {
        self.rate = Some(events_per_s);
        self
    }
}

impl Source<Stamped<Event>> for FileEvents {
    fn split(&self, shard: usize, shards: usize) -> Box<dyn SourceSplit<Stamped<Event>>> {
        self.split_range(shard, shards, 0..u64::MAX)
            .expect("a file splits any byte range")
    }

    /// Positions are byte offsets: the split reads the lines that start in its share of
    /// `positions`.
    fn split_range(
        &self,
        shard: usize,
        shards: usize,
        positions: std::ops::Range<u64>,
    ) -> Option<Box<dyn SourceSplit<Stamped<Event>>>> {
        let (first, last) = (positions.start.min(self.len), positions.end.min(self.len));
        let part =
            |i: usize| first + (u128::from(last - first) * i as u128 / shards as u128) as u64;
        Some(Box::new(FileSplit {
            path: self.path.clone(),
            start: part(shard),
            end: part(shard + 1),
            reader: None,
            resume_at: None,
            position: 0,
            sampling: self.sampling,
            errors: self.errors.clone(),
        }))
    }

    fn rate_limit(&self) -> Option<f64> {
        self.rate
    }
}

/// One shard's byte range of the file. The file is opened on the first read, on the shard
/// (where a failure stops the job cleanly). The offset is the byte offset of the next line.
struct FileSplit {
    path: PathBuf,
    start: u64,
    end: u64,
    reader: Option<EventReader<std::io::BufReader<std::fs::File>>>,
    /// Where to go on the next read, after a `seek`.
    resume_at: Option<u64>,
    /// Events read so far (for latency sampling).
    position: u64,
    sampling: Sampling,
    errors: ErrorSlot,
}

impl FileSplit {
    /// Keeps `error` for the run to report and stops the job.
    fn fail(&self, error: JsonlError) -> ! {
        let message = error.to_string();
        let mut slot = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(error);
        drop(slot);
        panic!("{message}");
    }

    fn reader(&mut self) -> &mut EventReader<std::io::BufReader<std::fs::File>> {
        if self.reader.is_none() {
            match EventReader::open_range(&self.path, self.start, self.end) {
                Ok(reader) => self.reader = Some(reader),
                Err(error) => self.fail(error),
            }
        }
        if let Some(offset) = self.resume_at.take() {
            let reader = self.reader.as_mut().expect("opened above");
            if let Err(source) = reader.seek_to(offset) {
                let path = self.path.clone();
                self.fail(JsonlError::Io { path, source });
            }
        }
        self.reader.as_mut().expect("opened above")
    }
}

impl SourceSplit<Stamped<Event>> for FileSplit {
    fn next_batch(&mut self, out: &mut Vec<Stamped<Event>>, max: usize) -> bool {
        for _ in 0..max {
            let reader = self.reader();
            let seq = reader.offset();
            match reader.next_event() {
                Ok(Some(value)) => {
                    out.push(Stamped {
                        value,
                        born_ns: self.sampling.born_ns(self.position),
                        seq,
                    });
                    self.position += 1;
                }
                Ok(None) => return false,
                Err(error) => self.fail(error),
            }
        }
        true
    }

    fn offset(&self) -> u64 {
        match (self.resume_at, &self.reader) {
            (Some(offset), _) => offset,
            (None, Some(reader)) => reader.offset(),
            // Not opened yet: reading starts at the first line that starts in the range.
            (None, None) => self.start,
        }
    }

    fn seek(&mut self, offset: u64) {
        if offset == self.start {
            // The start of the range may fall inside a line: open it afresh, which skips to
            // the first line that starts in it.
            self.reader = None;
            self.resume_at = None;
        } else {
            self.resume_at = Some(offset);
        }
    }
}
