"""Checks that a tidewater-bench summary line (stdin) follows the contract in DESIGN.md."""
import json
import sys

line = sys.stdin.read().strip().splitlines()[-1]
summary = json.loads(line)
for field in ("query", "events", "seconds", "events_per_s", "shards", "latency_us"):
    assert field in summary, f"summary lacks {field!r}: {line}"
for quantile in ("p50", "p99", "p999", "max"):
    assert quantile in summary["latency_us"], f"latency_us lacks {quantile!r}: {line}"
assert summary["events"] > 0 and summary["events_per_s"] > 0, line
assert summary["results"] == summary["events"], f"results != events: {line}"
print(f"ok: {summary['query']} on {summary['engine']}: "
      f"{summary['events_per_s'] / 1e6:.1f} M events/s, checksum {summary['checksum']}")
