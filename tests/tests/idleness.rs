//! An idle source split does not hold back the watermark once its idleness timeout passes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tidewater::operators::window;
use tidewater::operators::Count;
use tidewater::prelude::*;
use tidewater_tests::join_within;

/// (key, event time)
type Event = (u8, i64);

/// Shard 0 emits 10 000 records over 100 s of event time; the other shards' splits emit
/// nothing. No split ends before `done` is set.
struct Lopsided {
    done: Arc<AtomicBool>,
    idle_timeout: Option<Duration>,
}

struct Split {
    next: u64,
    end: u64,
    done: Arc<AtomicBool>,
}

impl SourceSplit<Event> for Split {
    fn next_batch(&mut self, out: &mut Vec<Event>, max: usize) -> bool {
        let stop = self.end.min(self.next + max as u64);
        out.extend((self.next..stop).map(|i| ((i % 3) as u8, i as i64 * 10)));
        self.next = stop;
        !self.done.load(Ordering::Relaxed)
    }

    fn offset(&self) -> u64 {
        self.next
    }

    fn seek(&mut self, offset: u64) {
        self.next = offset;
    }
}

impl Source<Event> for Lopsided {
    fn split(&self, shard: usize, _shards: usize) -> Box<dyn SourceSplit<Event>> {
        Box::new(Split {
            next: 0,
            end: if shard == 0 { 10_000 } else { 0 },
            done: self.done.clone(),
        })
    }

    fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }
}

#[test]
fn idle_splits_stop_holding_back_the_watermark() {
    let env = Env::new(JobConfig::default().shards(3).pinning(Pinning::Never));
    let done = Arc::new(AtomicBool::new(false));
    let fired = done.clone();
    env.from_source(Lopsided {
        done: done.clone(),
        idle_timeout: Some(Duration::from_millis(50)),
    })
    .assign_timestamps(|e: &Event| e.1, 0)
    .key_by(|e: &Event| e.0)
    .window(window::tumbling(Duration::from_secs(1)))
    .aggregate(Count)
    // The first window to fire ends the job: every split ends once `done` is set, so a
    // window fired while two of the three splits were still open, and idle.
    .sink(move |_| fired.store(true, Ordering::Relaxed));
    let report = join_within(env.execute_async().unwrap(), Duration::from_secs(60)).unwrap();
    assert!(done.load(Ordering::Relaxed));
    assert_eq!(report.source_records, 10_000);
}
