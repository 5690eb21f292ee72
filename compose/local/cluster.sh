#!/usr/bin/env bash
# The fault suite's 3-node Apache Kafka cluster (KRaft), from the same jars as the local
# stack: brokers on 127.0.0.1:19092, 19094, 19096 (controllers 19093, 19095, 19097).
#   cluster.sh up            fetch jars if missing, format once, start every node, wait
#   cluster.sh down          stop every node (politely, then firmly)
#   cluster.sh kill N        SIGKILL node N (1-3)
#   cluster.sh stop N        SIGTERM node N and wait for it to exit
#   cluster.sh start N       start node N again and wait until the cluster answers
#   cluster.sh reset         stop and delete the cluster's data
#   cluster.sh controller    print the node that is the active controller
#   cluster.sh status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLUSTER_DIR="$ORDERLOG_LOCAL/cluster"
CLUSTER_BOOTSTRAP="127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"

node_port() { echo $((19090 + 2 * $1)); }
node_controller_port() { echo $((19091 + 2 * $1)); }
node_dir() { echo "$CLUSTER_DIR/node-$1"; }
node_pidfile() { echo "$PIDS/cluster-$1.pid"; }

check_node() {
  case "${1:-}" in 1|2|3) ;; *) fail "cluster: name a node, 1 to 3" ;; esac
}

render() {
  local n="$1" dir; dir="$(node_dir "$n")"
  mkdir -p "$dir/data"
  sed -e "s|@NODE@|$n|g" -e "s|@PORT@|$(node_port "$n")|g" \
      -e "s|@CONTROLLER_PORT@|$(node_controller_port "$n")|g" -e "s|@DATA@|$dir/data|g" \
      "$COMPOSE_LOCAL/kafka/cluster.properties.in" >"$dir/server.properties"
}

format_all() {
  if [ -f "$CLUSTER_DIR/.formatted" ]; then return 0; fi
  rm -rf "$CLUSTER_DIR" && mkdir -p "$CLUSTER_DIR"
  local id
  id="$(java -cp "$KAFKA_JARS/*" kafka.tools.StorageTool random-uuid 2>>"$LOGS/cluster-format.log" | tail -n 1)"
  [ -n "$id" ] || fail "cluster: could not generate a cluster id; read $LOGS/cluster-format.log"
  say "cluster: formatting three nodes (cluster $id)"
  for n in 1 2 3; do
    render "$n"
    java -cp "$KAFKA_JARS/*" kafka.tools.StorageTool format -t "$id" \
        -c "$(node_dir "$n")/server.properties" >>"$LOGS/cluster-format.log" 2>&1 \
      || fail "cluster: formatting node $n failed; read $LOGS/cluster-format.log"
  done
  touch "$CLUSTER_DIR/.formatted"
}

start_node() {
  local n="$1" pidfile; pidfile="$(node_pidfile "$n")"
  if pid_alive "$pidfile"; then return 0; fi
  if port_open "$(node_port "$n")"; then
    say "cluster: something else listens on 127.0.0.1:$(node_port "$n"); using it as node $n"
    return 0
  fi
  render "$n"
  nohup setsid java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -Djava.awt.headless=true "-Dlog4j2.configurationFile=$COMPOSE_LOCAL/kafka/log4j2.properties" \
      -cp "$KAFKA_JARS/*" kafka.Kafka "$(node_dir "$n")/server.properties" \
      >>"$LOGS/cluster-$n.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

wait_cluster() {
  java -cp "$KAFKA_JARS/*" "$COMPOSE_LOCAL/kafka/KafkaReady.java" "$CLUSTER_BOOTSTRAP" "${1:-120}" >&2 \
    || fail "cluster: did not answer; read $LOGS/cluster-*.log"
}

up() {
  "$COMPOSE_LOCAL/kafka.sh" fetch
  format_all
  say "cluster: starting nodes 1-3 ($CLUSTER_BOOTSTRAP; logs $LOGS/cluster-N.log)"
  for n in 1 2 3; do start_node "$n"; done
  wait_cluster 180
}

signal_node() {
  local signal="$1" n="$2" pidfile; pidfile="$(node_pidfile "$n")"
  if ! pid_alive "$pidfile"; then
    # A fault the nemesis asked for must happen: a node this checkout did not start is
    # not ours to stop.
    if [ "${3:-}" = strict ] && port_open "$(node_port "$n")"; then
      fail "cluster: node $n listens but was not started by this checkout ($ORDERLOG_LOCAL)"
    fi
    return 0
  fi
  local pid; pid="$(cat "$pidfile")"
  kill "-$signal" "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    sleep 0.1
  done
  rm -f "$pidfile"
}

# The node that is the active controller now: the KRaft quorum's leader.
controller() {
  java -cp "$KAFKA_JARS/*" "$COMPOSE_LOCAL/kafka/KafkaController.java" "$CLUSTER_BOOTSTRAP" \
    || fail "cluster: no active controller found"
}

status() {
  for n in 1 2 3; do
    if pid_alive "$(node_pidfile "$n")"; then
      echo "cluster node $n: running, pid $(cat "$(node_pidfile "$n")"), 127.0.0.1:$(node_port "$n")"
    else
      echo "cluster node $n: not running"
    fi
  done
}

case "${1:-up}" in
  up) up ;;
  down) for n in 1 2 3; do signal_node TERM "$n"; done ;;
  kill) check_node "${2:-}"; signal_node KILL "$2" strict ;;
  stop) check_node "${2:-}"; signal_node TERM "$2" strict ;;
  start) check_node "${2:-}"; start_node "$2"; wait_cluster 120 ;;
  reset) for n in 1 2 3; do signal_node KILL "$n"; done; rm -rf "$CLUSTER_DIR" ;;
  status) status ;;
  bootstrap) echo "$CLUSTER_BOOTSTRAP" ;;
  controller) controller ;;
  *) fail "usage: cluster.sh up|down|kill N|stop N|start N|reset|status|bootstrap|controller" ;;
esac
