#!/usr/bin/env bash
# Static analysis of contracts/ with slither (PyPI, pinned), driven by the pinned solc-js through a
# Hardhat-style build-info (scripts/slither-build-info.cjs). Every finding must be answered in
# contracts/AUDIT.md under its key `detector Contract.item` (the script prints the keys); a finding
# without an answer, or an answer for a finding slither no longer reports, fails the run.
# Usage: bash scripts/audit-contracts.sh [--json FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${INTERMARGIN_AUDIT_VENV:-.venv-audit}"
if [ ! -x "$VENV/bin/slither" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'slither-analyzer==0.11.6' >/dev/null
fi
if [ ! -d tests/e2e/node_modules/solc ]; then
  (cd tests/e2e && npm ci --silent >/dev/null)
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
node scripts/slither-build-info.cjs "$WORK" >/dev/null
SLITHER="$(cd "$VENV" && pwd)/bin/slither"
JSON="$(realpath -m "${2:-$WORK/slither.json}")"
rm -f "$JSON"
# slither exits non-zero when it reports findings; the answers below decide.
(cd "$WORK" && "$SLITHER" . --compile-force-framework hardhat --hardhat-ignore-compile \
  --hardhat-artifacts-directory artifacts --json "$JSON" >/dev/null 2>&1) || true
python3 scripts/audit-answers.py "$JSON" contracts/AUDIT.md
