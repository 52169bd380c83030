//! Sources and sinks.
//!
//! A [`Source`] is split across shards; each shard reads its own [`SourceSplit`], which can be
//! rewound to an offset (what exactly-once recovery needs). Sinks are the ends of streams:
//! collect into memory, print, or call a user function.

mod sink;
mod source;

pub use sink::CollectHandle;
pub(crate) use sink::{CallbackSink, CollectSink, PrintSink, SinkCount};
pub use source::{Collection, Generator, Source, SourceSplit};
