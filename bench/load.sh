#!/usr/bin/env bash
# Load benchmark (not a test): margin queries against `intermargin serve` on loopback.
# Preloads ACCOUNTS (default 10,000; at most 1,000,000) copies of the demo book on a tmpfs ledger,
# times the start (bulk load) and a restart after kill -9 (checkpoint verification) until a margin
# query is answered, reports memory per account (VmRSS / accounts), then drives
# GET /api/v1/accounts/<random>/margin with wrk (bounded: fixed connections and duration)
# and reports requests/s and latency percentiles. Needs Debian's wrk (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS=${ACCOUNTS:-10000}
DURATION=${DURATION:-20s}
CONNS=${CONNS:-64}
PORT=${PORT:-18181}
command -v wrk >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
[ -n "${BIN:-}" ] || cargo build --release -p intermargin-cli >/dev/null
BIN="${BIN:-${CARGO_TARGET_DIR:-target}/release/intermargin}"
FEED_ARGS=()
# FEED=off measures queries alone; by default the live monitor re-margins every account on each price tick meanwhile.
[ "${FEED:-on}" = off ] && FEED_ARGS=(--feed-speed 0.001)
DATA=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
KEY="im_load00000001_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# The demo book has one account; copies are named hedged-<n>.
start_server() {
  INTERMARGIN_ADMIN_KEY="$KEY" "$BIN" serve --listen "127.0.0.1:$PORT" --data "$DATA" --no-demo-plots \
    --demo-copies "$ACCOUNTS" --rate-limit 10000000 "${FEED_ARGS[@]}" >>"$DATA/server.log" 2>&1 &
  PID=$!
  local t0 now
  t0=$(date +%s.%N)
  # Bounded wait: 40 minutes at most (a million-account bulk load on a loaded machine).
  for _ in $(seq 1 4800); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.5; done
  # Serving means answering a margin query, not only /health.
  for _ in $(seq 1 1200); do
    curl -sf -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/api/v1/accounts/hedged-$((ACCOUNTS - 1))/margin" >/dev/null 2>&1 && break
    sleep 0.5
  done
  now=$(date +%s.%N)
  echo "$1: first margin query answered $(echo "$now - $t0" | bc) s after start ($ACCOUNTS accounts)" >&2
}
rss_per_account() {
  local kb
  kb=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
  echo "memory: VmRSS $((kb / 1024)) MB for $ACCOUNTS accounts = $((kb * 1024 / ACCOUNTS)) bytes per account" >&2
}
trap 'kill $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
echo "loading $ACCOUNTS accounts…" >&2
start_server "fresh start (bulk load + verification + checkpoint)"
rss_per_account
if [ "${RESTART:-on}" = on ]; then
  # kill -9 and restart on the same ledger: projections are verified from the checkpoint.
  kill -9 "$PID"; wait "$PID" 2>/dev/null || true
  start_server "restart after kill -9 (checkpoint verification, books in two queries)"
  rss_per_account
fi
cat >"$DATA/margin.lua" <<LUA
math.randomseed(42)
request = function()
  local n = math.random(0, $ACCOUNTS - 1)
  return wrk.format("GET", "/api/v1/accounts/hedged-" .. n .. "/margin", {["Authorization"] = "Bearer $KEY"})
end
LUA
# The monitor's ticks (figures only, reports built when read): wait for the first pass over every
# account, then sample /health while the queries run (last_accounts, last_remargin_ms).
monitor_field() { curl -s "http://127.0.0.1:$PORT/health" | sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p"; }
for _ in $(seq 1 1200); do
  [ "$(monitor_field last_accounts)" = "$ACCOUNTS" ] && break
  sleep 0.5
done
echo "monitor before the queries: $(curl -s "http://127.0.0.1:$PORT/health" | head -c 600)" >&2
( for _ in $(seq 1 60); do
    echo "tick: last_accounts $(monitor_field last_accounts) last_remargin_ms $(monitor_field last_remargin_ms) batches $(monitor_field batches)"
    sleep 1
  done ) >"$DATA/ticks.log" 2>&1 &
SAMPLER=$!
# Warm up (connections, allocator); reports of re-margined accounts are rebuilt on demand.
wrk -t2 -c"$CONNS" -d5s -s "$DATA/margin.lua" "http://127.0.0.1:$PORT" >/dev/null
echo "== closed loop (wrk, $CONNS connections): the most the service answers" >&2
wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$DATA/margin.lua" "http://127.0.0.1:$PORT"
echo "monitor during the run: $(curl -s "http://127.0.0.1:$PORT/health")"
kill "$SAMPLER" 2>/dev/null || true
echo "== ticks sampled each second during the closed loop (distinct values):" >&2
sort -u "$DATA/ticks.log" >&2
# Peer in the same run: the same server's /health (HTTP stack, no auth, no report) is the ceiling
# a margin query can approach; the ratio shows what auth + lookup + the report body cost.
echo "== peer: GET /health, same server, same wrk settings" >&2
wrk -t2 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$PORT/health" | grep -E "Requests/sec|99%"
# Open loop at a fixed rate: latency percentiles at the goal's throughput, corrected for
# coordinated omission (a late request counts from when it should have been sent).
[ "${OPEN_LOOP:-on}" = off ] && exit 0
RATE=${RATE:-20000}
TOOLS=${XDG_CACHE_HOME:-$HOME/.cache}/intermargin-bench
OHA=${OHA:-$(command -v oha || echo "$TOOLS/bin/oha")}
if [ ! -x "$OHA" ]; then
  echo "installing oha (once) into $TOOLS…" >&2
  cargo install oha --locked --version 1.16.0 --root "$TOOLS" >/dev/null 2>&1
  OHA="$TOOLS/bin/oha"
fi
echo "== open loop (oha) at $RATE requests/s" >&2
# Every account once, in a shuffled order oha walks through.
seq 0 $((ACCOUNTS - 1)) | shuf --random-source=<(yes) | sed "s|^|http://127.0.0.1:$PORT/api/v1/accounts/hedged-|; s|$|/margin|" >"$DATA/urls.txt"
"$OHA" -z "$DURATION" -q "$RATE" -c "$CONNS" --latency-correction --no-tui \
  -H "Authorization: Bearer $KEY" --urls-from-file "$DATA/urls.txt"
echo "monitor during the run: $(curl -s "http://127.0.0.1:$PORT/health")"
