//! A one-waiter wake-up signal between two threads, for parking on an SPSC ring.
//!
//! The ring has no wake-ups of its own; each side of a channel pairs it with a `Signal` that
//! the other side fires after making progress. The protocol is Dekker's: the waiter stores its
//! waker, sets `waiting`, issues a `SeqCst` fence and then re-checks the ring; the notifier
//! changes the ring, issues a `SeqCst` fence and then reads `waiting`. The two fences make it
//! impossible for both sides to miss each other, so a parked task is always woken.
//! `notify` costs one fence and one relaxed load when nobody waits.

use std::task::Waker;

use crate::sync::{fence, AtomicBool, Mutex, Ordering};

/// See the module documentation.
#[derive(Default)]
pub(crate) struct Signal {
    waiting: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    /// Registers `waker` to be woken by the next [`Signal::notify`]. The caller must re-check
    /// its condition afterwards and park only if it still does not hold.
    pub(crate) fn arm(&self, waker: &Waker) {
        {
            let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_ref() {
                Some(current) if current.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        self.waiting.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Withdraws an [`arm`](Signal::arm) whose re-check succeeded, to spare the other side a
    /// useless wake-up.
    pub(crate) fn disarm(&self) {
        self.waiting.store(false, Ordering::Relaxed);
    }

    /// Wakes the registered waiter, if any. Call after the change the waiter waits for.
    #[inline]
    pub(crate) fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) && self.waiting.swap(false, Ordering::AcqRel) {
            let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use std::task::{Wake, Waker};

    use super::*;
    use crate::exchange::ring::{ring, Full};
    use crate::sync::Arc;

    struct Flag(loom::sync::atomic::AtomicBool);

    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A consumer that parks whenever the ring looks empty is always woken: it receives every
    /// value, and loom finds no interleaving where it waits forever.
    #[test]
    fn a_parked_consumer_is_never_forgotten() {
        loom::model(|| {
            let signal = Arc::new(Signal::default());
            let (mut tx, mut rx) = ring::<usize>(2);
            let notifier = signal.clone();
            let producer = loom::thread::spawn(move || {
                for i in 0..2 {
                    while let Err(Full(_)) = tx.push(i) {
                        loom::thread::yield_now();
                    }
                    notifier.notify();
                }
            });
            let flag = std::sync::Arc::new(Flag(loom::sync::atomic::AtomicBool::new(false)));
            let waker = Waker::from(flag.clone());
            let mut received = 0;
            while received < 2 {
                if rx.pop().is_some() {
                    received += 1;
                    continue;
                }
                signal.arm(&waker);
                if rx.pop().is_some() {
                    signal.disarm();
                    received += 1;
                    continue;
                }
                // Parked: only a wake-up may let us go on.
                while !flag.0.swap(false, Ordering::SeqCst) {
                    loom::thread::yield_now();
                }
            }
            producer.join().unwrap();
        });
    }
}
