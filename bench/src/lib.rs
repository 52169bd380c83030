//! The pieces of `tidewater-bench`: the shared workload (and its event-time variants), the
//! jobs per engine, latency recording and the JSON summary.

pub mod event_time;
pub mod jobs;
pub mod latency;
pub mod progress;
pub mod summary;
pub mod workload;
