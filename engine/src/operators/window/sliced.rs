//! The sliced window operator: sliding (and tumbling) event-time windows with an incremental
//! function (`reduce`, `aggregate`), the default (event-time) trigger and no allowed
//! lateness, computed from slices ("panes") instead of one accumulator per key and window.
//!
//! Windows of size `S` starting every `L` (aligned to the offset `O`) are cut into slices of
//! length `P = gcd(S, L)`, aligned like the windows, so that every window is the union of
//! `S / P` consecutive slices and every slice lies in the same windows as each of its
//! records. A record is folded into one accumulator, its key's in its slice, instead of into
//! the `S / L` accumulators of its windows. When the watermark passes a window's end, each
//! key's result is the merge of its accumulators in the window's slices.
//!
//! State is kept by slice, not by key: each live slice lists the keys with records in it, as
//! `(row, accumulator)` entries, where a row is a small number standing for a key while the
//! key has records in live slices. The one hash lookup per record finds the key's row and
//! its entry in its newest slice. Firing a window reads its slices' entries in order, merging
//! them per row into a scratch accumulator, and emits one result per row it met: the keys to
//! fire at a window end are exactly those listed in the window's slices, with no timer per
//! key, and a key with records only in an early slice still fires for every later window
//! holding that slice. Firing is a sequential pass over compact lists, not a hash lookup per
//! key and window.
//!
//! # Invariant
//!
//! Between calls:
//!
//! - `unfired` is the end of the first window that has not fired: every window ending before
//!   it, in particular every window whose max timestamp is at or before the watermark, has
//!   fired once, for the keys with entries in its slices at the time.
//! - `slices` holds, by start, the live slices: those with entries whose last window ends at
//!   or after `unfired`. A slice is dropped when its last window fires, and a record whose
//!   last window has fired is late, so a dropped slice never comes back. Each entry is the
//!   fold of on-time records of its row's key in that slice. A key may have several entries
//!   in a slice, and its windows merge them all: a record for an older slice than its key's
//!   newest starts a new entry (a stray) rather than search for the key's entry, until the
//!   slice has so many strays that it indexes its entries by row and folds into them.
//! - `index` maps each key with a row to its row, the start of the newest slice it has an
//!   entry in and that entry's position there. A key whose newest slice has been dropped has
//!   no entry left in any live slice; it is removed, and its row freed for reuse, by a sweep
//!   of the index that runs once as many entries have been dropped since the last sweep as
//!   the live slices hold (so at a constant cost per entry, and the index stays within twice
//!   the live entries). `rows[row].key` is the key of each row in use.
//!
//! The results are the general operator's: the same windows per key (those holding at least
//! one on-time record), each fired once, with the same value provided that merging
//! accumulators agrees with folding their records one by one, as it must for session windows
//! too. A record is late, and dropped, counted and sent to the late-data side output, under
//! the same rule: when every window holding it has been cleaned up, or when no window holds
//! it (sliding windows shorter than their slide leave gaps).

use std::collections::VecDeque;
use std::hash::Hash;

use hashbrown::hash_map::{HashMap, RawEntryMut};

use super::assigner::{window_start, TimeWindow, WindowAssigner, WindowTime};
use super::function::WindowFunction;
use super::local::SliceGrid;
use super::operator::{Cleanup, WindowOutputs};
use crate::checkpoint::restore::{owner, restored_parts};
use crate::checkpoint::StageSnapshot;
use crate::exchange::StableKey;
use crate::operators::{enter, OperatorId, Output, TimeDomain, TimestampFn};
use crate::runtime::ShardContext;
use crate::state::StateData;
use crate::time::Timestamp;

/// The geometry of windows of `size` every `slide` (aligned to `offset`), cut into slices of
/// `gcd(size, slide)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slicing {
    /// The window length in ms.
    size: i64,
    /// The distance between window starts in ms.
    slide: i64,
    /// The slice length in ms: the greatest common divisor of `size` and `slide`.
    slice: i64,
    /// The windows' (and slices') alignment offset in ms.
    offset: i64,
    /// Where window ends fall, modulo `slide`.
    end_phase: i64,
}

