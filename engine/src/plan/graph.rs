//! The logical graph: streams, their consumers, exchanges and stages, all type-erased so that
//! one graph holds streams of any record type.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use super::{Data, ShardBuilder};
use crate::error::JobError;
use crate::exchange::channel::{self, Inbound, Outbound, RemoteReceiver, RemoteSender};
use crate::operators::{BoxOutput, OperatorId, SideChannel};

/// A stream in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeId(pub(crate) usize);

/// An exchange edge in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExchangeId(pub(crate) usize);

/// Makes, on one shard, the operator chain that consumes a stream of `T`.
pub(crate) type ConsumerFactory<T> = Arc<dyn Fn(&mut ShardBuilder) -> BoxOutput<T> + Send + Sync>;

/// A stage's task on one shard: runs until its input ends or the job fails.
pub(crate) type StageTask = Pin<Box<dyn Future<Output = Result<(), JobError>>>>;

/// Makes, on one shard, the task of one stage.
pub(crate) type StageFactory = Arc<dyn Fn(&mut ShardBuilder) -> StageTask + Send + Sync>;

/// Makes, on the shard it is given, a user task to run next to the shard's operators.
pub(crate) type ShardTask = Arc<dyn Fn(usize) -> Pin<Box<dyn Future<Output = ()>>> + Send + Sync>;

/// Makes, on one shard, the buffer and downstream of one side output.
pub(crate) type SideFactory = Arc<dyn Fn(&mut ShardBuilder) -> Box<dyn SideChannel> + Send + Sync>;

/// The logical job.
#[derive(Default)]
pub(crate) struct Graph {
    /// Per stream, its `Vec<ConsumerFactory<T>>`.
    nodes: Vec<Box<dyn Any + Send + Sync>>,
    pub(crate) exchanges: Vec<Arc<dyn Wiring>>,
    pub(crate) stages: Vec<StageFactory>,
    pub(crate) operator_names: Vec<String>,
    /// Per operator, the side outputs some stream consumes: (tag id, factory).
    pub(crate) side_outputs: HashMap<OperatorId, Vec<(u64, SideFactory)>>,
    /// What each transactional sink does before the job starts, given the checkpoint it
    /// resumes from (0: none): drop output that checkpoint does not cover.
    pub(crate) sink_recovery: Vec<SinkRecovery>,
    /// How many stages are sources.
    pub(crate) source_stages: usize,
    /// The shard count the job will run with.
    pub(crate) shards: usize,
    /// User tasks run on every shard ([`crate::Env::spawn_on_shards`]).
    pub(crate) shard_tasks: Vec<ShardTask>,
}

/// A transactional sink's clean-up before a (re)start.
pub(crate) type SinkRecovery = Arc<dyn Fn(u64) -> std::io::Result<()> + Send + Sync>;

impl Graph {
    /// Adds a stream of `T` with no consumers yet.
    pub(crate) fn add_node<T: Data>(&mut self) -> NodeId {
        self.nodes.push(Box::new(Vec::<ConsumerFactory<T>>::new()));
        NodeId(self.nodes.len() - 1)
    }

    /// Adds a consumer to a stream of `T`.
    pub(crate) fn add_consumer<T: Data>(&mut self, node: NodeId, consumer: ConsumerFactory<T>) {
        self.consumers_mut::<T>(node).push(consumer);
    }

    /// The consumers of a stream of `T`.
    pub(crate) fn consumers<T: Data>(&self, node: NodeId) -> &[ConsumerFactory<T>] {
        self.nodes[node.0]
            .downcast_ref::<Vec<ConsumerFactory<T>>>()
            .expect("a node is always read with the record type it was made with")
    }

    fn consumers_mut<T: Data>(&mut self, node: NodeId) -> &mut Vec<ConsumerFactory<T>> {
        self.nodes[node.0]
            .downcast_mut::<Vec<ConsumerFactory<T>>>()
            .expect("a node is always read with the record type it was made with")
    }

    /// Adds an exchange of `T`: an N×N mesh, or (`forward`) one local channel per shard.
    pub(crate) fn add_exchange<T: Data>(&mut self, forward: bool) -> ExchangeId {
        self.exchanges.push(Arc::new(TypedWiring::<T> {
            forward,
            records: PhantomData,
        }));
        ExchangeId(self.exchanges.len() - 1)
    }

    /// Registers an operator's default name and returns its id.
    pub(crate) fn add_operator(&mut self, kind: &str) -> OperatorId {
        let id = self.operator_names.len();
        self.operator_names.push(format!("{kind}#{id}"));
        OperatorId(id as u32)
    }
}

/// Creates an exchange's channels without knowing its record type.
pub(crate) trait Wiring: Send + Sync {
    /// Creates the channels between shards: one bundle per shard, to be opened on it.
    fn wire(&self, shards: usize, credits: usize) -> Vec<Box<dyn Any + Send>>;
    /// Opens a shard's bundle on that shard's thread, adding its shard-local channel; the
    /// result is a [`ShardChannels`].
    fn open(&self, bundle: Box<dyn Any + Send>, shard: usize, credits: usize) -> Box<dyn Any>;
}

struct TypedWiring<T> {
    forward: bool,
    records: PhantomData<fn() -> T>,
}

/// One shard's ends of the channels between shards; `None` where the local channel goes.
struct RemoteEnds<T> {
    outbound: Vec<Option<RemoteSender<T>>>,
    inbound: Vec<Option<RemoteReceiver<T>>>,
}

/// One shard's channels of an exchange, indexed by peer shard (or a single local channel for
/// a forward exchange).
pub(crate) struct ShardChannels<T> {
    pub(crate) outbound: Vec<Outbound<T>>,
    pub(crate) inbound: Vec<Inbound<T>>,
}

impl<T: Data> Wiring for TypedWiring<T> {
    fn wire(&self, shards: usize, credits: usize) -> Vec<Box<dyn Any + Send>> {
        let peers = if self.forward { 1 } else { shards };
        let mut ends: Vec<RemoteEnds<T>> = (0..shards)
            .map(|_| RemoteEnds {
                outbound: (0..peers).map(|_| None).collect(),
                inbound: (0..peers).map(|_| None).collect(),
            })
            .collect();
        if !self.forward {
            for from in 0..shards {
                for to in (0..shards).filter(|&to| to != from) {
                    let (sender, receiver) = channel::remote(credits);
                    ends[from].outbound[to] = Some(sender);
                    ends[to].inbound[from] = Some(receiver);
                }
            }
        }
        ends.into_iter()
            .map(|ends| Box::new(ends) as Box<dyn Any + Send>)
            .collect()
    }

    fn open(&self, bundle: Box<dyn Any + Send>, shard: usize, credits: usize) -> Box<dyn Any> {
        let ends = *bundle
            .downcast::<RemoteEnds<T>>()
            .expect("a bundle is opened by the wiring that made it");
        let local_index = if self.forward { 0 } else { shard };
        let (local_out, local_in) = channel::local(credits);
        let mut local_out = Some(local_out);
        let mut local_in = Some(local_in);
        let outbound = ends
            .outbound
            .into_iter()
            .enumerate()
            .map(|(peer, end)| match end {
                Some(remote) => remote.into(),
                None => {
                    debug_assert_eq!(peer, local_index);
                    local_out.take().expect("one local channel per shard")
                }
            })
            .collect();
        let inbound = ends
            .inbound
            .into_iter()
            .map(|end| match end {
                Some(remote) => remote.into(),
                None => local_in.take().expect("one local channel per shard"),
            })
            .collect();
        Box::new(ShardChannels { outbound, inbound })
    }
}
