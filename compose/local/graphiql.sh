#!/usr/bin/env bash
# GraphiQL's browser assets for query-api, from the npm registry, pinned and checked
# against their published sha512 integrity. Installed once into .local/graphiql.
#   graphiql.sh    install if missing
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GRAPHIQL_DIR="$ORDERLOG_LOCAL/graphiql"
# package@version|sha512 integrity|file in the package|name served
ASSETS=(
  "react@18.3.1|sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==|umd/react.production.min.js|react.production.min.js"
  "react-dom@18.3.1|sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==|umd/react-dom.production.min.js|react-dom.production.min.js"
  "graphiql@3.8.3|sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw==|graphiql.min.js|graphiql.min.js"
  "graphiql@3.8.3|sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw==|graphiql.min.css|graphiql.min.css"
)
STAMP="$GRAPHIQL_DIR/.installed"
WANT="$(printf '%s\n' "${ASSETS[@]}" | sha256sum | cut -d' ' -f1)"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then exit 0; fi
command -v npm >/dev/null || fail "graphiql: npm is needed to fetch GraphiQL's assets"
say "graphiql: fetching GraphiQL 3.8.3 and React 18.3.1 from the npm registry (once)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$GRAPHIQL_DIR"
for entry in "${ASSETS[@]}"; do
  IFS='|' read -r package integrity file served <<<"$entry"
  tarball="$work/packs/${package//[@\/]/-}.tgz"
  if [ ! -f "$tarball" ]; then
    mkdir -p "$work/packs" "$work/dl"
    name="$(cd "$work/dl" && npm pack --silent "$package" 2>>"$LOGS/graphiql.log")" \
      || fail "graphiql: npm pack $package failed; read $LOGS/graphiql.log"
    mv "$work/dl/$name" "$tarball"
    actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
    [ "$actual" = "$integrity" ] || fail "graphiql: $package does not match its pinned integrity"
  fi
  tar -xzf "$tarball" -C "$work" "package/$file" && mv "$work/package/$file" "$GRAPHIQL_DIR/$served"
done
echo "$WANT" >"$STAMP"
say "graphiql: assets in $GRAPHIQL_DIR"