impl Slicing {
    /// The slicing of `assigner`'s windows, if they can be sliced: sliding or tumbling (a
    /// sliding window whose slide is its size) windows in event time.
    pub(crate) fn of(assigner: &WindowAssigner) -> Option<Self> {
        match *assigner {
            WindowAssigner::Sliding {
                size,
                slide,
                offset,
                time: WindowTime::Event,
            } => Some(Self::new(size, slide, offset)),
            WindowAssigner::Tumbling {
                size,
                offset,
                time: WindowTime::Event,
            } => Some(Self::new(size, size, offset)),
            _ => None,
        }
    }

    /// Windows of `size` every `slide` aligned to `offset` (both lengths at least 1 ms).
    fn new(size: i64, slide: i64, offset: i64) -> Self {
        let (size, slide) = (size.max(1), slide.max(1));
        Self {
            size,
            slide,
            slice: gcd(size, slide),
            offset,
            end_phase: (offset.rem_euclid(slide) + size.rem_euclid(slide)) % slide,
        }
    }

    /// The slice length in ms.
    pub(crate) fn slice_length(&self) -> i64 {
        self.slice
    }

    /// The slices, as the local phase of a local-global aggregation cuts records into them.
    pub(crate) fn grid(&self) -> SliceGrid {
        SliceGrid {
            length: self.slice,
            offset: self.offset,
        }
    }

    /// The first window end at or after `time`.
    fn end_at_or_after(&self, time: Timestamp) -> Timestamp {
        time.saturating_add((self.end_phase - time.rem_euclid(self.slide)).rem_euclid(self.slide))
    }

    /// The end of the first window holding the slice that starts at `start`.
    fn first_end(&self, start: Timestamp) -> Timestamp {
        self.end_at_or_after(start.saturating_add(self.slice))
    }

    /// The slice holding `timestamp`, and the windows holding it.
    fn slice_of(&self, timestamp: Timestamp) -> Slice {
        let start = window_start(timestamp, self.offset, self.slice);
        let end = start.saturating_add(self.slice);
        // The window holding the slice with the latest end is the one starting last at or
        // before it, if that one reaches the slice's end.
        let last_start = window_start(start, self.offset, self.slide);
        let last = TimeWindow::new(last_start, last_start.saturating_add(self.size));
        Slice {
            start,
            end,
            last: (last.end >= end).then_some(last),
        }
    }
}

/// The greatest common divisor of two positive numbers.
fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A slice and the windows holding it, as a record needs them; kept for the next record,
/// which in time-ordered input usually falls in the same slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slice {
    /// The slice's first millisecond.
    start: Timestamp,
    /// The first millisecond after the slice.
    end: Timestamp,
    /// The last window holding the slice: once it is cleaned up, the slice's records are
    /// late. `None` if no window holds the slice.
    last: Option<TimeWindow>,
}

impl Slice {
    /// Whether `timestamp` falls in this slice.
    fn holds(&self, timestamp: Timestamp) -> bool {
        self.start <= timestamp && timestamp < self.end
    }
}

/// Where a key is: its row, and its entry in the newest slice it has records in.
#[derive(Debug, Clone, Copy)]
struct KeyState {
    /// The key's row.
    row: u32,
    /// The position of the key's entry in its newest slice.
    pos: u32,
    /// The start of the newest slice the key has an entry in.
    newest: Timestamp,
}

/// One live slice: the keys with records in it.
struct SliceEntries<A> {
    /// The slice's first millisecond.
    start: Timestamp,
    /// `(row, accumulator)` per key (possibly several per key; see the module docs).
    entries: Vec<(u32, A)>,
    /// Entries started by records of keys whose newest slice is a later one, without looking
    /// for an entry of the key here.
    strays: usize,
    /// Once there are too many strays: the position of each row's (first) entry, kept up to
    /// date from then on.
    by_row: Option<HashMap<u32, u32>>,
}

