#!/usr/bin/env bash
# Keyed state beyond a memory budget: runs `tidewater-bench keyed-count` inside a cgroup whose
# memory is limited to the budget, with the heap backend at as many keys as fit, the heap
# backend at FACTOR times that (the kernel kills it: its state does not fit), and the
# memory-mapped backend at FACTOR times that (its state file outgrows the budget; the kernel
# pages it in and out). Prints a markdown table: run, exit status, events/s, peak RSS.
#
#   scripts/state_budget.sh [--budget-mb MB] [--heap-keys K] [--factor F] [--hot-keys H]
#
#   --budget-mb MB   the cgroup's memory limit (default 256)
#   --heap-keys K    keys the heap backend holds within the budget (default 1000000)
#   --factor F       how many times more keys the other two runs hold (default 10)
#   --hot-keys H     every key once, then only H of them (default 10000)
#
# Each run processes 4 events per key. Needs root and the cgroup memory controller (v1 or
# v2); the binary is built if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

budget_mb=256 heap_keys=1000000 factor=10 hot_keys=10000
while [[ $# -gt 0 ]]; do
    case "$1" in
        --budget-mb) budget_mb="$2"; shift 2 ;;
        --heap-keys) heap_keys="$2"; shift 2 ;;
        --factor) factor="$2"; shift 2 ;;
        --hot-keys) hot_keys="$2"; shift 2 ;;
        *) echo "state_budget.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

bin=target/release/tidewater-bench
[[ -x $bin ]] || cargo build --release -p tidewater-bench

# The cgroup: v2 (one hierarchy with a memory controller) or v1 (a memory hierarchy).
name="tidewater-budget-$$"
if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    group="/sys/fs/cgroup/$name"
    mkdir "$group"
    echo $((budget_mb * 1024 * 1024)) > "$group/memory.max"
    echo 0 > "$group/memory.swap.max" 2>/dev/null || true
elif [[ -d /sys/fs/cgroup/memory ]]; then
    group="/sys/fs/cgroup/memory/$name"
    mkdir "$group"
    echo $((budget_mb * 1024 * 1024)) > "$group/memory.limit_in_bytes"
else
    echo "state_budget.sh: no cgroup memory controller here" >&2
    exit 1
fi
trap 'rmdir "$group" 2>/dev/null || true' EXIT

# run LABEL ARGS...: runs keyed-count with ARGS inside the cgroup, prints a table row.
run() {
    local label="$1" summary status
    shift
    set +e
    summary=$(bash -c 'echo $$ > "$0/cgroup.procs"; exec "$@"' "$group" \
        "$bin" keyed-count "$@" 2>/dev/null | tail -1)
    status=${PIPESTATUS[0]}
    set -e
    python3 - "$label" "$status" "$summary" <<'EOF'
import json, sys
label, status, summary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if status == 0:
    d = json.loads(summary)
    print(f"| {label} | 0 | {d['events_per_s'] / 1e6:.2f} M/s | {d['peak_rss_mb']:.0f} MB |")
else:
    why = "killed (out of memory)" if status == 137 else f"failed ({status})"
    print(f"| {label} | {status}: {why} | – | – |")
EOF
}

big_keys=$((heap_keys * factor))
echo "keyed-count in a cgroup limited to ${budget_mb} MiB, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
echo
echo "| run | exit | events/s | peak RSS |"
echo "| --- | --- | --- | --- |"
run "heap, $heap_keys keys" --state heap --keys "$heap_keys" --hot-keys "$hot_keys" --events $((heap_keys * 4))
run "heap, $big_keys keys" --state heap --keys "$big_keys" --hot-keys "$hot_keys" --events $((big_keys * 4))
run "mmap, $big_keys keys" --state mmap --keys "$big_keys" --hot-keys "$hot_keys" --events $((big_keys * 4))
