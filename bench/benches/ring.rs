//! Throughput of Tidewater's SPSC ring between two threads, against crossbeam's `ArrayQueue`.
//!
//! Each iteration moves [`ITEMS`] `u64` items from a fresh producer thread to the benchmark
//! thread, which consumes them; both spin with a `Backoff` when the ring is full or empty.
//! The producer is pinned to core 0 and the consumer to core 1 when there are two cores.
//! Throughput is counted in items, not slots, so the three variants compare directly:
//! - `unbatched`: one `u64` per slot, capacity 1024;
//! - `batched`: a `Vec<u64>` of [`BATCH`] items per slot, capacity 8 (as the exchange does);
//! - `array_queue`: crossbeam's MPMC `ArrayQueue<u64>`, one item per push, capacity 1024.

use std::hint::black_box;
use std::thread;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::Backoff;
use tidewater::exchange::ring::{ring, Consumer, Full, Producer};

/// Items moved per iteration.
const ITEMS: u64 = 1 << 20;

/// Items per slot in the batched variant.
const BATCH: usize = 1024;

/// The cores to pin the producer and the consumer to, if the machine has two.
fn cores() -> Option<(core_affinity::CoreId, core_affinity::CoreId)> {
    match core_affinity::get_core_ids()?.as_slice() {
        [first, second, ..] => Some((*first, *second)),
        _ => None,
    }
}

/// Pins the current thread to `core`, if there is one.
fn pin(core: Option<core_affinity::CoreId>) {
    if let Some(core) = core {
        core_affinity::set_for_current(core);
    }
}

/// Pushes `value`, spinning while the ring is full.
fn push_spinning<T>(producer: &mut Producer<T>, mut value: T) {
    let backoff = Backoff::new();
    loop {
        match producer.push(value) {
            Ok(()) => return,
            Err(Full(back)) => {
                value = back;
                backoff.snooze();
            }
        }
    }
}

/// Pops a value, spinning while the ring is empty.
fn pop_spinning<T>(consumer: &mut Consumer<T>) -> T {
    let backoff = Backoff::new();
    loop {
        match consumer.pop() {
            Some(value) => return value,
            None => backoff.snooze(),
        }
    }
}

/// Moves [`ITEMS`] items one per slot through a ring of 1024 slots; returns their sum.
fn unbatched(cores: Option<(core_affinity::CoreId, core_affinity::CoreId)>) -> u64 {
    let (mut producer, mut consumer) = ring::<u64>(1024);
    let sender = thread::spawn(move || {
        pin(cores.map(|c| c.0));
        for item in 0..ITEMS {
            push_spinning(&mut producer, item);
        }
    });
    let mut sum = 0u64;
    for _ in 0..ITEMS {
        sum = sum.wrapping_add(pop_spinning(&mut consumer));
    }
    sender.join().expect("producer thread");
    sum
}

/// Moves [`ITEMS`] items in batches of [`BATCH`] through a ring of 8 slots; returns their sum.
/// Emptied batches go back to the producer through a second ring, as a real exchange recycles
/// its buffers, so the measurement is the ring and not the allocator.
fn batched(cores: Option<(core_affinity::CoreId, core_affinity::CoreId)>) -> u64 {
    let (mut producer, mut consumer) = ring::<Vec<u64>>(8);
    let (mut recycle, mut recycled) = ring::<Vec<u64>>(16);
    let sender = thread::spawn(move || {
        pin(cores.map(|c| c.0));
        let mut next = 0u64;
        while next < ITEMS {
            let mut batch = recycled.pop().unwrap_or_else(|| Vec::with_capacity(BATCH));
            let end = (next + BATCH as u64).min(ITEMS);
            batch.extend(next..end);
            next = end;
            push_spinning(&mut producer, batch);
        }
    });
    let mut sum = 0u64;
    let mut received = 0u64;
    while received < ITEMS {
        let mut batch = pop_spinning(&mut consumer);
        received += batch.len() as u64;
        sum = batch.iter().fold(sum, |sum, &item| sum.wrapping_add(item));
        batch.clear();
        // A full recycling ring just drops the batch.
        let _ = recycle.push(batch);
    }
    sender.join().expect("producer thread");
    sum
}

/// Moves [`ITEMS`] items one per push through an `ArrayQueue` of 1024; returns their sum.
fn array_queue(cores: Option<(core_affinity::CoreId, core_affinity::CoreId)>) -> u64 {
    let queue = std::sync::Arc::new(ArrayQueue::<u64>::new(1024));
    let sender = {
        let queue = queue.clone();
        thread::spawn(move || {
            pin(cores.map(|c| c.0));
            let backoff = Backoff::new();
            for item in 0..ITEMS {
                let mut value = item;
                while let Err(back) = queue.push(value) {
                    value = back;
                    backoff.snooze();
                }
                backoff.reset();
            }
        })
    };
    let mut sum = 0u64;
    let backoff = Backoff::new();
    let mut received = 0u64;
    while received < ITEMS {
        match queue.pop() {
            Some(item) => {
                sum = sum.wrapping_add(item);
                received += 1;
                backoff.reset();
            }
            None => backoff.snooze(),
        }
    }
    sender.join().expect("producer thread");
    sum
}

/// The three variants, in one group so that criterion reports them side by side.
fn bench_ring(c: &mut Criterion) {
    let cores = cores();
    // The consumer is the benchmark thread itself.
    pin(cores.map(|c| c.1));
    let expected = (0..ITEMS).fold(0u64, u64::wrapping_add);
    let mut group = c.benchmark_group("spsc_u64");
    group
        .throughput(Throughput::Elements(ITEMS))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("unbatched", |b| {
        b.iter(|| assert_eq!(black_box(unbatched(cores)), expected))
    });
    group.bench_function("batched", |b| {
        b.iter(|| assert_eq!(black_box(batched(cores)), expected))
    });
    group.bench_function("array_queue", |b| {
        b.iter(|| assert_eq!(black_box(array_queue(cores)), expected))
    });
    group.finish();
}

criterion_group!(benches, bench_ring);
criterion_main!(benches);
