#!/usr/bin/env bash
# HAProxy (Debian's package): the load balancer in front of several HTTP tiers and
# query-apis, as the scale-out test and `suites scale` run them.
#   haproxy.sh install   install Debian's haproxy if missing
#   haproxy.sh check     install, then validate compose/haproxy/haproxy.cfg (docker-compose's)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install() {
  if command -v haproxy >/dev/null; then return 0; fi
  say "haproxy: installing Debian's haproxy (once; log: $LOGS/haproxy-install.log)"
  { run_as_root apt-get update && DEBIAN_FRONTEND=noninteractive run_as_root apt-get install -y --no-install-recommends haproxy; } \
    >"$LOGS/haproxy-install.log" 2>&1 || fail "haproxy: install failed; read $LOGS/haproxy-install.log"
  # The package's own service is not ours: bench runs HAProxy with a config of its own.
  run_as_root service haproxy stop >/dev/null 2>&1 || true
}

check() {
  install
  haproxy -c -q -f "$ORDERLOG_ROOT/compose/haproxy/haproxy.cfg" || fail "haproxy: compose/haproxy/haproxy.cfg is invalid"
  say "haproxy: $(haproxy -v | head -n 1); compose/haproxy/haproxy.cfg is valid"
}

case "${1:-install}" in
  install) install ;;
  check) check ;;
  *) fail "usage: haproxy.sh install|check" ;;
esac
