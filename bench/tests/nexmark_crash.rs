//! Exactly-once Nexmark: each query below runs from a JSON-lines file with checkpoints every
//! 100 ms into the transactional sink; it is killed (SIGKILL) at random moments and started
//! again with `--restore` until it finishes. Its committed part files, concatenated in name
//! order and applied, must give the table of an uninterrupted run: nothing lost, nothing
//! repeated, for windows (sliced, general, sessions), process functions with timers and
//! keyed state, co-processes and joins.
//!
//! The seed is printed; `TIDEWATER_SEED=<seed>` replays the kill moments.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{apply, assert_same_table};

const BENCH: &str = env!("CARGO_BIN_EXE_tidewater-bench");
const EVENTS: &str = "60000";
const OUT_OF_ORDER_MS: &str = "500";

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tw-nexmark-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bench(args: &[&str]) -> Command {
    let mut command = Command::new(BENCH);
    command
        .args(args)
        .args(["--shards", "2", "--no-pin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs `command` to success and returns its JSON summary.
fn succeed(mut command: Command, what: &str) -> serde_json::Value {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("null")).unwrap()
}

/// The committed part files of `folder`, concatenated in name order (commit order).
fn concatenated(folder: &Path, into: &Path) {
    let mut names: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("part-") && name.ends_with(".jsonl")
        })
        .collect();
    names.sort();
    let mut all = Vec::new();
    for name in names {
        all.extend(std::fs::read(name).unwrap());
    }
    std::fs::write(into, all).unwrap();
}

/// splitmix64, for the kill moments.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[test]
fn killed_and_restored_queries_give_the_uninterrupted_result() {
    let mut seed = std::env::var("TIDEWATER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("nexmark crash test seed: TIDEWATER_SEED={seed}");
    let dir = scratch();
    let input = dir.join("events.jsonl");
    let input_arg = input.to_str().unwrap();
    succeed(
        bench(&[
            "nexmark",
            "--query",
            "gen",
            "--events",
            EVENTS,
            "--out-of-orderness-ms",
            OUT_OF_ORDER_MS,
            "--output",
            input_arg,
        ]),
        "generating the input",
    );
    let (mut kills, mut resumed) = (0, 0);
    for query in ["q4", "q5", "q7", "q8", "q9", "q11", "q18", "q19", "q20"] {
        let reference = dir.join(format!("{query}-reference.jsonl"));
        let common = [
            "nexmark",
            "--query",
            query,
            "--input",
            input_arg,
            "--out-of-orderness-ms",
            OUT_OF_ORDER_MS,
        ];
        let mut plain = bench(&common);
        plain.arg("--output").arg(&reference);
        succeed(plain, &format!("{query} uninterrupted"));

        let (folder, checkpoints) = (dir.join(query), dir.join(format!("{query}-checkpoints")));
        let checkpointed = |restore: bool, rate: bool| {
            let mut command = bench(&common);
            command
                .arg("--output")
                .arg(&folder)
                .arg("--checkpoint-dir")
                .arg(&checkpoints)
                .args(["--checkpoint-interval-ms", "100"]);
            if rate {
                command.args(["--rate", "40000"]);
            }
            if restore {
                command.arg("--restore");
            }
            command
        };
        for run in 0..3 {
            let mut child = checkpointed(run > 0, true).spawn().unwrap();
            // Not synchronisation: the kill moment is the random variable under test.
            std::thread::sleep(Duration::from_millis(100 + next(&mut seed) % 1200));
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
        }
        let summary = succeed(checkpointed(true, false), &format!("{query} restored"));
        if summary["checkpoints"]["restored_from"].is_u64() {
            resumed += 1;
        }
        let got = dir.join(format!("{query}-got.jsonl"));
        concatenated(&folder, &got);
        assert_same_table(
            &apply(&got),
            &apply(&reference),
            &format!("{query}, seed {seed}"),
        );
    }
    assert!(kills >= 20);
    // Most last runs resume from a checkpoint an earlier, killed run completed.
    assert!(
        resumed >= 5,
        "only {resumed} of 9 queries resumed from a checkpoint"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
