#!/usr/bin/env bash
# Builds the Python package (python/, PyO3 + maturin) into the test virtualenv and runs its pytest
# suite: prices against an independent Black-76, margin/allocate/import equal to the CLI's JSON
# (INTERMARGIN_BIN, the binary scripts/test.sh built). Needs .venv-test from scripts/deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv-test/bin/python
if ! "$PY" -c 'import maturin, numpy, pytest' 2>/dev/null; then
  echo "python-test: .venv-test lacks maturin/numpy/pytest (source scripts/deps.sh)" >&2
  exit 1
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# pytest runs from python/tests: a binary path relative to the checkout must become absolute.
if [ -n "${INTERMARGIN_BIN:-}" ] && [ "${INTERMARGIN_BIN#/}" = "$INTERMARGIN_BIN" ]; then
  export INTERMARGIN_BIN="$PWD/$INTERMARGIN_BIN"
fi
# The build backend runs `maturin` from PATH.
export PATH="$PWD/.venv-test/bin:$PATH"
# --no-build-isolation: use the virtualenv's maturin instead of fetching one per build.
"$PY" -m pip install -q --no-build-isolation ./python
# Run from python/tests with the installed package (not the source folder, which has no _native).
(cd python/tests && "../../$PY" -m pytest -q -p no:cacheprovider .)
