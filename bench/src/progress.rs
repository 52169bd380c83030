//! Progress on stderr while a run goes on: events so far and the rate of the last second.

use std::io::Write;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Prints progress once a second until dropped.
pub struct Progress {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts reporting `done()` out of `total` (0 if not known).
    pub fn start(total: u64, done: impl Fn() -> u64 + Send + 'static) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut last = 0;
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_secs(1))
            {
                let now = done();
                // A total of 0 means unknown (a file being read): no percentage.
                let percent = if total == 0 {
                    String::new()
                } else {
                    format!(" ({:.0}%)", now as f64 * 100.0 / total as f64)
                };
                let _ = writeln!(
                    std::io::stderr(),
                    "[{:>5.1}s] {now} events{percent}, {:.2} M events/s",
                    start.elapsed().as_secs_f64(),
                    (now - last) as f64 / 1e6
                );
                last = now;
            }
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
