//! Embedding: records pushed through an `Ingress` from many threads reach the job exactly
//! once, on the shard that owns their key; an `Egress` delivers every result; `score()`
//! resolves with the reply to its own event under concurrent callers (threads and tokio
//! tasks, tasks on the shards themselves); a full queue pushes back instead of dropping; a
//! failing job fails its callers instead of leaving them waiting; replies come even after
//! the last scorer is dropped. Tasks on the shards end with the job: a scorer their closure
//! captured does not keep it open, cancelling drops them, and a panic in them (or in a task
//! they spawn) fails it.

use std::collections::BTreeMap;
use std::thread;

use tidewater::connectors::{PushError, ScoreError};
use tidewater::operators::{Context, KeyedProcessFunction};
use tidewater::prelude::*;
use tidewater::state::{KeyedStates, ValueState};

fn config(shards: usize, batching: Batching) -> JobConfig {
    JobConfig::default()
        .shards(shards)
        .pinning(Pinning::Never)
        .batching(batching)
}

/// Counts each key's records and says which shard saw them.
#[derive(Clone, Default)]
struct CountPerKey {
    seen: ValueState<u64, u64>,
}

impl KeyedProcessFunction<u64, u64, (u64, u64, u64)> for CountPerKey {
    fn states(&mut self, states: &mut KeyedStates<'_, u64>) {
        states.register("seen", &mut self.seen);
    }

    fn process_element(&mut self, record: u64, ctx: &mut Context<'_, u64, (u64, u64, u64)>) {
        let seen = self.seen.value(ctx).copied().unwrap_or(0) + 1;
        self.seen.update(ctx, seen);
        ctx.emit((*ctx.key(), record, seen));
    }
}

#[test]
fn every_pushed_record_is_processed_exactly_once() {
    for batching in [Batching::Throughput, Batching::Latency] {
        let env = Env::new(config(3, batching));
        let (ingress, records) = env.keyed_ingress(64, |r: &u64| r % 101);
        let mut results = records.process(CountPerKey::default()).egress(128);
        let job = env.execute_async().unwrap();
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let ingress = ingress.clone();
                thread::spawn(move || {
                    for i in 0..5_000 {
                        ingress.send_blocking(p * 1_000_000 + i).unwrap();
                    }
                })
            })
            .collect();
        drop(ingress);
        let mut got: Vec<(u64, u64, u64)> = results.by_ref().collect();
        for producer in producers {
            producer.join().unwrap();
        }
        job.join().unwrap();
        // Exactly once: every record, no duplicates.
        let mut records: Vec<u64> = got.iter().map(|r| r.1).collect();
        records.sort_unstable();
        let expected: Vec<u64> = (0..4u64)
            .flat_map(|p| (0..5_000).map(move |i| p * 1_000_000 + i))
            .collect();
        let mut expected_sorted = expected.clone();
        expected_sorted.sort_unstable();
        assert_eq!(records, expected_sorted, "{batching:?}");
        // Each key's state saw its records one by one: counts 1..=n per key.
        got.sort_unstable_by_key(|r| (r.0, r.2));
        let mut per_key: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for (key, _, seen) in got {
            per_key.entry(key).or_default().push(seen);
        }
        for (key, counts) in per_key {
            let n = counts.len() as u64;
            assert_eq!(counts, (1..=n).collect::<Vec<_>>(), "key {key}");
        }
    }
}

/// Replies with the event itself and how many events of its key came before.
#[derive(Clone, Default)]
struct Echo {
    seen: ValueState<u64, u64>,
}

impl KeyedProcessFunction<u64, Request<u64>, Reply<(u64, u64)>> for Echo {
    fn states(&mut self, states: &mut KeyedStates<'_, u64>) {
        states.register("seen", &mut self.seen);
    }

    fn process_element(
        &mut self,
        request: Request<u64>,
        ctx: &mut Context<'_, u64, Reply<(u64, u64)>>,
    ) {
        assert_eq!(request.event % 7, *ctx.key());
        if request.event == u64::MAX {
            panic!("poisoned event");
        }
        let seen = self.seen.value(ctx).copied().unwrap_or(0);
        self.seen.update(ctx, seen + 1);
        ctx.emit(request.reply((request.event, seen)));
    }
}

