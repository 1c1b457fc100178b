#!/usr/bin/env bash
# Builds build/index.js and its .wasm with worker-build. Also the `[build] command` of wrangler.toml,
# so `wrangler dev` and `wrangler deploy` build the same way. Pass `--no-opt` to skip wasm-opt.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
wasm_target_ready || { echo "build: no wasm32 target; run scripts/setup.sh first" >&2; exit 1; }
RUSTUP_TOOLCHAIN="${WASM_TOOLCHAIN:-${RUSTUP_TOOLCHAIN:-}}" worker-build --release "$@"
