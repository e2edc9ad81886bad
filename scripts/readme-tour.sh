#!/usr/bin/env bash
# Runs every command of the README's "Tour of the CLI", as written, in a fresh copy of the checkout
# (tracked files, uncommitted edits included, nothing else), and fails on the first one that fails.
#
# The binary is the one the caller already built (INTERMARGIN_BIN, default the release binary of
# CARGO_TARGET_DIR, else its debug one): it is linked at target/release/intermargin in the copy so
# the README's `alias intermargin=target/release/intermargin` resolves without a second build.
# Besides exit status 0, each command must print nothing starting with `error:`, and a `--json`
# command whose stdout is not redirected must print valid JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="${INTERMARGIN_BIN:-$TARGET/release/intermargin}"
[ -x "$BIN" ] || BIN="$TARGET/debug/intermargin"
if [ ! -x "$BIN" ]; then
  echo "readme-tour: no intermargin binary (build it: cargo build -p intermargin-cli)" >&2
  exit 1
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
COPY="$WORK/checkout"
mkdir -p "$COPY"
# `git stash create` records the working tree's tracked files as a commit without touching anything
# (empty output when the tree is clean): the copy is what a fresh clone of this state would hold.
REV=$(git stash create)
git archive "${REV:-HEAD}" | tar -x -C "$COPY"
mkdir -p "$COPY/target/release"
ln -s "$BIN" "$COPY/target/release/intermargin"

# The tour: the first ```bash block after the "## Tour of the CLI" heading. Backslash-continued
# lines are joined; blank lines and whole-line comments are skipped.
awk '
  /^## Tour of the CLI/ { tour = 1; next }
  tour && /^```bash/ { inblock = 1; next }
  inblock && /^```/ { exit }
  inblock { print }
' README.md >"$WORK/tour.txt"
mapfile -t COMMANDS < <(
  awk '
    { line = $0 }
    cont != "" { line = cont " " line; cont = "" }
    /\\[[:space:]]*$/ { sub(/\\[[:space:]]*$/, "", line); cont = line; next }
    line ~ /^[[:space:]]*(#|$)/ { next }
    { print line }
  ' "$WORK/tour.txt"
)
if [ "${#COMMANDS[@]}" -lt 10 ]; then
  echo "readme-tour: found only ${#COMMANDS[@]} commands in README.md's tour; is the heading still '## Tour of the CLI'?" >&2
  exit 1
fi

# Aliases are defined by the tour itself; they persist across the commands through this file.
: >"$WORK/aliases.sh"
cd "$COPY"
n=0
for cmd in "${COMMANDS[@]}"; do
  n=$((n + 1))
  if [[ "$cmd" =~ ^alias[[:space:]] ]]; then
    printf '%s\n' "$cmd" >>"$WORK/aliases.sh"
    echo "readme-tour: $cmd"
    continue
  fi
  printf '%s\n' "$cmd" >"$WORK/cmd.sh"
  start=$(date +%s.%N)
  status=0
  bash -c 'shopt -s expand_aliases; set -o pipefail; source "$1"; source "$2"' tour \
    "$WORK/aliases.sh" "$WORK/cmd.sh" >"$WORK/out" 2>"$WORK/err" || status=$?
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  problem=""
  if [ "$status" -ne 0 ]; then
    problem="exit status $status"
  elif grep -q '^error:' "$WORK/out" "$WORK/err"; then
    problem="printed an error"
  elif [[ "$cmd" == *--json* && "$cmd" != *'>'* ]] && ! python3 -m json.tool "$WORK/out" >/dev/null 2>&1; then
    problem="--json output is not JSON"
  fi
  if [ -n "$problem" ]; then
    echo "readme-tour: FAILED ($problem) command $n of the README's tour:" >&2
    echo "  $cmd" >&2
    echo "--- stdout (last 20 lines)" >&2
    tail -n 20 "$WORK/out" >&2
    echo "--- stderr (last 20 lines)" >&2
    tail -n 20 "$WORK/err" >&2
    exit 1
  fi
  echo "readme-tour: ok ${secs}s  $cmd"
done
echo "readme-tour: all ${#COMMANDS[@]} commands of the README's tour ran as written"
