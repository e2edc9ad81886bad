#!/usr/bin/env bash
# Margin workers benchmark (not a test), issue 20: 1, 2 and 3 `intermargin worker` processes on
# this machine behind one JetStream `nats-server` and one API node (`serve --nats`).
#
# The API node bulk-loads ACCOUNTS copies of the demo book (each holds BTC: an option, a linear
# perpetual and an inverse swap); the ledger outbox relays every book to IM_EVENTS. For W = 1, 2, 3
# workers over PARTITIONS (default 6) partitions, the workers take the partitions, rebuild the books
# from the stream, then `intermargin ticks` publishes TICKS BTC ticks INTERVAL_MS apart; every tick
# re-margins every account. Each worker prints one JSON line per margin round (`--stats`):
# reports, margin time, round time, and tick → reports stored in JetStream (wall clock of the
# tick's publisher to the worker's last report acknowledged). Printed per W: ticks → all reports
# stored (median, max over ticks of the slowest worker), and accounts re-margined and published per
# second (accounts / slowest worker's round).
#
# Honest caveat: this machine has 2 cores, shared by nats-server, the API node, the workers and the
# tick publisher (and anything else running); 3 workers on 2 cores measure contention, not scale.
#
# BIN=path uses a given binary (default: builds the release one). Needs nats-server (installed if
# missing), python3, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS=${ACCOUNTS:-20000}
PARTITIONS=${PARTITIONS:-6}
TICKS=${TICKS:-10}
INTERVAL_MS=${INTERVAL_MS:-1500}
PORT=${PORT:-18282}
NATS_PORT=${NATS_PORT:-14222}
command -v nats-server >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null; }
if [ -z "${BIN:-}" ]; then
  cargo build --release -p intermargin-cli >/dev/null
  BIN="${CARGO_TARGET_DIR:-target}/release/intermargin"
fi
DIR=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
KEY="im_bench0000001_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$DIR"; }
trap cleanup EXIT
URL="nats://127.0.0.1:$NATS_PORT"
nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$DIR/js" >"$DIR/nats.log" 2>&1 &
PIDS+=($!)
sleep 0.5
INTERMARGIN_ADMIN_KEY="$KEY" "$BIN" serve --listen "127.0.0.1:$PORT" --data "$DIR/api" --no-demo-plots \
  --demo-copies "$ACCOUNTS" --rate-limit 10000000 --feed-speed 0.001 \
  --nats "$URL" --partition-count "$PARTITIONS" >"$DIR/api.log" 2>&1 &
PIDS+=($!)
t0=$(date +%s.%N)
for _ in $(seq 1 2400); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.5; done
echo "API node up (bulk load of $ACCOUNTS accounts) after $(echo "$(date +%s.%N) - $t0" | bc) s" >&2
# Ticks need a market before the workers start: one round at the demo prices.
"$BIN" ticks --nats "$URL" --rounds 1 --partition-count "$PARTITIONS" >/dev/null

ranges() { # W → W partition ranges covering 0..PARTITIONS-1
  python3 - "$1" "$PARTITIONS" <<'EOF'
import sys
w, p = int(sys.argv[1]), int(sys.argv[2])
cuts = [round(i * p / w) for i in range(w + 1)]
print(" ".join(f"{cuts[i]}-{cuts[i+1]-1}" for i in range(w)))
EOF
}

for W in 1 2 3; do
  WPIDS=()
  i=0
  for r in $(ranges "$W"); do
    "$BIN" worker --nats "$URL" --partitions "$r" --partition-count "$PARTITIONS" --name "w$W-$i" \
      --lease-ms 1500 --stats >"$DIR/w$W-$i.jsonl" 2>"$DIR/w$W-$i.log" &
    WPIDS+=($!); PIDS+=($!)
    i=$((i + 1))
  done
  # Wait until the workers hold every account (their first rounds publish every book).
  t0=$(date +%s.%N)
  for _ in $(seq 1 1200); do
    held=$(cat "$DIR"/w$W-*.jsonl 2>/dev/null | python3 -c '
import json, sys
last = {}
for l in sys.stdin:
    try: d = json.loads(l)
    except ValueError: continue
    last[d["worker"]] = d["accounts_held"]
print(sum(last.values()))')
    [ "$held" -ge "$ACCOUNTS" ] && break
    sleep 0.5
  done
  load_s=$(echo "$(date +%s.%N) - $t0" | bc)
  mark=$(cat "$DIR"/w$W-*.jsonl | wc -l)
  "$BIN" ticks --nats "$URL" --rounds "$TICKS" --interval-ms "$INTERVAL_MS" --seed "$W" \
    --partition-count "$PARTITIONS" >"$DIR/ticks$W.jsonl"
  sleep 3
  python3 - "$W" "$ACCOUNTS" "$load_s" "$mark" "$DIR" <<'EOF'
import glob, json, statistics, sys
w, accounts, load_s, mark, d = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rounds = {}
lines = []
for f in sorted(glob.glob(f"{d}/w{w}-*.jsonl")):
    lines += [json.loads(l) for l in open(f) if l.strip()]
# Rounds caused by ticks of the timed run (a market_seq the first rounds did not have).
ticks = [json.loads(l) for l in open(f"{d}/ticks{w}.jsonl")]
seqs = {t["seq"] for t in ticks}
for r in lines:
    if r["market_seq"] in seqs and r["ticks"] > 0:
        rounds.setdefault(r["market_seq"], []).append(r)
lat = [max(x["tick_to_published_ms"] for x in rs) for rs in rounds.values()]
rate = [sum(x["reports"] for x in rs) / (max(x["round_ms"] for x in rs) / 1e3) for rs in rounds.values()]
margin = [max(x["margin_ms"] for x in rs) for rs in rounds.values()]
reports = [sum(x["reports"] for x in rs) for rs in rounds.values()]
if not lat:
    print(f"W={w}: no tick rounds recorded"); sys.exit(0)
print(json.dumps({
    "workers": w, "accounts": accounts, "books_loaded_s": round(load_s, 2), "ticks": len(lat),
    "reports_per_tick_median": statistics.median(reports),
    "tick_to_reports_stored_ms_median": round(statistics.median(lat), 1),
    "tick_to_reports_stored_ms_max": round(max(lat), 1),
    "margin_ms_median": round(statistics.median(margin), 2),
    "accounts_per_s_median": round(statistics.median(rate)),
}))
EOF
  for p in "${WPIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  sleep 2  # the leases (1.5 s) expire before the next run's workers claim the partitions
done
served=$(curl -sf -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/api/v1/accounts/hedged-0/margin?source=workers" || echo '{}')
echo "API node serves hedged-0 from the workers: $served" | cut -c1-400 >&2
