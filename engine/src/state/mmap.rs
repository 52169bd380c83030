//! The memory-mapped backend: keyed state in a file mapped into memory, so that it may
//! exceed RAM (the kernel pages it in and out) and a checkpoint copies only the pages
//! changed since the last one.
//!
//! The file is an open-addressing hash table (linear probing) of fixed-size slots packed back
//! to back: a slot is an 8-byte tag (empty, occupied, deleted), the key and the value, each
//! as its plain bytes (`bytemuck::Pod`), 8-byte aligned. Slots are not padded to a power of
//! two: a smaller table misses the cache and the TLB less, which is what lookups cost. A slot
//! may straddle two pages; writing it marks both. A read is a pointer
//! into the mapping and an update writes the value in place: nothing is decoded. Each page
//! remembers the checkpoint epoch it was last written in; at a barrier the store saves either
//! the pages written since the newest completed checkpoint, as a delta on it, or every page:
//! the first time, after it grew or was restored, and as the [delta chain](super::chain)
//! policy says: so a restore reads at most one and a half times the store, whatever the
//! number of checkpoints.
//!
//! Keys are placed by a seeded xxh3 of their bytes, which never changes, so a saved image
//! can be mapped back as it is.

use std::fs::OpenOptions;
use std::hash::Hash;
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use bytemuck::Pod;
use memmap2::{MmapMut, MmapOptions};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::chain::DeltaChain;
use super::KeyedStore;
use crate::checkpoint::paged::{overlay, PagedPart};

/// The page size: the unit of dirty tracking and of incremental checkpoints.
pub const PAGE: usize = 4096;

/// The pages a new store starts with.
const INITIAL_PAGES: usize = 16;

/// The seed of the slot hash. Not the key-group hash (xxh3 unseeded): a shard holds only
/// the keys of its key groups, whose unseeded hashes share their low bits, which would pile
/// them into a few runs of slots. Fixed forever, since saved images are mapped back as is.
const SLOT_SEED: u64 = 0x7469_6465_7761_7465;

const EMPTY: u64 = 0;
const OCCUPIED: u64 = 1;
const DELETED: u64 = 2;

/// What a saved image says about the store it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    key_size: u32,
    value_size: u32,
    slot_size: u32,
    pages: u32,
    len: u64,
    deleted: u64,
}

/// Keyed state of fixed-size keys and values in a memory-mapped file.
pub struct MmapStore<K, V> {
    /// The folder and file-name prefix of the store's files.
    dir: PathBuf,
    name: String,
    /// Bumped each time the store grows into a new file.
    generation: u32,
    /// The mapping (the file itself can be closed: the mapping keeps it).
    map: MmapMut,
    slot_size: usize,
    value_offset: usize,
    pages: usize,
    /// Slots in all.
    capacity: usize,
    len: usize,
    deleted: usize,
    /// Per page, the epoch it was last written in.
    page_epochs: Vec<u64>,
    /// The current epoch: the id of the next checkpoint barrier.
    epoch: u64,
    /// Whether the next save is a delta (of pages), and on which checkpoint.
    chain: DeltaChain,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> std::fmt::Debug for MmapStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapStore")
            .field("file", &self.path())
            .field("len", &self.len)
            .field("pages", &self.pages)
            .finish_non_exhaustive()
    }
}

/// Rounds `n` up to a multiple of 8.
const fn pad8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

impl<K, V> MmapStore<K, V> {
    /// The file the store is mapped from now.
    fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.g{}", self.name, self.generation))
    }
}

impl<K: Pod + Eq, V: Pod> MmapStore<K, V> {
    /// An empty store in a new file `<dir>/<name>.g0` (an existing one is replaced).
    pub fn create(dir: &Path, name: &str) -> std::io::Result<Self> {
        Self::with_pages(dir, name, 0, INITIAL_PAGES, &[])
    }

