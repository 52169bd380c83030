"""Helper for scripts/nexmark.sh: checks one run's JSON summary, and builds the markdown table.

Usage:
  python3 scripts/nexmark_table.py check QUERY < LAST_STDOUT_LINE
      Checks that the line is a JSON summary of QUERY and prints a one-line progress note;
      exits non-zero (with the reason on stderr) if it is not.
  python3 scripts/nexmark_table.py table RUNS_TSV --queries "q0 q1 ..." [--timely]
      Prints the markdown table. RUNS_TSV has one run a line: kind (throughput|latency),
      the engine asked for (tidewater|timely), the query and the run's JSON summary,
      separated by tabs.
"""
import argparse
import json
import statistics
import sys

DASH = "–"


def check(query):
    line = sys.stdin.read().strip()
    try:
        run = json.loads(line)
    except json.JSONDecodeError as error:
        sys.exit(f"not a JSON summary ({error}): {line[:200]!r}")
    if not isinstance(run, dict) or run.get("query") != query:
        sys.exit(f"not a summary of {query}: {line[:200]!r}")
    for field in ("events_per_s", "shards", "peak_rss_mb", "latency_us", "checksum"):
        if field not in run:
            sys.exit(f"the summary has no {field!r}: {line[:200]!r}")
    latency = run["latency_us"]
    print(f"{run['events_per_s'] / 1e6:.2f} M events/s, p50 {latency['p50']:.0f} µs, "
          f"p99 {latency['p99']:.0f} µs, {run['peak_rss_mb']:.0f} MB")


def millions(events_per_s):
    return f"{events_per_s / 1e6:.2f} M"


def table(runs_file, queries, timely):
    runs = {}  # (query, kind, engine) -> [summary]
    with open(runs_file, encoding="utf-8") as lines:
        for line in lines:
            kind, engine, query, summary = line.rstrip("\n").split("\t", 3)
            runs.setdefault((query, kind, engine), []).append(json.loads(summary))

    header = ["query", "events/s (median)", "per-core events/s", "p50 µs", "p99 µs",
              "peak RSS MB"]
    if timely:
        header += ["timely events/s (median)", "tidewater / timely"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))

    notes = []
    for query in queries:
        throughput = runs.get((query, "throughput", "tidewater"), [])
        latency = runs.get((query, "latency", "tidewater"), [])
        timely_runs = runs.get((query, "throughput", "timely"), [])
        if not throughput:
            continue
        median = statistics.median(r["events_per_s"] for r in throughput)
        shards = throughput[0]["shards"]
        sampled = [r["latency_us"] for r in latency if r["latency_us"]["samples"] > 0]
        if sampled:
            p50 = f"{statistics.median(s['p50'] for s in sampled):.0f}"
            p99 = f"{statistics.median(s['p99'] for s in sampled):.0f}"
        else:
            p50 = p99 = DASH
        rss = max(r["peak_rss_mb"] for r in throughput + latency)
        row = [query, millions(median), millions(median / shards), p50, p99, f"{rss:.0f}"]
        if timely:
            if timely_runs:
                timely_median = statistics.median(r["events_per_s"] for r in timely_runs)
                row += [millions(timely_median), f"{median / timely_median:.2f}x"]
            else:
                row += [DASH, DASH]
        print("| " + " | ".join(row) + " |")

        # Same events, same query: the runs should agree (q12's processing-time windows
        # depend on timing, so it is exempt).
        if query != "q12":
            checksums = {r["checksum"] for r in throughput + timely_runs}
            if len(checksums) > 1:
                which = "tidewater and timely runs" if timely_runs else "throughput runs"
                notes.append(f"{query}: the {which} disagree on the checksum "
                             f"({len(checksums)} distinct values; see target/nexmark/runs.jsonl)")
    if notes:
        print()
        for note in notes:
            print(f"- **warning** {note}")
            print(f"warning: {note}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check")
    check_parser.add_argument("query")
    table_parser = commands.add_parser("table")
    table_parser.add_argument("runs_file")
    table_parser.add_argument("--queries", required=True)
    table_parser.add_argument("--timely", action="store_true")
    options = parser.parse_args()
    if options.command == "check":
        check(options.query)
    else:
        table(options.runs_file, options.queries.split(), options.timely)


if __name__ == "__main__":
    main()
