//! `DataStream`: a stream of records of one type, and the operators that make new streams.

use std::cell::RefCell;
use std::fmt::Debug;
use std::future::Future;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use super::Key;
use super::KeyedStream;
use crate::connectors::{
    egress, prepare_folder, CallbackSink, CollectHandle, CollectSink, Egress, FileSink,
    FileSinkWriter, PrintSink, Reply, Scorer, SinkCount,
};
use crate::exchange::outbox::{Broadcast, Forward, Partitioner, RoundRobin};
use crate::operators::{
    AssignWatermarks, AsyncOptions, BoxOutput, FilterOp, FlatMapOp, MapOp, OperatorId, OutputTag,
    Process, ProcessCore, ProcessFunction, SideBuffer, TimestampFn,
};
use crate::plan::{Data, ExchangeId, Graph, NodeId, ShardBuilder, SideFactory};
use crate::runtime::{async_stage, receiver_stage, AsyncOperator};
use crate::time::{BoundedOutOfOrderness, Timestamp};

/// A stream of `T` records (Flink's `DataStream`). Every method adds to the job's graph and
/// leaves `self` usable, so one stream can feed several operators.
pub struct DataStream<T> {
    graph: Rc<RefCell<Graph>>,
    node: NodeId,
    operator: OperatorId,
    /// How to read a record's event time, once `assign_timestamps` has said so. Operators that
    /// keep the record type (filter, exchanges, union) keep it; others drop it.
    timestamps: Option<TimestampFn<T>>,
}

impl<T: Data> DataStream<T> {
    pub(crate) fn new(graph: Rc<RefCell<Graph>>, node: NodeId, operator: OperatorId) -> Self {
        Self {
            graph,
            node,
            operator,
            timestamps: None,
        }
    }

    pub(crate) fn with_timestamps(mut self, timestamps: Option<TimestampFn<T>>) -> Self {
        self.timestamps = timestamps;
        self
    }

    pub(crate) fn timestamps(&self) -> Option<TimestampFn<T>> {
        self.timestamps.clone()
    }

    /// Names the operator that produces this stream; errors name operators by it.
    pub fn name(self, name: &str) -> Self {
        self.graph.borrow_mut().operator_names[self.operator.0 as usize] = name.to_string();
        self
    }

    /// One output record per input record.
    pub fn map<U, F>(&self, f: F) -> DataStream<U>
    where
        U: Data,
        F: FnMut(T) -> U + Clone + Send + Sync + 'static,
    {
        self.chained("map", move |id, next, _| {
            Box::new(MapOp {
                id,
                f: f.clone(),
                next,
            })
        })
    }

    /// The records for which `f` is true.
    pub fn filter<F>(&self, f: F) -> DataStream<T>
    where
        F: FnMut(&T) -> bool + Clone + Send + Sync + 'static,
    {
        self.chained("filter", move |id, next, _| {
            Box::new(FilterOp {
                id,
                f: f.clone(),
                next,
            })
        })
    }

    /// Any number of output records per input record.
    pub fn flat_map<U, I, F>(&self, f: F) -> DataStream<U>
    where
        U: Data,
        I: IntoIterator<Item = U>,
        F: FnMut(T) -> I + Clone + Send + Sync + 'static,
    {
        self.chained("flat_map", move |id, next, _| {
            Box::new(FlatMapOp {
                id,
                f: f.clone(),
                next,
            })
        })
    }

    /// Reads each record's event time with `timestamp` and emits watermarks that trail the
    /// largest seen by `bound_ms` (Flink's `forBoundedOutOfOrderness`; 0 is `forMonotonous`).
    /// Downstream time-aware operators (process functions, windows, joins) read event time
    /// with the same function.
    pub fn assign_timestamps<F>(&self, timestamp: F, bound_ms: i64) -> DataStream<T>
    where
        F: Fn(&T) -> Timestamp + Clone + Send + Sync + 'static,
    {
        let reader: TimestampFn<T> = Arc::new(timestamp.clone());
        self.chained("watermarks", move |id, next, builder| {
            let table = builder.context.alignment.clone();
            let alignment = table.map(|table| {
                let slot = Rc::new(table.slot(id, builder.shard()));
                builder.add_alignment(slot.clone());
                slot
            });
            Box::new(AssignWatermarks {
                id,
                timestamp: timestamp.clone(),
                strategy: BoundedOutOfOrderness::new(bound_ms),
                emitted: Timestamp::MIN,
                alignment,
                next,
            })
        })
        .with_timestamps(Some(reader))
    }