    /// A store of `pages` pages in a new file `<dir>/<name>.g<generation>`, starting with the
    /// bytes `contents` (a saved image's pages), zeros after them.
    fn with_pages(
        dir: &Path,
        name: &str,
        generation: u32,
        pages: usize,
        contents: &[u8],
    ) -> std::io::Result<Self> {
        assert!(
            std::mem::align_of::<K>() <= 8 && std::mem::align_of::<V>() <= 8,
            "memory-mapped state holds keys and values aligned to at most 8 bytes"
        );
        let slot_size = 8 + pad8(std::mem::size_of::<K>()) + pad8(std::mem::size_of::<V>());
        assert!(
            slot_size <= PAGE,
            "a key and value of at most {} bytes",
            PAGE - 8
        );
        assert!(pages.is_power_of_two(), "a power of two of pages");
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{name}.g{generation}"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        // Written, not copied into the mapping: mapping a hole makes the kernel zero each
        // page twice (allocating it, then reading the hole) before the copy overwrites it,
        // which was four fifths of a restore's time.
        file.write_all(contents)?;
        file.set_len((pages * PAGE) as u64)?;
        // Fault every page in at once (MAP_POPULATE): touching the fresh pages of a new file
        // one by one costs tens of microseconds each here, which made growing a large
        // store take seconds.
        // SAFETY: the file is this store's own, created (truncated) just now in the job's
        // state folder and written only through this mapping; nothing else maps or resizes
        // it while the store lives (the store owns the only handle).
        let map = unsafe { MmapOptions::new().populate().map_mut(&file)? };
        // Lookups land on pages at random: reading ahead around a fault (the kernel's
        // default) would fill memory with neighbours no one asked for, evicting the pages in
        // use once the state outgrows memory.
        map.advise(memmap2::Advice::Random)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            generation,
            map,
            slot_size,
            value_offset: 8 + pad8(std::mem::size_of::<K>()),
            pages,
            capacity: pages * PAGE / slot_size,
            len: 0,
            deleted: 0,
            page_epochs: vec![0; pages],
            epoch: 1,
            chain: DeltaChain::default(),
            types: PhantomData,
        })
    }

    /// The store's size on disk (and at most in memory), in bytes.
    pub fn file_bytes(&self) -> usize {
        self.pages * PAGE
    }

    #[inline]
    fn offset(&self, slot: usize) -> usize {
        slot * self.slot_size
    }

    #[inline]
    fn tag(&self, slot: usize) -> u64 {
        let at = self.offset(slot);
        *bytemuck::from_bytes::<u64>(&self.map[at..at + 8])
    }

    #[inline]
    fn key_at(&self, slot: usize) -> &K {
        let at = self.offset(slot) + 8;
        bytemuck::from_bytes(&self.map[at..at + std::mem::size_of::<K>()])
    }

    #[inline]
    fn value_at(&self, slot: usize) -> &V {
        let at = self.offset(slot) + self.value_offset;
        bytemuck::from_bytes(&self.map[at..at + std::mem::size_of::<V>()])
    }

    /// Marks `slot`'s page (or two) as written in this epoch and returns the slot's bytes.
    #[inline]
    fn slot_mut(&mut self, slot: usize) -> &mut [u8] {
        let at = self.offset(slot);
        self.page_epochs[at / PAGE] = self.epoch;
        self.page_epochs[(at + self.slot_size - 1) / PAGE] = self.epoch;
        &mut self.map[at..at + self.slot_size]
    }

    #[inline]
    fn home(&self, key: &K) -> usize {
        let hash = xxh3_64_with_seed(bytemuck::bytes_of(key), SLOT_SEED);
        ((u128::from(hash) * self.capacity as u128) >> 64) as usize
    }

    /// The slot holding `key`, or (`Err`) the slot where it would go.
    #[inline]
    fn find(&self, key: &K) -> Result<usize, usize> {
        let mut slot = self.home(key);
        let mut free = None;
        loop {
            match self.tag(slot) {
                EMPTY => return Err(free.unwrap_or(slot)),
                OCCUPIED if bytemuck::bytes_of(self.key_at(slot)) == bytemuck::bytes_of(key) => {
                    return Ok(slot)
                }
                DELETED => {
                    free.get_or_insert(slot);
                }
                _ => {}
            }
            slot += 1;
            if slot == self.capacity {
                slot = 0;
            }
        }
    }

    /// Writes `key` and `value` into the free `slot`.
    fn occupy(&mut self, slot: usize, key: &K, value: V) {
        if self.tag(slot) == DELETED {
            self.deleted -= 1;
        }
        let value_offset = self.value_offset;
        let bytes = self.slot_mut(slot);
        bytes[..8].copy_from_slice(&OCCUPIED.to_ne_bytes());
        bytes[8..8 + std::mem::size_of::<K>()].copy_from_slice(bytemuck::bytes_of(key));
        bytes[value_offset..value_offset + std::mem::size_of::<V>()]
            .copy_from_slice(bytemuck::bytes_of(&value));
        self.len += 1;
    }

    /// Doubles the table into a new file once it is 70% used (deleted slots count).
    fn reserve_one(&mut self) -> std::io::Result<()> {
        if (self.len + self.deleted + 1) * 10 <= self.capacity * 7 {
            return Ok(());
        }
        let pages = if (self.len + 1) * 10 > self.capacity * 4 {
            self.pages * 2
        } else {
            self.pages // mostly deleted slots: rebuild at the same size
        };
        let mut grown = Self::with_pages(&self.dir, &self.name, self.generation + 1, pages, &[])?;
        grown.epoch = self.epoch;
        grown.page_epochs.fill(self.epoch);
        for slot in 0..self.capacity {
            if self.tag(slot) == OCCUPIED {
                let (key, value) = (*self.key_at(slot), *self.value_at(slot));
                let Err(free) = grown.find(&key) else {
                    unreachable!("keys are unique")
                };
                grown.occupy(free, &key, value);
            }
        }
        // Dropping the old store removes its file.
        *self = grown;
        Ok(())
    }

    /// Saves the store into a checkpoint part at barrier `barrier`: every page, or (`base`
    /// set) only the pages written since checkpoint `completed`, whose part this is a delta on.
    pub(crate) fn save(&mut self, barrier: u64, completed: u64) -> (Vec<u8>, Option<u64>) {
        let changed: Vec<u32> = (0..self.pages as u32)
            .filter(|&page| self.page_epochs[page as usize] > completed)
            .collect();
        let base = self.chain.next_save(completed, changed.len(), self.pages);
        let meta = postcard::to_stdvec(&self.meta()).expect("meta encodes");
        let page = |index: u32| {
            let at = index as usize * PAGE;
            (index, &self.map[at..at + PAGE])
        };
        let bytes = if base.is_none() {
            PagedPart::encode_full(&meta, PAGE, self.pages, &self.map[..self.pages * PAGE])
        } else {
            PagedPart::encode_delta(&meta, PAGE, self.pages, changed.iter().copied().map(page))
        };
        self.epoch = barrier + 1;
        (bytes, base)
    }

    fn meta(&self) -> Meta {
        Meta {
            key_size: std::mem::size_of::<K>() as u32,
            value_size: std::mem::size_of::<V>() as u32,
            slot_size: self.slot_size as u32,
            pages: self.pages as u32,
            len: self.len as u64,
            deleted: self.deleted as u64,
        }
    }

    /// A store holding the state a checkpoint chain (a full image, then its deltas) saved,
    /// in a new file: the full image's pages are written into it as one block, then mapped,
    /// and each delta's pages copied over them; nothing is decoded. Epochs continue after
    /// checkpoint `restored`.
    pub(crate) fn from_chain(
        dir: &Path,
        name: &str,
        chain: &[impl AsRef<[u8]>],
        restored: u64,
    ) -> Result<Self, String> {
        let (full, deltas) = chain.split_first().ok_or("an empty delta chain")?;
        let full = PagedPart::parse(full.as_ref())?;
        let pages = full.full_pages().ok_or("not a full image")?;
        Self::check_geometry(&full)?;
        let mut store =
            Self::with_pages(dir, name, 0, full.page_count, pages).map_err(|e| e.to_string())?;
        let meta = overlay(&mut store.map[..pages.len()], &full, deltas)?;
        let meta: Meta = postcard::from_bytes(&meta).map_err(|e| format!("bad meta: {e}"))?;
        store.len = meta.len as usize;
        store.deleted = meta.deleted as usize;
        store.epoch = restored + 1;
        store.page_epochs.fill(0);
        Ok(store)
    }

    /// Checks that the full image `full` holds this store's keys and values, in pages of
    /// this size, and as many pages as it says.
    fn check_geometry(full: &PagedPart) -> Result<(), String> {
        let meta: Meta = postcard::from_bytes(&full.meta).map_err(|e| format!("bad meta: {e}"))?;
        let expected = (
            std::mem::size_of::<K>() as u32,
            std::mem::size_of::<V>() as u32,
        );
        if (meta.key_size, meta.value_size) != expected || full.page_size != PAGE {
            return Err(format!(
                "the saved keys and values are {} and {} bytes, this job's {} and {}",
                meta.key_size, meta.value_size, expected.0, expected.1
            ));
        }
        let saved = full.full_pages().map_or(0, <[u8]>::len);
        if meta.pages as usize != full.page_count || saved != full.page_count * PAGE {
            return Err(format!(
                "{saved} bytes of pages saved for {} pages",
                meta.pages
            ));
        }
        Ok(())
    }

    /// Every entry a checkpoint chain (a full image, then its deltas) saved, for
    /// re-inserting the keys a shard owns when the shard count changed.
    pub(crate) fn entries_of(chain: &[impl AsRef<[u8]>]) -> Result<Vec<(K, V)>, String> {
        let (full, deltas) = chain.split_first().ok_or("an empty delta chain")?;
        let full = PagedPart::parse(full.as_ref())?;
        Self::check_geometry(&full)?;
        // Slots straddle pages: walk the image's pages as one block.
        let mut block = std::borrow::Cow::Borrowed(full.full_pages().ok_or("not a full image")?);
        let meta = if deltas.is_empty() {
            full.meta.clone()
        } else {
            overlay(block.to_mut(), &full, deltas)?
        };
        let meta: Meta = postcard::from_bytes(&meta).map_err(|e| format!("bad meta: {e}"))?;
        let slot_size = meta.slot_size as usize;
        let value_offset = 8 + pad8(std::mem::size_of::<K>());
        let mut entries = Vec::with_capacity(meta.len as usize);
        for slot in block.chunks_exact(slot_size) {
            if slot[..8] == OCCUPIED.to_ne_bytes() {
                let key = bytemuck::pod_read_unaligned::<K>(&slot[8..8 + size_of::<K>()]);
                let value = bytemuck::pod_read_unaligned::<V>(
                    &slot[value_offset..value_offset + size_of::<V>()],
                );
                entries.push((key, value));
            }
        }
        Ok(entries)
    }
}

