#!/usr/bin/env bash
# Prometheus for the local stack (Debian's package), scraping the three services and
# evaluating compose/prometheus/alerts.yml.
#   prometheus.sh install  install Debian's prometheus (and promtool) if missing
#   prometheus.sh up       start it on 127.0.0.1:9090 (data in .local/prometheus)
#   prometheus.sh down     stop it
#   prometheus.sh check    promtool: check the config and rules, run the rules' unit tests
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROM_DIR="$ORDERLOG_ROOT/compose/prometheus"
PROM_DATA="$ORDERLOG_LOCAL/prometheus"
PROM_PORT="${PROM_PORT:-9090}"

install() {
  if command -v prometheus >/dev/null && command -v promtool >/dev/null; then return 0; fi
  say "prometheus: installing Debian's prometheus (once; log: $LOGS/prometheus-install.log)"
  { run_as_root apt-get update && DEBIAN_FRONTEND=noninteractive run_as_root apt-get install -y --no-install-recommends prometheus; } \
    >"$LOGS/prometheus-install.log" 2>&1 || fail "prometheus: install failed; read $LOGS/prometheus-install.log"
}

check() {
  install
  # Syntax only: the token files the scrapes send (.local/dev-token) exist once `make up` ran.
  for config in prometheus.yml prometheus.docker.yml; do
    promtool check config --syntax-only "$PROM_DIR/$config" >/dev/null || fail "prometheus: $config is invalid"
  done
  promtool check rules "$PROM_DIR/alerts.yml" >/dev/null || fail "prometheus: alerts.yml is invalid"
  promtool test rules "$PROM_DIR/alerts.test.yml" || fail "prometheus: an alert rule's unit test failed"
  say "prometheus: config valid, alert rules pass their unit tests"
}

up() {
  install
  local pidfile="$PIDS/prometheus.pid"
  if pid_alive "$pidfile"; then say "prometheus: already running (pid $(cat "$pidfile"))"; return 0; fi
  mkdir -p "$PROM_DATA"
  say "prometheus: starting on http://127.0.0.1:$PROM_PORT (log: $LOGS/prometheus.log)"
  nohup setsid prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DATA" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >>"$LOGS/prometheus.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_for prometheus 30 curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready" \
    || fail "prometheus: not ready within 30 s; read $LOGS/prometheus.log"
  say "prometheus: scraping command-api, query-api and projectors; alerts at http://127.0.0.1:$PROM_PORT/alerts"
}

down() { stop_pidfile prometheus; }

case "${1:-up}" in
  install) install ;;
  up) up ;;
  down) down ;;
  check) check ;;
  *) fail "usage: prometheus.sh install|up|down|check" ;;
esac
