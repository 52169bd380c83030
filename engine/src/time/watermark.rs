//! Combining watermarks over input channels, and generating them from record timestamps.

use super::Timestamp;

/// Tracks the watermark of each input channel of an operator and yields the operator's own
/// watermark, the minimum over its active channels, each time it advances.
///
/// A channel marked idle (its source has had nothing to say for its idleness timeout) does not
/// hold the minimum back; it becomes active again with its next message. The combined
/// watermark never goes back, even if a returning channel is behind it.
#[derive(Debug, Clone)]
pub struct WatermarkCombiner {
    channels: Vec<Timestamp>,
    idle: Vec<bool>,
    current: Timestamp,
}

impl WatermarkCombiner {
    /// A combiner over `channels` inputs, all active and starting at `Timestamp::MIN`.
    pub fn new(channels: usize) -> Self {
        Self {
            channels: vec![Timestamp::MIN; channels],
            idle: vec![false; channels],
            current: Timestamp::MIN,
        }
    }

    /// Records `watermark` from `channel` (which makes it active); returns the combined
    /// watermark if it advanced. A watermark lower than the channel's previous one is ignored.
    pub fn update(&mut self, channel: usize, watermark: Timestamp) -> Option<Timestamp> {
        self.activate(channel);
        let slot = &mut self.channels[channel];
        if watermark <= *slot {
            return None;
        }
        *slot = watermark;
        self.advance()
    }

    /// Marks `channel` as finished: it no longer holds the watermark back.
    pub fn finish(&mut self, channel: usize) -> Option<Timestamp> {
        self.update(channel, Timestamp::MAX)
    }

    /// Marks `channel` idle; returns the combined watermark if that let it advance.
    pub fn set_idle(&mut self, channel: usize) -> Option<Timestamp> {
        self.idle[channel] = true;
        self.advance()
    }

    /// Marks `channel` active again (it sent a record).
    pub fn activate(&mut self, channel: usize) {
        self.idle[channel] = false;
    }

    /// Whether every channel that has not finished is idle (and at least one has not).
    pub fn all_idle(&self) -> bool {
        let mut live = self
            .channels
            .iter()
            .zip(&self.idle)
            .filter(|(watermark, _)| **watermark != Timestamp::MAX)
            .peekable();
        live.peek().is_some() && live.all(|(_, idle)| *idle)
    }

    /// The combined watermark.
    pub fn current(&self) -> Timestamp {
        self.current
    }

    fn advance(&mut self) -> Option<Timestamp> {
        let minimum = self
            .channels
            .iter()
            .zip(&self.idle)
            .filter(|(_, idle)| !**idle)
            .map(|(watermark, _)| *watermark)
            .min()?;
        (minimum > self.current).then(|| {
            self.current = minimum;
            minimum
        })
    }
}

/// Flink's bounded-out-of-orderness strategy: the watermark trails the largest timestamp seen
/// by a fixed bound, so records at most that late are still on time.
#[derive(Debug, Clone)]
pub struct BoundedOutOfOrderness {
    max_seen: Timestamp,
    bound_ms: i64,
}

impl BoundedOutOfOrderness {
    /// A generator that tolerates records up to `bound_ms` milliseconds out of order.
    pub fn new(bound_ms: i64) -> Self {
        Self {
            max_seen: Timestamp::MIN,
            bound_ms,
        }
    }

    /// Notes a record's timestamp.
    #[inline]
    pub fn observe(&mut self, timestamp: Timestamp) {
        self.max_seen = self.max_seen.max(timestamp);
    }

    /// The watermark now: the largest timestamp seen, less the bound, less one millisecond.
    pub fn watermark(&self) -> Timestamp {
        self.max_seen
            .saturating_sub(self.bound_ms)
            .saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_only_when_the_slowest_channel_does() {
        let mut combiner = WatermarkCombiner::new(3);
        assert_eq!(combiner.update(0, 10), None);
        assert_eq!(combiner.update(1, 5), None);
        assert_eq!(combiner.update(2, 7), Some(5));
        assert_eq!(combiner.update(1, 20), Some(7));
        assert_eq!(combiner.update(1, 15), None, "watermarks never go back");
        assert_eq!(combiner.finish(2), Some(10));
        assert_eq!(combiner.finish(0), Some(20));
        assert_eq!(combiner.finish(1), Some(Timestamp::MAX));
        assert_eq!(combiner.current(), Timestamp::MAX);
    }

    #[test]
    fn an_idle_channel_does_not_hold_the_watermark_back() {
        let mut combiner = WatermarkCombiner::new(2);
        assert_eq!(combiner.update(0, 100), None);
        assert!(!combiner.all_idle());
        assert_eq!(combiner.set_idle(1), Some(100));
        assert_eq!(combiner.update(0, 200), Some(200));
        // Back from idleness behind the others: the combined watermark does not go back,
        // and holds until the returning channel catches up.
        assert_eq!(combiner.update(1, 150), None);
        assert_eq!(combiner.update(0, 300), None);
        assert_eq!(combiner.update(1, 250), Some(250));
        assert_eq!(combiner.set_idle(0), None);
        assert_eq!(combiner.set_idle(1), None);
        assert!(combiner.all_idle());
        assert_eq!(combiner.current(), 250);
    }

    #[test]
    fn bounded_out_of_orderness_trails_the_maximum() {
        let mut strategy = BoundedOutOfOrderness::new(100);
        assert_eq!(strategy.watermark(), Timestamp::MIN);
        strategy.observe(1_000);
        strategy.observe(900);
        assert_eq!(strategy.watermark(), 899);
    }
}
