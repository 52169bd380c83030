//! CEP: on out-of-order input (within the watermark bound), on 1 and 2 shards, a pattern
//! finds exactly the matches — and reports exactly the timed-out partial matches — that a
//! brute-force search over every subsequence of each key's events finds, following the rules
//! written out in `Pattern`'s documentation.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use tidewater::operators::cep::{Match, Pattern, TimedOut};
use tidewater::operators::OutputTag;
use tidewater::prelude::*;

/// (key, kind, time): times are unique, so an event is named by its time.
type Event = (u8, char, i64);

const BOUND_MS: i64 = 40;

/// Per key, matches (or timed-out partial matches) as their events' times, sorted.
type ByKey = BTreeMap<u8, Vec<Vec<i64>>>;

/// A stage as plain data, from which both the engine's pattern and the brute force are made.
#[derive(Debug, Clone)]
struct StageSpec {
    kinds: &'static str,
    min: u32,
    max: u32,
    /// Into this stage: strict (`next`) or relaxed (`followed_by`).
    strict: bool,
    /// Between this stage's own events (`consecutive`).
    inner_strict: bool,
}

fn stage(kinds: &'static str, min: u32, max: u32, strict: bool, inner_strict: bool) -> StageSpec {
    StageSpec {
        kinds,
        min,
        max,
        strict,
        inner_strict,
    }
}

#[derive(Debug, Clone)]
struct PatternSpec {
    stages: Vec<StageSpec>,
    within: Option<i64>,
}

fn specs() -> Vec<PatternSpec> {
    let unbounded = u32::MAX;
    vec![
        // a followedBy b
        PatternSpec {
            stages: vec![
                stage("a", 1, 1, false, false),
                stage("b", 1, 1, false, false),
            ],
            within: None,
        },
        // a next b next c, within 50 ms
        PatternSpec {
            stages: vec![
                stage("a", 1, 1, false, false),
                stage("b", 1, 1, true, false),
                stage("c", 1, 1, true, false),
            ],
            within: Some(50),
        },
        // (a|b){2,} followedBy c, within 60 ms: the fraud shape
        PatternSpec {
            stages: vec![
                stage("ab", 2, unbounded, false, false),
                stage("c", 1, 1, false, false),
            ],
            within: Some(60),
        },
        // a{3} consecutive, then next (b|c) one or more
        PatternSpec {
            stages: vec![
                stage("a", 3, 3, false, true),
                stage("bc", 1, unbounded, true, false),
            ],
            within: Some(80),
        },
        // a{2,} (relaxed between the a's) next b: after a skip, only the loop goes on
        PatternSpec {
            stages: vec![
                stage("a", 2, unbounded, false, false),
                stage("b", 1, 1, true, false),
            ],
            within: Some(70),
        },
        // a{1,3} consecutive, followedBy b: after a skip, only the way on stays open
        PatternSpec {
            stages: vec![
                stage("a", 1, 3, false, true),
                stage("b", 1, 1, false, false),
            ],
            within: None,
        },
        // a followedBy b{1,2} followedBy a
        PatternSpec {
            stages: vec![
                stage("a", 1, 1, false, false),
                stage("b", 1, 2, false, false),
                stage("a", 1, 1, false, false),
            ],
            within: None,
        },
    ]
}

fn engine_pattern(spec: &PatternSpec) -> Pattern<Event> {
    let mut pattern: Option<Pattern<Event>> = None;
    for (i, s) in spec.stages.iter().enumerate() {
        let name = format!("s{i}");
        let next = match pattern {
            None => Pattern::begin(&name),
            Some(p) if s.strict => p.next(&name),
            Some(p) => p.followed_by(&name),
        };
        let kinds = s.kinds;
        let mut next = next
            .where_(move |e: &Event| kinds.contains(e.1))
            .times_between(s.min, s.max);
        if s.inner_strict {
            next = next.consecutive();
        }
        pattern = Some(next);
    }
    let pattern = pattern.expect("a stage");
    match spec.within {
        Some(ms) => pattern.within(Duration::from_millis(ms as u64)),
        None => pattern,
    }
}