impl<K, V> Drop for MmapStore<K, V> {
    fn drop(&mut self) {
        // The file is working memory, not the durable state (checkpoints are).
        let _ = std::fs::remove_file(self.path());
    }
}

impl<K: Pod + Eq + Hash, V: Pod> KeyedStore<K, V> for MmapStore<K, V> {
    #[inline]
    fn get_or_insert_with(&mut self, key: &K, init: impl FnOnce() -> V) -> &mut V {
        if let Err(error) = self.reserve_one() {
            panic!(
                "cannot grow the state file {}: {error}",
                self.path().display()
            );
        }
        let slot = match self.find(key) {
            Ok(slot) => slot,
            Err(free) => {
                self.occupy(free, key, init());
                free
            }
        };
        let value_offset = self.value_offset;
        let bytes = self.slot_mut(slot);
        bytemuck::from_bytes_mut(&mut bytes[value_offset..value_offset + std::mem::size_of::<V>()])
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|slot| self.value_at(slot))
    }

    const PREFETCH: bool = true;

    #[inline]
    fn prefetch(&self, key: &K) {
        let at = self.offset(self.home(key));
        prefetch_line(&self.map[at..]);
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.find(key).ok()?;
        let value = *self.value_at(slot);
        self.slot_mut(slot)[..8].copy_from_slice(&DELETED.to_ne_bytes());
        self.len -= 1;
        self.deleted += 1;
        Some(value)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn iter<'a>(&'a self) -> impl ExactSizeIterator<Item = (&'a K, &'a V)>
    where
        K: 'a,
        V: 'a,
    {
        let occupied = (0..self.capacity).filter(move |&slot| self.tag(slot) == OCCUPIED);
        ExactLen {
            inner: occupied.map(move |slot| (self.key_at(slot), self.value_at(slot))),
            left: self.len,
        }
    }
}

