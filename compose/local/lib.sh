# Shared settings and helpers for the local stack scripts. Sourced, not run.
# Every path lives under $ORDERLOG_LOCAL (default: <repo>/.local), which git ignores.

set -euo pipefail

ORDERLOG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ORDERLOG_LOCAL="${ORDERLOG_LOCAL:-$ORDERLOG_ROOT/.local}"
COMPOSE_LOCAL="$ORDERLOG_ROOT/compose/local"

KAFKA_VERSION="${KAFKA_VERSION:-4.3.1}"
LOG4J_VERSION="${LOG4J_VERSION:-2.25.5}"
KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_JARS="$ORDERLOG_LOCAL/kafka/jars-$KAFKA_VERSION"
# The processors' session on the local platform (the local broker allows down to 1 s).
LOCAL_SESSION_TIMEOUT_MS=2000
KAFKA_DATA="$ORDERLOG_LOCAL/kafka/data"
KAFKA_RUN="$ORDERLOG_LOCAL/kafka/run"
KAFKA_LOG="$ORDERLOG_LOCAL/logs/kafka.log"

PG_HOST=127.0.0.1
PG_PORT="${PG_PORT:-5432}"
PG_USER="${PG_USER:-orderlog}"
PG_PASSWORD="${PG_PASSWORD:-orderlog}"
PG_DATABASE="${PG_DATABASE:-orderlog}"

LOGS="$ORDERLOG_LOCAL/logs"
PIDS="$ORDERLOG_LOCAL/pids"
mkdir -p "$LOGS" "$PIDS"

say()  { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
fail() { printf '\033[1;31mxx\033[0m %s\n' "$*" >&2; exit 1; }

# run_as_root CMD...: run directly when root, through sudo otherwise.
run_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# pid_alive FILE: true when FILE names a running process.
pid_alive() {
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_for DESCRIPTION SECONDS CMD...: poll CMD until it succeeds or the deadline passes.
wait_for() {
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
    sleep 0.3
  done
}

# stop_pidfile NAME: stop the process recorded in $PIDS/NAME.pid, politely then firmly.
stop_pidfile() {
  local file="$PIDS/$1.pid"
  if ! pid_alive "$file"; then rm -f "$file"; return 0; fi
  local pid; pid="$(cat "$file")"
  say "stopping $1 (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then kill -KILL "$pid" 2>/dev/null || true; break; fi
    sleep 0.2
  done
  rm -f "$file"
}