    /// Reads each record's event time with `timestamp` from here on, keeping the watermarks
    /// that come from upstream (unlike [`assign_timestamps`](Self::assign_timestamps), which
    /// makes new ones). For records derived from timestamped ones: `map` and `flat_map` change
    /// the record type and so forget how to read its time; this says it again, e.g. a bid's
    /// `date_time` after a flat_map that picks the bids out of a stream of events.
    pub fn event_time<F>(&self, timestamp: F) -> DataStream<T>
    where
        F: Fn(&T) -> Timestamp + Send + Sync + 'static,
    {
        self.clone_handle()
            .with_timestamps(Some(Arc::new(timestamp)))
    }

    /// Runs `function` on every record, with access to time and side outputs.
    pub fn process<O, F>(&self, function: F) -> DataStream<O>
    where
        O: Data,
        F: ProcessFunction<T, O>,
    {
        let timestamps = self.timestamps();
        self.chained("process", move |id, next, builder| {
            let side = builder.side_outputs(id);
            Box::new(Process {
                core: ProcessCore::new(id, next, side),
                timestamp: timestamps.clone(),
                function: function.clone(),
            })
        })
    }

    /// The side output `tag` of the operator that produces this stream (a process function or
    /// a window). Records for a tag that no stream reads are dropped.
    pub fn side_output<S: Data>(&self, tag: &OutputTag<S>) -> DataStream<S> {
        let mut graph = self.graph.borrow_mut();
        let node = graph.add_node::<S>();
        let factory: SideFactory = Arc::new(move |builder| {
            Box::new(SideBuffer {
                buffer: Vec::new(),
                next: builder.output::<S>(node),
            })
        });
        graph
            .side_outputs
            .entry(self.operator)
            .or_default()
            .push((tag.id(), factory));
        drop(graph);
        DataStream::new(self.graph.clone(), node, self.operator)
    }

    /// Calls the asynchronous `function` for every record, with up to
    /// `options.capacity` calls in flight per shard, so that a slow service overlaps with
    /// other records instead of stalling the shard (Flink's `AsyncDataStream`). The futures
    /// run on the shard's executor; they need not be `Send`.
    pub fn async_map<U, F, Fut>(&self, function: F, options: AsyncOptions<T>) -> DataStream<U>
    where
        U: Data,
        F: Fn(T) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = U> + 'static,
        AsyncOptions<T>: Send + Sync,
    {
        let operator = self.graph.borrow_mut().add_operator("async");
        let exchange = self.exchange_into(operator, true, |_| Forward);
        let node = self.graph.borrow_mut().add_node::<U>();
        self.graph
            .borrow_mut()
            .stages
            .push(Arc::new(move |builder| {
                let async_operator = AsyncOperator {
                    id: operator,
                    function: function.clone(),
                    options: options.clone(),
                    side: builder.side_outputs(operator),
                };
                async_stage(builder, exchange, async_operator, |builder| {
                    builder.output::<U>(node)
                })
            }));
        DataStream::new(self.graph.clone(), node, operator)
    }

    /// Partitions the stream by `key`: all records with equal keys meet on one shard.
    pub fn key_by<K, KF>(&self, key: KF) -> KeyedStream<T, K, KF>
    where
        K: Key,
        KF: Fn(&T) -> K + Clone + Send + Sync + 'static,
    {
        KeyedStream::new(self.clone_handle(), key)
    }