/// Starts loading the cache line `bytes` starts in.
#[inline]
fn prefetch_line(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is a hint: it never faults and changes no memory, and the
        // pointer comes from a live slice (SSE, which the intrinsic needs, is part of the
        // x86_64 baseline).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// An iterator whose length is known up front.
struct ExactLen<I> {
    inner: I,
    left: usize,
}

impl<I: Iterator> Iterator for ExactLen<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        let item = self.inner.next()?;
        self.left -= 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<I: Iterator> ExactSizeIterator for ExactLen<I> {}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("tw-mmap-{}-{name}", std::process::id()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// The store behaves as a hash map through inserts, updates, removals and growth.
        #[test]
        fn behaves_as_a_hash_map(ops in proptest::collection::vec((0u64..400, 0u8..3), 1..3000)) {
            let mut store = MmapStore::<u64, [u64; 2]>::create(&dir("model"), "model").unwrap();
            let mut model: HashMap<u64, [u64; 2]> = HashMap::new();
            for (key, op) in ops {
                match op {
                    0 | 1 => {
                        let value = store.get_or_insert_with(&key, || [key, 0]);
                        value[1] += 1;
                        model.entry(key).or_insert([key, 0])[1] += 1;
                    }
                    _ => prop_assert_eq!(store.remove(&key), model.remove(&key)),
                }
            }
            prop_assert_eq!(store.len(), model.len());
            let mut seen: Vec<(u64, [u64; 2])> = store.iter().map(|(k, v)| (*k, *v)).collect();
            seen.sort_unstable();
            let mut expected: Vec<(u64, [u64; 2])> = model.into_iter().collect();
            expected.sort_unstable();
            prop_assert_eq!(seen, expected);
        }
    }

    #[test]
    fn a_delta_saves_only_the_changed_pages_and_restores_exactly() {
        let folder = dir("delta");
        let mut store = MmapStore::<u64, u64>::create(&folder, "a").unwrap();
        for key in 0..100_000u64 {
            *store.get_or_insert_with(&key, || 0) += key;
        }
        let (image, base) = store.save(1, 0);
        assert_eq!(base, None);
        assert_eq!(
            PagedPart::parse(&image).unwrap().pages().count(),
            store.pages
        );
        // 1% of the keys change: those of the first pages. (Keys are placed by hash, so 1%
        // of keys picked at random would touch most pages: a page holds 170 of them.)
        let changed: Vec<u64> = store.iter().map(|(key, _)| *key).take(1_000).collect();
        for key in &changed {
            *store.get_or_insert_with(key, || 0) += 1;
        }
        let (delta, base) = store.save(2, 1);
        assert_eq!(base, Some(1));
        let saved = PagedPart::parse(&delta).unwrap().pages().count();
        assert!(
            saved * 50 < store.pages,
            "{saved} of {} pages saved",
            store.pages
        );
        let chain = [image, delta];
        let restored = MmapStore::<u64, u64>::from_chain(&folder, "b", &chain, 2).unwrap();
        assert_eq!(restored.len(), 100_000);
        for key in 0..100_000u64 {
            let expected = key + u64::from(changed.contains(&key));
            assert_eq!(restored.get(&key), Some(&expected));
        }
        let mut entries = MmapStore::<u64, u64>::entries_of(&chain).unwrap();
        entries.sort_unstable();
        let stored: Vec<(u64, u64)> = (0..100_000u64)
            .map(|key| (key, key + u64::from(changed.contains(&key))))
            .collect();
        assert_eq!(entries, stored);
        assert!(MmapStore::<u64, u64>::from_chain(&folder, "c", &chain[1..], 2).is_err());
        drop((store, restored));
        std::fs::remove_dir_all(&folder).unwrap();
    }
}
