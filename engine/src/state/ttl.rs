//! State time-to-live, following Flink's `StateTtlConfig`: an entry not accessed for `ttl`
//! of processing time expires.
//!
//! Every keyed state primitive keeps its entries in one [`StampedStore`]: a [`HeapStore`]
//! whose values carry the processing time they were last accessed at. All TTL decisions (is
//! it expired, does this access renew it, is a stale entry still shown) are taken here, once.
//!
//! Invariant: an entry is expired at `now` iff `last_access + ttl <= now` (as in Flink), and an
//! expired entry is never renewed: a write replaces it with a fresh one, a read either drops it
//! (`NeverReturnExpired`) or shows it unchanged (`ReturnExpiredIfNotCleanedUp`).

use std::hash::Hash;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{HeapStore, KeyScope, KeyedStore, StateData};
use crate::time::Timestamp;

/// Which accesses renew an entry's time-to-live (Flink's `StateTtlConfig.UpdateType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TtlUpdate {
    /// Creating or writing an entry renews it; reading does not.
    #[default]
    OnCreateAndWrite,
    /// Reading an entry also renews it.
    OnReadAndWrite,
}

/// Whether an expired entry that is still stored may be read (Flink's
/// `StateTtlConfig.StateVisibility`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TtlVisibility {
    /// An expired entry reads as absent, and is dropped when read.
    #[default]
    NeverReturnExpired,
    /// An expired entry still reads as its stale value until
    /// [`cleanup_expired`](super::ValueState::cleanup_expired) removes it or a write replaces
    /// it; reading it does not renew it.
    ReturnExpiredIfNotCleanedUp,
}

/// A time-to-live for keyed state, measured in the shard's processing time.
///
/// ```
/// use std::time::Duration;
/// use tidewater::state::{StateTtl, TtlUpdate, TtlVisibility};
///
/// let ttl = StateTtl::new(Duration::from_secs(60))
///     .update_on(TtlUpdate::OnReadAndWrite)
///     .visibility(TtlVisibility::ReturnExpiredIfNotCleanedUp);
/// assert_eq!(ttl.ttl(), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTtl {
    ttl_ms: i64,
    update: TtlUpdate,
    visibility: TtlVisibility,
}

impl StateTtl {
    /// Entries expire `ttl` after their last renewing access; by default only creation and
    /// writes renew, and expired entries are never returned.
    ///
    /// # Panics
    ///
    /// If `ttl` is zero (as Flink, which requires a positive TTL). Sub-millisecond parts round
    /// up to the next millisecond, and a TTL beyond `i64::MAX` ms is capped there.
    pub fn new(ttl: Duration) -> Self {
        assert!(!ttl.is_zero(), "a state TTL must be positive");
        let whole_ms = ttl.as_millis() + u128::from(!ttl.subsec_nanos().is_multiple_of(1_000_000));
        Self {
            ttl_ms: i64::try_from(whole_ms).unwrap_or(i64::MAX),
            update: TtlUpdate::default(),
            visibility: TtlVisibility::default(),
        }
    }

    /// Sets which accesses renew an entry.
    #[must_use]
    pub fn update_on(mut self, update: TtlUpdate) -> Self {
        self.update = update;
        self
    }

    /// Sets whether expired entries not yet cleaned up may be read.
    #[must_use]
    pub fn visibility(mut self, visibility: TtlVisibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// The time-to-live, in whole milliseconds.
    pub fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms.unsigned_abs())
    }

    /// Which accesses renew an entry.
    pub fn update_type(&self) -> TtlUpdate {
        self.update
    }

    /// Whether expired entries not yet cleaned up may be read.
    pub fn state_visibility(&self) -> TtlVisibility {
        self.visibility
    }

    fn is_expired(&self, last_access: Timestamp, now: Timestamp) -> bool {
        last_access.saturating_add(self.ttl_ms) <= now
    }
}

/// A value and the processing time of its last renewing access (saved as the two, in this
/// order).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stamped<V> {
    value: V,
    last_access: Timestamp,
}