/// Whether, with the partial match standing at `stage` with `count` events there,
/// `event` can be taken by it; `adjacent`: nothing was skipped since its last event.
fn takeable(spec: &PatternSpec, stage: usize, count: u32, adjacent: bool, event: &Event) -> bool {
    let here = &spec.stages[stage];
    let stay = count < here.max && (adjacent || !here.inner_strict) && here.kinds.contains(event.1);
    let go_on = spec.stages.get(stage + 1).is_some_and(|next| {
        count >= here.min && (adjacent || !next.strict) && next.kinds.contains(event.1)
    });
    stay || go_on
}

/// Every way to give `k` events to the stages in order, each stage its `min..=max`.
fn assignments(spec: &PatternSpec, k: usize) -> Vec<Vec<usize>> {
    fn go(
        spec: &PatternSpec,
        stage: usize,
        left: usize,
        acc: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) {
        if stage == spec.stages.len() {
            if left == 0 {
                out.push(acc.clone());
            }
            return;
        }
        let s = &spec.stages[stage];
        for n in s.min as usize..=(s.max as usize).min(left) {
            acc.extend(std::iter::repeat_n(stage, n));
            go(spec, stage + 1, left - n, acc, out);
            acc.truncate(acc.len() - n);
        }
    }
    let mut out = Vec::new();
    go(spec, 0, k, &mut Vec::new(), &mut out);
    out
}

/// Whether the events `chosen` (indices into `events`, increasing), taken into `stages`,
/// follow the contiguity rules pairwise: strict steps have nothing in between, and nothing
/// in between could have been taken.
fn follows_rules(spec: &PatternSpec, events: &[Event], chosen: &[usize], stages: &[usize]) -> bool {
    let mut count = 0;
    for r in 0..chosen.len() {
        let s = stages[r];
        if !spec.stages[s].kinds.contains(events[chosen[r]].1) {
            return false;
        }
        count = if r > 0 && stages[r - 1] == s {
            count + 1
        } else {
            1
        };
        if r + 1 == chosen.len() {
            break;
        }
        let (a, b) = (chosen[r], chosen[r + 1]);
        let strict = if stages[r + 1] == s {
            spec.stages[s].inner_strict
        } else {
            spec.stages[stages[r + 1]].strict
        };
        if strict && b != a + 1 {
            return false;
        }
        if (a + 1..b).any(|x| takeable(spec, s, count, x == a + 1, &events[x])) {
            return false;
        }
    }
    true
}

/// Brute force over every subsequence of one key's time-ordered events: the complete matches
/// and the timed-out partial matches, each as its events' times.
fn brute_force(spec: &PatternSpec, events: &[Event]) -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
    let n = events.len();
    let mut matches = Vec::new();
    let mut timed_out = Vec::new();
    let last_stage = spec.stages.len() - 1;
    for subset in 1u32..(1 << n) {
        let chosen: Vec<usize> = (0..n).filter(|i| subset & (1 << i) != 0).collect();
        let times: Vec<i64> = chosen.iter().map(|&i| events[i].2).collect();
        let start = times[0];
        if spec
            .within
            .is_some_and(|w| times[times.len() - 1] - start >= w)
        {
            continue;
        }
        // Complete matches.
        for stages in assignments(spec, chosen.len()) {
            if follows_rules(spec, events, &chosen, &stages) {
                matches.push(times.clone());
            }
        }
        // Partial matches still open when the time reaches start + within.
        let Some(within) = spec.within else { continue };
        for prefix_stages in prefixes(spec, chosen.len()) {
            if !follows_rules(spec, events, &chosen, &prefix_stages) {
                continue;
            }
            let s = prefix_stages[prefix_stages.len() - 1];
            let count = prefix_stages.iter().filter(|&&x| x == s).count() as u32;
            // A last stage that can take no more is done, not open.
            if s == last_stage && count >= spec.stages[s].max {
                continue;
            }
            let a = chosen[chosen.len() - 1];
            let later = (a + 1..n).take_while(|&x| events[x].2 < start + within);
            let mut survives = true;
            for x in later {
                let adjacent = x == a + 1;
                let here = &spec.stages[s];
                let relaxed_way = (count < here.max && !here.inner_strict)
                    || spec
                        .stages
                        .get(s + 1)
                        .is_some_and(|next| count >= here.min && !next.strict);
                if takeable(spec, s, count, adjacent, &events[x]) || !relaxed_way {
                    survives = false;
                    break;
                }
            }
            if survives {
                timed_out.push(times.clone());
            }
        }
    }
    matches.sort();
    timed_out.sort();
    (matches, timed_out)
}

