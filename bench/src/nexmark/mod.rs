//! The Nexmark benchmark suite on Tidewater (NEXMARK.md is the contract).
//!
//! - [`event`]: the person, auction and bid events, and their JSON-lines form.
//! - [`generator`]: the deterministic, resumable standard Nexmark generator.
//! - [`jsonl`]: the streaming reader of `--input` files and the writer of `--output` files;
//!   [`partitioned`]: q10's folder of files partitioned by date and minute.
//! - [`text`]: the events' immutable, cheaply copied strings.
//! - [`calendar`]: UTC dates and minutes of event times.
//! - [`source`]: the two as Tidewater sources, split across shards.
//! - [`queries`]: one module per query, each a short function over the DataStream API.
//! - [`run`]: what `tidewater-bench nexmark` does: build the job, run it, measure it.
//!
//! Events enter as [`Stamped`] events (the birth time of one in `--latency-sample` rides
//! along for latency), get `date_time` as their event time with a watermark that trails by
//! `--out-of-orderness-ms`, pass through the query, and reach a sink that records latency
//! and a checksum and, with `--output`, writes each row as a JSON line with `"op"`.

pub mod calendar;
pub mod event;
pub mod generator;
pub mod jsonl;
pub mod partitioned;
pub mod pow10;
pub mod queries;
pub mod run;
pub mod source;
pub mod text;
pub mod timely;

pub use event::{Auction, Bid, Event, Person};
pub use generator::{GeneratorConfig, NexmarkGenerator};
pub use run::{NexmarkError, Options, Query};
pub use source::Stamped;
pub use text::Text;
