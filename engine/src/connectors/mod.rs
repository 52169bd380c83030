//! Sources and sinks.
//!
//! A [`Source`] is split across shards; each shard reads its own [`SourceSplit`], which can be
//! rewound to an offset (what exactly-once recovery needs). Sinks are the ends of streams:
//! collect into memory, print, call a user function, or write files transactionally
//! ([`FileSink`]: exactly-once with checkpoints).
//!
//! A program that embeds a job talks to it in process: it pushes records through an
//! [`Ingress`] (routed to the shard that owns their key, with backpressure it sees), reads
//! results from an [`Egress`], or awaits the reply to each event with a [`Scorer`].

pub mod egress;
mod file_sink;
pub mod ingress;
mod line_file;
pub mod request_reply;
mod sink;
mod source;

pub(crate) use egress::egress;
pub use egress::{Egress, RecvError};
pub use ingress::{Ingress, PushError};
pub use request_reply::{Reply, Request, RequestId, ScoreError, Scorer};

pub use file_sink::FileSink;
pub(crate) use file_sink::{committed_path, prepare_folder, FileSinkWriter};
pub use line_file::{line_number, LineFile};
pub use sink::CollectHandle;
pub(crate) use sink::{CallbackSink, CollectSink, PrintSink, SinkCount};
pub use source::{Collection, Generator, Source, SourceSplit};
