#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver, for the browser test of query-api's GraphiQL page.
# Installed only if missing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi
say "chromium: installing Debian's chromium and chromium-driver (once; log: $LOGS/chromium-install.log)"
{ run_as_root apt-get update && DEBIAN_FRONTEND=noninteractive run_as_root apt-get install -y --no-install-recommends chromium chromium-driver; } \
  >"$LOGS/chromium-install.log" 2>&1 || fail "chromium: install failed; read $LOGS/chromium-install.log"
say "chromium: $(chromium --version 2>/dev/null | head -1)"
