//! # Tidewater
//!
//! A stream-processing engine for one machine, with Apache Flink's model (keyed streams,
//! event time, watermarks, keyed state) and a thread-per-core design: one shard per core, each
//! a pinned glommio executor that owns its keys' state outright, and lock-free single-producer
//! single-consumer rings with credit-based flow control between shards.
//!
//! ```
//! use tidewater::prelude::*;
//!
//! let env = Env::new(JobConfig::default().shards(2));
//! let words = env.from_collection(vec!["a b", "b c", "c c"]);
//! let counts = words
//!     .flat_map(|line: &str| line.split(' ').map(str::to_string).collect::<Vec<_>>())
//!     .key_by(|word: &String| word.clone())
//!     .count()
//!     .collect();
//! env.execute().unwrap();
//!
//! let mut finals = std::collections::BTreeMap::new();
//! for (word, count) in counts.take() {
//!     let best = finals.entry(word).or_insert(0);
//!     *best = count.max(*best);
//! }
//! assert_eq!(finals.into_iter().collect::<Vec<_>>(), [("a".into(), 1), ("b".into(), 2), ("c".into(), 3)]);
//! ```
//!
//! ## Where things live
//!
//! - [`api`]: [`Env`], [`DataStream`], [`KeyedStream`]: the builder users write jobs with.
//! - `plan`: the logical graph, and how each shard instantiates its operators from it.
//! - [`runtime`]: shards, stage tasks, the job handle; the only module that calls glommio.
//! - [`exchange`]: SPSC rings, channels, credit-based flow control, key partitioning.
//! - [`time`]: timestamps and watermarks.
//! - [`state`]: keyed state backends.
//! - [`checkpoint`]: barrier snapshots, the coordinator, manifests, recovery.
//! - [`operators`]: map/filter/…, keyed aggregation, windows, joins, process functions,
//!   async I/O, CEP patterns ([`operators::cep`]).
//! - [`connectors`]: sources (generator, collection, line files) and sinks (collect, print,
//!   callback, transactional files), and the embedding program's own ends: an
//!   [`Ingress`](connectors::Ingress) to push records from any thread, an
//!   [`Egress`](connectors::Egress) to read results, and a [`Scorer`](connectors::Scorer)
//!   whose `score(event)` awaits the reply to that event.
//! - [`metrics`]: counters readable while a job runs.
//!
//! A record enters at a source on some shard, passes the stateless operators chained there
//! (one loop, no queue), and at a `key_by` is routed by its key's key group to the owning
//! shard's ring. That shard's keyed operators read and write the key's state with no lock,
//! since no other thread ever touches it.

pub mod api;
pub mod checkpoint;
pub mod config;
pub mod connectors;
pub mod error;
pub mod exchange;
pub mod metrics;
pub mod operators;
mod plan;
pub mod runtime;
pub mod state;
mod sync;
pub mod time;

pub use api::{DataStream, Env, Key, KeyedStream};
pub use config::{Batching, JobConfig, Pinning};
pub use error::JobError;
pub use plan::Data;
pub use runtime::{JobHandle, JobReport};

/// The names most jobs need.
pub mod prelude {
    pub use crate::api::{DataStream, Env, Key, KeyedStream};
    pub use crate::checkpoint::CheckpointConfig;
    pub use crate::config::{Batching, JobConfig, Pinning};
    pub use crate::connectors::{
        Egress, FileSink, Generator, Ingress, LineFile, Reply, Request, Scorer, Source, SourceSplit,
    };
    pub use crate::error::JobError;
    pub use crate::exchange::StableKey;
    pub use crate::operators::AggregateFunction;
    pub use crate::time::Timestamp;
}