/// Per-key entries with an optional TTL: the one place the keyed state primitives keep their
/// state and decide expiry.
///
/// Without a TTL the stamps are still kept (8 bytes a key) but never consulted, so every
/// access is one hash probe; with one, an access may probe twice (check, then act).
#[derive(Debug, Clone)]
pub(super) struct StampedStore<K, V> {
    entries: HeapStore<K, Stamped<V>>,
    ttl: Option<StateTtl>,
}

impl<K, V> Default for StampedStore<K, V> {
    fn default() -> Self {
        Self {
            entries: HeapStore::default(),
            ttl: None,
        }
    }
}

impl<K: Hash + Eq + Clone, V> StampedStore<K, V> {
    /// Makes entries expire by `ttl`, counted from their last renewing access (stamps are
    /// kept even without a TTL, so entries already held count from theirs).
    pub(super) fn set_ttl(&mut self, ttl: StateTtl) {
        self.ttl = Some(ttl);
    }

    /// `Some(expired)` if `key` holds an entry; never expired without a TTL.
    fn expiry(&self, key: &K, now: Timestamp) -> Option<bool> {
        let stamped = self.entries.get(key)?;
        Some(
            self.ttl
                .is_some_and(|ttl| ttl.is_expired(stamped.last_access, now)),
        )
    }

    /// Drops the scope key's entry if it has expired; whether it is now absent.
    fn evict_expired(&mut self, key: &K, now: Timestamp) -> bool {
        match self.expiry(key, now) {
            None => true,
            Some(true) => {
                self.entries.remove(key);
                true
            }
            Some(false) => false,
        }
    }

    /// Reads the scope key's entry, as the TTL's visibility and update type say.
    pub(super) fn read(&mut self, scope: &impl KeyScope<K>) -> Option<&V> {
        let key = scope.current_key();
        let Some(ttl) = self.ttl else {
            return self.entries.get(key).map(|stamped| &stamped.value);
        };
        let now = scope.processing_time();
        let expired = self.expiry(key, now)?;
        if expired && ttl.visibility == TtlVisibility::NeverReturnExpired {
            self.entries.remove(key);
            return None;
        }
        if !expired && ttl.update == TtlUpdate::OnReadAndWrite {
            let stamped = self.entries.get_mut(key)?;
            stamped.last_access = now;
            return Some(&stamped.value);
        }
        // A plain read: the entry stays unchanged for incremental checkpoints.
        self.entries.get(key).map(|stamped| &stamped.value)
    }

    /// The scope key's entry for writing, renewed; created with `init` if absent or expired.
    pub(super) fn write(&mut self, scope: &impl KeyScope<K>, init: impl FnOnce() -> V) -> &mut V {
        let key = scope.current_key();
        let now = scope.processing_time();
        if self.ttl.is_some() {
            self.evict_expired(key, now);
        }
        let stamped = self.entries.get_or_insert_with(key, || Stamped {
            value: init(),
            last_access: now,
        });
        stamped.last_access = now;
        &mut stamped.value
    }

    /// Sets the scope key's entry to `value`, renewed.
    pub(super) fn put(&mut self, scope: &impl KeyScope<K>, value: V) {
        let stamped = Stamped {
            value,
            last_access: scope.processing_time(),
        };
        self.entries.insert(scope.current_key(), stamped);
    }

    /// Applies `change` to the scope key's live entry and renews it; `None` (and no entry is
    /// created) if there is none. An expired entry is dropped, whatever the visibility.
    pub(super) fn modify<R>(
        &mut self,
        scope: &impl KeyScope<K>,
        change: impl FnOnce(&mut V) -> R,
    ) -> Option<R> {
        let key = scope.current_key();
        let now = scope.processing_time();
        if self.evict_expired(key, now) {
            return None;
        }
        let stamped = self.entries.get_mut(key)?;
        stamped.last_access = now;
        Some(change(&mut stamped.value))
    }

    /// Removes the scope key's entry.
    pub(super) fn clear(&mut self, scope: &impl KeyScope<K>) {
        self.entries.remove(scope.current_key());
    }

