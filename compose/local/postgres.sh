#!/usr/bin/env bash
# PostgreSQL for the local stack, from Debian's packages.
#   postgres.sh up      install if missing, start the cluster if stopped, ensure role and database
#   postgres.sh down    stop the cluster, only if this script started it
#   postgres.sh status
#   postgres.sh replica up|down|status   a streaming replica of it (hot standby) on
#                                        $PG_REPLICA_PORT (5433), for query-api's reads
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STARTED_MARK="$PIDS/postgres.started-by-orderlog"
PG_REPLICA_PORT="${PG_REPLICA_PORT:-5433}"
PG_LOG="$LOGS/postgres-setup.log"

install() {
  if command -v pg_ctlcluster >/dev/null && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    return 0
  fi
  say "postgres: installing PostgreSQL from Debian's packages (once)"
  { run_as_root apt-get update && DEBIAN_FRONTEND=noninteractive run_as_root apt-get install -y postgresql; } \
      >>"$PG_LOG" 2>&1 || fail "postgres: installing failed; read $PG_LOG"
}

pg_version() {
  ls /usr/lib/postgresql | sort -V | tail -n 1
}

cluster_port() {
  pg_lsclusters --no-header | awk -v v="$1" '$1 == v && $2 == "main" { print $3 }'
}

cluster_online() {
  pg_lsclusters --no-header | awk -v v="$1" '$1 == v && $2 == "main" { print $4 }' | grep -q online
}

psql_admin() {
  run_as_root su postgres -c "psql -p $PG_PORT -v ON_ERROR_STOP=1 -qtAX $(printf '%q ' "$@")"
}

up() {
  install
  local version; version="$(pg_version)"
  if [ -z "$(cluster_port "$version")" ]; then
    say "postgres: creating cluster $version/main on port $PG_PORT"
    run_as_root pg_createcluster -p "$PG_PORT" "$version" main >>"$PG_LOG" 2>&1 \
      || fail "postgres: creating the cluster failed; read $PG_LOG"
  fi
  local port; port="$(cluster_port "$version")"
  [ "$port" = "$PG_PORT" ] || fail "postgres: cluster $version/main uses port $port, expected $PG_PORT (set PG_PORT=$port)"
  if ! cluster_online "$version"; then
    # A crashed server leaves a stale postmaster.pid; pg_ctlcluster detects and replaces it.
    say "postgres: starting cluster $version/main on $PG_HOST:$PG_PORT"
    run_as_root pg_ctlcluster "$version" main start >>"$PG_LOG" 2>&1 \
      || fail "postgres: starting failed; read $PG_LOG and /var/log/postgresql/postgresql-$version-main.log"
    touch "$STARTED_MARK"
  fi
  wait_for "postgres" 60 pg_isready -h "$PG_HOST" -p "$PG_PORT" \
    || fail "postgres: not accepting connections on $PG_HOST:$PG_PORT; read /var/log/postgresql/postgresql-$version-main.log"
  ensure_role_and_database
}

ensure_role_and_database() {
  # CREATEDB lets the tests create one database each, so they run in parallel.
  psql_admin -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
        CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
      ELSE
        ALTER ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
      END IF;
    END \$\$;" >>"$PG_LOG" 2>&1 || fail "postgres: creating role $PG_USER failed; read $PG_LOG"
  if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" != "1" ]; then
    psql_admin -c "CREATE DATABASE $PG_DATABASE OWNER $PG_USER" >>"$PG_LOG" 2>&1 \
      || fail "postgres: creating database $PG_DATABASE failed; read $PG_LOG"
  fi
  PGPASSWORD="$PG_PASSWORD" psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DATABASE" -qtAc 'SELECT 1' >/dev/null \
    || fail "postgres: cannot log in as $PG_USER over TCP; check pg_hba.conf"
}

down() {
  [ -f "$STARTED_MARK" ] || { say "postgres: not started by orderlog; leaving it running"; return 0; }
  local version; version="$(pg_version)"
  say "postgres: stopping cluster $version/main"
  run_as_root pg_ctlcluster "$version" main stop >>"$PG_LOG" 2>&1 || true
  rm -f "$STARTED_MARK"
}

