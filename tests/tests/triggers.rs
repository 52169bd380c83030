//! A custom trigger: fires and purges a key's global window whenever a record reaches a
//! threshold, so each firing holds the records since the previous one.

use tidewater::operators::window::{self, TimeWindow, Trigger, TriggerContext, TriggerResult};
use tidewater::prelude::*;

/// Fires (and purges) when a record is at least the threshold.
#[derive(Clone)]
struct AtLeast(u64);

impl Trigger<(u8, u64)> for AtLeast {
    type State = ();

    fn on_element(
        &self,
        record: &(u8, u64),
        _timestamp: Timestamp,
        _window: &TimeWindow,
        _state: &mut (),
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if record.1 >= self.0 {
            TriggerResult::FireAndPurge
        } else {
            TriggerResult::Continue
        }
    }

    fn on_event_time(
        &self,
        _: Timestamp,
        _: &TimeWindow,
        _: &mut (),
        _: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    fn on_processing_time(
        &self,
        _: Timestamp,
        _: &TimeWindow,
        _: &mut (),
        _: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    fn on_merge(&self, _: &TimeWindow, _: &mut (), _: (), _: &mut TriggerContext<'_>) {}

    fn clear(&self, _: &TimeWindow, _: &mut (), _: &mut TriggerContext<'_>) {}
}

#[test]
fn a_custom_trigger_decides_when_windows_fire() {
    // One shard, so that each key's records arrive in input order.
    let env = Env::new(JobConfig::default().shards(1));
    // Per key: 1, 2, 10 | 3, 10 | 4 (never fired: no record reaches 10 after it).
    let input: Vec<(u8, u64)> = [1, 2, 10, 3, 10, 4]
        .into_iter()
        .flat_map(|value| [(0, value), (1, value)])
        .collect();
    let batches = env
        .from_collection(input)
        .key_by(|r: &(u8, u64)| r.0)
        .window(window::global())
        .trigger(AtLeast(10))
        .process(
            |key: &u8, _: &TimeWindow, records: &[(u8, u64)], out: &mut Vec<(u8, Vec<u64>)>| {
                out.push((*key, records.iter().map(|r| r.1).collect()));
            },
        )
        .collect();
    env.execute().unwrap();
    let mut batches = batches.take();
    batches.sort();
    assert_eq!(
        batches,
        vec![
            (0, vec![1, 2, 10]),
            (0, vec![3, 10]),
            (1, vec![1, 2, 10]),
            (1, vec![3, 10]),
        ]
    );
}
