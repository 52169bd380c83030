//! The scope keyed state is read and written in: whose state, and when.

use crate::time::Timestamp;

/// What keyed state needs from the context it is used in: the current key and the time.
///
/// An operator passes its context to every state access, so a state object never stores a
/// key of its own and cannot be used outside the processing of some key.
pub trait KeyScope<K> {
    /// The key of the record or timer being processed.
    fn current_key(&self) -> &K;
    /// The shard's processing time, in ms since the epoch (for TTL).
    fn processing_time(&self) -> Timestamp;
}

/// A scope given outright: a key and a processing time.
#[derive(Debug, Clone, Copy)]
pub struct FixedScope<'a, K> {
    /// The current key.
    pub key: &'a K,
    /// The current processing time, in ms since the epoch.
    pub now: Timestamp,
}

impl<'a, K> FixedScope<'a, K> {
    /// The scope of `key` at processing time `now`.
    pub fn new(key: &'a K, now: Timestamp) -> Self {
        Self { key, now }
    }
}

impl<K> KeyScope<K> for FixedScope<'_, K> {
    #[inline]
    fn current_key(&self) -> &K {
        self.key
    }

    #[inline]
    fn processing_time(&self) -> Timestamp {
        self.now
    }
}