impl<A> SliceEntries<A> {
    /// How many strays a slice takes before it indexes its entries by row: a few, plus one
    /// for each of its other entries, so that strays at most about double its size. With
    /// many keys, a stray is usually its key's only entry in the slice anyway, and indexing
    /// would cost more than it saves; with few hot keys, strays outnumber the others soon.
    const STRAYS: usize = 64;

    /// An empty slice starting at `start`, reusing `entries`' capacity.
    fn new(start: Timestamp, entries: Vec<(u32, A)>) -> Self {
        Self {
            start,
            entries,
            strays: 0,
            by_row: None,
        }
    }

    /// Adds an entry for `row`; returns its position.
    #[inline]
    fn push(&mut self, row: u32, acc: A) -> u32 {
        let pos = u32::try_from(self.entries.len())
            .ok()
            .filter(|pos| *pos != LATE)
            .expect("fewer than 2^32 - 1 entries per slice");
        self.entries.push((row, acc));
        if let Some(by_row) = &mut self.by_row {
            by_row.entry(row).or_insert(pos);
        }
        pos
    }

    /// The position of the entry to fold a record of `row` into when the row's newest slice
    /// is a later one: a new entry while strays are few, else the row's entry found through
    /// the index.
    fn older_entry(&mut self, row: u32, create: impl FnOnce() -> A) -> u32 {
        if self.by_row.is_none() {
            if self.strays < Self::STRAYS + (self.entries.len() - self.strays) {
                self.strays += 1;
                return self.push(row, create());
            }
            let mut by_row = HashMap::with_capacity(self.entries.len());
            for (pos, (row, _)) in self.entries.iter().enumerate() {
                by_row.entry(*row).or_insert(pos as u32);
            }
            self.by_row = Some(by_row);
        }
        let found = self.by_row.as_ref().and_then(|by_row| by_row.get(&row));
        match found {
            Some(pos) => *pos,
            None => self.push(row, create()),
        }
    }
}

/// A row: a key, and its merged accumulator in the window being fired, side by side as
/// firing reads them together.
struct Row<K, A> {
    /// The key.
    key: K,
    /// The end of the window `merged` belongs to (it is stale for any other window).
    stamp: Timestamp,
    /// The merge of the key's entries in the window's slices.
    merged: A,
}

/// The mutable state of a sliced window operator (see the module docs for its invariant).
pub(crate) struct SlicedState<K, A> {
    /// Per key: its row, newest slice and entry there.
    index: HashMap<K, KeyState>,
    /// Per row: its key (of a freed row, its last key), and its result in the window being
    /// fired.
    rows: Vec<Row<K, A>>,
    /// Rows free for reuse.
    free: Vec<u32>,
    /// The live slices, by start.
    slices: VecDeque<SliceEntries<A>>,
    /// Entry lists of dropped slices, kept for their capacity.
    spare: Vec<Vec<(u32, A)>>,
    /// The most entries a dropped slice had: a new slice without a spare list starts with
    /// room for as many, or for as many as the newest slice has, rather than growing by
    /// doubling (each step fresh memory).
    largest: usize,
    /// Entries dropped since the last sweep of the index.
    dropped: usize,
    /// The end of the first window that has not fired (all windows ending before have).
    unfired: Timestamp,
    /// The operator's watermark.
    watermark: Timestamp,
    /// The slice of the last record.
    recent: Option<Slice>,
    /// The rows of the window being fired, in the order met.
    met: Vec<u32>,
    /// Per record of the batch being added, its slice's start and its entry's position
    /// there ([`LATE`] for a late record).
    targets: Vec<(Timestamp, u32)>,
}

/// The entry position of a late record in `targets`.
const LATE: u32 = u32::MAX;