    /// Spreads records round robin over all shards.
    pub fn rebalance(&self) -> DataStream<T> {
        self.redistribute("rebalance", false, |builder| RoundRobin {
            next: builder.shard(),
        })
        .with_timestamps(self.timestamps())
    }

    /// Sends every record to every shard.
    pub fn broadcast(&self) -> DataStream<T> {
        self.redistribute("broadcast", false, |_| Broadcast)
            .with_timestamps(self.timestamps())
    }

    /// The records of `self` and of `other`, merged (on each shard, its own parts of both).
    pub fn union(&self, other: &DataStream<T>) -> DataStream<T> {
        let operator = self.graph.borrow_mut().add_operator("union");
        let exchanges = [
            self.exchange_into(operator, true, |_| Forward),
            other.exchange_into(operator, true, |_| Forward),
        ];
        self.receive(operator, exchanges.to_vec(), |node| {
            move |builder: &mut ShardBuilder| builder.output::<T>(node)
        })
        .with_timestamps(self.timestamps().or_else(|| other.timestamps()))
    }

    /// Collects every record in memory; read them from the handle once the job has finished.
    pub fn collect(&self) -> CollectHandle<T> {
        let parts = Arc::new(Mutex::new(Vec::new()));
        let shared = parts.clone();
        self.graph.borrow_mut().add_operator("collect");
        self.attach(move |builder| {
            Box::new(CollectSink {
                local: Vec::new(),
                parts: shared.clone(),
                count: sink_count(builder),
            })
        });
        CollectHandle { parts }
    }

    /// Calls `f` for every record, on the shard the record is on (each shard has its own
    /// clone of `f`).
    pub fn sink<F>(&self, f: F)
    where
        F: FnMut(T) + Clone + Send + Sync + 'static,
    {
        let id = self.graph.borrow_mut().add_operator("sink");
        self.attach(move |builder| {
            Box::new(CallbackSink {
                id,
                f: f.clone(),
                count: sink_count(builder),
            })
        });
    }

    /// Hands the records to the embedding program through the returned [`Egress`] (an
    /// iterator, or a stream for async code), through a queue of `capacity` records. A full
    /// queue parks the writing shard's stage until the reader takes records: nothing is
    /// dropped, and the job slows to the reader's pace. Read it from a thread that does not
    /// also feed the job's ingress, or that feeds it with `try_send`, or the two can wait on
    /// each other.
    pub fn egress(&self, capacity: usize) -> Egress<T> {
        let shards = self.graph.borrow().shards;
        let (writers, reader) = egress(shards, capacity);
        let id = self.graph.borrow_mut().add_operator("egress");
        self.attach(move |builder| {
            let (sink, drain) = writers.sink(id, builder.shard(), sink_count(builder));
            builder.add_drain(drain);
            Box::new(sink)
        });
        reader
    }

    /// Writes the records into files in a folder, exactly once when the job checkpoints: a
    /// checkpoint's output becomes visible (is renamed from `….pending`) only once the
    /// checkpoint completes, and a restart neither loses nor repeats visible output. See
    /// [`FileSink`] for the file names. Files of an earlier run in the folder that the
    /// restored checkpoint (if any) does not cover are deleted at the start.
    pub fn sink_to_files<F>(&self, sink: FileSink<F>)
    where
        F: Fn(&T, &mut Vec<u8>) + Clone + Send + Sync + 'static,
    {
        let id = {
            let mut graph = self.graph.borrow_mut();
            let (dir, suffix) = (sink.dir.clone(), sink.suffix.clone());
            graph.sink_recovery.push(Arc::new(move |resumed| {
                prepare_folder(&dir, &suffix, resumed)
            }));
            graph.add_operator("file-sink")
        };
        self.attach(move |builder| {
            Box::new(FileSinkWriter::new(
                id,
                sink.clone(),
                builder.context.clone(),
                sink_count(builder),
            ))
        });
    }

