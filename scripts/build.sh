#!/usr/bin/env bash
# Builds build/index.js and its .wasm with worker-build. Also the `[build] command` of wrangler.toml,
# so `wrangler dev` and `wrangler deploy` build the same way. Pass `--no-opt` to skip wasm-opt.
# SETUP_WASM=debian builds with Debian's toolchain (see scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
wasm_target_ready || { echo "build: no wasm32 target; run scripts/setup.sh first" >&2; exit 1; }
if [ -n "$WASM_TOOLCHAIN" ]; then
  # Another compiler: its artefacts get their own target directory.
  export RUSTUP_TOOLCHAIN="$WASM_TOOLCHAIN" CARGO_TARGET_DIR="target/$WASM_TOOLCHAIN"
fi
worker-build --release "$@"

# worker-build keeps the wasm names section (wasm-opt --debuginfo). It only names functions in stack
# traces and costs about 35 KB gzip, so it is stripped, with the features worker-build enables.
if [[ " $* " != *" --no-opt "* ]]; then
  features=(mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling)
  "$WASM_OPT_BIN" "${features[@]/#/--enable-}" --strip-debug build/index_bg.wasm -o build/index_bg.wasm
fi
