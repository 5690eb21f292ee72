#!/usr/bin/env bash
# The one build of orderlog's binaries: the services, the `orderlog` CLI, `bench` (the
# benchmarks) and `suites` (chaos, scale, demo). `make up`, `make demo`, `make bench`, `make chaos` and `make scale`
# all build through here (`--release`), `make chaos-short` and `make scale-short` too (debug):
# the same packages every time, so cargo resolves the same features and no target
# recompiles what another one built. Extra arguments go to `cargo build`.
#   build.sh [--release] [cargo build arguments...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
exec cargo build --locked -p command-api -p projectors -p query-api -p orderlog-cli -p bench -p suites "$@"
