#!/usr/bin/env bash
# Installs and starts what the test suite needs on a fresh Debian machine (idempotent; sourced by
# scripts/test.sh): PostgreSQL for the ledger suite, Chromium + chromedriver and playwright-core for
# the dashboard test, node + solc-js for the EVM tests, anvil for the xchain devnet, forge for the halmos check, and a Python
# virtualenv with schemathesis for the API fuzz run, maturin, numpy, pytest for the Python package
# and eth-account (with MetaMask's eth-sig-util from npm) for the EIP-712 comparisons; nats-server (JetStream) for the margin workers' test.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

need_pkgs=()
command -v pg_ctlcluster >/dev/null 2>&1 || [ -x /usr/lib/postgresql/*/bin/postgres ] 2>/dev/null || need_pkgs+=(postgresql)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium chromium-driver)
command -v npm >/dev/null 2>&1 || need_pkgs+=(nodejs npm)
command -v nats-server >/dev/null 2>&1 || need_pkgs+=(nats-server)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "deps: installing ${need_pkgs[*]}" >&2
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# PostgreSQL: a throw-away cluster owned by the current user, on a private port.
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PGDATA_DIR="${INTERMARGIN_PGDATA:-/tmp/intermargin-pg}"
PGPORT_TEST="${INTERMARGIN_PGPORT:-54329}"
PGUSER_RUN="$(id -un)"
run_pg() { if [ "$(id -u)" = "0" ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
if ! run_pg "$PGBIN/pg_isready -h 127.0.0.1 -p $PGPORT_TEST" >/dev/null 2>&1; then
  rm -rf "$PGDATA_DIR"; mkdir -p "$PGDATA_DIR"
  if [ "$(id -u)" = "0" ]; then chown postgres "$PGDATA_DIR"; PGUSER_RUN=postgres; fi
  run_pg "$PGBIN/initdb -D $PGDATA_DIR -U intermargin --auth=trust" >/dev/null
  run_pg "$PGBIN/pg_ctl -D $PGDATA_DIR -o '-p $PGPORT_TEST -k /tmp -c listen_addresses=127.0.0.1 -c fsync=on' -l $PGDATA_DIR/log -w start" >/dev/null
fi
export INTERMARGIN_TEST_POSTGRES="postgres://intermargin@127.0.0.1:$PGPORT_TEST/postgres"

# Browser test driver and API fuzzer.
if [ ! -d tests/e2e/node_modules/playwright-core ] || [ ! -d tests/e2e/node_modules/solc ] \
  || [ ! -e tests/e2e/node_modules/.bin/anvil ] || [ ! -e tests/e2e/node_modules/.bin/forge ] \
  || [ ! -e tests/e2e/node_modules/@metamask/eth-sig-util/package.json ]; then
  (cd tests/e2e && npm install --silent --no-audit --no-fund >/dev/null)
fi
if [ ! -x .venv-test/bin/schemathesis ] && [ ! -x .venv-test/bin/st ]; then
  python3 -m venv .venv-test
  .venv-test/bin/pip install -q 'schemathesis>=4.3,<5' >/dev/null
fi
# The Python package's build backend and test runner (python/, scripts/python-test.sh).
if ! .venv-test/bin/python -c 'import maturin, numpy, pytest' 2>/dev/null; then
  .venv-test/bin/pip install -q 'maturin>=1.5,<2' numpy pytest >/dev/null
fi
# eth-account, the reference EIP-712 implementation for crates/xchain/tests/eip712_random.rs.
if ! .venv-test/bin/python -c 'import eth_account' 2>/dev/null; then
  .venv-test/bin/pip install -q 'eth-account>=0.13,<0.14' >/dev/null
fi
export INTERMARGIN_REQUIRE_ETH_ACCOUNT=1
# solc-js for the EVM test of the exported Solidity verifier (crates/proofs/tests/evm.rs) and the
# reproducibility check of contracts/build (crates/xchain/tests/contracts.rs).
export INTERMARGIN_SOLC_JS="$PWD/tests/e2e/node_modules/solc"
export INTERMARGIN_REQUIRE_EVM=1
# anvil (npm @foundry-rs/anvil) for the xchain devnet tests (crates/xchain/tests/devnet.rs,
# crates/cli/tests/xchain_devnet_cli.rs).
export INTERMARGIN_ANVIL="$PWD/tests/e2e/node_modules/.bin/anvil"
export INTERMARGIN_REQUIRE_ANVIL=1
# nats-server (Debian's, JetStream) for the margin workers' end-to-end test
# (crates/cli/tests/workers_nats.rs starts its own on a free port).
export INTERMARGIN_REQUIRE_NATS=1
