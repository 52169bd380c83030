#!/usr/bin/env bash
# Runs the Nexmark suite (the generator alone, then q0..q22) with tidewater-bench and writes a
# markdown table: events/s (median of --runs unthrottled runs), per-core events/s (events/s
# divided by the shard count), p50/p99 latency in µs (medians of --runs separate runs
# throttled to --rate events/s in total) and peak RSS (max over all of a query's runs).
#
#   scripts/nexmark.sh [--events N] [--runs N] [--shards S] [--rate R] [--latency-events N]
#                      [--queries "gen q0 q1 ..."] [--out FILE] [--timely] [--build]
#
#   --events N          events per throughput run (default 2000000)
#   --runs N            runs per query and measurement; medians are reported (default 3)
#   --shards S          shards for every run (default 2)
#   --rate R            events/s in total for the latency runs (default 1000000)
#   --latency-events N  events per latency run (default 2000000)
#   --queries "..."     run only these, in this order (default: gen q0 q1 ... q22)
#   --out FILE          the table (default target/nexmark/table.md)
#   --timely            also run q0 q1 q2 q5 q7 q8 on timely-dataflow (--engine timely),
#                       throughput only, and add a timely column and the ratio
#   --build             cargo build --release -p tidewater-bench first (done anyway if the
#                       binary is missing)
#
# The table (with the command line, date and machine above it) goes to --out and stdout;
# every run's JSON summary is appended to target/nexmark/runs.jsonl; progress goes to stderr.
# A failing run stops the script, naming the query.
set -euo pipefail

# quote ARGS...: the arguments as one shell-quoted line, readably ('q0 q5' rather than q0\ q5).
quote() {
    local arg line=""
    for arg in "$@"; do
        if [[ $arg =~ ^[A-Za-z0-9_./=:,+@%-]+$ ]]; then
            line+=" $arg"
        else
            line+=" '${arg//\'/\'\\\'\'}'"
        fi
    done
    printf '%s' "${line# }"
}
command_line=$(quote "$0" "$@")
caller_dir=$PWD
cd "$(dirname "$0")/.."