    /// Writes every record's `Debug` form to stdout, one per line.
    pub fn print(&self)
    where
        T: Debug,
    {
        let id = self.graph.borrow_mut().add_operator("print");
        self.attach(move |builder| {
            Box::new(PrintSink {
                id,
                count: sink_count(builder),
            })
        });
    }

    pub(crate) fn clone_handle(&self) -> Self {
        Self::new(self.graph.clone(), self.node, self.operator).with_timestamps(self.timestamps())
    }

    pub(crate) fn graph(&self) -> &Rc<RefCell<Graph>> {
        &self.graph
    }

    /// Adds a consumer of this stream on every shard.
    fn attach(&self, make: impl Fn(&mut ShardBuilder) -> BoxOutput<T> + Send + Sync + 'static) {
        self.graph
            .borrow_mut()
            .add_consumer::<T>(self.node, Arc::new(make));
    }

    /// A new stream made by an operator chained onto this one.
    pub(crate) fn chained<U: Data>(
        &self,
        kind: &str,
        make: impl Fn(OperatorId, BoxOutput<U>, &mut ShardBuilder) -> BoxOutput<T>
            + Send
            + Sync
            + 'static,
    ) -> DataStream<U> {
        let (node, operator) = {
            let mut graph = self.graph.borrow_mut();
            (graph.add_node::<U>(), graph.add_operator(kind))
        };
        self.attach(move |builder| {
            let next = builder.output::<U>(node);
            make(operator, next, builder)
        });
        DataStream::new(self.graph.clone(), node, operator)
    }

    /// Feeds this stream into a new exchange through the partitioner `make` builds per shard.
    pub(crate) fn exchange_into<P: Partitioner<T>>(
        &self,
        operator: OperatorId,
        forward: bool,
        make: impl Fn(&ShardBuilder) -> P + Send + Sync + 'static,
    ) -> ExchangeId {
        let exchange = self.graph.borrow_mut().add_exchange::<T>(forward);
        self.attach(move |builder| {
            let partitioner = make(builder);
            builder.exchange_output(exchange, operator, partitioner)
        });
        exchange
    }

    /// A new stage that receives `exchanges` and starts with the chain `head(node)` makes,
    /// where `node` is the stream the stage produces.
    pub(crate) fn receive<U: Data, H>(
        &self,
        operator: OperatorId,
        exchanges: Vec<ExchangeId>,
        head: impl FnOnce(NodeId) -> H,
    ) -> DataStream<U>
    where
        H: Fn(&mut ShardBuilder) -> BoxOutput<T> + Send + Sync + 'static,
    {
        let node = self.graph.borrow_mut().add_node::<U>();
        let head = head(node);
        self.graph
            .borrow_mut()
            .stages
            .push(Arc::new(move |builder| {
                receiver_stage::<T>(builder, &exchanges, &head)
            }));
        DataStream::new(self.graph.clone(), node, operator)
    }

    fn redistribute<P: Partitioner<T>>(
        &self,
        kind: &str,
        forward: bool,
        make: impl Fn(&ShardBuilder) -> P + Send + Sync + 'static,
    ) -> DataStream<T> {
        let operator = self.graph.borrow_mut().add_operator(kind);
        let exchange = self.exchange_into(operator, forward, make);
        self.receive(operator, vec![exchange], |node| {
            move |builder: &mut ShardBuilder| builder.output::<T>(node)
        })
    }
}

impl<R: Data> DataStream<Reply<R>> {
    /// Completes the `score` futures of `scorer` with these replies (see
    /// [`Env::request_reply`](crate::Env::request_reply)).
    pub fn reply_to<I: Send + 'static>(&self, scorer: &Scorer<I, R>) {
        let sinks = scorer.reply_sinks();
        let id = self.graph.borrow_mut().add_operator("reply");
        self.attach(move |builder| Box::new(sinks.sink(id, sink_count(builder))));
    }
}

fn sink_count(builder: &ShardBuilder) -> SinkCount {
    SinkCount {
        metrics: builder.context.metrics.clone(),
        shard: builder.shard(),
    }
}
