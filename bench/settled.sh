# Sourced by the bench scripts: `settled` returns once the projectors have caught up (a run
# leaves them a backlog that would eat the cores of the next one), after at most 120 s.
settled() {
  local token lag
  token="$(cat "$ORDERLOG_ROOT/.local/dev-token")"
  for _ in $(seq 1 240); do
    lag=$(curl -fsS -H "Authorization: Bearer $token" http://127.0.0.1:8082/metrics 2>/dev/null \
      | awk '/^orderlog_kafka_consumer_lag_messages/ { sum += $2 } END { print sum + 0 }')
    [ "${lag:-1}" = "0" ] && return 0
    sleep 0.5
  done
  say "projectors still behind; measuring anyway"
}
