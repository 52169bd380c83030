//! A bounded, lock-free, single-producer single-consumer ring.
//!
//! This is the only structure a record batch crosses between cores. It follows the classic
//! cached-index design (as rtrb and Lamport's queue): the producer owns `tail`, the consumer
//! owns `head`, each index sits on its own cache line, and each side keeps a private copy of
//! the other side's index so that it touches the shared line only when its cached view says
//! the ring is full (producer) or empty (consumer).
//!
//! Invariant: `head <= tail <= head + capacity` (indices grow without bound and wrap with
//! `usize` arithmetic; a slot is `index & mask`). Slots in `head..tail` hold initialised values
//! owned by the ring; all other slots are uninitialised. Only the producer writes slots in
//! `tail..head + capacity`, only the consumer reads slots in `head..tail`; the `Release` store
//! of an index publishes the slot writes (or reads) before it to the other side's `Acquire`
//! load.

use std::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use crate::sync::{Arc, AtomicUsize, Ordering, UnsafeCell};

/// The shared part of a ring: slots and the two indices.
struct Ring<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
    /// Next slot the consumer reads. Written only by the consumer.
    head: CachePadded<AtomicUsize>,
    /// Next slot the producer writes. Written only by the producer.
    tail: CachePadded<AtomicUsize>,
}

// SAFETY: the ring hands each `T` from exactly one thread (the producer) to exactly one other
// (the consumer); `T: Send` is all that moving a value between threads needs.
unsafe impl<T: Send> Sync for Ring<T> {}
// SAFETY: as above; the ring owns its values and can be dropped on any thread.
unsafe impl<T: Send> Send for Ring<T> {}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        for index in head..tail {
            self.slots[index & self.mask].with_mut(|slot| {
                // SAFETY: `&mut self` means both endpoints are gone, and slots in `head..tail`
                // hold initialised values that nobody else will read.
                unsafe { (*slot).assume_init_drop() }
            });
        }
    }
}

/// The error of [`Producer::push`] on a full ring: the value comes back to the caller.
#[derive(Debug, PartialEq, Eq)]
pub struct Full<T>(pub T);

/// The writing end of a ring. There is exactly one per ring.
pub struct Producer<T> {
    ring: Arc<Ring<T>>,
    tail: usize,
    cached_head: usize,
}

/// The reading end of a ring. There is exactly one per ring.
pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
    head: usize,
    cached_tail: usize,
}

/// Creates a ring with room for `capacity` values (rounded up to a power of two, at least 1).
pub fn ring<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let capacity = capacity.max(1).next_power_of_two();
    let slots = (0..capacity)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let ring = Arc::new(Ring {
        slots,
        mask: capacity - 1,
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
    });
    (
        Producer {
            ring: ring.clone(),
            tail: 0,
            cached_head: 0,
        },
        Consumer {
            ring,
            head: 0,
            cached_tail: 0,
        },
    )
}

impl<T> Producer<T> {
    /// Appends `value`, or hands it back in [`Full`] when every slot is taken.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), Full<T>> {
        if self.free_slots() == 0 {
            return Err(Full(value));
        }
        self.ring.slots[self.tail & self.ring.mask].with_mut(|slot| {
            // SAFETY: `free_slots() > 0` means `tail < head + capacity`, so this slot is
            // outside `head..tail`: uninitialised and invisible to the consumer until the
            // `Release` store below publishes it.
            unsafe { (*slot).write(value) };
        });
        self.tail = self.tail.wrapping_add(1);
        self.ring.tail.store(self.tail, Ordering::Release);
        Ok(())
    }

    /// How many values can be pushed now without [`Full`]: the credits this ring grants.
    #[inline]
    pub fn free_slots(&mut self) -> usize {
        let capacity = self.ring.mask + 1;
        let mut free = capacity - self.tail.wrapping_sub(self.cached_head);
        if free == 0 {
            self.cached_head = self.ring.head.load(Ordering::Acquire);
            free = capacity - self.tail.wrapping_sub(self.cached_head);
        }
        free
    }

    /// The number of slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.mask + 1
    }

    /// Whether the consumer has taken every value pushed (it is caught up, likely waiting).
    #[inline]
    pub fn is_drained(&mut self) -> bool {
        self.cached_head = self.ring.head.load(Ordering::Acquire);
        self.cached_head == self.tail
    }
}

