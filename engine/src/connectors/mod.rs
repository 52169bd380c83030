//! Sources and sinks.
//!
//! A [`Source`] is split across shards; each shard reads its own [`SourceSplit`], which can be
//! rewound to an offset (what exactly-once recovery needs). Sinks are the ends of streams:
//! collect into memory, print, call a user function, or write files transactionally
//! ([`FileSink`]: exactly-once with checkpoints).

mod file_sink;
mod line_file;
mod sink;
mod source;

pub use file_sink::FileSink;
pub(crate) use file_sink::{committed_path, prepare_folder, FileSinkWriter};
pub use line_file::{line_number, LineFile};
pub use sink::CollectHandle;
pub(crate) use sink::{CallbackSink, CollectSink, PrintSink, SinkCount};
pub use source::{Collection, Generator, Source, SourceSplit};
