#!/usr/bin/env bash
# The whole test suite: installs what the tests need on a fresh Debian machine, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=/dev/null
source scripts/deps.sh
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
