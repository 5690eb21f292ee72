#!/usr/bin/env bash
# Brings up the local stack: Kafka and PostgreSQL (provisioned if missing), then the services.
#   up.sh          the stack and every service
#   up.sh --infra  only Kafka and PostgreSQL (what the tests need)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$COMPOSE_LOCAL/postgres.sh" up
"$COMPOSE_LOCAL/kafka.sh" up

if [ "${1:-}" = "--infra" ]; then exit 0; fi
"$COMPOSE_LOCAL/services.sh" up
