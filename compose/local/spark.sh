#!/usr/bin/env bash
# Apache Spark (pyspark from PyPI) in a private virtualenv, for the check that Spark in
# local mode reads `orderlog export parquet` output (make analytics). Runs on the machine's
# Java 17. Installed once into .local/spark-venv.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PYSPARK_VERSION="${PYSPARK_VERSION:-4.0.1}"
VENV="$ORDERLOG_LOCAL/spark-venv"

if "$VENV/bin/python" -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$PYSPARK_VERSION')" 2>/dev/null; then exit 0; fi
command -v python3 >/dev/null || fail "spark: python3 is needed"
command -v java >/dev/null || fail "spark: java (17 or later) is needed"
say "spark: installing pyspark $PYSPARK_VERSION from PyPI into $VENV (once, about 450 MB; log: $LOGS/spark-install.log)"
{ python3 -m venv "$VENV" && "$VENV/bin/pip" install --disable-pip-version-check -q "pyspark==$PYSPARK_VERSION"; } \
  >"$LOGS/spark-install.log" 2>&1 || fail "spark: install failed; read $LOGS/spark-install.log"
