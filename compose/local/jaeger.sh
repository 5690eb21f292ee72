#!/usr/bin/env bash
# Jaeger for the local stack: github.com/jaegertracing/jaeger v1.76.0 (its v2 binary,
# cmd/jaeger), built from the Go module proxy as a tool of the module in compose/local/jaeger/
# (go.mod and go.sum pin every dependency), with in-memory storage.
#   jaeger.sh install  build .local/bin/jaeger if missing (once; a few minutes)
#   jaeger.sh up       start it: OTLP/HTTP on 127.0.0.1:4318, the query API on 127.0.0.1:16686
#   jaeger.sh down     stop it
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

JAEGER_MODULE="$COMPOSE_LOCAL/jaeger"
JAEGER_BIN="$ORDERLOG_LOCAL/bin/jaeger"
JAEGER_RUN="$ORDERLOG_LOCAL/jaeger"

install() {
  if [ -x "$JAEGER_BIN" ] && [ "$JAEGER_BIN" -nt "$JAEGER_MODULE/go.mod" ]; then return 0; fi
  command -v go >/dev/null || fail "jaeger: Go is needed to build Jaeger"
  say "jaeger: building Jaeger v1.76.0 from the Go module proxy (once; log: $LOGS/jaeger-build.log)"
  mkdir -p "$ORDERLOG_LOCAL/bin"
  (cd "$JAEGER_MODULE" && GOFLAGS=-mod=mod GOBIN="$ORDERLOG_LOCAL/bin" go install tool) >"$LOGS/jaeger-build.log" 2>&1 \
    || fail "jaeger: build failed; read $LOGS/jaeger-build.log"
  touch "$JAEGER_BIN"
}

up() {
  install
  local pidfile="$PIDS/jaeger.pid"
  if pid_alive "$pidfile"; then say "jaeger: already running (pid $(cat "$pidfile"))"; return 0; fi
  mkdir -p "$JAEGER_RUN"
  sed -e "s|@QUERY_PORT@|16686|" -e "s|@QUERY_GRPC_PORT@|16685|" -e "s|@HEALTH_PORT@|13133|" \
      -e "s|@OTLP_HTTP_PORT@|4318|" -e "s|@OTLP_GRPC_PORT@|4317|" \
      "$JAEGER_MODULE/config.yaml.in" >"$JAEGER_RUN/config.yaml"
  say "jaeger: starting (OTLP http://127.0.0.1:4318, traces http://127.0.0.1:16686/api/traces; log: $LOGS/jaeger.log)"
  nohup setsid "$JAEGER_BIN" --config "$JAEGER_RUN/config.yaml" >>"$LOGS/jaeger.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_for jaeger 30 curl -fsS "http://127.0.0.1:13133/status" \
    || fail "jaeger: not ready within 30 s; read $LOGS/jaeger.log"
  say "jaeger: services started from now on (make up) send it their spans; ones already running need a restart (make down, make demo)"
}

down() { stop_pidfile jaeger; }

case "${1:-up}" in
  install) install ;;
  up) up ;;
  down) down ;;
  *) fail "usage: jaeger.sh install|up|down" ;;
esac