#[test]
fn score_resolves_with_the_reply_to_its_own_event_under_concurrent_callers() {
    let env = Env::new(config(2, Batching::Latency));
    let (scorer, requests) = env.request_reply(16, |event: &u64| event % 7);
    requests.process(Echo::default()).reply_to(&scorer);
    let job = env.execute_async().unwrap();
    let callers: Vec<_> = (0..4u64)
        .map(|c| {
            let scorer = scorer.clone();
            thread::spawn(move || {
                let mut seen_per_key = BTreeMap::new();
                for i in 0..2_000 {
                    let event = c * 1_000_000 + i;
                    let (echo, seen) = scorer.score_blocking(event).unwrap();
                    assert_eq!(echo, event, "a reply to another event");
                    // This caller's events of one key are answered in order.
                    let last = seen_per_key.insert(event % 7, seen);
                    assert!(last.is_none_or(|last| last < seen));
                }
            })
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let tasks: Vec<_> = (10..14u64)
            .map(|c| {
                let scorer = scorer.clone();
                tokio::spawn(async move {
                    for i in 0..500 {
                        let event = c * 1_000_000 + i;
                        let (echo, _) = scorer.score(event).await.unwrap();
                        assert_eq!(echo, event);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    for caller in callers {
        caller.join().unwrap();
    }
    scorer.close();
    assert!(matches!(scorer.score_blocking(1), Err(ScoreError::Closed)));
    let report = job.join().unwrap();
    assert_eq!(
        report.sink_records,
        4 * 2_000 + 4 * 500,
        "one reply per request"
    );
}

#[test]
fn a_failing_job_fails_its_waiting_callers() {
    let env = Env::new(config(2, Batching::Latency));
    let (scorer, requests) = env.request_reply(16, |event: &u64| event % 7);
    requests.process(Echo::default()).reply_to(&scorer);
    let job = env.execute_async().unwrap();
    assert_eq!(scorer.score_blocking(3), Ok((3, 0)));
    let poisoned = scorer.score_blocking(u64::MAX);
    assert!(
        matches!(poisoned, Err(ScoreError::NoReply | ScoreError::Closed)),
        "{poisoned:?}"
    );
    assert!(matches!(job.join(), Err(JobError::OperatorFailed { .. })));
    assert!(scorer.score_blocking(4).is_err(), "the job is gone");
}

#[test]
fn a_full_pipeline_pushes_back_and_loses_nothing() {
    let env = Env::new(
        config(2, Batching::Throughput)
            .batch_size(4)
            .channel_credits(2),
    );
    let (ingress, records) = env.ingress::<u64>(4);
    let mut results = records.map(|r: u64| r * 10).egress(4);
    let job = env.execute_async().unwrap();
    // Nobody reads the egress: the job fills up, then the ingress refuses.
    let mut accepted = Vec::new();
    let mut next = 0u64;
    let refused = loop {
        match ingress.try_send(next) {
            Ok(()) => accepted.push(next),
            Err(PushError::Full(back)) => break back,
            Err(PushError::Closed(_)) => panic!("the job is running"),
        }
        next += 1;
        assert!(next < 1_000_000, "the ingress never pushed back");
    };
    assert_eq!(refused, next, "the refused record comes back");
    drop(ingress);
    let mut got: Vec<u64> = results.by_ref().collect();
    job.join().unwrap();
    got.sort_unstable();
    let expected: Vec<u64> = accepted.iter().map(|r| r * 10).collect();
    assert_eq!(got, expected);
}

#[test]
fn handles_of_a_job_that_never_runs_fail_instead_of_waiting() {
    let env = Env::new(config(2, Batching::Latency));
    let (ingress, records) = env.ingress::<u64>(4);
    let mut results = records.egress(4);
    let (scorer, requests) = env.request_reply(4, |event: &u64| *event);
    requests.process(Echo::default()).reply_to(&scorer);
    // The job is dropped unstarted (as when `execute` fails, or a restore finds the job
    // already finished): nothing will read or write.
    drop((env, records, requests));
    assert!(matches!(
        ingress.send_blocking(1),
        Err(PushError::Closed(1))
    ));
    assert_eq!(results.next(), None);
    assert_eq!(scorer.score_blocking(2), Err(ScoreError::Closed));
}

#[test]
fn replies_come_after_the_last_scorer_is_gone() {
    for batching in [Batching::Latency, Batching::Throughput] {
        let env = Env::new(config(2, batching));
        let (scorer, requests) = env.request_reply(64, |event: &u64| event % 7);
        requests.process(Echo::default()).reply_to(&scorer);
        let job = env.execute_async().unwrap();
        let replies: Vec<_> = (0..20u64)
            .map(|event| (event, scorer.try_score(event).ok().unwrap()))
            .collect();
        drop(scorer);
        for (event, reply) in replies {
            let (echo, _) = futures_lite::future::block_on(reply).unwrap();
            assert_eq!(echo, event);
        }
        assert_eq!(job.join().unwrap().sink_records, 20);
    }
}

#[test]
fn tasks_on_the_shards_score_and_await_their_replies() {
    use std::sync::{mpsc, Arc, Mutex};
    use std::time::Duration;

    let env = Env::new(config(2, Batching::Latency));
    let (scorer, requests) = env.request_reply(64, |event: &u64| event % 7);
    requests.process(Echo::default()).reply_to(&scorer);
    let (done, results) = mpsc::channel();
    // Each shard's task takes a scorer and the channel to report on; the job's requests end
    // once every task has dropped its scorer.
    let handles = Arc::new(Mutex::new(vec![
        (scorer.clone(), done.clone()),
        (scorer, done),
    ]));
    env.spawn_on_shards(move |shard| {
        let (scorer, done) = handles.lock().unwrap().pop().unwrap();
        async move {
            let mut answered = Vec::new();
            for i in 0..200u64 {
                let event = shard as u64 * 1_000_000 + i;
                let (echo, _) = scorer.score(event).await.unwrap();
                answered.push(echo == event);
            }
            // Requests sent, then the scorer dropped before their replies came.
            let pending: Vec<_> = (200..220u64)
                .map(|i| scorer.try_score(shard as u64 * 1_000_000 + i).ok().unwrap())
                .collect();
            drop(scorer);
            for reply in pending {
                answered.push(reply.await.is_ok());
            }
            done.send((shard, answered)).unwrap();
        }
    });
    let job = env.execute_async().unwrap();
    let mut shards = Vec::new();
    for _ in 0..2 {
        let (shard, answered) = results
            .recv_timeout(Duration::from_secs(60))
            .expect("every shard's task reports");
        assert_eq!(answered.len(), 220);
        assert!(
            answered.iter().all(|ok| *ok),
            "shard {shard}: a reply missing or wrong"
        );
        shards.push(shard);
    }
    shards.sort_unstable();
    assert_eq!(shards, [0, 1]);
    assert_eq!(job.join().unwrap().sink_records, 2 * 220);
}

#[test]
fn a_panicking_task_on_a_shard_fails_the_job_and_its_callers() {
    let env = Env::new(config(2, Batching::Latency));
    let (scorer, requests) = env.request_reply(16, |event: &u64| event % 7);
    requests.process(Echo::default()).reply_to(&scorer);
    let on_shards = scorer.clone();
    env.spawn_on_shards(move |shard| {
        let scorer = on_shards.clone();
        async move {
            if shard == 1 {
                // Wait for a reply first, so that the job is running when the task fails.
                scorer.score(1).await.unwrap();
                panic!("a handler failed");
            }
        }
    });
    let job = env.execute_async().unwrap();
    // The job fails, so this caller is told instead of waiting (the scorer keeps the
    // requests open: without the failure, the job would not end).
    let told = (0..1_000_000).any(|event| scorer.score_blocking(event).is_err());
    assert!(told, "the caller kept getting replies from a failed job");
    match job.join() {
        Err(JobError::OperatorFailed { shard, message, .. }) => {
            assert_eq!(shard, 1);
            assert!(message.contains("a handler failed"), "{message}");
        }
        other => panic!("expected the task's failure, got {other:?}"),
    }
}

#[test]
fn cancelling_ends_a_job_whose_shard_task_runs_on() {
    let env = Env::new(config(2, Batching::Latency));
    let (seen, records) = std::sync::mpsc::channel();
    env.from_collection((0..10u64).collect())
        .sink(move |record: u64| seen.send(record).unwrap());
    // A task that never ends keeps the job after its stream has ended...
    env.spawn_on_shards(|_| futures_lite::future::pending::<()>());
    let job = env.execute_async().unwrap();
    let mut got: Vec<u64> = records.iter().take(10).collect();
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    // ... until it is cancelled.
    job.cancel();
    assert!(
        matches!(job.join(), Err(JobError::Cancelled)),
        "a cancelled job reports so"
    );
}

#[test]
fn cancelling_drops_the_tasks_on_the_shards() {
    use std::sync::mpsc::{self, TryRecvError};
    use std::sync::{Arc, Mutex};

    let env = Env::new(config(2, Batching::Latency));
    let (ingress, stream) = env.ingress::<u64>(16);
    stream.sink(|_: u64| {});
    // Each task holds a sender and waits for a message from this thread that never comes:
    // its waker sits in a channel this thread keeps, outside the job.
    let (held, gone) = mpsc::channel::<()>();
    let (started, running) = mpsc::channel();
    let (keep, waits): (Vec<_>, Vec<_>) = (0..2)
        .map(|_| tokio::sync::oneshot::channel::<()>())
        .unzip();
    let parts: Vec<_> = waits
        .into_iter()
        .map(|wait| (held.clone(), started.clone(), wait))
        .collect();
    drop((held, started));
    let parts = Arc::new(Mutex::new(parts));
    env.spawn_on_shards(move |_| {
        let (held, started, wait) = parts.lock().unwrap().pop().unwrap();
        async move {
            started.send(()).unwrap();
            let _ = wait.await;
            drop(held);
        }
    });
    let job = env.execute_async().unwrap();
    running.recv().unwrap();
    running.recv().unwrap();
    job.cancel();
    assert!(matches!(job.join(), Err(JobError::Cancelled)));
    // Both tasks' futures are gone with the job, senders and all.
    assert_eq!(gone.try_recv(), Err(TryRecvError::Disconnected));
    drop((keep, ingress));
}

#[test]
fn a_scorer_the_closure_captured_does_not_keep_the_job_open() {
    use std::sync::mpsc;
    use std::time::Duration;

    let env = Env::new(config(2, Batching::Latency));
    let (scorer, requests) = env.request_reply(16, |event: &u64| event % 7);
    requests.process(Echo::default()).reply_to(&scorer);
    // The closure keeps a scorer for as long as it lives; each task takes a copy of it.
    env.spawn_on_shards(move |shard| {
        let scorer = scorer.clone();
        async move {
            let event = shard as u64;
            assert_eq!(scorer.score(event).await.unwrap().0, event);
        }
    });
    let job = env.execute_async().unwrap();
    // Once both tasks have ended and dropped their copies, the requests end, and the job
    // with them. (Joined on a thread, so that a job kept open fails the test, not hangs it.)
    let (joined, report) = mpsc::channel();
    thread::spawn(move || joined.send(job.join()).unwrap());
    let report = report
        .recv_timeout(Duration::from_secs(60))
        .expect("the job ends once its tasks have")
        .unwrap();
    assert_eq!(report.sink_records, 2);
}

#[test]
fn a_panic_in_a_task_a_shard_task_spawned_fails_the_job() {
    use std::sync::mpsc;
    use std::time::Duration;

    let env = Env::new(config(2, Batching::Latency));
    let (ingress, stream) = env.ingress::<u64>(16);
    stream.sink(|_: u64| {});
    env.spawn_on_shards(|shard| async move {
        if shard == 1 {
            // glommio runs a new task at once, up to its first wait, inside the spawning task
            // (whose guard would catch a panic there): this one panics when polled later.
            tidewater::runtime::spawn_local(async {
                futures_lite::future::yield_now().await;
                panic!("a child task failed");
            });
        }
        // The task on shard 0 would run forever if nothing stopped it.
        futures_lite::future::pending::<()>().await;
    });
    let job = env.execute_async().unwrap();
    let (joined, result) = mpsc::channel();
    thread::spawn(move || joined.send(job.join()).unwrap());
    let result = result
        .recv_timeout(Duration::from_secs(60))
        .expect("the other shard stops too");
    match result {
        Err(JobError::OperatorFailed { shard, message, .. }) => {
            assert_eq!(shard, 1);
            assert!(message.contains("a child task failed"), "{message}");
        }
        other => panic!("expected the child's failure, got {other:?}"),
    }
    drop(ingress);
}

#[test]
fn a_panic_making_a_shard_task_fails_the_job() {
    let env = Env::new(config(2, Batching::Latency));
    let (ingress, stream) = env.ingress::<u64>(16);
    stream.sink(|_: u64| {});
    env.spawn_on_shards(|shard| {
        assert_ne!(shard, 1, "no handler for shard 1");
        async {}
    });
    let job = env.execute_async().unwrap();
    // The ingress keeps the job's stream open: only the failure ends it.
    match job.join() {
        Err(JobError::OperatorFailed {
            operator,
            shard,
            message,
        }) => {
            assert_eq!(operator, "a task spawned on the shards");
            assert_eq!(shard, 1);
            assert!(message.contains("no handler for shard 1"), "{message}");
        }
        other => panic!("expected the failure, got {other:?}"),
    }
    drop(ingress);
}
