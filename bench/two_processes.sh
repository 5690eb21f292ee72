#!/usr/bin/env bash
# Command latency and freshness with one command-api process, then with two behind HAProxy
# (round robin, not sticky: the `make scale` topology), in turn on the running `make up`
# platform. With two, a command lands either on the process that owns its order's
# partition (handed to that partition's lane) or on the other one (through the commands
# topic, answered from the results topic): each path's count and mean time is reported
# apart, from both processes' metrics.
#   bench/two_processes.sh [ROUNDS=2] [SECONDS=20]
# Leaves the platform as it found it (one command-api on 8080).
source "$(dirname "${BASH_SOURCE[0]}")/../compose/local/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/settled.sh"

rounds="${1:-2}" seconds="${2:-20}"
bench="$ORDERLOG_ROOT/target/release/bench"
[ -x "$bench" ] || fail "no $bench: run compose/local/build.sh --release"
curl -fsS http://127.0.0.1:8080/readyz >/dev/null || fail "the platform is not up: make up"
"$ORDERLOG_ROOT/compose/local/haproxy.sh" install
cd "$ORDERLOG_ROOT"
token="$(cat .local/dev-token)"
work="$(mktemp -d)"
second_pid="$PIDS/command-api-2.pid"
haproxy_pid="$work/haproxy.pid"

cleanup() {
  [ -f "$haproxy_pid" ] && kill "$(cat "$haproxy_pid")" 2>/dev/null
  stop_pidfile command-api-2
  rm -rf "$work"
}
trap cleanup EXIT

start_second() {
  env ORDERLOG_AUTH_DEV=true ORDERLOG_AUTH_DEV_DIR="$ORDERLOG_LOCAL" \
    ORDERLOG_COMMAND_API_LISTEN=127.0.0.1:8090 \
    nohup setsid "$ORDERLOG_ROOT/target/release/command-api" >>"$LOGS/command-api-2.log" 2>&1 </dev/null &
  echo $! >"$second_pid"
  wait_for command-api-2 60 curl -fsS http://127.0.0.1:8090/readyz \
    || fail "command-api-2: not healthy; read $LOGS/command-api-2.log"
  cat >"$work/haproxy.cfg" <<CFG
global
  maxconn 8192
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend commands
  bind 127.0.0.1:8088
  default_backend tiers
backend tiers
  balance roundrobin
  server a 127.0.0.1:8080
  server b 127.0.0.1:8090
CFG
  haproxy -D -p "$haproxy_pid" -f "$work/haproxy.cfg" || fail "haproxy did not start"
  # Both processes serve three partitions each before anything is measured.
  for _ in $(seq 1 120); do
    served=0
    for port in 8080 8090; do
      n=$(metrics "$port" | awk '/^orderlog_processor_partitions_served / { print $2 }')
      served=$((served + ${n:-0}))
    done
    [ "$served" = 6 ] && return 0
    sleep 0.5
  done
  fail "the two processes do not serve the 6 partitions between them"
}

metrics() { curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$1/metrics"; }

# Saves both processes' metrics under $work/$1.
snapshot() {
  for port in "${ports[@]}"; do metrics "$port" >"$work/$1-$port.txt"; done
}

# How many commands each path answered between two snapshots, and their mean time there.
paths() {
  python3 - "$work" "$1" "$2" "${ports[@]}" <<'PY'
import re, sys
work, before, after, ports = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def read(name):
    values = {}
    for port in ports:
        for line in open(f"{work}/{name}-{port}.txt"):
            m = re.match(r'^(\S+?)(\{[^}]*\})? ([0-9.eE+-]+)$', line.strip())
            if m:
                key = m.group(1) + (m.group(2) or "")
                values[key] = values.get(key, 0.0) + float(m.group(3))
    return values
a, b = read(before), read(after)
d = lambda k: b.get(k, 0.0) - a.get(k, 0.0)
answered = {p: d(f'orderlog_command_results_answered_total{{path="{p}"}}') for p in ("direct", "results_topic", "in_process")}
def mean(*stages):
    total = sum(d(f'orderlog_command_stage_seconds_sum{{stage="{s}"}}') for s in stages)
    count = d(f'orderlog_command_stage_seconds_count{{stage="{stages[-1]}"}}')
    return total / count * 1000 if count else float("nan")
print(f"  answered in the owner's process: {answered['direct']:.0f}, mean {mean('direct'):.1f} ms; "
      f"through the commands topic: {answered['results_topic'] + answered['in_process']:.0f}, "
      f"mean {mean('produce', 'await_result'):.1f} ms")
PY
}

measure() {
  local label="$1" url="$2"
  for rate in 300 1000; do
    settled
    snapshot before
    echo "$label latency $rate/s: $("$bench" latency --url "$url" --rate "$rate" --seconds "$seconds" | tail -1)"
    snapshot after
    paths before after
  done
  settled
  "$bench" freshness --url "$url" --rate 300 --seconds 15 | sed "s/^/$label /"
}

for round in $(seq 1 "$rounds"); do
  ports=(8080)
  say "round $round: one process"
  measure "round $round, one process," http://127.0.0.1:8080
  say "round $round: two processes behind HAProxy"
  start_second
  ports=(8080 8090)
  measure "round $round, two processes," http://127.0.0.1:8088
  kill "$(cat "$haproxy_pid")" 2>/dev/null; rm -f "$haproxy_pid"
  stop_pidfile command-api-2
  sleep 8
done
