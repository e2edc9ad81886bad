#!/bin/sh
# Rebuilds snapshot.json from each venue's saved API responses: one `import` per venue folder, then `merge`.
# Usage: examples/hedged-book/build.sh [path/to/intermargin]   (default: `intermargin` on PATH)
set -eu
BIN=${1:-intermargin}
# A binary path relative to the caller's directory must survive the `cd` below.
case "$BIN" in
  */*) BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") ;;
esac
cd "$(dirname "$0")"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for venue in deribit binance okx aave; do
  set --
  for f in "$venue"/*.json; do set -- "$@" --file "$f"; done
  "$BIN" import --venue "$venue" --account hedged "$@" --json > "$TMP/$venue.json"
done
"$BIN" merge "$TMP/deribit.json" "$TMP/binance.json" "$TMP/okx.json" "$TMP/aave.json" --json > snapshot.json
echo "wrote $(pwd)/snapshot.json"
