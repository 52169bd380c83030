//! The pieces of `tidewater-bench`: the shared workload (and its event-time variants), the
//! jobs per engine, the Nexmark suite, latency recording and the JSON summary.

pub mod event_time;
pub mod jobs;
pub mod latency;
pub mod nexmark;
pub mod progress;
pub mod summary;
pub mod workload;
