#!/usr/bin/env bash
# Profiles one tidewater-bench run: perf record with call graphs (the cpu-clock event, which
# works where hardware counters do not), folded stacks, a flame graph SVG, and the top symbols.
#
#   scripts/profile.sh keyed-count --events 40000000 --shards 2
#   scripts/profile.sh nexmark --query q1 --events 10000000
#
# Writes target/profile/<name>.{perf.data,folded,svg}; <name> is PROFILE_NAME or "profile".
# Installs perf (Debian's linux-perf) and inferno's tools (cargo install inferno) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: scripts/profile.sh <tidewater-bench arguments>" >&2; exit 2; }

if ! command -v perf >/dev/null; then
    apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null
fi
if ! command -v inferno-collapse-perf >/dev/null || ! command -v inferno-flamegraph >/dev/null; then
    cargo install --quiet inferno
fi

name=${PROFILE_NAME:-profile}
out=target/profile
mkdir -p "$out"
cargo build --release -p tidewater-bench
perf record -e cpu-clock -F 999 -g -o "$out/$name.perf.data" \
    ./target/release/tidewater-bench "$@" | tail -n 1
perf script -i "$out/$name.perf.data" 2>/dev/null | inferno-collapse-perf > "$out/$name.folded"
inferno-flamegraph --title "tidewater-bench $*" < "$out/$name.folded" > "$out/$name.svg"
echo "flame graph: $out/$name.svg" >&2
echo "top symbols (self time):" >&2
perf report -i "$out/$name.perf.data" --no-children --sort symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9]' | head -n 20
