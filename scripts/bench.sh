#!/usr/bin/env bash
# Runs every benchmark of issue 7 and writes BENCHMARKS.md: native micro-benchmarks of the JWKS
# pipeline (divan), bundle sizes with and without wasm-opt plus a per-crate breakdown, and, in
# workerd via Miniflare against the local emulator, CPU per sync, requests/s and cold start of this
# Worker next to the reference JavaScript Worker (bench/workers/reference.js) and two floors; and
# (issue 12) the rotation latency, from a key's publication to the first token the edge accepts,
# with a simulated cron period (bench/rotation.mjs, also runnable alone); and (issue 13) V8 CPU
# profiles of a sync, attributed to the Rust code, the JS glue, the runtime and V8
# (bench/profile.mjs), and what the module's data section holds (bench/wasm-data.mjs). Its last
# lines are issue 13's goals, each with the ratio measured in this run.
#
#   bash scripts/bench.sh              # full run, a few minutes on 2 cores (plus builds)
#   BENCH_QUICK=1 bash scripts/bench.sh  # fewer samples and rounds, for checking the script
#   BENCH_SKIP="native sizes" bash scripts/bench.sh  # reuse those parts from the last run's target/bench
#                                          (parts: native sizes workerd profile rotation)
#
# Leaves build/ as the normal (wasm-opt) build. Intermediate outputs: target/bench/.
# All network traffic stays on 127.0.0.1 (the emulator and workerd).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out=target/bench
mkdir -p "$out"
quick=${BENCH_QUICK:-}
skip() { [[ " ${BENCH_SKIP:-} " == *" $1 "* ]]; }
step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)" >&2; }

step "machine"
node -e '
const os = require("node:os"), cp = require("node:child_process");
const sh = (c) => { try { return cp.execSync(c, { stdio: ["ignore", "pipe", "ignore"] }).toString().trim(); } catch { return "?"; } };
const ver = (p) => { try { return require(process.cwd() + "/node_modules/" + p + "/package.json").version; } catch { return "?"; } };
console.log(JSON.stringify({
  date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  command: "bash scripts/bench.sh",
  cpu: os.cpus()[0]?.model, cores: os.cpus().length,
  os: sh("uname -srm") + ", " + (sh(". /etc/os-release && echo $PRETTY_NAME")),
  rustc: sh("rustc --version"), node: process.versions.node,
  workerd: ver("workerd"), miniflare: ver("miniflare"),
}));' >"$out/machine.json"
cat "$out/machine.json" >&2

if ! skip native; then
  step "native micro-benchmarks (cargo bench --bench jwks)"
  samples=${quick:+10}
  cargo bench --bench jwks -- --sample-count "${samples:-50}" >"$out/native.txt"
fi

gz() { gzip -9 -c "$1" | wc -c; }
wasm_file() { local f; for f in build/*.wasm build/*/*.wasm; do [ -f "$f" ] && { echo "$f"; return; }; done; echo "bench: no .wasm under build/" >&2; return 1; }
sizes_of() { # label → JSON array of {file, raw, gzip}
  local w; w=$(wasm_file)
  printf '"%s":[{"file":"%s","raw":%d,"gzip":%d},{"file":"build/index.js","raw":%d,"gzip":%d}]' \
    "$1" "$w" "$(wc -c <"$w")" "$(gz "$w")" "$(wc -c <build/index.js)" "$(gz build/index.js)"
}

if ! skip sizes; then
step "build without wasm-opt"
bash scripts/build.sh --no-opt >"$out/build-noopt.log" 2>&1 || { tail -20 "$out/build-noopt.log" >&2; exit 1; }
noopt=$(sizes_of "without wasm-opt (--no-opt)")
step "build with wasm-opt (the deployed build)"
bash scripts/build.sh >"$out/build-opt.log" 2>&1 || { tail -20 "$out/build-opt.log" >&2; exit 1; }
opt=$(sizes_of "with wasm-opt (deployed)")
# What the deployed module's data section holds (panic locations, messages, tables…).
node bench/wasm-data.mjs "$(wasm_file)" "$out/data.json" >/dev/null
budget=$(cat size-budget.txt 2>/dev/null || echo null)
# Bytes of the deployed .wasm that are its name section (kept unless the profile strips symbols).
namesec=$(node bench/wasm-crates.mjs "$(wasm_file)" | node -e 'const j=JSON.parse(require("fs").readFileSync(0));console.log(j.sections["custom:name"]??0)')
printf '{"builds":{%s,%s},"reference":{"raw":%d,"gzip":%d},"budget":%s,"deployedNameSection":%d}\n' "$opt" "$noopt" \
  "$(wc -c <bench/workers/reference.js)" "$(gz bench/workers/reference.js)" "$budget" "$namesec" >"$out/sizes.json"
