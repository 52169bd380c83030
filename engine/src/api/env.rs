//! The job environment: where sources come from and where a job is started.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use super::DataStream;
use super::{Key, KeyedStream};
use crate::config::JobConfig;
use crate::connectors::{Collection, Generator, Ingress, Request, Scorer, Source};
use crate::error::JobError;
use crate::exchange::KeyGroups;
use crate::operators::enter;
use crate::plan::{Data, Graph};
use crate::runtime::{self, source_split, source_stage, JobHandle, JobReport, SourcePace};

/// Builds a job (Flink's `StreamExecutionEnvironment`).
///
/// Add sources, transform the streams they return, attach sinks, then
/// [`execute`](Env::execute).
pub struct Env {
    graph: Rc<RefCell<Graph>>,
    config: JobConfig,
}

impl Env {
    /// An empty job that will run with `config`.
    pub fn new(config: JobConfig) -> Self {
        let mut graph = Graph::default();
        graph.shards = config.shard_count();
        Self {
            graph: Rc::new(RefCell::new(graph)),
            config,
        }
    }

    /// The configuration the job will run with.
    pub fn config(&self) -> &JobConfig {
        &self.config
    }

    /// A stream read from `source`, split across all shards.
    pub fn from_source<T: Data, S: Source<T>>(&self, source: S) -> DataStream<T> {
        let mut graph = self.graph.borrow_mut();
        let node = graph.add_node::<T>();
        let operator = graph.add_operator("source");
        let source = Arc::new(source);
        graph.source_stages += 1;
        graph.stages.push(Arc::new(move |builder| {
            enter(operator);
            let shards = builder.context.shards;
            let split = source_split(&*source, builder, operator);
            let pace = SourcePace {
                rate_per_shard: source.rate_limit().map(|rate| rate / shards as f64),
                idle_timeout: source.idle_timeout(),
            };
            source_stage(builder, operator, split, pace, |builder| {
                builder.output::<T>(node)
            })
        }));
        DataStream::new(self.graph.clone(), node, operator)
    }

    /// `count` generated records, record `i` being `f(i)` (deterministic and replayable).
    pub fn generate<T, F>(&self, count: u64, f: F) -> DataStream<T>
    where
        T: Data,
        F: Fn(u64) -> T + Clone + Send + Sync + 'static,
    {
        self.from_source(Generator::new(count, f))
    }

    /// The records of `items`, split across shards in contiguous parts.
    pub fn from_collection<T: Data + Sync>(&self, items: Vec<T>) -> DataStream<T> {
        self.from_source(Collection::new(items))
    }

    /// A stream of the records the embedding program pushes into the returned [`Ingress`]
    /// (from any thread or async task), spread round robin over the shards, with a queue of
    /// `capacity` records per shard. The stream ends when every `Ingress` handle is dropped
    /// or closed. See [`Ingress`] for backpressure and what checkpoints do with it.
    pub fn ingress<T: Data>(&self, capacity: usize) -> (Ingress<T>, DataStream<T>) {
        let shards = self.config.shard_count();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let route =
            Box::new(move |_: &T| next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % shards);
        let (ingress, source) = Ingress::new(shards, capacity, route);
        (ingress, self.from_source(source).name("ingress"))
    }

    /// A keyed stream of the records pushed into the returned [`Ingress`]: each push goes
    /// straight to the queue of the shard that owns the record's `key`, so the keyed
    /// operators downstream take it without crossing shards.
    pub fn keyed_ingress<T, K, KF>(
        &self,
        capacity: usize,
        key: KF,
    ) -> (Ingress<T>, KeyedStream<T, K, KF>)
    where
        T: Data,
        K: Key,
        KF: Fn(&T) -> K + Clone + Send + Sync + 'static,
    {
        let shards = self.config.shard_count();
        let groups = KeyGroups::new(self.config.max_key_groups, shards);
        let route_key = key.clone();
        let route = Box::new(move |record: &T| groups.shard_of(&route_key(record)));
        let (ingress, source) = Ingress::new(shards, capacity, route);
        let stream = self.from_source(source).name("ingress");
        (ingress, KeyedStream::partitioned(stream, key))
    }

    /// Request–reply: a [`Scorer`] whose `score(event)` resolves with the job's reply to
    /// that event, and the stream of its requests, keyed by `key` of the event (see
    /// [`crate::connectors::Scorer`]). Answer each request with [`Request::reply`] and send
    /// the replies to [`DataStream::reply_to`] with this scorer.
    #[allow(clippy::type_complexity)]
    pub fn request_reply<T, R, K, KF>(
        &self,
        capacity: usize,
        key: KF,
    ) -> (
        Scorer<T, R>,
        KeyedStream<Request<T>, K, impl Fn(&Request<T>) -> K + Clone + Send + Sync + 'static>,
    )
    where
        T: Data,
        R: Data,
        K: Key,
        KF: Fn(&T) -> K + Clone + Send + Sync + 'static,
    {
        let (ingress, requests) =
            self.keyed_ingress(capacity, move |request: &Request<T>| key(&request.event));
        (Scorer::new(ingress), requests)
    }

    /// Runs `task(shard)` on every shard's own thread, as a task of the shard's executor next
    /// to the job's operators: for a service built thread-per-core, whose request handlers
    /// call [`Scorer::try_score`] or [`Scorer::score`] and await the reply on a shard instead
    /// of on threads of their own, which would compete with the shards for cores.
    ///
    /// `task` is called once per shard on the shard's thread when the job starts (a job
    /// restored from a checkpoint of its end starts no shards), and dropped once every shard
    /// has made its task: what it captures (a [`Scorer`], say, which keeps the requests
    /// open) then lives on only in the copies the tasks took. The future need not be `Send`.
    /// It shares the thread with the shard's operators, so it must never block it (no
    /// blocking calls, no [`Scorer::score_blocking`]): it awaits instead, and runs more
    /// work at once with [`crate::runtime::spawn_local`] (not glommio's own: a panic there
    /// would end the shard's thread outside the engine's guard). The job ends once its
    /// streams and these tasks have ended; if it fails or is cancelled, the tasks still
    /// running are cancelled, their futures dropped before the shard ends (tasks they
    /// spawned end with the shard's executor). A panic in a task, or in one it spawned,
    /// fails the job like one in an operator.
    pub fn spawn_on_shards<F, Fut>(&self, task: F)
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.graph
            .borrow_mut()
            .shard_tasks
            .push(Arc::new(move |shard| Box::pin(task(shard))));
    }

    /// Starts the job and returns at once (Flink's `executeAsync`).
    pub fn execute_async(self) -> Result<JobHandle, JobError> {
        let graph = std::mem::take(&mut *self.graph.borrow_mut());
        runtime::start(graph, self.config)
    }

    /// Runs the job to its end (Flink's `execute`).
    pub fn execute(self) -> Result<JobReport, JobError> {
        self.execute_async()?.join()
    }
}
