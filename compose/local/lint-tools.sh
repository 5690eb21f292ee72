#!/usr/bin/env bash
# What `make lint` needs beyond rustup's clippy and rustfmt: cargo-machete (unused
# dependencies), from crates.io into .local/tools. Installed only if missing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$COMPOSE_LOCAL/build-deps.sh"

MACHETE_VERSION="${MACHETE_VERSION:-0.9.2}"
TOOLS="$ORDERLOG_LOCAL/tools"
if [ -x "$TOOLS/bin/cargo-machete" ] && "$TOOLS/bin/cargo-machete" --version 2>/dev/null | grep -q "$MACHETE_VERSION"; then exit 0; fi
say "lint: installing cargo-machete $MACHETE_VERSION from crates.io (once; log: $LOGS/lint-tools.log)"
cargo install cargo-machete --version "$MACHETE_VERSION" --locked --root "$TOOLS" >"$LOGS/lint-tools.log" 2>&1 \
  || fail "lint: installing cargo-machete failed; read $LOGS/lint-tools.log"
