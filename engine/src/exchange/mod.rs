//! Exchanges: how records move between shards.
//!
//! Every exchange edge of a job (a `key_by`, `rebalance`, `broadcast` or `union`) is an N×N
//! mesh of channels, one per (sending shard, receiving shard); the channel from a shard to
//! itself skips the ring. A channel carries batches and, in order with them, control messages
//! ([`Message`]). Flow control is by credit: a channel has a fixed number of batch slots, the
//! receiver returns a credit by taking a batch, and a sender without credit parks its task
//! (it does not spin) until the receiver wakes it. So the records buffered by an exchange never
//! exceed `shards² × credits × batch_size`, and a slow consumer slows its sources.
//!
//! - [`ring`]: the lock-free SPSC ring (the only `unsafe` here).
//! - `signal`: park/wake between the two ends of a ring.
//! - [`channel`]: ring or local queue, with close detection.
//! - `outbox` / `gate`: the sending and receiving sides of a stage.
//! - [`partition`]: key → key group → shard.

pub mod channel;
pub(crate) mod gate;
pub(crate) mod outbox;
pub mod partition;
pub mod ring;
pub(crate) mod signal;

pub use channel::Message;
pub use partition::{KeyGroups, StableKey};
