//! The job the crash tests kill and restart: a keyed running count over a file of
//! `key value` lines, checkpointed, into the transactional file sink (one `key count` line per
//! input line).
//!
//! `crash_job --input FILE --output DIR --checkpoint-dir DIR [--restore] [--shards N]
//! [--rate LINES_PER_S] [--interval-ms MS] [--mapped]` (`--mapped`: the counts live in the
//! memory-mapped state backend; both backends checkpoint incrementally); prints the checkpoint it resumed from and the
//! checkpoints it completed on stdout.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tidewater::prelude::*;

struct Args {
    input: PathBuf,
    output: PathBuf,
    checkpoint_dir: PathBuf,
    restore: bool,
    shards: usize,
    rate: Option<f64>,
    interval_ms: u64,
    mapped: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut input, mut output, mut checkpoint_dir) = (None, None, None);
    let mut parsed = Args {
        input: PathBuf::new(),
        output: PathBuf::new(),
        checkpoint_dir: PathBuf::new(),
        restore: false,
        shards: 2,
        rate: None,
        interval_ms: 100,
        mapped: false,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--input" => input = Some(PathBuf::from(value()?)),
            "--output" => output = Some(PathBuf::from(value()?)),
            "--checkpoint-dir" => checkpoint_dir = Some(PathBuf::from(value()?)),
            "--restore" => parsed.restore = true,
            "--mapped" => parsed.mapped = true,
            "--shards" => parsed.shards = value()?.parse().map_err(|e| format!("--shards: {e}"))?,
            "--rate" => parsed.rate = Some(value()?.parse().map_err(|e| format!("--rate: {e}"))?),
            "--interval-ms" => {
                parsed.interval_ms = value()?
                    .parse()
                    .map_err(|e| format!("--interval-ms: {e}"))?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    parsed.input = input.ok_or("--input is required")?;
    parsed.output = output.ok_or("--output is required")?;
    parsed.checkpoint_dir = checkpoint_dir.ok_or("--checkpoint-dir is required")?;
    Ok(parsed)
}

/// A `key value` line.
fn parse_line(line: &str) -> Result<(u64, u64), String> {
    let (key, value) = line.split_once(' ').ok_or("expected `key value`")?;
    let key = key.parse().map_err(|e| format!("key: {e}"))?;
    let value = value.parse().map_err(|e| format!("value: {e}"))?;
    Ok((key, value))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("crash_job: {error}");
            return ExitCode::from(2);
        }
    };
    let checkpoints = CheckpointConfig::new(&args.checkpoint_dir)
        .interval(Duration::from_millis(args.interval_ms))
        .restore(args.restore);
    let config = JobConfig::default()
        .shards(args.shards)
        .pinning(Pinning::Never)
        .checkpointing(checkpoints);
    let env = Env::new(config);
    let source = LineFile::new(&args.input, parse_line);
    let source = match args.rate {
        Some(rate) => source.rate_limited(rate),
        None => source,
    };
    let keyed = env.from_source(source).key_by(|(key, _): &(u64, u64)| *key);
    let counts = if args.mapped {
        keyed.aggregate_mapped(tidewater::operators::Count)
    } else {
        keyed.count()
    };
    counts.sink_to_files(
        FileSink::new(
            &args.output,
            |(key, count): &(u64, u64), out: &mut Vec<u8>| {
                out.extend_from_slice(format!("{key} {count}\n").as_bytes());
            },
        )
        .suffix(".txt"),
    );
    match env.execute() {
        Ok(report) => {
            println!(
                "restored_from={} completed={} failed={}",
                report.checkpoints.restored_from.unwrap_or(0),
                report.checkpoints.completed,
                report.checkpoints.failed
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("crash_job: {error}");
            ExitCode::FAILURE
        }
    }
}
