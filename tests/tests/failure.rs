//! A failing user function fails the whole job quickly, names the operator, and leaves no
//! shard thread behind; cancellation does the same.

use std::sync::mpsc;
use std::time::Duration;

use tidewater::prelude::*;
use tidewater_tests::{join_within, threads_left_after};

const LIMIT: Duration = Duration::from_secs(60);
const GRACE: Duration = Duration::from_secs(10);

#[test]
fn a_panic_on_shard_one_fails_the_job_and_names_the_operator() {
    let env = Env::new(JobConfig::default().shards(2).pinning(Pinning::Never));
    // Shard 1 generates the upper half of the indices, so it meets 750 000.
    env.generate(1_000_000, |i| i)
        .map(|x| {
            assert!(x != 750_000, "boom at {x}");
            x
        })
        .name("explode")
        .key_by(|x: &u64| x % 10)
        .count()
        .collect();
    let handle = env.execute_async().unwrap();
    let prefix = handle.thread_name_prefix();
    let error = join_within(handle, LIMIT).unwrap_err();
    match &error {
        JobError::OperatorFailed {
            operator,
            shard,
            message,
        } => {
            assert_eq!(operator, "explode");
            assert_eq!(*shard, 1);
            assert!(message.contains("boom at 750000"), "{message}");
        }
        other => panic!("expected the operator's failure, got {other}"),
    }
    assert!(error.to_string().contains("explode"));
    assert_eq!(threads_left_after(&prefix, GRACE), Vec::<String>::new());
}

#[test]
fn a_panic_behind_an_exchange_stops_the_sources_of_every_shard() {
    let env = Env::new(JobConfig::default().shards(3).pinning(Pinning::Never));
    // Endless sources: only the failure can end this job.
    env.generate(u64::MAX, |i| i)
        .key_by(|x: &u64| x % 100)
        .reduce(|a, b| {
            assert!(b < 200_000, "reducer gave up");
            a.max(b)
        })
        .name("fragile-reduce")
        .sink(|_| {});
    let handle = env.execute_async().unwrap();
    let prefix = handle.thread_name_prefix();
    match join_within(handle, LIMIT) {
        Err(JobError::OperatorFailed { operator, .. }) => assert_eq!(operator, "fragile-reduce"),
        other => panic!("expected the reducer's failure, got {other:?}"),
    }
    assert_eq!(threads_left_after(&prefix, GRACE), Vec::<String>::new());
}

#[test]
fn a_panicking_sink_is_named() {
    let env = Env::new(JobConfig::default().shards(2).pinning(Pinning::Never));
    env.generate(10_000, |i| i)
        .rebalance()
        .sink(|x| assert!(x != 4_321, "sink refused {x}"));
    let error = env.execute().unwrap_err();
    assert!(
        matches!(&error, JobError::OperatorFailed { operator, message, .. }
            if operator.starts_with("sink#") && message.contains("sink refused 4321")),
        "{error}"
    );
}

#[test]
fn cancelling_ends_an_endless_job() {
    let env = Env::new(JobConfig::default().shards(2).pinning(Pinning::Never));
    let (seen, first) = mpsc::sync_channel(1);
    env.generate(u64::MAX, |i| i)
        .key_by(|x: &u64| x % 1000)
        .count()
        .sink(move |_| {
            let _ = seen.try_send(());
        });
    let handle = env.execute_async().unwrap();
    let prefix = handle.thread_name_prefix();
    first.recv_timeout(LIMIT).expect("records reach the sink");
    handle.cancel();
    assert_eq!(join_within(handle, LIMIT).unwrap_err(), JobError::Cancelled);
    assert_eq!(threads_left_after(&prefix, GRACE), Vec::<String>::new());
}

#[test]
fn a_configuration_that_cannot_run_is_refused() {
    let env = Env::new(JobConfig::default().shards(8).max_key_groups(4));
    env.generate(10, |i| i).print();
    assert!(
        matches!(env.execute(), Err(JobError::Config(message)) if message.contains("max_key_groups"))
    );
}
