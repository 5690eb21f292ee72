#!/usr/bin/env bash
# Apache Kafka (single node, KRaft) for the local stack, from its jars on Maven Central.
#   kafka.sh up    fetch jars if missing, format storage once, start, wait until it answers
#   kafka.sh down  stop the broker this script started
#   kafka.sh status
#   kafka.sh fetch  only fetch the jars (the fault suite's cluster uses them too)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PIDFILE="$PIDS/kafka.pid"

fetch_jars() {
  if [ -f "$KAFKA_JARS/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || fail "kafka: Maven (mvn) is needed to fetch the Kafka jars"
  command -v java >/dev/null || fail "kafka: Java 17 is needed to run Kafka"
  say "kafka: fetching Apache Kafka $KAFKA_VERSION jars from Maven Central (once)"
  rm -rf "$KAFKA_JARS.partial"
  if ! mvn -q -B -f "$COMPOSE_LOCAL/kafka/pom.xml" \
        -Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$LOG4J_VERSION" \
        dependency:copy-dependencies -DoutputDirectory="$KAFKA_JARS.partial" \
        >"$LOGS/kafka-fetch.log" 2>&1; then
    fail "kafka: fetching jars failed; read $LOGS/kafka-fetch.log"
  fi
  rm -rf "$KAFKA_JARS" && mv "$KAFKA_JARS.partial" "$KAFKA_JARS"
  touch "$KAFKA_JARS/.complete"
}

render_config() {
  mkdir -p "$KAFKA_RUN" "$KAFKA_DATA"
  sed -e "s|@PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|@DATA@|$KAFKA_DATA|g" \
      "$COMPOSE_LOCAL/kafka/server.properties.in" >"$KAFKA_RUN/server.properties"
}

format_storage() {
  if [ -f "$KAFKA_DATA/meta.properties" ]; then return 0; fi
  # A data directory without meta.properties is a half-finished format: start it afresh.
  rm -rf "$KAFKA_DATA" && mkdir -p "$KAFKA_DATA"
  local cluster_id
  cluster_id="$(java -cp "$KAFKA_JARS/*" kafka.tools.StorageTool random-uuid 2>>"$LOGS/kafka-format.log" | tail -n 1)"
  [ -n "$cluster_id" ] || fail "kafka: could not generate a cluster id; read $LOGS/kafka-format.log"
  say "kafka: formatting storage (cluster $cluster_id)"
  java -cp "$KAFKA_JARS/*" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$KAFKA_RUN/server.properties" >>"$LOGS/kafka-format.log" 2>&1 \
    || fail "kafka: formatting storage failed; read $LOGS/kafka-format.log"
}

wait_ready() {
  java -cp "$KAFKA_JARS/*" "$COMPOSE_LOCAL/kafka/KafkaReady.java" "$KAFKA_HOST:$KAFKA_PORT" "${1:-90}" >&2
}

up() {
  fetch_jars
  if pid_alive "$PIDFILE"; then
    wait_ready 90 || fail "kafka: running (pid $(cat "$PIDFILE")) but not answering; read $KAFKA_LOG"
    return 0
  fi
  rm -f "$PIDFILE"
  if port_open "$KAFKA_PORT"; then
    say "kafka: something else listens on $KAFKA_HOST:$KAFKA_PORT; using it as the broker"
    wait_ready 30 || fail "kafka: port $KAFKA_PORT is taken by something that does not answer as Kafka"
    return 0
  fi
  render_config
  format_storage
  say "kafka: starting on $KAFKA_HOST:$KAFKA_PORT (log: $KAFKA_LOG)"
  KAFKA_LOG4J_OPTS="-Dlog4j2.configurationFile=$COMPOSE_LOCAL/kafka/log4j2.properties"
  nohup setsid java -Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -Djava.awt.headless=true "$KAFKA_LOG4J_OPTS" \
      -cp "$KAFKA_JARS/*" kafka.Kafka "$KAFKA_RUN/server.properties" \
      >>"$KAFKA_LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  if ! wait_ready 120; then
    tail -n 30 "$KAFKA_LOG" >&2 || true
    fail "kafka: did not answer within 120 s; read $KAFKA_LOG"
  fi
}

status() {
  if pid_alive "$PIDFILE"; then echo "kafka: running, pid $(cat "$PIDFILE"), $KAFKA_HOST:$KAFKA_PORT, log $KAFKA_LOG"
  else echo "kafka: not started by orderlog"; fi
}

case "${1:-up}" in
  up) up ;;
  fetch) fetch_jars ;;
  down) stop_pidfile kafka ;;
  status) status ;;
  *) fail "usage: kafka.sh up|down|status" ;;
esac
