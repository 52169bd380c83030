//! Instantiating the graph on one shard.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::graph::ShardChannels;
use super::{Data, ExchangeId, Graph, NodeId};
use crate::exchange::channel::{Inbound, Outbound};
use crate::exchange::outbox::{Drain, ExchangeOutput, Outbox, Partitioner};
use crate::operators::{BoxOutput, Discard, OperatorId, ProcessingTimers, SideOutputs, Tee};
use crate::runtime::{AlignmentSlot, ShardContext};

/// Walks the graph on one shard's thread and builds that shard's operators.
pub(crate) struct ShardBuilder {
    pub(crate) graph: Arc<Graph>,
    pub(crate) context: Rc<ShardContext>,
    channels: Vec<Box<dyn Any>>,
    parts: StageParts,
    /// The index of the stage being built.
    stage: usize,
}

/// What a stage must drive besides its chain: the exchanges its chain feeds, the operators
/// with processing-time timers, and the aligned watermarks of its chain (a source stage
/// pauses while one is ahead).
#[derive(Default)]
pub(crate) struct StageParts {
    pub(crate) drains: Vec<Rc<dyn Drain>>,
    pub(crate) timers: Vec<Rc<dyn ProcessingTimers>>,
    pub(crate) alignments: Vec<Rc<AlignmentSlot>>,
}

impl ShardBuilder {
    /// `bundles` are this shard's channel bundles, one per exchange of `graph`.
    pub(crate) fn new(
        graph: Arc<Graph>,
        context: Rc<ShardContext>,
        bundles: Vec<Box<dyn Any + Send>>,
    ) -> Self {
        let credits = context.config.channel_credits;
        let channels = graph
            .exchanges
            .iter()
            .zip(bundles)
            .map(|(wiring, bundle)| wiring.open(bundle, context.shard, credits))
            .collect();
        Self {
            graph,
            context,
            channels,
            parts: StageParts::default(),
            stage: 0,
        }
    }

    /// Sets the index of the stage about to be built.
    pub(crate) fn begin_stage(&mut self, stage: usize) {
        self.stage = stage;
    }

    /// The index of the stage being built.
    pub(crate) fn stage_index(&self) -> usize {
        self.stage
    }

    /// The shard's index.
    pub(crate) fn shard(&self) -> usize {
        self.context.shard
    }

    /// Builds a stage's push chain with `head`, and collects what else the stage must drive.
    pub(crate) fn stage_chain<C>(&mut self, head: impl FnOnce(&mut Self) -> C) -> (C, StageParts) {
        let outer = std::mem::take(&mut self.parts);
        let chain = head(self);
        let parts = std::mem::replace(&mut self.parts, outer);
        (chain, parts)
    }

    /// Registers something of the stage being built that holds records back (an exchange's
    /// outbox, a sink's backlog): the stage ships and waits for it like an exchange.
    pub(crate) fn add_drain(&mut self, drain: Rc<dyn Drain>) {
        self.parts.drains.push(drain);
    }

    /// Registers the aligned watermark of an operator of the stage being built.
    pub(crate) fn add_alignment(&mut self, slot: Rc<AlignmentSlot>) {
        self.parts.alignments.push(slot);
    }

    /// Registers an operator of the stage being built whose processing-time timers the stage
    /// must fire.
    pub(crate) fn add_processing_timers(&mut self, timers: Rc<dyn ProcessingTimers>) {
        self.parts.timers.push(timers);
    }

    /// The side outputs of `operator` that some stream consumes, built for this shard.
    pub(crate) fn side_outputs(&mut self, operator: OperatorId) -> SideOutputs {
        let factories = self
            .graph
            .side_outputs
            .get(&operator)
            .cloned()
            .unwrap_or_default();
        SideOutputs {
            channels: factories
                .into_iter()
                .map(|(tag, make)| (tag, make(self)))
                .collect(),
        }
    }

    /// The downstream of stream `node`: its consumers' chains, teed if there are several.
    pub(crate) fn output<T: Data>(&mut self, node: NodeId) -> BoxOutput<T> {
        let consumers = self.graph.consumers::<T>(node).to_vec();
        let mut outputs: Vec<BoxOutput<T>> = consumers.iter().map(|make| make(self)).collect();
        match outputs.len() {
            0 => Box::new(Discard),
            1 => outputs.pop().expect("one output"),
            _ => Box::new(Tee { outputs }),
        }
    }

    /// The chain end that feeds `exchange` through `partitioner`.
    pub(crate) fn exchange_output<T: Data, P: Partitioner<T>>(
        &mut self,
        exchange: ExchangeId,
        id: OperatorId,
        partitioner: P,
    ) -> BoxOutput<T> {
        let outbound: Vec<Outbound<T>> =
            std::mem::take(&mut self.channels_of::<T>(exchange).outbound);
        let outbox = Rc::new(RefCell::new(Outbox::new(
            outbound,
            self.context.config.batch_size,
        )));
        self.parts.drains.push(outbox.clone());
        Box::new(ExchangeOutput {
            id,
            outbox,
            partitioner,
        })
    }

    /// The receiving ends of `exchange` on this shard.
    pub(crate) fn inbound<T: Data>(&mut self, exchange: ExchangeId) -> Vec<Inbound<T>> {
        std::mem::take(&mut self.channels_of::<T>(exchange).inbound)
    }

    fn channels_of<T: Data>(&mut self, exchange: ExchangeId) -> &mut ShardChannels<T> {
        self.channels[exchange.0]
            .downcast_mut::<ShardChannels<T>>()
            .expect("an exchange is always read with the record type it was made with")
    }
}
