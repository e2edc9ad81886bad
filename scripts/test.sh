#!/usr/bin/env bash
# The whole test suite: installs what the tests need on a fresh Debian machine (PostgreSQL,
# Chromium, playwright-core, schemathesis), then runs every test:
#   1. cargo tests of every crate; the ledger/API suite runs on SQLite and on PostgreSQL
#      (INTERMARGIN_TEST_POSTGRES, exported by scripts/deps.sh), the crash test kills a live server;
#   2. every command of the README's tour, as written, in a fresh copy (scripts/readme-tour.sh);
#   3. the Python package: built with maturin, pytest against the CLI (scripts/python-test.sh);
#   4. the dashboard in headless Chromium and schemathesis against /openapi.json (tests/e2e/run.sh);
#   5. slither on contracts/, every finding answered in contracts/AUDIT.md (scripts/audit-contracts.sh);
#   6. halmos on the contracts' bytecode: the three properties proved, every control refuted
#      (scripts/symbolic-check.sh, ~3-4 min).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=/dev/null
source scripts/deps.sh
# Benches are built (clippy checks them) but not run here: performance is measured by `cargo bench`.
cargo test --workspace --lib --bins --tests --examples --locked
cargo test --workspace --doc --locked
cargo build -p intermargin-cli --locked
BIN="${CARGO_TARGET_DIR:-target}/debug/intermargin"
INTERMARGIN_BIN="$BIN" bash scripts/readme-tour.sh
INTERMARGIN_BIN="$BIN" bash scripts/python-test.sh
INTERMARGIN_BIN="$BIN" bash tests/e2e/run.sh
# Every slither finding on contracts/ answered in contracts/AUDIT.md.
bash scripts/audit-contracts.sh
# Symbolic execution (halmos): no double acceptance, quorum, invariant-keeping withdrawals.
bash scripts/symbolic-check.sh
