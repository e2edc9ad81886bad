#!/bin/sh
# Rebuilds snapshot.json from each venue's saved API responses: one `import` per venue folder, then `merge`.
# Usage: examples/hedged-book/build.sh [path/to/intermargin]   (default: `intermargin` on PATH)
# A relative binary path is taken relative to the directory the script is started from.
set -eu
BIN=${1:-intermargin}
case "$BIN" in
  */*)
    DIR=$(cd "$(dirname "$BIN")" 2>/dev/null && pwd) || { echo "build.sh: no directory $(dirname "$BIN")" >&2; exit 1; }
    BIN=$DIR/$(basename "$BIN")
    [ -x "$BIN" ] || { echo "build.sh: $BIN is not an executable" >&2; exit 1; }
    ;;
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
