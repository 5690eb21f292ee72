#!/usr/bin/env bash
# The orderlog services, built in release mode and run in the background against the local stack.
#   services.sh up | down | status | query-on-replica
#   services.sh command-api-from BINARY [VAR=value...]: command-api restarted from another
#     binary (old and new alternating on one platform: bench/alternate.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# name|binary|health-url, in start order. A service joins this list when it exists.
SERVICES=(
  "command-api|command-api|127.0.0.1:8080/readyz"
  "projectors|projectors|127.0.0.1:8082/readyz"
  "query-api|query-api|127.0.0.1:8081/readyz"
)

build() {
  [ "${#SERVICES[@]}" -gt 0 ] || return 0
  say "services: building the services, the orderlog CLI, bench and suites (compose/local/build.sh --release)"
  "$ORDERLOG_ROOT/compose/local/build.sh" --release >"$LOGS/build.log" 2>&1 \
    || fail "services: build failed; read $LOGS/build.log"
}

up() {
  build
  for entry in "${SERVICES[@]}"; do
    IFS='|' read -r name bin health <<<"$entry"
    start_service "$name" "$bin" "$health"
  done
  status
  next_steps
}

# start_service NAME BINARY HEALTH [VAR=value...]: start one service unless it runs.
# BINARY is a name in target/release, or a path.
start_service() {
  local name="$1" bin="$2" health="$3"; shift 3
  local exe="$ORDERLOG_ROOT/target/release/$bin"
  [[ "$bin" == */* ]] && exe="$bin"
  local pidfile="$PIDS/$name.pid"
  if pid_alive "$pidfile"; then say "$name: already running (pid $(cat "$pidfile"))"; return 0; fi
  say "$name: starting (log: $LOGS/$name.log)"
  # Traces go to Jaeger when it runs (make observe), unless an endpoint was chosen.
  local otlp=()
  if [ -z "${ORDERLOG_OTLP_ENDPOINT:-}" ] && port_open 4318; then
    otlp=("ORDERLOG_OTLP_ENDPOINT=http://127.0.0.1:4318")
  fi
  # The development mode: a generated secret and a ready token in $ORDERLOG_LOCAL/dev-token.
  # The processors' session is 2 s, which the local broker allows (its
  # group.min.session.timeout.ms): a killed one's partitions move sooner (docs/operations.md).
  env ORDERLOG_AUTH_DEV=true ORDERLOG_AUTH_DEV_DIR="$ORDERLOG_LOCAL" \
    ORDERLOG_PROCESSOR_SESSION_TIMEOUT_MS="${ORDERLOG_PROCESSOR_SESSION_TIMEOUT_MS:-$LOCAL_SESSION_TIMEOUT_MS}" \
    ORDERLOG_GRAPHIQL_ASSETS="$ORDERLOG_LOCAL/graphiql" "${otlp[@]}" "$@" \
    nohup setsid "$exe" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_for "$name" 60 curl -fsS "http://$health" \
    || fail "$name: not healthy at http://$health within 60 s; read $LOGS/$name.log"
}

# query-api again, its read pool on the replica (postgres.sh replica up) and its change
# signal on the primary: what `make replica` runs.
on_replica() {
  local replica_port="${PG_REPLICA_PORT:-5433}"
  stop_pidfile query-api
  start_service query-api query-api 127.0.0.1:8081/readyz \
    "ORDERLOG_QUERY_DATABASE_URL=postgres://$PG_USER:$PG_PASSWORD@$PG_HOST:$replica_port/$PG_DATABASE" \
    "ORDERLOG_QUERY_NOTIFY_DATABASE_URL=postgres://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/$PG_DATABASE"
  say "query-api: reads the replica on $PG_HOST:$replica_port, listens on the primary $PG_HOST:$PG_PORT"
}

# What a newcomer does next: where to point a browser, and one command to try.
next_steps() {
  cat <<EOT

orderlog is up, in the development mode: every request needs the token that the
services wrote to $ORDERLOG_LOCAL/dev-token (every scope, 30 days; GraphiQL starts with it).
  GraphiQL (browser)   http://127.0.0.1:8081/
  OpenAPI (commands)   http://127.0.0.1:8080/openapi.json
  Metrics (the token)  http://127.0.0.1:8080/metrics  http://127.0.0.1:8082/metrics  http://127.0.0.1:8081/metrics
  Analysts' CLI        $ORDERLOG_ROOT/target/release/orderlog --help
  Prometheus           make observe  (then http://127.0.0.1:9090/alerts)

Place an order, then find it in GraphiQL:
  TOKEN=\$(cat $ORDERLOG_LOCAL/dev-token)
  curl -s http://127.0.0.1:8080/v1/orders -H "Authorization: Bearer \$TOKEN" \\
    -H 'content-type: application/json' -H 'Idempotency-Key: try-1' \\
    -d '{"customer_id": "cust-1", "currency": "EUR", "lines": [{"sku": "A-1", "quantity": 2, "unit_price": {"amount_minor": 500, "currency": "EUR"}}], "shipping_address": {"name": "Ada", "line1": "1 Way", "city": "Berlin", "postal_code": "10115", "country": "DE"}}'
EOT
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
  query-on-replica) build; on_replica ;;
  command-api-from)
    [ -x "${2:-}" ] || fail "usage: services.sh command-api-from BINARY [VAR=value...]"
    stop_pidfile command-api
    start_service command-api "$2" 127.0.0.1:8080/readyz "${@:3}" ;;
  *) fail "usage: services.sh up|down|status|query-on-replica|command-api-from BINARY" ;;
esac
