//! The JSON summary line every run ends with (the contract in DESIGN.md).

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tidewater::checkpoint::CheckpointStats;

/// What one run measured.
pub struct RunStats {
    /// Events the sources emitted.
    pub events: u64,
    /// Wall-clock seconds from start to end.
    pub seconds: f64,
    /// Latency of sampled results, in nanoseconds.
    pub latency_ns: Histogram<u64>,
    /// An engine-independent checksum of the results, to compare engines.
    pub checksum: u64,
    /// Results the sinks saw.
    pub results: u64,
    /// What the run's checkpoints did (Tidewater with `--checkpoint-dir`; zero otherwise).
    pub checkpoints: CheckpointStats,
    /// Seconds from the start until every shard was ready (its state restored).
    pub ready_s: f64,
}

/// The summary object: `query`, `events`, `seconds`, `events_per_s`, `shards`, `latency_us`
/// (`p50`, `p99`, `p999`, `max`) and more.
pub fn summary(
    query: &str,
    engine: &str,
    shards: usize,
    rate: Option<f64>,
    stats: &RunStats,
) -> Value {
    let quantile_us = |q: f64| stats.latency_ns.value_at_quantile(q) as f64 / 1000.0;
    json!({
        "query": query,
        "engine": engine,
        "events": stats.events,
        "seconds": stats.seconds,
        "events_per_s": stats.events as f64 / stats.seconds.max(1e-9),
        "shards": shards,
        "rate": rate,
        "results": stats.results,
        "checksum": stats.checksum,
        "latency_us": {
            "samples": stats.latency_ns.len(),
            "p50": quantile_us(0.5),
            "p99": quantile_us(0.99),
            "p999": quantile_us(0.999),
            "max": stats.latency_ns.max() as f64 / 1000.0,
        },
        "peak_rss_mb": peak_rss_mb(),
        "checkpoints": checkpoints_json(&stats.checkpoints),
        "ready_ms": stats.ready_s * 1000.0,
    })
}

/// The `checkpoints` object: how many completed and failed, bytes written, durations (ms)
/// and the checkpoint the run resumed from.
fn checkpoints_json(stats: &CheckpointStats) -> Value {
    let quantile_ms = |q: f64| {
        stats
            .duration_quantile(q)
            .map(|duration| duration.as_secs_f64() * 1000.0)
    };
    json!({
        "completed": stats.completed,
        "failed": stats.failed,
        "bytes_written": stats.bytes_written,
        "duration_ms": {
            "p50": quantile_ms(0.5),
            "p99": quantile_ms(0.99),
            "max": quantile_ms(1.0),
        },
        "restored_from": stats.restored_from,
        "savepoint": stats.savepoint,
        // Each checkpoint's [milliseconds, bytes], in order.
        "each": stats
            .durations
            .iter()
            .zip(&stats.sizes)
            .map(|(duration, bytes)| json!([duration.as_secs_f64() * 1000.0, bytes]))
            .collect::<Vec<_>>(),
    })
}

/// The process's peak resident set size (VmHWM), in MiB, if the kernel reports it.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