impl<K, A> Default for SlicedState<K, A> {
    fn default() -> Self {
        Self {
            index: HashMap::new(),
            rows: Vec::new(),
            free: Vec::new(),
            slices: VecDeque::new(),
            spare: Vec::new(),
            largest: 0,
            dropped: 0,
            unfired: Timestamp::MIN,
            watermark: Timestamp::MIN,
            recent: None,
            met: Vec::new(),
            targets: Vec::new(),
        }
    }
}

impl<K, A> SlicedState<K, A> {
    /// The position in `slices` of the live slice starting at `start`, created if there is
    /// none.
    #[inline]
    fn slice_index(&mut self, start: Timestamp) -> usize {
        // Time-ordered input: nearly always the newest slice. The rest stays out of line, so
        // that this check inlines into the per-record loop.
        match self.slices.back() {
            Some(newest) if newest.start == start => self.slices.len() - 1,
            _ => self.find_or_add_slice(start),
        }
    }

    /// [`slice_index`](Self::slice_index) for a slice that is not the newest: an older one,
    /// found by search, or a new one, inserted in order.
    #[inline(never)]
    fn find_or_add_slice(&mut self, start: Timestamp) -> usize {
        let newest = self.slices.back().map(|slice| slice.start);
        let index = match newest {
            Some(newest) if newest > start => {
                match self
                    .slices
                    .binary_search_by_key(&start, |slice| slice.start)
                {
                    Ok(index) => return index,
                    Err(index) => index,
                }
            }
            _ => self.slices.len(),
        };
        let entries = self.entry_list();
        self.slices.insert(index, SliceEntries::new(start, entries));
        index
    }

    /// An empty entry list for a new slice: a spare one, or one with room for a quarter more
    /// entries than slices have had, so that it seldom grows (each doubling is fresh memory,
    /// as the allocator need not reuse the smaller block for the larger).
    fn entry_list(&mut self) -> Vec<(u32, A)> {
        self.spare.pop().unwrap_or_else(|| {
            let newest = self.slices.back().map_or(0, |slice| slice.entries.len());
            let typical = newest.max(self.largest);
            // A quarter more, for strays.
            Vec::with_capacity(typical + typical / 4)
        })
    }

    /// Takes the list of a dropped slice (which had `count` entries) for reuse; sweeps the
    /// index once as many entries have been dropped since the last sweep as the live slices
    /// hold.
    ///
    /// The index then holds at most the live slices' keys and the keys of the entries
    /// dropped since (every other key was swept), so a sweep costs at most twice the
    /// entries dropped since the last one, and the index stays within twice the live
    /// entries. (Sweeping once the dropped entries reach the index's size, as before, never
    /// came when keys keep coming new, like q5's auctions: the index held every key ever
    /// seen until the end of the input.)
    fn release(&mut self, mut entries: Vec<(u32, A)>, count: usize) {
        self.largest = self.largest.max(count);
        entries.clear();
        self.spare.push(entries);
        self.dropped += count;
        let live: usize = self.slices.iter().map(|slice| slice.entries.len()).sum();
        if self.dropped >= live {
            self.sweep();
        }
    }

    /// Removes the keys whose newest slice has been dropped, freeing their rows.
    fn sweep(&mut self) {
        self.dropped = 0;
        let oldest = self
            .slices
            .front()
            .map_or(Timestamp::MAX, |slice| slice.start);
        let free = &mut self.free;
        self.index.retain(|_, state| {
            let live = state.newest >= oldest;
            if !live {
                free.push(state.row);
            }
            live
        });
    }
}

/// A sliced operator's state as a checkpoint holds it: the watermark, the end of the first
/// window not yet fired, and each live slice's start with its `(key, accumulator)` entries.
type SavedSlices<K, A> = (Timestamp, Timestamp, Vec<(Timestamp, Vec<(K, A)>)>);

