#!/usr/bin/env bash
# The orderlog services, built in release mode and run in the background against the local stack.
#   services.sh up | down | status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# name|binary|health-url, in start order. A service joins this list when it exists.
SERVICES=(
  "command-api|command-api|127.0.0.1:8080/readyz"
  "projectors|projectors|127.0.0.1:8082/readyz"
  "query-api|query-api|127.0.0.1:8081/readyz"
)

build() {
  [ "${#SERVICES[@]}" -gt 0 ] || return 0
  say "services: building (cargo build --release)"
  (cd "$ORDERLOG_ROOT" && cargo build --release --locked -p command-api -p projectors -p query-api) >"$LOGS/build.log" 2>&1 \
    || fail "services: build failed; read $LOGS/build.log"
}

up() {
  build
  for entry in "${SERVICES[@]}"; do
    IFS='|' read -r name bin health <<<"$entry"
    local pidfile="$PIDS/$name.pid"
    if pid_alive "$pidfile"; then say "$name: already running (pid $(cat "$pidfile"))"; continue; fi
    say "$name: starting (log: $LOGS/$name.log)"
    ORDERLOG_GRAPHIQL_ASSETS="$ORDERLOG_LOCAL/graphiql" nohup setsid "$ORDERLOG_ROOT/target/release/$bin" >>"$LOGS/$name.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    wait_for "$name" 60 curl -fsS "http://$health" \
      || fail "$name: not healthy at http://$health within 60 s; read $LOGS/$name.log"
  done
  status
}

down() {
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
    IFS='|' read -r name _ _ <<<"${SERVICES[$i]}"
    stop_pidfile "$name"
  done
}

status() {
  "$COMPOSE_LOCAL/postgres.sh" status
  "$COMPOSE_LOCAL/kafka.sh" status
  for entry in "${SERVICES[@]}"; do
    IFS='|' read -r name _ health <<<"$entry"
    if pid_alive "$PIDS/$name.pid"; then echo "$name: running, pid $(cat "$PIDS/$name.pid"), http://${health%/*}/, log $LOGS/$name.log"
    else echo "$name: not running"; fi
  done
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) fail "usage: services.sh up|down|status" ;;
esac
