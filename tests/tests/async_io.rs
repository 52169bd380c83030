//! Async I/O: ordered mode keeps input order, unordered mode emits as results come and never
//! exceeds its capacity, and a timed-out request fails the job or goes to a side output.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tidewater::operators::{AsyncOptions, OutputTag, ResultOrder, TimeoutPolicy};
use tidewater::prelude::*;
use tidewater::runtime::sleep;

/// A pretend remote call: answers `x * 2` after a delay that depends on `x`.
async fn lookup(x: u64, delay_ms: u64) -> u64 {
    sleep(Duration::from_millis(delay_ms)).await;
    x * 2
}

#[test]
fn ordered_mode_keeps_input_order() {
    let env = Env::new(JobConfig::default().shards(2).pinning(Pinning::Never));
    let results = env
        .from_collection((0..300u64).collect())
        .async_map(
            |x| lookup(x, (x * 7_919) % 7),
            AsyncOptions::new(16, Duration::from_secs(10)),
        )
        .collect();
    env.execute().unwrap();
    // Each shard reads a contiguous part in order, and collect keeps each shard's order.
    assert_eq!(results.take(), (0..300).map(|x| x * 2).collect::<Vec<_>>());
}

#[test]
fn unordered_mode_emits_as_results_come_within_its_capacity() {
    const CAPACITY: usize = 8;
    let env = Env::new(JobConfig::default().shards(1));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (counter, peak) = (in_flight.clone(), most.clone());
    let results = env
        .from_collection((0..200u64).collect())
        .async_map(
            move |x| {
                let (counter, peak) = (counter.clone(), peak.clone());
                async move {
                    let now = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    // The first request of every eight is slow: later ones overtake it.
                    let result = lookup(x, if x % 8 == 0 { 20 } else { 1 }).await;
                    counter.fetch_sub(1, Ordering::SeqCst);
                    result
                }
            },
            AsyncOptions::new(CAPACITY, Duration::from_secs(10)).order(ResultOrder::Unordered),
        )
        .collect();
    env.execute().unwrap();
    let results = results.take();
    let mut sorted = results.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..200).map(|x| x * 2).collect::<Vec<_>>());
    assert_ne!(results, sorted, "slow requests were overtaken");
    let peak = most.load(Ordering::SeqCst);
    assert!(
        peak <= CAPACITY,
        "{peak} requests in flight, capacity {CAPACITY}"
    );
    assert!(peak > 1, "requests overlapped");
}

#[test]
fn a_timeout_fails_the_job_by_default() {
    let env = Env::new(JobConfig::default().shards(2).pinning(Pinning::Never));
    env.from_collection((0..20u64).collect())
        .async_map(
            |x| lookup(x, if x == 13 { 60_000 } else { 0 }),
            AsyncOptions::new(4, Duration::from_millis(50)),
        )
        .name("slow-service")
        .sink(|_| {});
    match env.execute() {
        Err(JobError::OperatorFailed {
            operator, message, ..
        }) => {
            assert_eq!(operator, "slow-service");
            assert!(message.contains("timed out"), "{message}");
        }
        other => panic!("expected a timeout failure, got {other:?}"),
    }
}

#[test]
fn a_timeout_can_go_to_a_side_output() {
    let env = Env::new(JobConfig::default().shards(2).pinning(Pinning::Never));
    let timed_out = OutputTag::new("timed-out");
    let results = env.from_collection((0..20u64).collect()).async_map(
        |x| lookup(x, if x % 5 == 0 { 60_000 } else { 0 }),
        AsyncOptions::new(4, Duration::from_millis(50))
            .on_timeout(TimeoutPolicy::SideOutput(timed_out.clone())),
    );
    let late = results.side_output(&timed_out).collect();
    let results = results.collect();
    env.execute().unwrap();
    let mut late = late.take();
    late.sort_unstable();
    assert_eq!(late, vec![0, 5, 10, 15]);
    let mut results = results.take();
    results.sort_unstable();
    assert_eq!(
        results,
        (0..20)
            .filter(|x| x % 5 != 0)
            .map(|x| x * 2)
            .collect::<Vec<_>>()
    );
}