impl<K, A> SlicedState<K, A>
where
    K: StateData + StableKey + Hash + Eq + Clone,
    A: StateData,
{
    /// Adds the state to `snapshot` as `operator`'s.
    fn save(&self, snapshot: &mut StageSnapshot, operator: OperatorId) {
        let slices: Vec<_> = self
            .slices
            .iter()
            .map(|slice| {
                let entries: Vec<_> = slice
                    .entries
                    .iter()
                    .map(|(row, acc)| (&self.rows[*row as usize].key, acc))
                    .collect();
                (slice.start, entries)
            })
            .collect();
        snapshot.add(operator.0, &(self.watermark, self.unfired, slices));
    }

    /// The state of the keys this shard owns in the restored checkpoint, if the job
    /// restored one: old shards' slices with the same start merge, and the watermark and the
    /// first unfired window are the least of the old shards'.
    pub(crate) fn restored(
        context: &ShardContext,
        operator: OperatorId,
        create: impl Fn() -> A,
    ) -> Self {
        let mut state = Self::default();
        let Some(parts) = restored_parts::<SavedSlices<K, A>>(context, operator) else {
            return state;
        };
        let owns = owner(context);
        state.watermark = parts
            .iter()
            .map(|part| part.0)
            .min()
            .unwrap_or(Timestamp::MIN);
        state.unfired = parts
            .iter()
            .map(|part| part.1)
            .min()
            .unwrap_or(Timestamp::MIN);
        let mut slices: Vec<(Timestamp, Vec<(K, A)>)> =
            parts.into_iter().flat_map(|part| part.2).collect();
        // Oldest first, so that each key's newest slice is the last one met.
        slices.sort_by_key(|(start, _)| *start);
        for (start, entries) in slices {
            let index = state.slice_index(start);
            for (key, acc) in entries.into_iter().filter(|(key, _)| owns(key)) {
                let row = match state.index.get(&key) {
                    Some(key_state) => key_state.row,
                    None => {
                        let row = state.rows.len() as u32;
                        state.rows.push(Row {
                            key: key.clone(),
                            stamp: Timestamp::MIN,
                            merged: create(),
                        });
                        row
                    }
                };
                let pos = state.slices[index].push(row, acc);
                state.index.insert(
                    key,
                    KeyState {
                        row,
                        pos,
                        newest: start,
                    },
                );
            }
        }
        state
    }
}

/// The sliced window operator of one shard (see the module docs).
pub(crate) struct SlicedWindowOperator<T, K, KF, W: WindowFunction<K, T>> {
    /// The operator, for blaming panics.
    pub(crate) id: OperatorId,
    /// The key selector.
    pub(crate) key: KF,
    /// The windows and their slices.
    pub(crate) slicing: Slicing,
    /// The records' event time.
    pub(crate) timestamp: TimestampFn<T>,
    /// The window function (incremental: `reduce` or `aggregate`).
    pub(crate) function: W,
    /// Where results, late records and watermarks go.
    pub(crate) outputs: WindowOutputs<T, W::Out>,
    /// Slices, keys and watermark.
    pub(crate) state: SlicedState<K, W::Acc>,
}

