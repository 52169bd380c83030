//! Sources: the deterministic generator and in-memory collections.

use std::ops::Range;
use std::sync::Arc;

/// A replayable input, split across shards.
pub trait Source<T>: Send + Sync + 'static {
    /// The part of the input that `shard` (of `shards`) reads.
    fn split(&self, shard: usize, shards: usize) -> Box<dyn SourceSplit<T>>;

    /// The part of the records at global positions `positions` that `shard` (of `shards`)
    /// reads, where a position is the source's own measure of progress through its whole
    /// input (a record index, a byte offset), the same on every shard count. Savepoints need
    /// it: a job stops with every source at one position, and a job resuming from there, on
    /// any shard count, reads the positions after it. `None` (the default) if the source
    /// cannot.
    fn split_range(
        &self,
        shard: usize,
        shards: usize,
        positions: Range<u64>,
    ) -> Option<Box<dyn SourceSplit<T>>> {
        let _ = (shard, shards, positions);
        None
    }

    /// The most records per second the whole source may emit (over all shards), if limited.
    fn rate_limit(&self) -> Option<f64> {
        None
    }

    /// After how long without records a split declares itself idle, so that it stops holding
    /// back the watermark downstream until it has records again (Flink's
    /// `WatermarkStrategy.withIdleness`). `None`: never.
    fn idle_timeout(&self) -> Option<std::time::Duration> {
        None
    }
}

/// One shard's part of a source.
pub trait SourceSplit<T> {
    /// Appends up to `max` records to `out`; returns `false` once the split is exhausted.
    /// Appending nothing and returning `true` means "nothing now": the stage looks again
    /// shortly (and, after the source's idle timeout, declares the split idle).
    fn next_batch(&mut self, out: &mut Vec<T>, max: usize) -> bool;
    /// The position of the next record, to be saved in a checkpoint.
    fn offset(&self) -> u64;
    /// Rewinds (or forwards) to `offset`, as returned by [`SourceSplit::offset`].
    fn seek(&mut self, offset: u64);

    /// After [`next_batch`](SourceSplit::next_batch) gave nothing: arranges for `waker` to be
    /// woken (from any thread) once records may be there, and returns `true`; it must wake at
    /// once if records arrived meanwhile. The default returns `false`: the stage then looks
    /// again after a short sleep. Splits fed by other threads (an in-process ingress)
    /// implement it, so that a record does not wait for the next look.
    fn wake_on_records(&mut self, waker: &std::task::Waker) -> bool {
        let _ = waker;
        false
    }
}

/// The `shard`-th of `shards` contiguous parts of `0..count`.
fn shard_range(count: u64, shard: usize, shards: usize) -> Range<u64> {
    let part = |i: usize| (u128::from(count) * i as u128 / shards as u128) as u64;
    part(shard)..part(shard + 1)
}

/// A deterministic source of `count` records: record `i` is `f(i)`. Shards read contiguous
/// index ranges; the offset is the next index; a record's position is its index.
#[derive(Clone)]
pub struct Generator<F> {
    count: u64,
    f: F,
    rate: Option<f64>,
}

impl<F> Generator<F> {
    /// `count` records, record `i` being `f(i)`.
    pub fn new(count: u64, f: F) -> Self {
        Self {
            count,
            f,
            rate: None,
        }
    }

    /// Emits at most `events_per_s` records per second in total.
    pub fn rate_limited(mut self, events_per_s: f64) -> Self {
        self.rate = Some(events_per_s);
        self
    }
}

impl<T, F> Source<T> for Generator<F>
where
    F: Fn(u64) -> T + Clone + Send + Sync + 'static,
{
    fn split(&self, shard: usize, shards: usize) -> Box<dyn SourceSplit<T>> {
        self.split_range(shard, shards, 0..u64::MAX)
            .expect("a generator splits any range")
    }

    fn split_range(
        &self,
        shard: usize,
        shards: usize,
        positions: Range<u64>,
    ) -> Option<Box<dyn SourceSplit<T>>> {
        let (first, last) = (
            positions.start.min(self.count),
            positions.end.min(self.count),
        );
        let range = shard_range(last.saturating_sub(first), shard, shards);
        Some(Box::new(GeneratorSplit {
            start: first + range.start,
            next: first + range.start,
            end: first + range.end,
            f: self.f.clone(),
        }))
    }

    fn rate_limit(&self) -> Option<f64> {
        self.rate
    }
}

struct GeneratorSplit<F> {
    start: u64,
    next: u64,
    end: u64,
    f: F,
}

impl<T, F: Fn(u64) -> T> SourceSplit<T> for GeneratorSplit<F> {
    #[inline]
    fn next_batch(&mut self, out: &mut Vec<T>, max: usize) -> bool {
        let stop = self.end.min(self.next.saturating_add(max as u64));
        out.extend((self.next..stop).map(&self.f));
        self.next = stop;
        self.next < self.end
    }

    fn offset(&self) -> u64 {
        self.next - self.start
    }

    fn seek(&mut self, offset: u64) {
        self.next = self.start.saturating_add(offset).min(self.end);
    }
}

/// An in-memory collection, split into contiguous parts; the offset is the next position.
pub struct Collection<T> {
    items: Arc<Vec<T>>,
}

impl<T> Collection<T> {
    /// A source of `items`, in order within each shard's part.
    pub fn new(items: Vec<T>) -> Self {
        Self {
            items: Arc::new(items),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Source<T> for Collection<T> {
    fn split(&self, shard: usize, shards: usize) -> Box<dyn SourceSplit<T>> {
        let items = self.items.clone();
        let generator = Generator::new(items.len() as u64, move |i| items[i as usize].clone());
        generator.split(shard, shards)
    }

    fn split_range(
        &self,
        shard: usize,
        shards: usize,
        positions: Range<u64>,
    ) -> Option<Box<dyn SourceSplit<T>>> {
        let items = self.items.clone();
        let generator = Generator::new(items.len() as u64, move |i| items[i as usize].clone());
        generator.split_range(shard, shards, positions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<T>(split: &mut dyn SourceSplit<T>) -> Vec<T> {
        let mut out = Vec::new();
        while split.next_batch(&mut out, 3) {}
        out
    }

    #[test]
    fn splits_cover_the_input_once() {
        let source = Generator::new(10, |i| i);
        let mut all: Vec<u64> = (0..3)
            .flat_map(|s| drain(&mut *source.split(s, 3)))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn a_split_replays_from_an_offset() {
        let source = Collection::new(vec!["a", "b", "c", "d", "e"]);
        let mut split = source.split(1, 2);
        let first = drain(&mut *split);
        assert_eq!(first, vec!["c", "d", "e"]);
        split.seek(1);
        assert_eq!(split.offset(), 1);
        assert_eq!(drain(&mut *split), vec!["d", "e"]);
    }
}
