#!/usr/bin/env bash
# Load benchmark (not a test): pre-trade what-ifs against `intermargin serve` on loopback, with the
# live monitor running (the demo feed re-margins every account on each tick meanwhile).
# Preloads ACCOUNTS copies of the demo book (hedged-<n>) on a tmpfs ledger, then drives
# POST /api/v1/accounts/<random>/whatif with a two-venue hedge ({"trades":[OKX swap, Binance perp]})
# with wrk (closed loop, fixed connections and duration) and, when oha is present, at a fixed
# rate (open loop, coordinated-omission corrected). Needs Debian's wrk (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS=${ACCOUNTS:-1000}
DURATION=${DURATION:-20s}
CONNS=${CONNS:-32}
PORT=${PORT:-18282}
RATE=${RATE:-5000}
command -v wrk >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release -p intermargin-cli >/dev/null
BIN="${CARGO_TARGET_DIR:-target}/release/intermargin"
DATA=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
KEY="im_load00000017_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
INTERMARGIN_ADMIN_KEY="$KEY" "$BIN" serve --listen "127.0.0.1:$PORT" --data "$DATA" --no-demo-plots \
  --demo-copies "$ACCOUNTS" --rate-limit 10000000 >"$DATA/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
echo "loading $ACCOUNTS accounts…" >&2
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.5; done
BODY='{"trades":[{"venue":"okx","instrument":"BTC-USD-SWAP","size":2000},{"venue":"binance","instrument":"BTCUSDT","size":-3.2,"price":62900}]}'
# One request first: it must answer 200 with the issue's fields.
curl -sf -X POST -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d "$BODY" "http://127.0.0.1:$PORT/api/v1/accounts/hedged-0/whatif" | head -c 300; echo
cat >"$DATA/whatif.lua" <<LUA
math.randomseed(17)
request = function()
  local n = math.random(0, $ACCOUNTS - 1)
  return wrk.format("POST", "/api/v1/accounts/hedged-" .. n .. "/whatif",
    {["Authorization"] = "Bearer $KEY", ["Content-Type"] = "application/json"}, '$BODY')
end
response = function(status, headers, body)
  if status ~= 200 then io.stderr:write("status " .. status .. ": " .. body .. "\n") end
end
LUA
wrk -t2 -c"$CONNS" -d3s -s "$DATA/whatif.lua" "http://127.0.0.1:$PORT" >/dev/null
echo "== closed loop (wrk, $CONNS connections): the most what-ifs the service answers" >&2
wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$DATA/whatif.lua" "http://127.0.0.1:$PORT"
echo "monitor during the run: $(curl -s "http://127.0.0.1:$PORT/health")"
TOOLS=${XDG_CACHE_HOME:-$HOME/.cache}/intermargin-bench
OHA=${OHA:-$(command -v oha || echo "$TOOLS/bin/oha")}
if [ -x "$OHA" ]; then
  echo "== open loop (oha) at $RATE what-ifs/s" >&2
  "$OHA" -z "$DURATION" -q "$RATE" -c "$CONNS" --latency-correction --no-tui -m POST \
    -H "Authorization: Bearer $KEY" -H 'content-type: application/json' -d "$BODY" \
    "http://127.0.0.1:$PORT/api/v1/accounts/hedged-7/whatif"
else
  echo "(oha not installed: open-loop run skipped; bench/load.sh installs it)" >&2
fi
