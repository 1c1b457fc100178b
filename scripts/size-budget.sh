#!/usr/bin/env bash
# Fails when the gzip size of the deployed bundle (build/index.js plus its .wasm) grows past the
# budget, so a size regression is seen in review. Raise the budget on purpose, in its own commit.
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET_GZIP_BYTES=${BUDGET_GZIP_BYTES:-$(cat size-budget.txt)}
wasm=$(find build -maxdepth 1 -name '*.wasm' | head -n 1)
[ -n "$wasm" ] || { echo "size budget: no .wasm under build/; run the build first" >&2; exit 1; }
gz() { gzip -9 -c "$1" | wc -c; }
total=$(( $(gz "$wasm") + $(gz build/index.js) ))
echo "bundle: $wasm $(wc -c <"$wasm") bytes raw, build/index.js $(wc -c <build/index.js) bytes raw; gzip total $total bytes (budget $BUDGET_GZIP_BYTES)"
if [ "$total" -gt "$BUDGET_GZIP_BYTES" ]; then
  echo "size budget: the gzip bundle is $total bytes, over the budget of $BUDGET_GZIP_BYTES (size-budget.txt)" >&2
  exit 1
fi
