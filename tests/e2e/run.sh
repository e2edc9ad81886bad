#!/usr/bin/env bash
# Starts the service on a scratch ledger, then runs the browser test and the API fuzzer against it.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${INTERMARGIN_BIN:-${CARGO_TARGET_DIR:-target}/release/intermargin}"
[ -x "$BIN" ] || BIN="${CARGO_TARGET_DIR:-target}/debug/intermargin"
DATA=$(mktemp -d)
KEY="im_e2e0000000001_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PORT=${INTERMARGIN_E2E_PORT:-18080}
INTERMARGIN_ADMIN_KEY="$KEY" "$BIN" serve --listen "127.0.0.1:$PORT" --data "$DATA" --rate-limit 100000 >"$DATA/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 0.2
done
echo "e2e: dashboard in headless Chromium"
node tests/e2e/dashboard.mjs "http://127.0.0.1:$PORT" "$KEY" target/e2e-dashboard.png
echo "e2e: schemathesis against /openapi.json (no 5xx allowed)"
ST=.venv-test/bin/schemathesis
"$ST" run "http://127.0.0.1:$PORT/openapi.json" \
  -H "Authorization: Bearer $KEY" \
  --checks not_a_server_error \
  --max-examples "${INTERMARGIN_FUZZ_EXAMPLES:-25}" \
  --seed 1 \
  --no-color
