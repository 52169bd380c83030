#!/usr/bin/env bash
# The whole quality gate: what CI runs and what a developer runs before committing.
# fmt, clippy with -D warnings, the test suite, the loom models of the ring, and a smoke run
# of the benchmark CLI that checks its JSON summary contract.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }

step "rustfmt"
cargo fmt --all -- --check

step "clippy (-D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

step "tests"
cargo test --workspace

step "loom models of the SPSC ring and its wake-ups"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test --release -p tidewater --lib loom

step "benchmark CLI smoke run (JSON summary contract)"
cargo build --release -p tidewater-bench
for job in passthrough keyed-count; do
    for engine in tidewater timely; do
        ./target/release/tidewater-bench "$job" --engine "$engine" --events 2000000 --shards 2 \
            | tail -n 1 | python3 scripts/check_summary.py
    done
done
for mode in latency throughput; do
    ./target/release/tidewater-bench fraud --mode "$mode" --rate 20000 --events 20000 \
        --cards 2000 --shards 2 | tail -n 1 | python3 scripts/check_summary.py
done
./target/release/tidewater-bench fraud --caller shard --rate 20000 --events 20000 \
    --cards 2000 --shards 2 | tail -n 1 | python3 scripts/check_summary.py
echo "check.sh: all gates passed" >&2
