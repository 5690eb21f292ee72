#!/usr/bin/env bash
# DuckDB (from PyPI) in a private virtualenv, for the test that loads `orderlog events
# replay` output as a typed table. Installed once into .local/venv.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DUCKDB_VERSION="${DUCKDB_VERSION:-1.4.2}"
VENV="$ORDERLOG_LOCAL/venv"

if "$VENV/bin/python" -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null; then exit 0; fi
command -v python3 >/dev/null || fail "duckdb: python3 is needed"
say "duckdb: installing duckdb $DUCKDB_VERSION from PyPI into $VENV (once; log: $LOGS/duckdb-install.log)"
{ python3 -m venv "$VENV" && "$VENV/bin/pip" install --disable-pip-version-check -q "duckdb==$DUCKDB_VERSION"; } \
  >"$LOGS/duckdb-install.log" 2>&1 || fail "duckdb: install failed; read $LOGS/duckdb-install.log"
