//! The pieces of `tidewater-bench`: the shared workload (and its event-time variants), the
//! jobs per engine, the Nexmark suite, the fraud-scoring job (shared with the engine's
//! `fraud_scoring` example), latency recording and the JSON summary.

pub mod event_time;
#[path = "../../engine/examples/fraud/mod.rs"]
pub mod fraud;
pub mod fraud_run;
pub mod jobs;
pub mod latency;
pub mod nexmark;
pub mod progress;
pub mod summary;
pub mod workload;
