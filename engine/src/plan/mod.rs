//! From the logical graph the API builds to the operators each shard runs.
//!
//! The API records a [`Graph`]: streams (nodes) with the factories of their consumers, the
//! exchange edges between stages, and the stages themselves (a source, or the receiving end
//! of one or more exchanges). When a job starts, every shard walks the same graph with a
//! [`ShardBuilder`] and instantiates its own copy of every stage: a push chain of operators
//! from the stage's input down to its sinks or outgoing exchanges. Stateless operators are
//! chained into their stage; only exchanges cut a job into stages.

mod graph;
mod shard_builder;

pub(crate) use graph::{ExchangeId, Graph, NodeId, ShardTask, SideFactory, StageTask};
pub(crate) use shard_builder::ShardBuilder;
pub(crate) use shard_builder::StageParts;

/// The bound on every record type: records are moved between shards and may be copied when a
/// stream has several consumers.
pub trait Data: Clone + Send + 'static {}

impl<T: Clone + Send + 'static> Data for T {}
