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
