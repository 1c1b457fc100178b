// scripts/build.sh builds only when something the build is made from changed (make run and make
// deploy build, then wrangler runs the same script again as its [build] command). Run here on a copy
// of the build scripts with a fake toolchain (rustc, worker-build, wasm-bindgen, wasm-opt) that
// records each build, so every case takes milliseconds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, copyFileSync, rmSync, existsSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
let root;
let home;
const calls = () => (existsSync(join(root, 'calls')) ? readFileSync(join(root, 'calls'), 'utf8').trim().split('\n') : []);

function exe(path, text) {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, `#!/usr/bin/env bash\n${text}\n`);
  chmodSync(path, 0o755);
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'jwks-sync-build-test-'));
  home = join(root, 'home');
  mkdirSync(join(root, 'scripts'));
  for (const f of ['scripts/build.sh', 'scripts/env.sh']) copyFileSync(join(repo, f), join(root, f));
  mkdirSync(join(root, 'src'));
  writeFileSync(join(root, 'src/lib.rs'), '// v1\n');
  writeFileSync(join(root, 'Cargo.toml'), '[package]\nname = "x"\n');
  writeFileSync(join(root, 'Cargo.lock'), '# lock\n');
  writeFileSync(join(root, 'README.md'), 'readme\n');
  const libdir = join(root, 'rustlib');
  mkdirSync(libdir);
  writeFileSync(join(libdir, 'libstd-fake.rlib'), '');
  const bin = join(home, '.cargo/bin');
  exe(join(bin, 'rustc'), `case "$*" in *target-libdir*) echo ${libdir} ;; *) echo "rustc 1.0.0-fake" ;; esac`);
  exe(join(bin, 'wasm-bindgen'), 'echo "wasm-bindgen 0.2.130"');
  exe(
    join(bin, 'worker-build'),
    `[ "$1" = --version ] && { echo "worker-build 0.8.7"; exit 0; }
echo "worker-build $*" >> calls
[ -f fail ] && { echo "error[E0308]: mismatched types" >&2; exit 1; }
mkdir -p build && echo "js $RANDOM$RANDOM" > build/index.js && echo "wasm $RANDOM$RANDOM" > build/index_bg.wasm`,
  );
  exe(join(root, 'node_modules/binaryen/bin/wasm-opt'), '[ "$1" = --version ] && { echo "wasm-opt version 132"; exit 0; }; echo "wasm-opt" >> calls');
});
after(() => rmSync(root, { recursive: true, force: true }));

function build(...args) {
  const r = spawnSync('bash', ['scripts/build.sh', ...args], { cwd: root, env: { ...process.env, HOME: home, SETUP_WASM: '' }, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}
const UP_TO_DATE = 'build: up to date (nothing build/ is made from changed since the last build)';

test('a second build with nothing changed is skipped and leaves build/ as it was', () => {
  const first = build();
  assert.equal(first.code, 0, first.out);
  assert.deepEqual(calls(), ['worker-build --release', 'wasm-opt']);
  const wasm = readFileSync(join(root, 'build/index_bg.wasm'), 'utf8');
  const second = build();
  assert.equal(second.code, 0, second.out);
  assert.equal(second.out.trim(), UP_TO_DATE);
  assert.equal(calls().length, 2);
  assert.equal(readFileSync(join(root, 'build/index_bg.wasm'), 'utf8'), wasm);
});

test('a changed source builds again; a file the build does not read does not', () => {
  const n = calls().length;
  writeFileSync(join(root, 'README.md'), 'readme, edited\n');
  assert.equal(build().out.trim(), UP_TO_DATE);
  writeFileSync(join(root, 'src/lib.rs'), '// v2\n');
  assert.equal(build().code, 0);
  assert.equal(calls().length, n + 2);
  assert.equal(build().out.trim(), UP_TO_DATE);
  writeFileSync(join(root, 'Cargo.lock'), '# lock 2\n');
  build();
  assert.equal(calls().length, n + 4);
});

test('other arguments build again, and so does going back', () => {
  const n = calls().length;
  build('--no-opt');
  assert.deepEqual(calls().slice(n), ['worker-build --release --no-opt']);
  assert.equal(build('--no-opt').out.trim(), UP_TO_DATE);
  build();
  assert.deepEqual(calls().slice(n + 1), ['worker-build --release', 'wasm-opt']);
});

test('an output changed since the build builds again', () => {
  const n = calls().length;
  writeFileSync(join(root, 'build/index_bg.wasm'), 'something else');
  build();
  assert.equal(calls().length, n + 2);
});

test('a failed build shows the error, exits non-zero and is not taken as up to date', () => {
  writeFileSync(join(root, 'src/lib.rs'), '// v3, broken\n');
  writeFileSync(join(root, 'fail'), '');
  const failed = build();
  assert.notEqual(failed.code, 0);
  assert.match(failed.out, /error\[E0308\]: mismatched types/);
  assert.equal(existsSync(join(root, 'build/.stamp')), false);
  const again = build();
  assert.notEqual(again.code, 0, 'still broken: built again, not skipped');
  rmSync(join(root, 'fail'));
  assert.equal(build().code, 0);
  assert.equal(build().out.trim(), UP_TO_DATE);
});
