#!/usr/bin/env bash
# Benchmarks intermargin-pricing (the Rust batch binary, and the Python package of python/) against
# numpy/scipy, py_vollib_vectorized and QuantLib on the same inputs, and prints times, ratios and
# max errors. The Python package's rows: (d) all Greeks vs numpy, (f) price() vs a plain numpy
# Black-76 price, (g) price() vs py_vollib_vectorized's vectorized_black, (e) implied_vol() vs
# py_vollib_vectorized. Creates its own virtualenv in bench/.venv.
#
#   bench/compare.sh                 # 1e6 Greeks, 1e5 implied vols, 5 repeats
#   bench/compare.sh --ql-n 200000   # time QuantLib on a subset (scaled to 1e6 in the table)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi
if ! "$VENV/bin/python" -c "import numpy, scipy, QuantLib" 2>/dev/null; then
  "$VENV/bin/pip" install -q numpy scipy QuantLib
fi
if ! "$VENV/bin/python" -c "import py_vollib_vectorized" 2>/dev/null; then
  # py_vollib_vectorized 0.1.1 (Let's Be Rational under numba) needs the numba-jitted
  # py_lets_be_rational 1.0.1: from 1.1 its special functions moved to a pure-Python package
  # that numba cannot type. If it still will not install, fall back to the plain LBR packages.
  "$VENV/bin/pip" install -q py_vollib_vectorized "py_lets_be_rational==1.0.1" "py_vollib==1.0.1" \
    || "$VENV/bin/pip" install -q py_lets_be_rational py_vollib
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# The Python package (python/, built in release by maturin) is timed in the same run.
"$VENV/bin/pip" install -q maturin
PATH="$VENV/bin:$PATH" "$VENV/bin/pip" install -q --no-build-isolation "$ROOT/python"
(cd "$ROOT" && cargo build -q --release -p intermargin-pricing --example bench_compare)
BIN="$CARGO_TARGET_DIR/release/examples/bench_compare"

"$VENV/bin/python" "$HERE/compare.py" --rust-bin "$BIN" "$@"
