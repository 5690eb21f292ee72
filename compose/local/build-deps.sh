#!/usr/bin/env bash
# Debian packages the build and the tests need beyond Rust: OpenSSL's headers and
# pkg-config (librdkafka with SASL/SCRAM and TLS, sqlx's TLS) and the openssl tool (the tests
# make keys and certificates with it). Installed only if missing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=(libssl-dev pkg-config openssl)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
say "build: installing Debian's ${missing[*]} (once; log: $LOGS/build-deps.log)"
{ run_as_root apt-get update && DEBIAN_FRONTEND=noninteractive run_as_root apt-get install -y --no-install-recommends "${missing[@]}"; } \
  >"$LOGS/build-deps.log" 2>&1 || fail "build: installing ${missing[*]} failed; read $LOGS/build-deps.log"
