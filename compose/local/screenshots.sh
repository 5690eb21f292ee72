#!/usr/bin/env bash
# Screenshots of the key dashboard questions from Prometheus's own graph page, with headless
# Chromium, into docs/img/ (docs/operations.md shows them). Needs Prometheus with some
# traffic behind it: make demo first (or make observe and a load).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROM="${PROM_URL:-http://127.0.0.1:9090}"
OUT="$ORDERLOG_ROOT/docs/img"
"$COMPOSE_LOCAL/chromium.sh"
curl -fsS "$PROM/-/ready" >/dev/null || fail "screenshots: Prometheus does not answer at $PROM (make observe)"
mkdir -p "$OUT"

# name|PromQL
PANELS=(
  "commands-by-outcome|sum by (outcome) (rate(orderlog_processor_commands_total[1m]))"
  "command-latency-p99|histogram_quantile(0.99, sum by (le, route) (rate(orderlog_http_request_seconds_bucket{route=~\"/v1/.*\"}[1m])))"
  "projection-lag|max by (projection) (orderlog_projection_lag)"
  "graphql-by-operation|sum by (operation, outcome) (rate(orderlog_query_request_seconds_count[1m]))"
)

for panel in "${PANELS[@]}"; do
  name="${panel%%|*}"; expr="${panel#*|}"
  encoded="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$expr")"
  url="$PROM/graph?g0.expr=$encoded&g0.tab=0&g0.range_input=2m"
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1000 \
    --virtual-time-budget=10000 --screenshot="$OUT/$name.png" "$url" >/dev/null 2>&1 \
    || fail "screenshots: chromium failed on $name"
  say "screenshots: $OUT/$name.png ($expr)"
done
