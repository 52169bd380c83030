//! The job environment: where sources come from and where a job is started.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::DataStream;
use crate::config::JobConfig;
use crate::connectors::{Collection, Generator, Source};
use crate::error::JobError;
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
        Self {
            graph: Rc::default(),
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
