//! Differential test: random pipelines give the same results on 1, 2 and 4 shards as a plain
//! single-threaded evaluation written here.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tidewater::operators::Reduce;
use tidewater::prelude::*;

/// A stateless step.
#[derive(Debug, Clone)]
enum Step {
    Map { times: i64, plus: i64 },
    Filter { modulus: i64, keep: i64 },
    FlatMap { copies: usize },
    Rebalance,
    Broadcast,
}

/// The keyed rolling aggregation that may end a pipeline.
#[derive(Debug, Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
    Count,
    ReduceAdd,
}

#[derive(Debug, Clone)]
struct Pipeline {
    input: Vec<i64>,
    steps: Vec<Step>,
    union: Option<(Vec<i64>, Vec<Step>)>,
    after_union: Vec<Step>,
    aggregate: Option<(i64, Aggregate)>,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (-5i64..5, -100i64..100).prop_map(|(times, plus)| Step::Map { times, plus }),
        (2i64..5, 0i64..2).prop_map(|(modulus, keep)| Step::Filter { modulus, keep }),
        (0usize..3).prop_map(|copies| Step::FlatMap { copies }),
        Just(Step::Rebalance),
        Just(Step::Broadcast),
    ]
}

fn pipeline() -> impl Strategy<Value = Pipeline> {
    let input = || prop::collection::vec(-1000i64..1000, 0..300);
    let steps = || prop::collection::vec(step(), 0..4);
    let aggregate = prop_oneof![
        Just(Aggregate::Sum),
        Just(Aggregate::Min),
        Just(Aggregate::Max),
        Just(Aggregate::Count),
        Just(Aggregate::ReduceAdd),
    ];
    (
        input(),
        steps(),
        prop::option::of((input(), steps())),
        steps(),
        prop::option::of((1i64..20, aggregate)),
    )
        .prop_map(|(input, steps, union, after_union, aggregate)| Pipeline {
            input,
            steps,
            union,
            after_union,
            aggregate,
        })
}

fn apply(step: &Step, value: i64) -> i64 {
    match step {
        Step::Map { times, plus } => (value * times + plus).rem_euclid(10_007),
        _ => value,
    }
}

/// The plain evaluation of `steps` on `records`, with `shards` copies per broadcast.
fn reference_steps(mut records: Vec<i64>, steps: &[Step], shards: usize) -> Vec<i64> {
    for step in steps {
        records = match step {
            Step::Map { .. } => records.into_iter().map(|x| apply(step, x)).collect(),
            Step::Filter { modulus, keep } => records
                .into_iter()
                .filter(|x| x.rem_euclid(*modulus) == *keep)
                .collect(),
            Step::FlatMap { copies } => records
                .into_iter()
                .flat_map(|x| std::iter::repeat_n(x, *copies))
                .collect(),
            Step::Rebalance => records,
            Step::Broadcast => records
                .into_iter()
                .flat_map(|x| std::iter::repeat_n(x, shards))
                .collect(),
        };
    }
    records
}

fn engine_steps(mut stream: DataStream<i64>, steps: &[Step]) -> DataStream<i64> {
    for step in steps {
        stream = match step.clone() {
            map @ Step::Map { .. } => stream.map(move |x| apply(&map, x)),
            Step::Filter { modulus, keep } => {
                stream.filter(move |x: &i64| x.rem_euclid(modulus) == keep)
            }
            Step::FlatMap { copies } => stream.flat_map(move |x| std::iter::repeat_n(x, copies)),
            Step::Rebalance => stream.rebalance(),
            Step::Broadcast => stream.broadcast(),
        };
    }
    stream
}

/// What a pipeline's result is compared by.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The multiset of records (sorted).
    Records(Vec<i64>),
    /// Per key: how many results were emitted, and the last one.
    PerKey(BTreeMap<i64, (usize, i64)>),
}

