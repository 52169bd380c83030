//! The DataStream API: build a job as a graph of streams, then execute it.

mod env;
mod keyed;
mod stream;
mod windowed;

pub use env::Env;
pub use keyed::KeyedStream;
pub use stream::DataStream;
pub use windowed::WindowedStream;