impl<T, K, KF, W> SlicedWindowOperator<T, K, KF, W>
where
    T: 'static,
    K: Hash + Eq + Clone,
    KF: FnMut(&T) -> K,
    W: WindowFunction<K, T>,
    W::Acc: Clone,
{
    /// When windows are cleaned up: at their end, as there is no allowed lateness.
    const CLEANUP: Cleanup = Cleanup {
        domain: TimeDomain::EventTime,
        allowed_lateness: 0,
    };

    /// Adds a batch in two passes: the first finds each record's entry (creating it if need
    /// be), the second folds the records in. Each pass's memory accesses, a hash lookup per
    /// record and then an entry per record, are independent from one record to the next, so
    /// the processor overlaps their cache misses, which a single pass chaining the two per
    /// record mostly does not.
    fn add_batch(&mut self, batch: Vec<T>) {
        let mut targets = std::mem::take(&mut self.state.targets);
        targets.clear();
        targets.extend(batch.iter().map(|record| self.locate(record)));
        // Slices may have been inserted before others: find them again by start.
        let mut found: Option<(Timestamp, usize)> = None;
        for (record, &(start, pos)) in batch.into_iter().zip(&targets) {
            if pos == LATE {
                self.outputs.drop_late(record);
                continue;
            }
            let slices = &mut self.state.slices;
            let index = match found {
                Some((at, index)) if at == start => index,
                _ => {
                    let index = slices
                        .binary_search_by_key(&start, |slice| slice.start)
                        .expect("located records' slices are live");
                    found = Some((start, index));
                    index
                }
            };
            self.function
                .add(&mut slices[index].entries[pos as usize].1, record);
        }
        self.state.targets = targets;
    }

    /// The slice and entry to fold `record` into (the entry created if need be), or [`LATE`].
    #[inline]
    fn locate(&mut self, record: &T) -> (Timestamp, u32) {
        let timestamp = (self.timestamp)(record);
        let slice = match self.state.recent {
            Some(recent) if recent.holds(timestamp) => recent,
            _ => {
                let slice = self.slicing.slice_of(timestamp);
                self.state.recent = Some(slice);
                slice
            }
        };
        let watermark = self.state.watermark;
        let on_time = slice
            .last
            .is_some_and(|last| !Self::CLEANUP.is_late(&last, watermark));
        if !on_time {
            return (slice.start, LATE);
        }
        let key = (self.key)(record);
        let index = self.state.slice_index(slice.start);
        let state = &mut self.state;
        let slice_entries = &mut state.slices[index];
        let key_state = match state.index.raw_entry_mut().from_key(&key) {
            RawEntryMut::Occupied(entry) => entry.into_mut(),
            RawEntryMut::Vacant(entry) => {
                let row = match state.free.pop() {
                    Some(row) => {
                        state.rows[row as usize].key = key.clone();
                        row
                    }
                    None => {
                        let row = u32::try_from(state.rows.len())
                            .expect("fewer than 2^32 keys per shard in live windows");
                        state.rows.push(Row {
                            key: key.clone(),
                            stamp: Timestamp::MIN,
                            merged: self.function.create(),
                        });
                        row
                    }
                };
                let fresh = KeyState {
                    row,
                    pos: 0,
                    newest: Timestamp::MIN,
                };
                entry.insert(key, fresh).1
            }
        };
        let function = &self.function;
        let pos = if key_state.newest == slice.start {
            key_state.pos
        } else if key_state.newest < slice.start {
            key_state.newest = slice.start;
            key_state.pos = slice_entries.push(key_state.row, function.create());
            key_state.pos
        } else {
            slice_entries.older_entry(key_state.row, || function.create())
        };
        (slice.start, pos)
    }

    /// Fires, in time order, every window whose max timestamp is at or before `watermark`
    /// and that holds a live slice.
    fn fire(&mut self, watermark: Timestamp) {
        enter(self.id);
        let mut out = Vec::new();
        while let Some(front) = self.state.slices.front() {
            // The first unfired window holding a live slice: slices are dropped with their
            // last window, so it holds the front one.
            let end = self.slicing.first_end(front.start).max(self.state.unfired);
            if end.saturating_sub(1) > watermark {
                break;
            }
            self.fire_window(end, &mut out);
            self.state.unfired = end.saturating_add(self.slicing.slide);
            if self.state.unfired == end {
                // Window ends saturate at the end of time: no later window exists.
                break;
            }
        }
        let next = self.slicing.end_at_or_after(watermark.saturating_add(2));
        self.state.unfired = self.state.unfired.max(next);
        self.outputs.ship(out);
    }

    /// Fires the window ending at `end` for every key with records in its slices, then drops
    /// the slices no later window holds.
    fn fire_window(&mut self, end: Timestamp, out: &mut Vec<W::Out>) {
        let window = TimeWindow::new(end.saturating_sub(self.slicing.size), end);
        // Slices before this are in no later window.
        let kept = window.start.saturating_add(self.slicing.slide);
        let SlicedState {
            slices, rows, met, ..
        } = &mut self.state;
        let function = &self.function;
        let mut merge = |row: u32, acc: W::Acc| {
            let row = row as usize;
            let row_state = &mut rows[row];
            if row_state.stamp != end {
                row_state.stamp = end;
                row_state.merged = function.create();
                met.push(row as u32);
            }
            function.merge(&mut row_state.merged, acc);
        };
        let mut dropped = Vec::new();
        while slices.front().is_some_and(|slice| slice.start < kept) {
            let slice = slices.pop_front().expect("a front slice");
            let mut entries = slice.entries;
            let count = entries.len();
            if slice.start >= window.start {
                // The window's oldest slices: moved in, not cloned.
                for (row, acc) in entries.drain(..) {
                    merge(row, acc);
                }
            }
            dropped.push((entries, count));
        }
        for slice in slices.iter().take_while(|slice| slice.start < end) {
            for (row, acc) in &slice.entries {
                merge(*row, acc.clone());
            }
        }
        let state = &mut self.state;
        for row in state.met.drain(..) {
            let row = &state.rows[row as usize];
            self.function.emit(&row.key, &window, &row.merged, out);
            self.outputs.ship_full(out);
        }
        for (entries, count) in dropped {
            state.release(entries, count);
        }
    }
}