/// Stage assignments of `k` events that stop anywhere: every stage before the last used one
/// has its `min..=max`, the last used one `1..=max`.
fn prefixes(spec: &PatternSpec, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for used in 1..=spec.stages.len() {
        let mut head = spec.clone();
        head.stages.truncate(used);
        head.stages[used - 1].min = 1;
        out.extend(assignments(&head, k));
    }
    out
}

fn run_engine(spec: &PatternSpec, arrivals: &[Event], shards: usize) -> (ByKey, ByKey) {
    let env = Env::new(
        JobConfig::default()
            .shards(shards)
            .pinning(Pinning::Never)
            .batch_size(3),
    );
    let timeouts_tag = OutputTag::<TimedOut<Event>>::new("timeouts");
    let matches = env
        .from_collection(arrivals.to_vec())
        .assign_timestamps(|e: &Event| e.2, BOUND_MS)
        .key_by(|e: &Event| e.0)
        .pattern(engine_pattern(spec))
        .timeouts_to(&timeouts_tag)
        .matches();
    let timeouts = matches.side_output(&timeouts_tag).collect();
    let matches = matches.collect();
    env.execute().unwrap();
    let group = |lists: Vec<Vec<(u32, Event)>>| {
        let mut by_key = ByKey::new();
        for events in lists {
            let key = events[0].1 .0;
            by_key
                .entry(key)
                .or_default()
                .push(events.iter().map(|(_, e)| e.2).collect());
        }
        by_key.values_mut().for_each(|v| v.sort());
        by_key
    };
    (
        group(
            matches
                .take()
                .into_iter()
                .map(|m: Match<Event>| m.events)
                .collect(),
        ),
        group(timeouts.take().into_iter().map(|t| t.events).collect()),
    )
}

/// Up to 36 events over 3 keys (at most 10 per key), unique times, arriving out of order by
/// less than the watermark bound.
fn inputs() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec(
        (
            0u8..3,
            prop::sample::select(vec!['a', 'a', 'b', 'b', 'c', 'x']),
            1i64..15,
            0i64..BOUND_MS,
        ),
        0..36,
    )
    .prop_map(|steps| {
        let mut time = 0;
        let mut per_key = [0; 3];
        let mut events: Vec<(i64, Event)> = Vec::new();
        for (key, kind, step, jitter) in steps {
            time += step;
            if per_key[key as usize] == 10 {
                continue;
            }
            per_key[key as usize] += 1;
            // Arrival order: by time plus a jitter below the bound.
            events.push((time + jitter, (key, kind, time)));
        }
        events.sort_by_key(|(arrival, _)| *arrival);
        events.into_iter().map(|(_, e)| e).collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn patterns_find_exactly_what_brute_force_finds(arrivals in inputs()) {
        for spec in specs() {
            let mut expected_matches = BTreeMap::new();
            let mut expected_timeouts = BTreeMap::new();
            for key in 0..3u8 {
                let mut events: Vec<Event> = arrivals.iter().filter(|e| e.0 == key).copied().collect();
                events.sort_by_key(|e| e.2);
                let (matches, timed_out) = brute_force(&spec, &events);
                if !matches.is_empty() {
                    expected_matches.insert(key, matches);
                }
                if !timed_out.is_empty() {
                    expected_timeouts.insert(key, timed_out);
                }
            }

            for shards in [1, 2] {
                let (matches, timeouts) = run_engine(&spec, &arrivals, shards);
                prop_assert_eq!(&matches, &expected_matches, "matches of {:?} on {} shards", spec, shards);
                prop_assert_eq!(&timeouts, &expected_timeouts, "timeouts of {:?} on {} shards", spec, shards);
            }
        }
    }
}

#[test]
fn the_brute_force_agrees_with_a_worked_example() {
    // s s x s s B with (s){3,} followedBy B: the runs starting at the first two s.
    let spec = PatternSpec {
        stages: vec![
            stage("a", 3, u32::MAX, false, false),
            stage("b", 1, 1, false, false),
        ],
        within: None,
    };
    let events: Vec<Event> = "aaxaab"
        .chars()
        .enumerate()
        .map(|(i, c)| (0, c, i as i64))
        .collect();
    let (matches, _) = brute_force(&spec, &events);
    assert_eq!(matches, vec![vec![0, 1, 3, 4, 5], vec![1, 3, 4, 5]]);
}