die() { echo "nexmark.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' scripts/nexmark.sh >&2; exit 2; }

events=2000000
runs=3
shards=2
rate=1000000
latency_events=2000000
queries="gen $(seq -f 'q%g' -s ' ' 0 22)"
out=target/nexmark/table.md
timely=false
build=false
timely_queries=" q0 q1 q2 q5 q7 q8 "

while [ $# -gt 0 ]; do
    option=$1
    case $option in
        --timely) timely=true; shift; continue ;;
        --build) build=true; shift; continue ;;
        -h|--help) usage ;;
        --*=*) value=${option#*=}; option=${option%%=*}; shift ;;
        --*) [ $# -ge 2 ] || die "$option needs a value"; value=$2; shift 2 ;;
        *) echo "nexmark.sh: unexpected argument: $option" >&2; usage ;;
    esac
    case $option in
        --events) events=$value ;;
        --runs) runs=$value ;;
        --shards) shards=$value ;;
        --rate) rate=$value ;;
        --latency-events) latency_events=$value ;;
        --queries) queries=$value ;;
        --out) case $value in /*) out=$value ;; *) out=$caller_dir/$value ;; esac ;;
        *) echo "nexmark.sh: unknown option: $option" >&2; usage ;;
    esac
done

for pair in "--events:$events" "--runs:$runs" "--shards:$shards" "--latency-events:$latency_events"; do
    [[ ${pair#*:} =~ ^[1-9][0-9]*$ ]] || die "${pair%%:*} must be a positive integer, not '${pair#*:}'"
done
[[ $rate =~ ^[0-9]+([.][0-9]+)?([eE][0-9]+)?$ ]] && python3 -c "import sys; sys.exit(float(sys.argv[1]) <= 0)" "$rate" \
    || die "--rate must be a positive number, not '$rate'"
read -r -a query_list <<< "$queries"
[ ${#query_list[@]} -gt 0 ] || die "--queries is empty"
for query in "${query_list[@]}"; do
    [[ $query =~ ^(gen|q([0-9]|1[0-9]|2[0-2]))$ ]] || die "unknown query '$query' (gen, q0 .. q22)"
done

bin=target/release/tidewater-bench
if $build || [ ! -x "$bin" ]; then
    cargo build --release -p tidewater-bench
fi
[ -x "$bin" ] || die "$bin is missing"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Run a private copy, so a rebuild during the suite cannot mix two binaries in one table.
cp "$bin" "$scratch/tidewater-bench"
binary_built=$(date -r "$bin" '+%Y-%m-%d %H:%M:%S %Z')
if $timely && [[ $("$scratch/tidewater-bench" nexmark --help 2>&1 || true) != *--engine* ]]; then
    die "--timely: this tidewater-bench has no 'nexmark --engine' option yet"
fi

mkdir -p target/nexmark "$(dirname "$out")"
runs_jsonl=target/nexmark/runs.jsonl
runs_tsv=$scratch/runs.tsv
: > "$runs_tsv"

uses_timely() { $timely && [[ $timely_queries == *" $1 "* ]]; }

total=0
for query in "${query_list[@]}"; do
    total=$((total + runs))
    if uses_timely "$query"; then
        total=$((total + runs))
    fi
    if [ "$query" != gen ]; then
        total=$((total + runs))
    fi
done
done_runs=0

# run_one KIND ENGINE QUERY ROUND TIDEWATER-BENCH-ARGUMENTS...
run_one() {
    local kind=$1 engine=$2 query=$3 round=$4
    shift 4
    local args=(nexmark --query "$query" --shards "$shards" "$@")
    if [ "$engine" = timely ]; then
        args+=(--engine timely)
    fi
    done_runs=$((done_runs + 1))
    local what="$query $kind run $round/$runs ($engine)"
    printf '[%d/%d] %s: ' "$done_runs" "$total" "$what" >&2
    local status=0
    "$scratch/tidewater-bench" "${args[@]}" > "$scratch/stdout" 2> "$scratch/stderr" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "FAILED" >&2
        tail -n 20 "$scratch/stderr" >&2
        die "$query failed ($kind run $round/$runs, $engine, exit status $status): $(quote "$bin" "${args[@]}")"
    fi
    local summary note
    summary=$(tail -n 1 "$scratch/stdout")
    if ! note=$(python3 scripts/nexmark_table.py check "$query" <<< "$summary" 2> "$scratch/check"); then
        echo "FAILED" >&2
        cat "$scratch/check" >&2
        die "$query: no JSON summary on the last line of stdout ($kind run $round/$runs, $engine): $(quote "$bin" "${args[@]}")"
    fi
    echo "$note" >&2
    printf '%s\n' "$summary" >> "$runs_jsonl"
    printf '%s\t%s\t%s\t%s\n' "$kind" "$engine" "$query" "$summary" >> "$runs_tsv"
}

for query in "${query_list[@]}"; do
    for round in $(seq 1 "$runs"); do
        run_one throughput tidewater "$query" "$round" --events "$events"
        if uses_timely "$query"; then
            run_one throughput timely "$query" "$round" --events "$events"
        fi
    done
    if [ "$query" != gen ]; then
        for round in $(seq 1 "$runs"); do
            run_one latency tidewater "$query" "$round" --events "$latency_events" --rate "$rate"
        done
    fi
done

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
[ -n "$cpu_model" ] || cpu_model=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || commit="$commit with uncommitted changes"

table_options=(--queries "${query_list[*]}")
if $timely; then
    table_options+=(--timely)
fi
table=$scratch/table.md
{
    echo "# Nexmark: tidewater-bench"
    echo
    echo "- command: \`$command_line\`"
    echo "- date: $(date '+%Y-%m-%d %H:%M:%S %Z')"
    echo "- machine: $(nproc) cores (nproc), ${cpu_model:-unknown CPU}, kernel $(uname -r)"
    echo "- binary: $bin built $binary_built, tree at $commit"
    echo "- throughput: $events events per run, unthrottled, $shards shards; median of $runs run(s)"
    echo "- latency: separate runs of $latency_events events throttled to --rate $rate events/s in total; p50 and p99 (µs) are medians over $runs run(s)"
    echo "- peak RSS: max over all of a query's runs; per-core events/s = events/s / $shards shards"
    if $timely; then
        echo "- timely: q0 q1 q2 q5 q7 q8 also on timely-dataflow (--engine timely), throughput runs only"
    fi
    echo
    python3 scripts/nexmark_table.py table "$runs_tsv" "${table_options[@]}"
} > "$table"
cp "$table" "$out"
cat "$table"
echo "table: $out; runs appended to $runs_jsonl" >&2