fn reference(pipeline: &Pipeline, shards: usize) -> Outcome {
    let mut records = reference_steps(pipeline.input.clone(), &pipeline.steps, shards);
    if let Some((input, steps)) = &pipeline.union {
        records.extend(reference_steps(input.clone(), steps, shards));
    }
    let mut records = reference_steps(records, &pipeline.after_union, shards);
    match pipeline.aggregate {
        None => {
            records.sort_unstable();
            Outcome::Records(records)
        }
        Some((modulus, aggregate)) => {
            let mut groups: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for x in records {
                groups.entry(x.rem_euclid(modulus)).or_default().push(x);
            }
            Outcome::PerKey(
                groups
                    .into_iter()
                    .map(|(key, values)| {
                        let last = match aggregate {
                            Aggregate::Sum | Aggregate::ReduceAdd => values.iter().sum(),
                            Aggregate::Min => *values.iter().min().unwrap(),
                            Aggregate::Max => *values.iter().max().unwrap(),
                            Aggregate::Count => values.len() as i64,
                        };
                        (key, (values.len(), last))
                    })
                    .collect(),
            )
        }
    }
}

fn run(pipeline: &Pipeline, shards: usize) -> Outcome {
    let env = Env::new(
        JobConfig::default()
            .shards(shards)
            .pinning(Pinning::Never)
            .batch_size(16)
            .channel_credits(2),
    );
    let mut stream = engine_steps(env.from_collection(pipeline.input.clone()), &pipeline.steps);
    if let Some((input, steps)) = &pipeline.union {
        stream = stream.union(&engine_steps(env.from_collection(input.clone()), steps));
    }
    let stream = engine_steps(stream, &pipeline.after_union);
    match pipeline.aggregate {
        None => {
            let results = stream.collect();
            env.execute().unwrap();
            let mut records = results.take();
            records.sort_unstable();
            Outcome::Records(records)
        }
        Some((modulus, aggregate)) => {
            let keyed = stream.key_by(move |x: &i64| x.rem_euclid(modulus));
            let results = match aggregate {
                Aggregate::Sum => keyed.sum(|x: &i64| *x),
                Aggregate::Min => keyed.min(|x: &i64| *x),
                Aggregate::Max => keyed.max(|x: &i64| *x),
                Aggregate::Count => keyed.count().map(|(key, n)| (key, n as i64)),
                // `reduce` itself emits records without their key; the same function through
                // `aggregate` keeps the key for the comparison.
                Aggregate::ReduceAdd => keyed.aggregate(Reduce(|a: i64, b: i64| a + b)),
            }
            .collect();
            env.execute().unwrap();
            let mut per_key: BTreeMap<i64, (usize, i64)> = BTreeMap::new();
            // Each key lives on one shard, and collected results keep each shard's order, so
            // the last result seen per key is that key's final value.
            for (key, value) in results.take() {
                let entry = per_key.entry(key).or_insert((0, 0));
                *entry = (entry.0 + 1, value);
            }
            Outcome::PerKey(per_key)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn shards_do_not_change_results(pipeline in pipeline()) {
        for shards in [1, 2, 4] {
            prop_assert_eq!(run(&pipeline, shards), reference(&pipeline, shards), "on {} shards", shards);
        }
    }
}

#[test]
fn rolling_aggregates_emit_once_per_record() {
    let env = Env::new(JobConfig::default().shards(2).pinning(Pinning::Never));
    let counts = env
        .from_collection((0..1000i64).collect())
        .key_by(|x: &i64| x % 3)
        .count()
        .collect();
    env.execute().unwrap();
    let mut counts = counts.take();
    counts.sort_unstable();
    let mut expected: Vec<(i64, u64)> = (0..3)
        .flat_map(|key| (1..=(1000 - key + 2) as u64 / 3).map(move |n| (key, n)))
        .collect();
    expected.sort_unstable();
    assert_eq!(counts, expected);
}

#[test]
fn reduce_emits_the_combined_record() {
    let env = Env::new(JobConfig::default().shards(2).pinning(Pinning::Never));
    let maxima = env
        .from_collection(vec![(1u8, 5i32), (2, 1), (1, 7), (2, 3), (1, 6)])
        .key_by(|(key, _): &(u8, i32)| *key)
        .reduce(|a, b| if b.1 > a.1 { b } else { a })
        .collect();
    env.execute().unwrap();
    let mut maxima = maxima.take();
    maxima.sort_unstable();
    // One emission per record; which intermediate maxima appear depends on arrival order
    // within a key, which is input order per shard here.
    assert_eq!(maxima.len(), 5);
    assert!(maxima.contains(&(1, 7)) && maxima.contains(&(2, 3)));
    assert!(maxima
        .iter()
        .all(|(key, value)| (*key == 1 && *value >= 5) || (*key == 2 && *value >= 1)));
}
