#!/usr/bin/env bash
# Two command-api binaries alternating on the running `make up` platform, measured with the
# same load each turn: command latency at 300/s and 1,000/s, then flat out. For comparing
# a change with the binary before it on one machine in one run (docs/performance.md).
#   bench/alternate.sh OLD_BINARY NEW_BINARY [ROUNDS=2] [SECONDS=20]
# Leaves the platform's own command-api (target/release/command-api) running afterwards.
source "$(dirname "${BASH_SOURCE[0]}")/../compose/local/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/settled.sh"

old="${1:-}" new="${2:-}" rounds="${3:-2}" seconds="${4:-20}"
[ -x "$old" ] && [ -x "$new" ] || fail "usage: bench/alternate.sh OLD_BINARY NEW_BINARY [ROUNDS] [SECONDS]"
bench="$ORDERLOG_ROOT/target/release/bench"
[ -x "$bench" ] || fail "no $bench: run compose/local/build.sh --release"
services="$ORDERLOG_ROOT/compose/local/services.sh"
cd "$ORDERLOG_ROOT"

for round in $(seq 1 "$rounds"); do
  for which in old new; do
    binary="$old"; [ "$which" = new ] && binary="$new"
    say "round $round, $which: $binary"
    "$services" command-api-from "$binary" >/dev/null
    sleep 3
    for rate in 300 1000; do
      settled
      echo "$which round $round latency $rate/s: $("$bench" latency --rate "$rate" --seconds "$seconds" | tail -1)"
    done
    settled
    echo "$which round $round flat out: $("$bench" throughput --clients 256 --seconds "$seconds" | tail -1)"
  done
done
"$services" command-api-from "$ORDERLOG_ROOT/target/release/command-api" >/dev/null