    /// Removes every entry expired at `now`; how many.
    pub(super) fn cleanup_expired(&mut self, now: Timestamp) -> usize {
        let Some(ttl) = self.ttl else { return 0 };
        let before = self.entries.len();
        self.entries
            .retain(|_, stamped| !ttl.is_expired(stamped.last_access, now));
        before - self.entries.len()
    }

    /// How many keys hold an entry, expired or not.
    pub(super) fn len_keys(&self) -> usize {
        self.entries.len()
    }
}

/// Checkpoints of the entries, each saved as `(key, value, last access)`.
impl<K: StateData + Hash + Eq + Clone, V: StateData> StampedStore<K, V> {
    /// How many entries were written or removed after checkpoint `completed`, and how many
    /// are held.
    pub(super) fn changes_since(&mut self, completed: u64) -> (usize, usize) {
        (self.entries.changes_since(completed), self.entries.len())
    }

    /// Every entry, or (`base` set) those written and removed after checkpoint `base`.
    pub(super) fn snapshot(&mut self, barrier: u64, base: Option<u64>) -> Vec<u8> {
        self.entries.encode(barrier, base)
    }

    /// Adds the owned entries of one old shard's chain.
    pub(super) fn restore(
        &mut self,
        chain: &[Vec<u8>],
        owns: &dyn Fn(&K) -> bool,
    ) -> Result<(), String> {
        self.entries.restore_chain(chain, owns)
    }
}

