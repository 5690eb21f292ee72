#!/usr/bin/env bash
# Brings up the local stack: Kafka and PostgreSQL (provisioned if missing), then the services.
#   up.sh          the stack and every service
#   up.sh --infra  only Kafka and PostgreSQL
#   up.sh --test   Kafka, PostgreSQL, GraphiQL's assets, Chromium, DuckDB and Jaeger (what the tests need)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$COMPOSE_LOCAL/build-deps.sh"
"$COMPOSE_LOCAL/postgres.sh" up
"$COMPOSE_LOCAL/kafka.sh" up

case "${1:-}" in
  --infra) exit 0 ;;
  # What the tests need beyond the stack: GraphiQL's assets, a headless browser, DuckDB, Jaeger.
  --test) "$COMPOSE_LOCAL/graphiql.sh"; "$COMPOSE_LOCAL/chromium.sh"; "$COMPOSE_LOCAL/duckdb.sh"; "$COMPOSE_LOCAL/jaeger.sh" install; exit 0 ;;
esac
"$COMPOSE_LOCAL/graphiql.sh"
"$COMPOSE_LOCAL/services.sh" up
