#!/usr/bin/env bash
# How much the machine itself stalls a busy thread: runs N (default 2) spinning threads for
# 3 s, each reading the clock in a loop, and prints, per thread, how many times it saw the
# clock jump by more than 100 µs and 1 ms (it was not running meanwhile) and the longest jump.
# On a quiet machine with N <= cores, the jumps stay near zero; tail latencies of jobs on the
# same machine cannot be better than what this shows.
set -euo pipefail
spinners="${1:-2}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cat > "$dir/jitter.c" <<'C'
#include <stdio.h>
#include <time.h>
static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}
int main(void) {
    long start = now_ns(), last = start, over_100us = 0, over_1ms = 0, longest = 0;
    for (;;) {
        long t = now_ns(), gap = t - last;
        last = t;
        over_100us += gap > 100000;
        over_1ms += gap > 1000000;
        if (gap > longest) longest = gap;
        if (t - start > 3000000000L) break;
    }
    printf("jumps > 100 us: %ld, > 1 ms: %ld, longest: %ld us\n", over_100us, over_1ms, longest / 1000);
    return 0;
}
C
gcc -O2 -o "$dir/jitter" "$dir/jitter.c"
for _ in $(seq "$spinners"); do "$dir/jitter" & done
wait
