#!/usr/bin/env bash
# The whole test suite, in order: format check, clippy (warnings denied), native tests, the wasm
# build, the bundle size budget, then the emulator's and the end-to-end tests in workerd.
# The sync end-to-end tests run twice, once per shape of Cloudflare's PUT answer.
# Exits non-zero on the first failure; ends with the pass/fail counts of every runner.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "format check (cargo fmt --check)"
cargo fmt --all --check

step "clippy (warnings denied)"
cargo clippy --all-targets --locked -- -D warnings

step "native tests (cargo test)"
cargo test --locked 2>&1 | tee "$logs/cargo.txt"
rust_pass=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$logs/cargo.txt" | awk '{s+=$4} END {print s+0}')
rust_fail=$(grep -Eo '[0-9]+ failed' "$logs/cargo.txt" | awk '{s+=$1} END {print s+0}')

step "wasm build (worker-build --release)"
bash scripts/build.sh

step "bundle size budget"
bash scripts/size-budget.sh

node_run() {
  local tap=$1; shift
  node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" "$@"
}

step "emulator and end-to-end tests (node --test, workerd via Miniflare)"
node_run "$logs/node.tap" emulator/test/*.test.mjs tests/e2e/*.test.mjs

# Cloudflare's PUT answer has two shapes in public sources (keys under result, or at the top
# level); the run above used the newest one, the sync suite runs again against the older one.
step "end-to-end sync tests against the older PUT answer shape (E2E_PUT_SHAPE=top)"
E2E_PUT_SHAPE=top node_run "$logs/node-top.tap" $(ls tests/e2e/*.test.mjs | grep -v '/http\.test\.mjs$')
node_pass=$(awk '/^# pass /{s+=$3} END {print s+0}' "$logs/node.tap" "$logs/node-top.tap")
node_fail=$(awk '/^# fail /{s+=$3} END {print s+0}' "$logs/node.tap" "$logs/node-top.tap")

step "summary"
echo "cargo test: ${rust_pass} passed, ${rust_fail} failed"
echo "node --test: ${node_pass} passed, ${node_fail} failed"
echo "total: $((rust_pass + node_pass)) passed, $((rust_fail + node_fail)) failed"