cat "$out/sizes.json" >&2

step "per-crate size breakdown (a build that keeps function names)"
# Same release profile, but `strip = false` so the name section survives; a separate target dir so
# the normal build's cache is untouched. Then wasm-bindgen as worker-build runs it (its GC pass
# removes what the glue does not reach), keeping names; no wasm-opt (it would drop them).
wasm_target_ready || { echo "bench: no wasm32 target; run scripts/setup.sh first" >&2; exit 1; }
rm -f "$out/crates.json" "$out/twiggy.txt"
if RUSTUP_TOOLCHAIN="${WASM_TOOLCHAIN:-${RUSTUP_TOOLCHAIN:-}}" CARGO_PROFILE_RELEASE_STRIP=false \
  cargo build --lib --release --target wasm32-unknown-unknown --target-dir "target/bench-names${WASM_TOOLCHAIN:+-$WASM_TOOLCHAIN}" \
  >"$out/build-names.log" 2>&1 &&
  "$WASM_BINDGEN_BIN" --target module --no-typescript --keep-debug --out-dir "$out/names" \
    "target/bench-names${WASM_TOOLCHAIN:+-$WASM_TOOLCHAIN}/wasm32-unknown-unknown/release/jwks_sync.wasm" >>"$out/build-names.log" 2>&1; then
  # wasm-opt exactly as worker-build 0.8.7 runs it (-O, its feature list, --debuginfo keeps the
  # names), plus --strip-dwarf: the module then matches the deployed one but for its name section.
  names="$out/names/jwks_sync_bg.opt.wasm"
  "$WASM_OPT_BIN" -O --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling \
    --debuginfo --strip-dwarf "$out/names/jwks_sync_bg.wasm" -o "$names"
  node bench/wasm-crates.mjs "$names" "$out/crates.json"
  if command -v twiggy >/dev/null; then
    twiggy top -n 15 "$names" >"$out/twiggy.txt" 2>&1 || rm -f "$out/twiggy.txt"
  fi
else
  echo "bench: the names build failed (see $out/build-names.log); no per-crate breakdown" >&2
fi
fi

if ! skip workerd; then
  step "workerd: cold start, CPU per sync, requests/s (ours, reference, floors)"
  [ -f build/index.js ] || bash scripts/build.sh
  if [ -n "$quick" ]; then export BENCH_N=${BENCH_N:-50} BENCH_ROUNDS=${BENCH_ROUNDS:-3} BENCH_COLD=${BENCH_COLD:-2}; fi
  timeout 600 node bench/workerd.mjs "$out/workerd.json"
fi

if ! skip profile; then
  step "CPU profiles in workerd: where a sync's time goes (ours and the reference)"
  # The deployed build, but keeping the wasm name section so the profile names Rust functions;
  # build/ goes back to the deployed build afterwards.
  rm -rf "$out/profiled"
  BUILD_KEEP_NAMES=1 bash scripts/build.sh >"$out/build-profiled.log" 2>&1 || { tail -20 "$out/build-profiled.log" >&2; exit 1; }
  cp -r build "$out/profiled"
  bash scripts/build.sh >>"$out/build-profiled.log" 2>&1
  n=400; [ -z "$quick" ] || n=100
  for w in ours reference; do
    for scenario in unchanged changed; do
      PROFILE_N=$n PROFILE_BUILD="$out/profiled" timeout 300 \
        node bench/profile.mjs "$out/profile-$w-$scenario.json" "$w" "$scenario"
    done
  done
fi

if ! skip rotation; then
  step "rotation latency: publication → cron tick → sync → first accepted token"
  [ -f build/index.js ] || bash scripts/build.sh
  timeout 600 node bench/rotation.mjs "$out/rotation.json"
fi

step "report"
node bench/report.mjs "$out" BENCHMARKS.md
echo "bench: wrote BENCHMARKS.md" >&2
# The goals of issue 13, last, so that a regression shows at a glance.
cat "$out/goals.txt"
