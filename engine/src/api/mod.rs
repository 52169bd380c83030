//! The DataStream API: build a job as a graph of streams, then execute it.

mod connected;
mod env;
mod keyed;
mod stream;
mod windowed;

pub use connected::{
    BroadcastConnectedStream, ConnectedStreams, Either, IntervalJoinBuilder, JoinEqual, JoinWhere,
    JoinedStreams, KeyedConnectedStreams, WindowJoin,
};
pub use env::Env;
pub use keyed::KeyedStream;
pub use stream::DataStream;
pub use windowed::WindowedStream;

/// The bound on every key type (`key_by`): a record-like value that hashes stably to its key
/// group ([`StableKey`](crate::exchange::StableKey)) and that checkpoints can save
/// ([`StateData`](crate::state::StateData): serde). Implemented for every such type.
pub trait Key:
    crate::Data + std::hash::Hash + Eq + crate::exchange::StableKey + crate::state::StateData
{
}

impl<K> Key for K where
    K: crate::Data + std::hash::Hash + Eq + crate::exchange::StableKey + crate::state::StateData
{
}
