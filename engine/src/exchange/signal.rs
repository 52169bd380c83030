//! A one-waiter wake-up signal between two threads, for parking on an SPSC ring.
//!
//! The ring has no wake-ups of its own; each side of a channel pairs it with a `Signal` that
//! the other side fires after making progress. The waiter stores its waker, sets `waiting` with
//! a read-modify-write and then re-checks the ring; the notifier changes the ring and then
//! clears `waiting` with a read-modify-write. Read-modify-writes of one location are totally
//! ordered: if the notifier's comes first, the waiter's acquires it and so sees the ring
//! change in its re-check; if the waiter's comes first, the notifier reads `true` and wakes it.
//! Either way a parked task is always woken. (A plain load in `notify` would need `SeqCst`
//! fences on both sides instead; this costs one uncontended RMW per batch.)

use std::task::Waker;

use crate::sync::{AtomicBool, Mutex, Ordering};

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
        self.waiting.swap(true, Ordering::AcqRel);
    }

    /// Withdraws an [`arm`](Signal::arm) whose re-check succeeded, to spare the other side a
    /// useless wake-up. It must be a read-modify-write too: a plain store would break the
    /// chain of read-modify-writes through which the next `arm` synchronises with the
    /// notifier (loom finds the lost wake-up that a relaxed store here causes).
    pub(crate) fn disarm(&self) {
        self.waiting.swap(false, Ordering::AcqRel);
    }

    /// Wakes the registered waiter, if any. Call after the change the waiter waits for.
    #[inline]
    pub(crate) fn notify(&self) {
        if self.waiting.swap(false, Ordering::AcqRel) {
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
    use crate::exchange::ring::ring;
    use crate::sync::Arc;

    /// A waker backed by loom's `Notify`, so that loom sees a parked consumer as blocked and
    /// reports a deadlock if no wake-up ever comes.
    struct Parker(loom::sync::Notify);

    impl Wake for Parker {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.notify();
        }
    }

    /// A consumer that parks whenever the ring looks empty is always woken: it receives every
    /// value, and loom finds no interleaving where it sleeps forever.
    #[test]
    fn a_parked_consumer_is_never_forgotten() {
        loom::model(|| {
            let signal = Arc::new(Signal::default());
            let (mut tx, mut rx) = ring::<usize>(2);
            let notifier = signal.clone();
            let producer = loom::thread::spawn(move || {
                for i in 0..2 {
                    tx.push(i).expect("two slots hold both values");
                    notifier.notify();
                }
            });
            let parker = std::sync::Arc::new(Parker(loom::sync::Notify::new()));
            let waker = Waker::from(parker.clone());
            let mut received = Vec::new();
            while received.len() < 2 {
                if let Some(value) = rx.pop() {
                    received.push(value);
                    continue;
                }
                signal.arm(&waker);
                if let Some(value) = rx.pop() {
                    signal.disarm();
                    received.push(value);
                    continue;
                }
                parker.0.wait();
            }
            producer.join().unwrap();
            assert_eq!(received, vec![0, 1]);
        });
    }
}