impl<T, K, KF, W> Output<T> for SlicedWindowOperator<T, K, KF, W>
where
    T: 'static,
    K: StateData + StableKey + Hash + Eq + Clone,
    W::Acc: StateData,
    KF: FnMut(&T) -> K,
    W: WindowFunction<K, T>,
    W::Acc: Clone,
{
    fn push(&mut self, batch: Vec<T>) {
        enter(self.id);
        self.add_batch(batch);
        // Only late records may be waiting, in the side output.
        self.outputs.ship(Vec::new());
    }

    fn watermark(&mut self, watermark: Timestamp) {
        // A restored operator starts at its saved watermark.
        let watermark = watermark.max(self.state.watermark);
        self.state.watermark = watermark;
        self.fire(watermark);
        self.outputs.watermark(watermark);
    }

    fn end(&mut self) {
        self.outputs.end();
    }

    fn barrier(&mut self, snapshot: &mut StageSnapshot) {
        enter(self.id);
        self.state.save(snapshot, self.id);
        self.outputs.barrier(snapshot);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::operators::window::{sliding, tumbling};

    fn slicing(assigner: WindowAssigner) -> Slicing {
        Slicing::of(&assigner).expect("event-time sliding or tumbling windows")
    }

    /// The windows holding `timestamp`, by the assigner.
    fn assigned(assigner: WindowAssigner, timestamp: Timestamp) -> Vec<TimeWindow> {
        let mut windows = Vec::new();
        assigner.assign(timestamp, |window| windows.push(window));
        windows.sort();
        windows
    }

    /// The windows holding the slice of `timestamp`, by the slicing: every window end from
    /// the first to the last.
    fn sliced(slicing: Slicing, timestamp: Timestamp) -> Vec<TimeWindow> {
        let slice = slicing.slice_of(timestamp);
        let Some(last) = slice.last else {
            return Vec::new();
        };
        let mut windows = Vec::new();
        let mut end = slicing.first_end(slice.start);
        while end <= last.end {
            windows.push(TimeWindow::new(end - slicing.size, end));
            end += slicing.slide;
        }
        windows
    }

    #[test]
    fn slices_are_the_gcd_of_size_and_slide_and_only_sliding_or_tumbling_event_time() {
        let ms = Duration::from_millis;
        assert_eq!(
            slicing(sliding(ms(10_000), ms(2_000))).slice_length(),
            2_000
        );
        assert_eq!(
            slicing(sliding(ms(10_000), ms(4_000))).slice_length(),
            2_000
        );
        assert_eq!(slicing(sliding(ms(1_000), ms(3_000))).slice_length(), 1_000);
        assert_eq!(slicing(tumbling(ms(5_000))).slice_length(), 5_000);
        assert_eq!(Slicing::of(&sliding(ms(10), ms(2)).processing_time()), None);
        assert_eq!(Slicing::of(&super::super::session(ms(10))), None);
    }

    #[test]
    fn a_slice_lies_in_exactly_the_windows_of_its_records() {
        let ms = Duration::from_millis;
        let assigners = [
            sliding(ms(10_000), ms(2_000)),
            sliding(ms(10_000), ms(4_000)),
            sliding(ms(3_000), ms(2_000)).with_offset(ms(700)),
            // Shorter than the slide: records between windows are in none.
            sliding(ms(1_000), ms(3_000)).with_offset(ms(500)),
            tumbling(ms(5_000)).with_offset(ms(1_234)),
            tumbling(ms(1)),
        ];
        for assigner in assigners {
            let slicing = slicing(assigner);
            for timestamp in (-25_000..25_000)
                .step_by(97)
                .chain([-1, 0, 1, 9_999, 10_000])
            {
                assert_eq!(
                    sliced(slicing, timestamp),
                    assigned(assigner, timestamp),
                    "{assigner:?} at {timestamp}"
                );
                let slice = slicing.slice_of(timestamp);
                assert!(slice.holds(timestamp));
                assert_eq!(slice.end - slice.start, slicing.slice);
            }
        }
    }

    /// Drops whatever reaches it.
    struct Discard;

    impl<T> Output<T> for Discard {
        fn push(&mut self, _: Vec<T>) {}
        fn watermark(&mut self, _: Timestamp) {}
        fn end(&mut self) {}
        fn barrier(&mut self, _: &mut StageSnapshot) {}
    }

    #[test]
    fn keys_that_keep_coming_new_are_forgotten_with_their_slices() {
        use crate::metrics::JobMetrics;
        use crate::operators::window::operator::LateRecords;
        use crate::operators::window::AggregateWindow;
        use crate::operators::Count;

        // Sliding windows of 10 s every 2 s; 1000 records per second, each of a key never
        // seen before (as q5's auctions): 10 000 keys in a window's slices at a time.
        let assigner = sliding(Duration::from_millis(10_000), Duration::from_millis(2_000));
        let mut operator = SlicedWindowOperator {
            id: OperatorId(0),
            key: |record: &(u64, i64)| record.0,
            slicing: slicing(assigner),
            timestamp: std::sync::Arc::new(|record: &(u64, i64)| record.1),
            function: AggregateWindow(Count),
            outputs: WindowOutputs {
                late: LateRecords {
                    tag: None,
                    metrics: std::sync::Arc::new(JobMetrics::new(1)),
                    shard: 0,
                },
                next: Box::new(Discard),
                side: Default::default(),
                batch: 64,
            },
            state: SlicedState::default(),
        };
        let (mut most_keys, mut most_rows) = (0, 0);
        for second in 0..200u64 {
            let batch = (0..1000).map(|i| (second * 1000 + i, (second * 1000 + i) as i64));
            operator.push(batch.collect());
            operator.watermark((second * 1000 + 999) as i64);
            most_keys = most_keys.max(operator.state.index.len());
            most_rows = most_rows.max(operator.state.rows.len());
        }
        // The live slices hold 10 000 to 12 000 keys; the index and rows at most twice that.
        assert!(most_keys <= 24_000, "the index grew to {most_keys} keys");
        assert!(most_rows <= 24_000, "{most_rows} rows");
    }

    #[test]
    fn window_ends_are_found_at_or_after_a_time() {
        let slicing = slicing(sliding(Duration::from_millis(10), Duration::from_millis(4)));
        // Windows start at 4k and end at 4k + 10 = 4k + 2 (mod 4).
        assert_eq!(slicing.end_at_or_after(2), 2);
        assert_eq!(slicing.end_at_or_after(3), 6);
        assert_eq!(slicing.end_at_or_after(-3), -2);
        assert_eq!(slicing.end_at_or_after(-2), -2);
    }
}
