"""Runs tidewater-bench jobs several times and prints a markdown table of medians.

Usage: python3 scripts/bench.py [--runs N] [--quick]
Each row runs the same job on Tidewater and (where one exists) on timely-dataflow, one after
the other in the same invocation, so their ratio is measured under the same conditions.
"""
import argparse
import json
import statistics
import subprocess
import sys

BIN = "./target/release/tidewater-bench"

# (label, job args, has a timely peer)
JOBS = [
    ("passthrough", ["passthrough", "--events", "100000000"], True),
    ("keyed-count", ["keyed-count", "--events", "40000000"], True),
    ("keyed-count @ 32 M/s", ["keyed-count", "--events", "96000000", "--rate", "32000000"], True),
    ("sliding-count (10 s / 2 s, 100k keys)",
     ["sliding-count", "--events", "5000000", "--keys", "100000"], True),
    ("session-count", ["session-count", "--events", "5000000", "--keys", "100000"], False),
    ("interval-join", ["interval-join", "--events", "5000000"], False),
]


def run(args):
    out = subprocess.run([BIN, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shards", default="2")
    parser.add_argument("--only", help="run only jobs whose label contains this")
    options = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "-p", "tidewater-bench"], check=True)
    print("| job | engine | events/s (median) | runs | p50 µs | p99 µs | p999 µs | peak RSS MB | vs timely |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, args, has_peer in JOBS:
        if options.only and options.only not in label:
            continue
        engines = ["tidewater", "timely"] if has_peer else ["tidewater"]
        results = {engine: [] for engine in engines}
        for _ in range(options.runs):
            for engine in engines:
                results[engine].append(run([*args, "--shards", options.shards, "--engine", engine]))
        checksums = {r["checksum"] for rs in results.values() for r in rs}
        if len(checksums) != 1:
            sys.exit(f"{label}: engines or runs disagree on the checksum: {checksums}")
        medians = {}
        for engine in engines:
            runs = sorted(results[engine], key=lambda r: r["events_per_s"])
            middle = runs[len(runs) // 2]
            medians[engine] = middle["events_per_s"]
            rates = " / ".join(f"{r['events_per_s'] / 1e6:.1f}" for r in results[engine])
            ratio = ""
            if engine == "tidewater" and has_peer:
                timely = statistics.median(r["events_per_s"] for r in results["timely"])
                ratio = f"{middle['events_per_s'] / timely:.2f}x"
            latency = middle["latency_us"]
            print(f"| {label} | {engine} | {middle['events_per_s'] / 1e6:.2f} M | {rates} | "
                  f"{latency['p50']:.0f} | {latency['p99']:.0f} | {latency['p999']:.0f} | "
                  f"{middle['peak_rss_mb']:.0f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
