#!/usr/bin/env bash
# Counts instructions of one tidewater-bench run with valgrind's callgrind: a figure that
# repeats exactly for the same binary and inputs, whatever else the machine is doing (use it
# to compare two builds; use perf, scripts/profile.sh, for time).
#
#   scripts/callgrind.sh keyed-count --events 200000
#
# Runs on one unpinned shard: valgrind serialises threads, and the shards' parking and
# cross-shard wake-ups (io_uring, eventfd) crawl under it, so multi-shard runs do not finish
# in useful time. Per-record costs, which are what instruction counts are for, are the same.
# Writes target/profile/callgrind.out and prints the total and the top functions.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: scripts/callgrind.sh <tidewater-bench arguments>" >&2; exit 2; }
if ! command -v valgrind >/dev/null; then
    apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
fi
out=target/profile
mkdir -p "$out"
cargo build --release -p tidewater-bench
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
    ./target/release/tidewater-bench "$@" --shards 1 --no-pin 2> "$out/callgrind.log" | tail -n 1
grep -E 'Collected|refs' "$out/callgrind.log" >&2
callgrind_annotate "$out/callgrind.out" 2>/dev/null | sed -n '1,40p' | grep -E '^ *[0-9,]+ ' | head -n 20
