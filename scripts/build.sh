#!/usr/bin/env bash
# Builds build/index.js and its .wasm with worker-build. Also the `[build] command` of wrangler.toml,
# so `wrangler dev` and `wrangler deploy` build the same way. Pass `--no-opt` to skip wasm-opt.
# SETUP_WASM=debian builds with Debian's toolchain (see scripts/setup.sh).
#
# A build is skipped when nothing it is made from changed since the last successful one (the
# sources, Cargo.toml/.lock, these scripts, the arguments, the tool versions) and its output is
# still the one it wrote: `make run` and `make deploy` build first, and wrangler then runs this
# script again as its `[build] command`. `make clean` (or deleting build/) forces a build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
wasm_target_ready || { echo "build: no wasm32 target; run scripts/setup.sh first" >&2; exit 1; }
if [ -n "$WASM_TOOLCHAIN" ]; then
  # Another compiler: its artefacts get their own target directory.
  export RUSTUP_TOOLCHAIN="$WASM_TOOLCHAIN" CARGO_TARGET_DIR="target/$WASM_TOOLCHAIN"
fi

stamp=build/.stamp
if command -v sha256sum >/dev/null 2>&1; then sha=(sha256sum); else sha=(shasum -a 256); fi
# What the build is made from: one hash over the inputs, the arguments and the tools' versions.
inputs() {
  {
    printf 'args: %s\ntoolchain: %s\nRUSTFLAGS: %s\nkeep names: %s\n' "$*" "$WASM_TOOLCHAIN" "${RUSTFLAGS:-}" "${BUILD_KEEP_NAMES:-}"
    rustc -vV
    worker-build --version
    "$WASM_BINDGEN_BIN" --version
    "$WASM_OPT_BIN" --version
    find src Cargo.toml Cargo.lock scripts/build.sh scripts/env.sh $(ls -d .cargo build.rs 2>/dev/null) \
      -type f -print0 | LC_ALL=C sort -z | xargs -0 "${sha[@]}"
  } | "${sha[@]}" | cut -d' ' -f1
}
outputs() { "${sha[@]}" build/index.js build/index_bg.wasm 2>/dev/null || true; }
want="$(inputs "$@")
$(outputs)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "build: up to date (nothing build/ is made from changed since the last build)"
  exit 0
fi
rm -f "$stamp"

worker-build --release "$@"

# worker-build keeps the wasm names section (wasm-opt --debuginfo). It only names functions in stack
# traces and costs about 35 KB gzip, so it is stripped, with the features worker-build enables; one
# more -Oz pass on the way (worker-build's ran with the names in place) saves about 2.6 KB gzip for
# about 4 s. BUILD_KEEP_NAMES=1 keeps the names (scripts/bench.sh profiles such a build).
if [[ " $* " != *" --no-opt "* ]] && [ -z "${BUILD_KEEP_NAMES:-}" ]; then
  features=(mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling)
  "$WASM_OPT_BIN" "${features[@]/#/--enable-}" -Oz --strip-debug build/index_bg.wasm -o build/index_bg.wasm
fi
printf '%s\n%s\n' "$(inputs "$@")" "$(outputs)" >"$stamp"
