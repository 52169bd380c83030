//! Combining watermarks over input channels, and generating them from record timestamps.

use super::Timestamp;

/// Tracks the watermark of each input channel of an operator and yields the operator's own
/// watermark, the minimum over all channels, each time it advances.
#[derive(Debug, Clone)]
pub struct WatermarkCombiner {
    channels: Vec<Timestamp>,
    current: Timestamp,
}

impl WatermarkCombiner {
    /// A combiner over `channels` inputs, all starting at `Timestamp::MIN`.
    pub fn new(channels: usize) -> Self {
        Self {
            channels: vec![Timestamp::MIN; channels],
            current: Timestamp::MIN,
        }
    }

    /// Records `watermark` from `channel`; returns the combined watermark if it advanced.
    /// A watermark lower than the channel's previous one is ignored (watermarks never go back).
    pub fn update(&mut self, channel: usize, watermark: Timestamp) -> Option<Timestamp> {
        let slot = &mut self.channels[channel];
        if watermark <= *slot {
            return None;
        }
        let was_minimum = *slot == self.current;
        *slot = watermark;
        if !was_minimum {
            return None;
        }
        let minimum = self
            .channels
            .iter()
            .copied()
            .min()
            .unwrap_or(Timestamp::MAX);
        (minimum > self.current).then(|| {
            self.current = minimum;
            minimum
        })
    }

    /// Marks `channel` as finished: it no longer holds the watermark back.
    pub fn finish(&mut self, channel: usize) -> Option<Timestamp> {
        self.update(channel, Timestamp::MAX)
    }

    /// The combined watermark.
    pub fn current(&self) -> Timestamp {
        self.current
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
    fn bounded_out_of_orderness_trails_the_maximum() {
        let mut strategy = BoundedOutOfOrderness::new(100);
        assert_eq!(strategy.watermark(), Timestamp::MIN);
        strategy.observe(1_000);
        strategy.observe(900);
        assert_eq!(strategy.watermark(), 899);
    }
}
