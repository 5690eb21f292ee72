#!/usr/bin/env bash
# PostgreSQL for the local stack, from Debian's packages.
#   postgres.sh up      install if missing, start the cluster if stopped, ensure role and database
#   postgres.sh down    stop the cluster, only if this script started it
#   postgres.sh status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STARTED_MARK="$PIDS/postgres.started-by-orderlog"
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

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) status ;;
  restart) restart "${2:-fast}" ;;
  *) fail "usage: postgres.sh up|down|status|restart fast|immediate" ;;
esac
