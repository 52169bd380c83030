//! Where a key lives: key → stable hash → key group → shard.
//!
//! The hash decides where persisted state lives, so it must never change across processes,
//! versions or platforms: it is xxh3 over a key's canonical bytes ([`StableKey`]), never a
//! seeded or `std::hash` hasher. Key groups (`max_key_groups`, 4096 by default) are assigned to
//! shards in contiguous ranges, as Flink's `KeyGroupRangeAssignment` does, so that a later
//! change of shard count moves whole ranges of state.

use xxhash_rust::xxh3::{xxh3_64, Xxh3};

/// A key with a canonical byte encoding, hashed the same everywhere, forever.
///
/// Integers encode as little-endian bytes, strings as their UTF-8 bytes; composite keys feed
/// their parts in order, each variable-length part preceded by its length. Implement it for
/// your own key types by feeding their fields.
pub trait StableKey {
    /// Feeds the key's canonical bytes into `hasher`.
    fn feed(&self, hasher: &mut Xxh3);

    /// The key's stable 64-bit hash.
    #[inline]
    fn stable_hash(&self) -> u64 {
        let mut hasher = Xxh3::new();
        self.feed(&mut hasher);
        hasher.digest()
    }
}

macro_rules! stable_int {
    ($($t:ty),*) => {$(
        impl StableKey for $t {
            #[inline]
            fn feed(&self, hasher: &mut Xxh3) {
                hasher.update(&self.to_le_bytes());
            }
            #[inline]
            fn stable_hash(&self) -> u64 {
                xxh3_64(&self.to_le_bytes())
            }
        }
    )*};
}
stable_int!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128);

impl StableKey for bool {
    fn feed(&self, hasher: &mut Xxh3) {
        hasher.update(&[u8::from(*self)]);
    }
}

impl StableKey for char {
    fn feed(&self, hasher: &mut Xxh3) {
        u32::from(*self).feed(hasher);
    }
}

impl StableKey for str {
    fn feed(&self, hasher: &mut Xxh3) {
        (self.len() as u64).feed(hasher);
        hasher.update(self.as_bytes());
    }

    fn stable_hash(&self) -> u64 {
        xxh3_64(self.as_bytes())
    }
}

impl StableKey for String {
    fn feed(&self, hasher: &mut Xxh3) {
        self.as_str().feed(hasher);
    }

    fn stable_hash(&self) -> u64 {
        self.as_str().stable_hash()
    }
}

impl StableKey for [u8] {
    fn feed(&self, hasher: &mut Xxh3) {
        (self.len() as u64).feed(hasher);
        hasher.update(self);
    }

    fn stable_hash(&self) -> u64 {
        xxh3_64(self)
    }
}

impl StableKey for Vec<u8> {
    fn feed(&self, hasher: &mut Xxh3) {
        self.as_slice().feed(hasher);
    }

    fn stable_hash(&self) -> u64 {
        self.as_slice().stable_hash()
    }
}

impl<K: StableKey + ?Sized> StableKey for &K {
    fn feed(&self, hasher: &mut Xxh3) {
        (**self).feed(hasher);
    }

    fn stable_hash(&self) -> u64 {
        (**self).stable_hash()
    }
}

/// The one key of a stream keyed by a constant (every record in the same group, as Flink's
/// `windowAll`): it feeds nothing.
impl StableKey for () {
    fn feed(&self, _: &mut Xxh3) {}
}

macro_rules! stable_tuple {
    ($($name:ident),+) => {
        impl<$($name: StableKey),+> StableKey for ($($name,)+) {
            #[allow(non_snake_case)]
            fn feed(&self, hasher: &mut Xxh3) {
                let ($($name,)+) = self;
                $($name.feed(hasher);)+
            }
        }
    };
}
stable_tuple!(A);
stable_tuple!(A, B);
stable_tuple!(A, B, C);
stable_tuple!(A, B, C, D);

/// The default number of key groups, as in Flink.
pub const DEFAULT_MAX_KEY_GROUPS: u32 = 4096;

/// The assignment of key groups to shards: contiguous ranges, precomputed as a table.
#[derive(Debug, Clone)]
pub struct KeyGroups {
    max_key_groups: u32,
    /// `max_key_groups - 1` when it is a power of two: `%` becomes a mask, which matters on
    /// the record path (a 64-bit division costs more than the rest of routing a record).
    mask: Option<u64>,
    shard_of_group: Box<[u16]>,
}

impl KeyGroups {
    /// Spreads `max_key_groups` groups over `shards` shards (`1 <= shards <= max_key_groups`).
    pub fn new(max_key_groups: u32, shards: usize) -> Self {
        let shard_of_group = (0..max_key_groups)
            .map(|group| shard_for_key_group(group, max_key_groups, shards) as u16)
            .collect();
        Self {
            max_key_groups,
            mask: max_key_groups
                .is_power_of_two()
                .then(|| u64::from(max_key_groups) - 1),
            shard_of_group,
        }
    }

    /// The key group of a key hash: `hash % max_key_groups`.
    #[inline]
    pub fn key_group(&self, hash: u64) -> u32 {
        match self.mask {
            Some(mask) => (hash & mask) as u32,
            None => (hash % u64::from(self.max_key_groups)) as u32,
        }
    }

    /// The shard that owns a key.
    #[inline]
    pub fn shard_of<K: StableKey + ?Sized>(&self, key: &K) -> usize {
        usize::from(self.shard_of_group[self.key_group(key.stable_hash()) as usize])
    }
}

/// The shard that owns `group`: Flink's `group * parallelism / max_parallelism`, which gives
/// every shard one contiguous range of groups.
pub fn shard_for_key_group(group: u32, max_key_groups: u32, shards: usize) -> usize {
    (u64::from(group) * shards as u64 / u64::from(max_key_groups)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_pinned_forever() {
        // These values decide where persisted state lives; changing them breaks every
        // existing checkpoint and savepoint.
        assert_eq!(42u64.stable_hash(), xxh3_64(&42u64.to_le_bytes()));
        assert_eq!("card-7".stable_hash(), xxh3_64(b"card-7"));
        assert_eq!(String::from("card-7").stable_hash(), "card-7".stable_hash());
        assert_eq!(42u64.stable_hash(), 0xD5A6_F8C8_38DF_27C8);
    }

    #[test]
    fn composite_keys_do_not_collide_by_concatenation() {
        let ab = ("a".to_string(), "bc".to_string()).stable_hash();
        let abc = ("ab".to_string(), "c".to_string()).stable_hash();
        assert_ne!(ab, abc);
    }

    #[test]
    fn the_mask_agrees_with_the_modulo() {
        let power = KeyGroups::new(4096, 3);
        let other = KeyGroups::new(4095, 3);
        for hash in [0, 1, 4095, 4096, u64::MAX, 0xDEAD_BEEF_CAFE] {
            assert_eq!(u64::from(power.key_group(hash)), hash % 4096);
            assert_eq!(u64::from(other.key_group(hash)), hash % 4095);
        }
    }

    #[test]
    fn groups_form_contiguous_ranges_per_shard() {
        for shards in 1..=7 {
            let groups = KeyGroups::new(128, shards);
            let owners: Vec<usize> = (0..128)
                .map(|g| groups.shard_of_group[g] as usize)
                .collect();
            assert!(owners.windows(2).all(|w| w[0] <= w[1] && w[1] - w[0] <= 1));
            assert_eq!(owners[0], 0);
            assert_eq!(owners[127], shards - 1);
        }
    }
}
