//! A slow sink slows the sources: the records in flight stay under the exchanges' fixed
//! capacity however many records the job processes, and none is lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tidewater::metrics::JobMetrics;
use tidewater::prelude::*;
use tidewater_tests::join_within;

#[test]
fn a_slow_sink_holds_buffered_records_flat_and_loses_nothing() {
    const EVENTS: u64 = 20_000;
    let config = JobConfig::default()
        .shards(2)
        .pinning(Pinning::Never)
        .batch_size(64)
        .channel_credits(2);
    let shards = config.shard_count() as u64;
    let batch = 64;
    // Channels hold at most `exchange_capacity_records`; besides them, each shard may hold a
    // staged batch per destination, a backlogged batch per destination, and the batch its
    // source and its receiver are each working on.
    let bound = config.exchange_capacity_records() as u64 + shards * (2 * shards + 2) * batch;
    assert!(
        bound * 10 < EVENTS,
        "the test must be able to tell flat from growing"
    );

    let env = Env::new(config);
    let metrics: Arc<OnceLock<Arc<JobMetrics>>> = Arc::default();
    let widest_gap = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let checksum = Arc::new(AtomicU64::new(0));
    let (sink_metrics, sink_gap, sink_received, sink_checksum) = (
        metrics.clone(),
        widest_gap.clone(),
        received.clone(),
        checksum.clone(),
    );
    env.generate(EVENTS, |i| i)
        .key_by(|x: &u64| x % 97)
        .reduce(|_, latest| latest)
        .sink(move |x: u64| {
            // The slow consumer: a fixed cost per record.
            std::thread::sleep(Duration::from_micros(20));
            sink_received.fetch_add(1, Ordering::Relaxed);
            sink_checksum.fetch_add(x, Ordering::Relaxed);
            if let Some(metrics) = sink_metrics.get() {
                let in_flight = metrics.source_records() - metrics.sink_records();
                sink_gap.fetch_max(in_flight, Ordering::Relaxed);
            }
        });
    let handle = env.execute_async().unwrap();
    metrics.set(handle.metrics().clone()).ok();
    let report = join_within(handle, Duration::from_secs(120)).unwrap();

    assert_eq!(report.source_records, EVENTS);
    assert_eq!(
        received.load(Ordering::Relaxed),
        EVENTS,
        "every record arrives"
    );
    assert_eq!(
        checksum.load(Ordering::Relaxed),
        (0..EVENTS).sum::<u64>(),
        "exactly once"
    );
    let gap = widest_gap.load(Ordering::Relaxed);
    assert!(gap > 0, "the gap was measured");
    assert!(
        gap <= bound,
        "{gap} records in flight, more than the bound {bound}"
    );
}
