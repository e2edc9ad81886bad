#!/usr/bin/env bash
# Symbolic execution of the production contracts with halmos 0.3.3 (PyPI, z3/yices included):
# contracts/audit/halmos/*.t.sol drive MarginSpoke and MarginHub (compiled from contracts/*.sol by
# forge 1.7.1 from npm through the pinned solc-js, contracts/audit/halmos/solc-shim.cjs, with the
# production settings; the script checks the code is contracts/build's, metadata hash aside) and
# prove, within the stated bounds:
#   (a) no credit accepted twice (nor an older nonce of the account), whatever the signatures;
#   (b) no credit and no withdrawal permit accepted without `threshold` distinct guardian signers;
#   (c) no withdrawal (nor credit lock) leaves collateral below the outstanding credit; a
#       withdrawal pays exactly the permit, for the current state version, once.
# halmos models ecrecover as an uninterpreted function, so a symbolic signature may recover to
# any address, a guardian included: the quorum paths are explored (mythril's were not).
# The run is not vacuous, and the script fails otherwise:
#   - each reach_* test (an accepted credit, a paid withdrawal) must FAIL with a counterexample;
#   - each mutant (a copy of the contracts with one check removed) must make its property FAIL.
# Bounds: 0..3 guardian signatures of 65 bytes (ECDSA form), 3 guardians, threshold 2, loops
# unrolled 4 times (--loop 4; halmos reports a loop cut short, which fails the run), one
# deposit + one lock + one withdrawal per path, 1 spoke chain on the hub.
# Installs halmos into .venv-halmos and forge into tests/e2e/node_modules if missing.
# Usage: bash scripts/symbolic-check.sh [--timeout SECONDS-per-halmos-run] [--keep DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
TIMEOUT=300
KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --keep) KEEP="$2"; shift 2 ;;
    *) echo "usage: bash scripts/symbolic-check.sh [--timeout SECONDS] [--keep DIR]" >&2; exit 2 ;;
  esac
done
VENV="${INTERMARGIN_HALMOS_VENV:-.venv-halmos}"
if ! "$VENV/bin/halmos" --version 2>/dev/null | grep -q '^halmos 0\.3\.3$'; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'halmos==0.3.3' >/dev/null
fi
if [ ! -e tests/e2e/node_modules/.bin/forge ] || [ ! -d tests/e2e/node_modules/solc ]; then
  (cd tests/e2e && npm install --silent --no-audit --no-fund >/dev/null)
fi
export PATH="$ROOT/tests/e2e/node_modules/.bin:$(cd "$VENV" && pwd)/bin:$PATH"
export INTERMARGIN_SOLC_JS="${INTERMARGIN_SOLC_JS:-$ROOT/tests/e2e/node_modules/solc}"

if [ -n "$KEEP" ]; then WORK="$(realpath -m "$KEEP")"; rm -rf "$WORK"; mkdir -p "$WORK"
else WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT; fi
START=$(date +%s)
# The forge project: the production sources, the tests, and one renamed copy of both per mutant.
python3 contracts/audit/halmos/project.py "$ROOT" "$WORK"
(cd "$WORK" && forge build --ast --extra-output storageLayout metadata >"$WORK/build.log" 2>&1) \
  || { cat "$WORK/build.log" >&2; echo "symbolic-check: forge build failed" >&2; exit 1; }
python3 contracts/audit/halmos/project.py --same-code "$ROOT" "$WORK"

status=0
passed=0
failed=0
# run NAME EXPECT HALMOS-ARGS...: EXPECT is pass (every test proved) or fail:<test> (a counterexample)
run() {
  local name="$1" expect="$2"; shift 2
  local t0=$SECONDS rc=0
  timeout "$TIMEOUT" halmos --root "$WORK" --loop 4 --json-output "$WORK/$name.json" --no-status "$@" \
    >"$WORK/$name.log" 2>&1 || rc=$?
  if python3 - "$WORK/$name.json" "$name" "$expect" "$rc" "$((SECONDS - t0))" "$WORK/$name.log" <<'PY'; then
import json, os, sys
path, name, expect, rc, secs, log = sys.argv[1:]
if rc == "124" or not os.path.exists(path):
    sys.exit(f"{name}: no result (exit {rc}, timeout or crash; see {log})")
d = json.load(open(path))
tests = [t for c in d["test_results"].values() for t in c]
if not tests:
    sys.exit(f"{name}: no test ran")
log_text = open(log).read()
line = ", ".join(f"{t['name'].split('(')[0]} {'PASS' if t['exitcode'] == 0 else 'FAIL'} {t['num_paths'][0]} paths"
                 for t in tests)
print(f"{name}: {line} ({secs} s)")
if expect == "pass":
    bad = [t["name"] for t in tests if t["exitcode"] != 0]
    if bad:
        sys.exit(f"{name}: property NOT proved in {bad}")
    if "loop unrolling bound" in log_text or any(t.get("num_bounded_loops") for t in tests):
        sys.exit(f"{name}: a loop was cut by --loop; the proof is incomplete")
else:
    want = expect.split(":", 1)[1]
    hit = [t for t in tests if t["name"].startswith(want + "(") and t["exitcode"] != 0 and t.get("num_models")]
    if not hit:
        sys.exit(f"{name}: expected a counterexample in {want}, got none: the check would be vacuous")
PY
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); status=1
  fi
}

run spoke pass --contract SpokeSymTest
run hub pass --contract HubSymTest
# Vacuity controls on the production code: an accepted credit and a paid withdrawal are reachable.
run reach-spoke fail:reach_acceptCredit --contract SpokeSymTest --function reach_ --early-exit
run reach-hub fail:reach_withdraw --contract HubSymTest --function reach_ --early-exit
# Mutants (contracts/audit/halmos/project.py): each must break its property.
run mutant-no-threshold fail:check_acceptedCreditHasQuorum --contract SpokeSymTest_noThreshold \
  --function check_acceptedCreditHasQuorum --early-exit
run mutant-no-duplicate-check fail:check_acceptedCreditHasQuorum --contract SpokeSymTest_noDuplicateCheck \
  --function check_acceptedCreditHasQuorum --early-exit
run mutant-no-nonce-mark fail:check_samePayloadNotAcceptedTwice --contract SpokeSymTest_noNonceMark \
  --function check_samePayloadNotAcceptedTwice --early-exit
run mutant-no-withdrawal-check fail:check_withdrawalKeepsInvariant --contract HubSymTest_noWithdrawalCheck \
  --function check_withdrawalKeepsInvariant --early-exit
echo "symbolic-check: $([ $status = 0 ] && echo "all properties proved, every control refuted as it must be" || echo FAILED) in $(( $(date +%s) - START )) s"
echo "symbolic-check: $passed passed, $failed failed"
exit $status
