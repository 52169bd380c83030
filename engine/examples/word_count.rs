//! Word count, the "hello world" of stream processing: lines → words → running count per
//! word, on every core.
//!
//! Run with `cargo run --release -p tidewater --example word_count`.

use std::collections::BTreeMap;

use tidewater::prelude::*;

fn main() -> Result<(), JobError> {
    let text = [
        "the tide comes in",
        "the tide goes out",
        "and in again comes the tide",
    ];
    let lines: Vec<String> = text.iter().map(|line| line.to_string()).collect();

    let env = Env::new(JobConfig::default());
    let counts = env
        .from_collection(lines)
        .flat_map(|line: String| {
            line.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .name("split")
        .key_by(|word: &String| word.clone())
        .count()
        .collect();
    let report = env.execute()?;

    // A rolling count emits every intermediate value; keep the last (largest) per word.
    let mut totals = BTreeMap::new();
    for (word, count) in counts.take() {
        let total = totals.entry(word).or_insert(0);
        *total = count.max(*total);
    }
    for (word, count) in &totals {
        println!("{word:>8} {count}");
    }
    eprintln!(
        "{} lines in, {} updates out, in {:?}",
        report.source_records, report.sink_records, report.elapsed
    );
    Ok(())
}
