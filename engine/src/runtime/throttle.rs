//! Rate limiting of a source split: how many records it may emit now, and how long to wait
//! when the answer is none.

use std::time::{Duration, Instant};

/// Paces a source at a fixed rate from its start. Public so that benchmark peers pace their
/// sources exactly as Tidewater does.
#[derive(Debug)]
pub struct Throttle {
    start: Instant,
    per_second: f64,
    emitted: u64,
}

impl Throttle {
    /// `per_second` records per second, starting now.
    pub fn new(per_second: f64) -> Self {
        Self {
            start: Instant::now(),
            per_second,
            emitted: 0,
        }
    }

    /// How many records are due now (at most `max`), or how long until the next one is.
    pub fn due(&self, max: usize) -> Result<usize, Duration> {
        let elapsed = self.start.elapsed().as_secs_f64();
        let allowed = (elapsed * self.per_second) as u64;
        match allowed.saturating_sub(self.emitted) {
            0 => {
                let next_at = (self.emitted + 1) as f64 / self.per_second;
                Err(Duration::from_secs_f64((next_at - elapsed).max(0.0)))
            }
            due => Ok(due.min(max as u64) as usize),
        }
    }

    /// Notes that `records` were emitted.
    pub fn emitted(&mut self, records: usize) {
        self.emitted += records as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_due_before_its_time() {
        let mut throttle = Throttle::new(1.0);
        // At one record per second, the first record is due one second after the start.
        let wait = throttle.due(10).expect_err("nothing is due at the start");
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        throttle.emitted(1);
        assert!(throttle.due(10).is_err());
    }

    #[test]
    fn a_fast_rate_allows_a_capped_batch() {
        let throttle = Throttle {
            start: Instant::now() - Duration::from_secs(1),
            per_second: 1e6,
            emitted: 0,
        };
        assert_eq!(throttle.due(1024), Ok(1024));
    }
}