status() {
  if pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
    echo "postgres: running, $PG_HOST:$PG_PORT, database $PG_DATABASE, user $PG_USER"
  else echo "postgres: not running"; fi
}

# restart fast|immediate: what the fault suite does to the database (immediate skips the
# checkpoint: the next start recovers from the write-ahead log, as after a crash).
restart() {
  local mode="${1:-fast}" version; version="$(pg_version)"
  case "$mode" in fast|immediate) ;; *) fail "postgres: restart fast|immediate" ;; esac
  run_as_root pg_ctlcluster "$version" main restart -m "$mode" >>"$PG_LOG" 2>&1 \
    || fail "postgres: restart -m $mode failed; read $PG_LOG"
}

replica_port() {
  pg_lsclusters --no-header | awk -v v="$1" '$1 == v && $2 == "replica" { print $3 }'
}

# A hot standby of main made with pg_basebackup (-R writes its primary_conninfo and
# standby.signal): it streams main's write-ahead log and answers read-only queries.
replica_up() {
  up
  local version; version="$(pg_version)"
  local data="/var/lib/postgresql/$version/replica"
  if [ -z "$(replica_port "$version")" ]; then
    say "postgres: creating the replica $version/replica on port $PG_REPLICA_PORT (pg_basebackup from $PG_PORT)"
    run_as_root pg_createcluster -p "$PG_REPLICA_PORT" "$version" replica >>"$PG_LOG" 2>&1 \
      || fail "postgres: creating the replica cluster failed; read $PG_LOG"
    run_as_root find "$data" -mindepth 1 -delete
    # Over main's Unix socket as the postgres superuser: Debian's pg_hba.conf lets it
    # replicate by peer authentication.
    run_as_root su postgres -c "pg_basebackup -p $PG_PORT -D $data -R -X stream -c fast" >>"$PG_LOG" 2>&1 \
      || fail "postgres: pg_basebackup failed; read $PG_LOG"
  fi
  if ! pg_lsclusters --no-header | awk -v v="$version" '$1 == v && $2 == "replica" { print $4 }' | grep -q online; then
    say "postgres: starting the replica on $PG_HOST:$PG_REPLICA_PORT"
    run_as_root pg_ctlcluster "$version" replica start >>"$PG_LOG" 2>&1 \
      || fail "postgres: starting the replica failed; read /var/log/postgresql/postgresql-$version-replica.log"
  fi
  wait_for "postgres replica" 60 pg_isready -h "$PG_HOST" -p "$PG_REPLICA_PORT" \
    || fail "postgres: the replica is not accepting connections; read /var/log/postgresql/postgresql-$version-replica.log"
  replica_status
}

replica_down() {
  local version; version="$(pg_version)"
  [ -n "$(replica_port "$version")" ] || return 0
  say "postgres: stopping the replica"
  run_as_root pg_ctlcluster "$version" replica stop >>"$PG_LOG" 2>&1 || true
}

replica_status() {
  local lag
  if lag="$(PGPASSWORD="$PG_PASSWORD" psql -h "$PG_HOST" -p "$PG_REPLICA_PORT" -U "$PG_USER" -d "$PG_DATABASE" -qtAc \
      "SELECT CASE WHEN pg_is_in_recovery() THEN coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::int::text || ' s since the last replayed commit', 'nothing replayed yet') ELSE 'NOT in recovery' END" 2>/dev/null)"; then
    echo "postgres replica: running, $PG_HOST:$PG_REPLICA_PORT, $lag"
  else echo "postgres replica: not running"; fi
}

case "${1:-up}" in
  up) up ;;
  replica)
    case "${2:-up}" in
      up) replica_up ;;
      down) replica_down ;;
      status) replica_status ;;
      *) fail "usage: postgres.sh replica up|down|status" ;;
    esac ;;
  down) down ;;
  status) status ;;
  restart) restart "${2:-fast}" ;;
  *) fail "usage: postgres.sh up|down|status|restart fast|immediate|replica up|down|status" ;;
esac
