#!/usr/bin/env bash
# Runs the whole test suite: unit tests, SQL suites (regression-test/suites/*.slt) and the
# Doris-derived cases (../shared/doris-cases) against real doris-fe/doris-be processes,
# and the kill -9 durability test.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/doris-rs-target}
bin/install-deps.sh
cargo build --bins
cargo test --workspace -- --test-threads=1
