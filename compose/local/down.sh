#!/usr/bin/env bash
# Stops what up.sh started: the services, Kafka, and PostgreSQL if up.sh had to start it;
# and the fault suite's 3-broker cluster if it runs.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$COMPOSE_LOCAL/prometheus.sh" down
"$COMPOSE_LOCAL/jaeger.sh" down
"$COMPOSE_LOCAL/services.sh" down
"$COMPOSE_LOCAL/kafka.sh" down
"$COMPOSE_LOCAL/cluster.sh" down
"$COMPOSE_LOCAL/postgres.sh" replica down
"$COMPOSE_LOCAL/postgres.sh" down