/// The methods every keyed state primitive has in the same form, over its
/// `entries: StampedStore<K, _>` field, written once; `$what` names what a key holds, for
/// the docs. Invoked inside each primitive's `impl` block, whose key type is `K`.
macro_rules! stamped_state_methods {
    ($what:literal) => {
        #[doc = concat!("The state with each key's ", $what, " expiring by `ttl`, counted from")]
        /// its last renewing access.
        pub fn with_ttl(mut self, ttl: $crate::state::StateTtl) -> Self {
            self.entries.set_ttl(ttl);
            self
        }

        #[doc = concat!("Removes the current key's ", $what, ".")]
        pub fn clear(&mut self, scope: &impl $crate::state::KeyScope<K>) {
            self.entries.clear(scope);
        }

        /// Removes the state of every key expired at `now`, returning how many keys it
        /// removed (0 without a TTL).
        pub fn cleanup_expired(&mut self, now: $crate::time::Timestamp) -> usize {
            self.entries.cleanup_expired(now)
        }

        /// How many keys hold state, counting expired ones not yet removed.
        pub fn len_keys(&self) -> usize {
            self.entries.len_keys()
        }
    };
}
pub(super) use stamped_state_methods;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::state::{FixedScope, ListState, MapState};

    const TTL_MS: i64 = 100;

    fn ttl() -> StateTtl {
        StateTtl::new(Duration::from_millis(TTL_MS as u64))
    }

    fn store<V>(ttl: StateTtl) -> StampedStore<u32, V> {
        let mut store = StampedStore::default();
        store.set_ttl(ttl);
        store
    }

    fn at(key: &u32, now: Timestamp) -> FixedScope<'_, u32> {
        FixedScope::new(key, now)
    }

    #[test]
    fn new_rounds_sub_millisecond_parts_up() {
        assert_eq!(
            StateTtl::new(Duration::from_micros(1500)).ttl(),
            Duration::from_millis(2)
        );
        assert_eq!(
            StateTtl::new(Duration::from_secs(3)).ttl(),
            Duration::from_secs(3)
        );
        let defaults = ttl();
        assert_eq!(defaults.update_type(), TtlUpdate::OnCreateAndWrite);
        assert_eq!(
            defaults.state_visibility(),
            TtlVisibility::NeverReturnExpired
        );
    }

    #[test]
    #[should_panic(expected = "positive")]
    fn zero_ttl_is_rejected() {
        let _ = StateTtl::new(Duration::ZERO);
    }

    #[test]
    fn entry_is_visible_until_ttl_elapses_then_absent_and_dropped() {
        let mut store = store(ttl());
        store.put(&at(&1, 1_000), "a");
        assert_eq!(store.read(&at(&1, 1_000 + TTL_MS - 1)), Some(&"a"));
        assert_eq!(store.len_keys(), 1);
        assert_eq!(store.read(&at(&1, 1_000 + TTL_MS)), None);
        assert_eq!(store.len_keys(), 0, "an expired entry is dropped when read");
    }

    #[test]
    fn without_ttl_entries_never_expire() {
        let mut store = StampedStore::default();
        store.put(&at(&1, 0), 7);
        assert_eq!(store.read(&at(&1, i64::MAX)), Some(&7));
        assert_eq!(store.cleanup_expired(i64::MAX), 0);
        assert_eq!(store.len_keys(), 1);
    }

    #[test]
    fn reads_renew_only_under_on_read_and_write() {
        let mut on_write = store(ttl());
        let mut on_read = store(ttl().update_on(TtlUpdate::OnReadAndWrite));
        for store in [&mut on_write, &mut on_read] {
            store.put(&at(&1, 0), 1);
            assert_eq!(store.read(&at(&1, 60)), Some(&1));
        }
        // 120 ms after the write, but only 60 ms after the read.
        assert_eq!(on_write.read(&at(&1, 120)), None);
        assert_eq!(on_read.read(&at(&1, 120)), Some(&1));
        assert_eq!(on_read.read(&at(&1, 120 + TTL_MS)), None);
    }

    #[test]
    fn writes_renew_under_both_update_types() {
        for update in [TtlUpdate::OnCreateAndWrite, TtlUpdate::OnReadAndWrite] {
            let mut store = store(ttl().update_on(update));
            *store.write(&at(&1, 0), || 0) += 1;
            assert_eq!(store.modify(&at(&1, 90), |count| *count += 1), Some(()));
            assert_eq!(store.read(&at(&1, 180)), Some(&2), "{update:?}");
        }
    }

    #[test]
    fn return_expired_serves_stale_value_until_cleanup() {
        let visibility = TtlVisibility::ReturnExpiredIfNotCleanedUp;
        let mut store = store(
            ttl()
                .update_on(TtlUpdate::OnReadAndWrite)
                .visibility(visibility),
        );
        store.put(&at(&1, 0), "stale");
        assert_eq!(store.read(&at(&1, 500)), Some(&"stale"));
        assert_eq!(
            store.read(&at(&1, 501)),
            Some(&"stale"),
            "still there when read again"
        );
        // The stale read did not renew it: it is still expired, so cleanup removes it.
        assert_eq!(store.cleanup_expired(502), 1);
        assert_eq!(store.read(&at(&1, 502)), None);
    }

    #[test]
    fn writes_never_build_on_an_expired_entry() {
        let visibility = TtlVisibility::ReturnExpiredIfNotCleanedUp;
        let mut store = store(ttl().visibility(visibility));
        store.put(&at(&1, 0), vec![1]);
        store.put(&at(&2, 0), vec![1]);
        store.write(&at(&1, TTL_MS), Vec::new).push(2);
        assert_eq!(store.read(&at(&1, TTL_MS)), Some(&vec![2]));
        assert_eq!(store.modify(&at(&2, TTL_MS), |list| list.push(2)), None);
        assert_eq!(store.len_keys(), 1, "modify dropped the expired entry");
    }

    #[test]
    fn cleanup_removes_exactly_the_expired_keys() {
        let mut store = store(ttl());
        for key in 0..10_u32 {
            store.put(&at(&key, i64::from(key) * 10), key);
        }
        // At 150, keys written at 0..=50 (0..=5) have expired; 6..=9 have not.
        assert_eq!(store.cleanup_expired(150), 6);
        assert_eq!(store.len_keys(), 4);
        for key in 0..10_u32 {
            let expected = (key >= 6).then_some(key);
            assert_eq!(store.read(&at(&key, 150)).copied(), expected, "key {key}");
        }
        assert_eq!(store.cleanup_expired(150), 0);
    }

    /// An operation on a [`MapState`] and a [`ListState`] that share a TTL.
    #[derive(Debug, Clone)]
    enum Op {
        Advance(i64),
        Put(u8, u8, u16),
        Remove(u8, u8),
        Get(u8, u8),
        Contains(u8, u8),
        Entries(u8),
        Add(u8, u16),
        AddAll(u8, Vec<u16>),
        Update(u8, Vec<u16>),
        List(u8),
        Clear(u8),
        Cleanup,
    }

    fn op() -> impl Strategy<Value = Op> {
        let key = 0..4_u8;
        let map_key = 0..4_u8;
        let values = prop::collection::vec(any::<u16>(), 0..3);
        prop_oneof![
            3 => (0..60_i64).prop_map(Op::Advance),
            3 => (key.clone(), map_key.clone(), any::<u16>())
                .prop_map(|(k, m, v)| Op::Put(k, m, v)),
            2 => (key.clone(), map_key.clone()).prop_map(|(k, m)| Op::Remove(k, m)),
            2 => (key.clone(), map_key.clone()).prop_map(|(k, m)| Op::Get(k, m)),
            1 => (key.clone(), map_key).prop_map(|(k, m)| Op::Contains(k, m)),
            1 => key.clone().prop_map(Op::Entries),
            3 => (key.clone(), any::<u16>()).prop_map(|(k, v)| Op::Add(k, v)),
            1 => (key.clone(), values.clone()).prop_map(|(k, v)| Op::AddAll(k, v)),
            1 => (key.clone(), values).prop_map(|(k, v)| Op::Update(k, v)),
            2 => key.clone().prop_map(Op::List),
            1 => key.prop_map(Op::Clear),
            1 => Just(Op::Cleanup),
        ]
    }

    /// The specification, written from Flink's rules rather than from [`StampedStore`]: per key
    /// a value and its last renewing access, in an ordered map.
    struct Model<V> {
        ttl: StateTtl,
        entries: BTreeMap<u8, (V, Timestamp)>,
    }

    impl<V: Clone + Default> Model<V> {
        fn expired(&self, key: u8, now: Timestamp) -> bool {
            self.entries
                .get(&key)
                .is_some_and(|(_, at)| now - at >= self.ttl.ttl_ms)
        }

        fn read(&mut self, key: u8, now: Timestamp) -> Option<V> {
            if self.expired(key, now) {
                return match self.ttl.visibility {
                    TtlVisibility::NeverReturnExpired => {
                        self.entries.remove(&key);
                        None
                    }
                    TtlVisibility::ReturnExpiredIfNotCleanedUp => {
                        self.entries.get(&key).map(|(value, _)| value.clone())
                    }
                };
            }
            let (value, at) = self.entries.get_mut(&key)?;
            if self.ttl.update == TtlUpdate::OnReadAndWrite {
                *at = now;
            }
            Some(value.clone())
        }

        /// The live value (or a default), changed by `change`; the entry is kept iff `keep`.
        fn write(&mut self, key: u8, now: Timestamp, change: impl FnOnce(&mut V)) {
            let mut value = match self.expired(key, now) {
                true => V::default(),
                false => self
                    .entries
                    .remove(&key)
                    .map(|(v, _)| v)
                    .unwrap_or_default(),
            };
            change(&mut value);
            self.entries.insert(key, (value, now));
        }

        fn drop_if(&mut self, key: u8, empty: impl Fn(&V) -> bool) {
            if self
                .entries
                .get(&key)
                .is_some_and(|(value, _)| empty(value))
            {
                self.entries.remove(&key);
            }
        }

        fn cleanup(&mut self, now: Timestamp) -> usize {
            let before = self.entries.len();
            let ttl = self.ttl.ttl_ms;
            self.entries.retain(|_, (_, at)| now - *at < ttl);
            before - self.entries.len()
        }
    }

    fn check_against_model(config: StateTtl, ops: Vec<Op>) -> Result<(), TestCaseError> {
        let mut maps = MapState::<u8, u8, u16>::new().with_ttl(config);
        let mut lists = ListState::<u8, u16>::new().with_ttl(config);
        let mut map_model = Model::<BTreeMap<u8, u16>> {
            ttl: config,
            entries: BTreeMap::new(),
        };
        let mut list_model = Model::<Vec<u16>> {
            ttl: config,
            entries: BTreeMap::new(),
        };
        let mut now: Timestamp = 1_000;
        for op in ops {
            let key = match op {
                Op::Advance(_) | Op::Cleanup => 0,
                Op::Put(k, ..) | Op::Remove(k, _) | Op::Get(k, _) | Op::Contains(k, _) => k,
                Op::Entries(k) | Op::Add(k, _) | Op::AddAll(k, _) | Op::Update(k, _) => k,
                Op::List(k) | Op::Clear(k) => k,
            };
            let scope = FixedScope::new(&key, now);
            match op {
                Op::Advance(ms) => now += ms,
                Op::Put(k, m, v) => {
                    maps.put(&scope, m, v);
                    map_model.write(k, now, |map| {
                        map.insert(m, v);
                    });
                }
                Op::Remove(k, m) => {
                    let removed = maps.remove(&scope, &m);
                    let expected = match map_model.expired(k, now) {
                        true => {
                            map_model.entries.remove(&k);
                            None
                        }
                        false => match map_model.entries.get_mut(&k) {
                            Some((map, at)) => {
                                *at = now;
                                map.remove(&m)
                            }
                            None => None,
                        },
                    };
                    map_model.drop_if(k, BTreeMap::is_empty);
                    prop_assert_eq!(removed, expected);
                }
                Op::Get(k, m) => {
                    let got = maps.get(&scope, &m).copied();
                    let expected = map_model.read(k, now).and_then(|map| map.get(&m).copied());
                    prop_assert_eq!(got, expected);
                }
                Op::Contains(k, m) => {
                    let got = maps.contains(&scope, &m);
                    let expected = map_model
                        .read(k, now)
                        .is_some_and(|map| map.contains_key(&m));
                    prop_assert_eq!(got, expected);
                }
                Op::Entries(k) => {
                    let mut got: Vec<(u8, u16)> =
                        maps.iter(&scope).map(|(m, v)| (*m, *v)).collect();
                    got.sort_unstable();
                    let expected: Vec<(u8, u16)> = map_model
                        .read(k, now)
                        .unwrap_or_default()
                        .into_iter()
                        .collect();
                    prop_assert_eq!(maps.len(&scope), expected.len());
                    prop_assert_eq!(got, expected);
                }
                Op::Add(k, v) => {
                    lists.add(&scope, v);
                    list_model.write(k, now, |list| list.push(v));
                }
                Op::AddAll(k, values) => {
                    lists.add_all(&scope, values.clone());
                    if !values.is_empty() {
                        list_model.write(k, now, |list| list.extend(values));
                    }
                }
                Op::Update(k, values) => {
                    lists.update(&scope, values.clone());
                    list_model.write(k, now, |list| *list = values);
                    list_model.drop_if(k, Vec::is_empty);
                }
                Op::List(k) => {
                    let expected = list_model.read(k, now).unwrap_or_default();
                    prop_assert_eq!(lists.get(&scope), expected.as_slice());
                }
                Op::Clear(k) => {
                    maps.clear(&scope);
                    lists.clear(&scope);
                    map_model.entries.remove(&k);
                    list_model.entries.remove(&k);
                }
                Op::Cleanup => {
                    prop_assert_eq!(maps.cleanup_expired(now), map_model.cleanup(now));
                    prop_assert_eq!(lists.cleanup_expired(now), list_model.cleanup(now));
                }
            }
            prop_assert_eq!(maps.len_keys(), map_model.entries.len());
            prop_assert_eq!(lists.len_keys(), list_model.entries.len());
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn map_and_list_state_match_a_btreemap_model(
            ttl_ms in 1..150_u64,
            on_read in any::<bool>(),
            return_expired in any::<bool>(),
            ops in prop::collection::vec(op(), 0..120),
        ) {
            let update = if on_read {
                TtlUpdate::OnReadAndWrite
            } else {
                TtlUpdate::OnCreateAndWrite
            };
            let visibility = if return_expired {
                TtlVisibility::ReturnExpiredIfNotCleanedUp
            } else {
                TtlVisibility::NeverReturnExpired
            };
            let config = StateTtl::new(Duration::from_millis(ttl_ms))
                .update_on(update)
                .visibility(visibility);
            check_against_model(config, ops)?;
        }
    }
}