impl<T> Consumer<T> {
    /// Removes the oldest value, or returns `None` when the ring is empty.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        if self.head == self.cached_tail {
            self.cached_tail = self.ring.tail.load(Ordering::Acquire);
            if self.head == self.cached_tail {
                return None;
            }
        }
        let value = self.ring.slots[self.head & self.ring.mask].with_mut(|slot| {
            // SAFETY: `head < tail` (as last published by the producer with `Release` and read
            // with `Acquire`), so the slot holds an initialised value the producer no longer
            // touches; advancing `head` below gives the slot back without a second read.
            unsafe { (*slot).assume_init_read() }
        });
        self.head = self.head.wrapping_add(1);
        self.ring.head.store(self.head, Ordering::Release);
        Some(value)
    }

    /// The number of values waiting to be popped, as far as this side knows now.
    pub fn len(&self) -> usize {
        self.ring
            .tail
            .load(Ordering::Acquire)
            .wrapping_sub(self.head)
    }

    /// Whether no value is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fills_to_capacity_and_hands_back_the_value() {
        let (mut tx, mut rx) = ring(3);
        assert_eq!(tx.capacity(), 4);
        for i in 0..4 {
            tx.push(i).unwrap();
        }
        assert_eq!(tx.push(99), Err(Full(99)));
        assert_eq!(rx.pop(), Some(0));
        tx.push(4).unwrap();
        let drained: Vec<_> = std::iter::from_fn(|| rx.pop()).collect();
        assert_eq!(drained, vec![1, 2, 3, 4]);
        assert!(rx.is_empty());
    }

    #[test]
    fn drops_values_left_in_the_ring() {
        let value = std::sync::Arc::new(());
        let (mut tx, rx) = ring(4);
        tx.push(value.clone()).unwrap();
        tx.push(value.clone()).unwrap();
        drop((tx, rx));
        assert_eq!(std::sync::Arc::strong_count(&value), 1);
    }

    #[test]
    fn two_threads_move_ten_million_items_in_order() {
        const ITEMS: u64 = 10_000_000;
        let (mut tx, mut rx) = ring::<u64>(256);
        let producer = std::thread::spawn(move || {
            let backoff = crossbeam_utils::Backoff::new();
            let mut next = 0;
            while next < ITEMS {
                match tx.push(next) {
                    Ok(()) => {
                        next += 1;
                        backoff.reset();
                    }
                    Err(Full(_)) => backoff.snooze(),
                }
            }
        });
        let backoff = crossbeam_utils::Backoff::new();
        let mut expected = 0;
        while expected < ITEMS {
            match rx.pop() {
                Some(value) => {
                    assert_eq!(value, expected);
                    expected += 1;
                    backoff.reset();
                }
                None => backoff.snooze(),
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.pop(), None);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    /// Every interleaving of a producer pushing three values through a two-slot ring and a
    /// consumer popping them delivers all three, in order, exactly once.
    #[test]
    fn delivers_in_order_exactly_once() {
        loom::model(|| {
            let (mut tx, mut rx) = ring::<usize>(2);
            let producer = loom::thread::spawn(move || {
                for i in 0..3 {
                    let mut value = i;
                    loop {
                        match tx.push(value) {
                            Ok(()) => break,
                            Err(Full(back)) => {
                                value = back;
                                loom::thread::yield_now();
                            }
                        }
                    }
                }
            });
            let mut seen = Vec::new();
            while seen.len() < 3 {
                match rx.pop() {
                    Some(value) => seen.push(value),
                    None => loom::thread::yield_now(),
                }
            }
            producer.join().unwrap();
            assert_eq!(seen, vec![0, 1, 2]);
            assert_eq!(rx.pop(), None);
        });
    }

    /// Values still in the ring when both ends go away are dropped exactly once.
    #[test]
    fn drops_leftovers_once() {
        loom::model(|| {
            let value = Arc::new(());
            let (mut tx, mut rx) = ring(2);
            let sent = value.clone();
            let producer = loom::thread::spawn(move || {
                let _ = tx.push(sent.clone());
                let _ = tx.push(sent);
            });
            let _ = rx.pop();
            producer.join().unwrap();
            drop(rx);
            assert_eq!(Arc::strong_count(&value), 1);
        });
    }
}
