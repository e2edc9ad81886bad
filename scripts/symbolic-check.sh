#!/usr/bin/env bash
# Symbolic execution of the property harnesses in contracts/audit/Properties.sol with mythril
# (PyPI), on the creation bytecode built by the pinned solc-js (scripts/symbolic-build.cjs).
# Each harness wraps the production contract unchanged and states a property as an `assert`;
# mythril's Exceptions module reports an `assert` it can reach. Expected: findings ONLY in the
# control functions reach* (proof the explorer reaches an accepted credit / a paid withdrawal),
# none in the check* functions. Takes ~20 minutes on 2 cores, so it is not part of scripts/test.sh;
# the results of the last run are in contracts/AUDIT.md.
# mythril 0.24.8 pins py-evm 0.7.0a1, whose dependency pysha3 does not build on Python 3.11: the
# packages are installed without it (eth-hash's pycryptodome backend replaces it).
# Usage: bash scripts/symbolic-check.sh [--timeout SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
TIMEOUT=480
[ "${1:-}" = "--timeout" ] && TIMEOUT="$2"
VENV="${INTERMARGIN_MYTH_VENV:-.venv-myth}"
if [ ! -x "$VENV/bin/myth" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --prefer-binary blake2b-py 'coloredlogs>=10' 'coincurve>=13' 'cytoolz>=0.12' \
    asn1crypto configparser 'py_ecc>=1.4.7,<5' 'eth-abi>=4,<5' 'eth-account>=0.8,<0.10' \
    'ethereum-input-decoder>=0.2.2' 'eth-hash[pycryptodome]>=0.3.1,<0.4' 'eth-keyfile>=0.6' \
    'eth-rlp>=0.3,<0.4' 'eth-utils>=2,<3' 'hexbytes<0.3' jinja2 'MarkupSafe<2.1' mock \
    'mypy-extensions<1' numpy persistent py-flags 'py-solc-x<2' 'pyparsing>=2,<3' requests \
    'rlp>=3,<4' semantic_version 'transaction>=2.2.1' 'z3-solver>=4.8.8,<=4.12.5.0' certifi \
    'cached-property>=1.5.1,<2' 'eth-bloom>=1.0.3' 'eth-keys>=0.4,<0.5' 'eth-typing>=3.3,<4' \
    'lru-dict>=1.1.6' 'trie>=2,<3' pyethash matplotlib scikit-learn pytest pytest_mock >/dev/null
  "$VENV/bin/pip" install -q --no-deps 'py-evm==0.7.0a1' 'mythril==0.24.8' py-solc >/dev/null
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
node scripts/symbolic-build.cjs "$WORK" >/dev/null
status=0
for h in SpokeProperties HubProperties; do
  "$VENV/bin/myth" analyze -f "$WORK/$h.bin" -m Exceptions -t 2 --execution-timeout "$TIMEOUT" -o json \
    > "$WORK/$h.json" 2>/dev/null || true
  python3 - "$WORK/$h.json" "$h" <<'PY' || status=1
import json, sys
d = json.load(open(sys.argv[1]))
if not d.get("success"):
    sys.exit(f"{sys.argv[2]}: mythril failed: {d.get('error')}")
hits = sorted({i["function"] for i in d["issues"] if i["swc-id"] == "110"})
print(f"{sys.argv[2]}: assert reachable in {hits or 'no function'}")
bad = [f for f in hits if not f.startswith("reach")]
if bad:
    sys.exit(f"{sys.argv[2]}: property broken in {bad}")
if not any(f.startswith("reach") for f in hits):
    sys.exit(f"{sys.argv[2]}: the control was not reached; the run proves nothing")
PY
done
exit $status
