//! Crash tests: the checkpointed job in `src/bin/crash_job.rs` is killed (SIGKILL at random
//! moments, and aborted at every named crash point) and restarted with `--restore` until it
//! finishes; its committed output must equal the exact result: nothing lost, nothing twice.
//!
//! The random kills print their seed; `TIDEWATER_SEED=<seed>` replays them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tidewater::checkpoint::crash::CRASH_POINTS;
use tidewater_tests::committed_lines;

const JOB: &str = env!("CARGO_BIN_EXE_crash_job");
const LINES: u64 = 60_000;
const KEYS: u64 = 500;
/// Slow enough that a run lasts ~1.5 s and sees a dozen checkpoints.
const RATE: &str = "40000";

/// A scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tw-crash-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes the input and returns its path and the exact output, sorted.
fn input(dir: &Path) -> (PathBuf, Vec<String>) {
    let path = dir.join("input.txt");
    let mut text = String::new();
    let mut counts = BTreeMap::new();
    for i in 0..LINES {
        let key = (i * 7919 + i / 3) % KEYS;
        text.push_str(&format!("{key} {i}\n"));
        *counts.entry(key).or_insert(0u64) += 1;
    }
    std::fs::write(&path, text).unwrap();
    let mut expected: Vec<String> = counts
        .iter()
        .flat_map(|(key, count)| (1..=*count).map(move |c| format!("{key} {c}")))
        .collect();
    expected.sort();
    (path, expected)
}

fn job(dir: &Path, input: &Path, restore: bool) -> Command {
    let mut command = Command::new(JOB);
    if dir.to_string_lossy().contains("mapped") {
        command.arg("--mapped");
    }
    command
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(dir.join("out"))
        .arg("--checkpoint-dir")
        .arg(dir.join("checkpoints"))
        .args(["--rate", RATE, "--interval-ms", "100", "--shards", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if restore {
        command.arg("--restore");
    }
    command
}

/// Runs the job with `--restore` to its end and checks it succeeded.
fn finish(dir: &Path, input: &Path) {
    let output = job(dir, input, true).output().unwrap();
    assert!(
        output.status.success(),
        "the restarted job failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A small deterministic generator (splitmix64) for the kill moments.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[test]
fn sigkill_at_random_moments_loses_and_repeats_nothing() {
    kill_at_random_moments("random");
}

/// The same with the counts in the memory-mapped backend, whose checkpoints are deltas of
/// changed pages on a base: a restore applies the chain.
#[test]
fn sigkill_with_mapped_state_loses_and_repeats_nothing() {
    kill_at_random_moments("random-mapped");
}

/// Kills the job 24 times at random moments (the seed is printed), then lets it finish;
/// `name` names the scratch folder (and, containing "mapped", selects the mapped backend).
fn kill_at_random_moments(name: &str) {
    let mut seed = std::env::var("TIDEWATER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("crash test seed: TIDEWATER_SEED={seed}");
    let dir = scratch(name);
    let (input, expected) = input(&dir);
    let mut kills = 0;
    for run in 0..24 {
        let child = job(&dir, &input, run > 0).spawn().unwrap();
        // Not synchronisation: the kill moment is the random variable under test.
        std::thread::sleep(Duration::from_millis(30 + next(&mut seed) % 400));
        kill(child);
        kills += 1;
    }
    finish(&dir, &input);
    assert!(kills >= 20);
    assert_eq!(committed_lines(&dir.join("out")), expected, "seed {seed}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_crash_at_every_named_point_loses_and_repeats_nothing() {
    for point in CRASH_POINTS {
        let dir = scratch(point);
        let (input, expected) = input(&dir);
        // Crash at the point's third visit (after some checkpoints completed), or, for
        // recovery, during the first restart.
        let first = if point == "during-recovery" {
            let child = job(&dir, &input, false).spawn().unwrap();
            std::thread::sleep(Duration::from_millis(500));
            kill(child);
            job(&dir, &input, true)
                .env("TIDEWATER_CRASH_AT", format!("{point}@1"))
                .output()
                .unwrap()
        } else {
            job(&dir, &input, false)
                .env("TIDEWATER_CRASH_AT", format!("{point}@3"))
                .output()
                .unwrap()
        };
        assert!(
            !first.status.success(),
            "{point}: the job was to crash there but finished"
        );
        finish(&dir, &input);
        assert_eq!(
            committed_lines(&dir.join("out")),
            expected,
            "crash at {point}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
