// Where a sync's CPU time goes (issue 13): V8's sampling profiler, through the inspector that
// workerd exposes (Miniflare's `inspectorPort`), over N sequential syncs of one Worker against the
// local emulator; each sample is attributed by the frame it was taken in (its "self" time):
//   wasm        the Rust code (function names when the module keeps its name section)
//   js glue     build/index.js: wasm-bindgen's generated imports and worker-build's shim
//   runtime     workerd's built-ins called from JS (fetch, Headers, streams, timers, SQL, …)
//   v8          "(program)" (V8 itself: compiling, tiering, microtask queue) and GC
//   js worker   a JavaScript Worker's own code (the reference)
// The profiler's own cost inflates every number alike; compare shares and differences between
// Workers profiled the same way, not absolute times with the unprofiled benchmark.
//
// Usage: node bench/profile.mjs OUT.json [ours|reference] [unchanged|changed]
//        env: PROFILE_N (syncs, default 300), PROFILE_INTERVAL_US (sampling interval, default 50),
//             PROFILE_BUILD (a copy of build/ to profile instead of build/: scripts/bench.sh
//             profiles a build that keeps the wasm name section, so functions are named),
//             PROFILE_RAW (also write V8's whole profile there)
import { Miniflare } from 'miniflare';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID } from '../emulator/index.mjs';
import { AUTH, benchEmulator } from './common.mjs';
import { workerOptions, ROOT } from '../tests/e2e/miniflare.mjs';

const out = process.argv[2] ?? 'profile.json';
const worker = process.argv[3] ?? 'ours';
const scenario = process.argv[4] ?? 'unchanged';
const N = Number(process.env.PROFILE_N ?? 300);
const INTERVAL_US = Number(process.env.PROFILE_INTERVAL_US ?? 50);
const PORT = 19229 + Math.floor(Math.random() * 2000);

const { emu, bindings } = await benchEmulator();
const quiet = (o, e) => {
  o.resume();
  e.resume();
};
const build = process.env.PROFILE_BUILD ? resolve(process.env.PROFILE_BUILD) : null;
const options =
  worker === 'ours'
    ? {
        ...workerOptions({ bindings, handleRuntimeStdio: quiet }),
        ...(build ? { rootPath: build, scriptPath: `${build}/index.js`, modulesRoot: build } : {}),
      }
    : {
        rootPath: ROOT,
        scriptPath: 'bench/workers/reference.js',
        modules: true,
        compatibilityDate: '2025-09-01',
        bindings,
        handleRuntimeStdio: quiet,
      };
const mf = new Miniflare({ ...options, inspectorPort: PORT });
const url = await mf.ready;
const request = worker === 'ours' ? { method: 'POST', headers: { authorization: `Bearer ${AUTH}` } } : { method: 'POST' };
const sync = async () => {
  if (scenario === 'changed') emu.setStoredKeys(DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID, []);
  const r = await mf.dispatchFetch(url, request);
  const body = await r.text();
  if (r.status !== 200) throw new Error(`${worker}: status ${r.status}: ${body.slice(0, 300)}`);
};
for (let i = 0; i < 30; i++) await sync(); // warm up: JIT, wasm tier-up, a first write

// The user Worker's isolate ("core:user:<name>"), not Miniflare's entry or control workers.
const targets = await (await fetch(`http://127.0.0.1:${PORT}/json`)).json();
const target = targets.find((t) => /core:user:/.test(t.title));
if (!target) throw new Error(`no user worker among inspector targets: ${targets.map((t) => t.title).join(', ')}`);
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onerror = reject;
});
let next = 0;
const pending = new Map();
ws.onmessage = (m) => {
  const msg = JSON.parse(m.data);
  pending.get(msg.id)?.(msg);
  pending.delete(msg.id);
};
const send = (method, params = {}) =>
  new Promise((resolve) => {
    const id = ++next;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
await send('Profiler.enable');
await send('Profiler.setSamplingInterval', { interval: INTERVAL_US });
await send('Profiler.start');
for (let i = 0; i < N; i++) await sync();
const { result } = await send('Profiler.stop');
ws.close();
await mf.dispose();
await emu.close();

// ---- attribution of self time ----
const { nodes, samples, timeDeltas } = result.profile;
const byId = new Map(nodes.map((n) => [n.id, n]));
const selfUs = new Map();
for (let i = 0; i < samples.length; i++) selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + (timeDeltas[i] ?? 0));
function category({ functionName: f, url: u }) {
  if (f === '(idle)') return 'idle';
  if (f === '(program)' || f === '(garbage collector)') return 'v8';
  if (u.startsWith('wasm://') || u.includes('.wasm')) return 'wasm';
  if (u.endsWith('index.js') || u.endsWith('shim.mjs')) return 'js glue';
  if (u === '') return f === 'js-to-wasm' || f === 'wasm-to-js' ? 'js glue' : 'runtime';
  if (u.includes('reference.js')) return 'js worker';
  return 'runtime';
}
const cats = {};
const fns = new Map();
let busyUs = 0;
for (const [id, us] of selfUs) {
  const { callFrame } = byId.get(id);
  const c = category(callFrame);
  if (c === 'idle') continue;
  busyUs += us;
  cats[c] = (cats[c] ?? 0) + us;
  const key = `${c}\t${callFrame.functionName || '(anonymous)'}`;
  fns.set(key, (fns.get(key) ?? 0) + us);
}
const perSync = (us) => Number((us / 1000 / N).toFixed(4));
const top = [...fns]
  .sort((a, b) => b[1] - a[1])
  .slice(0, 25)
  .map(([k, us]) => {
    const [c, name] = k.split('\t');
    return { category: c, name, msPerSync: perSync(us), share: Number((us / busyUs).toFixed(4)) };
  });
const report = {
  worker,
  scenario,
  n: N,
  intervalUs: INTERVAL_US,
  msPerSync: perSync(busyUs),
  categories: Object.fromEntries(Object.entries(cats).map(([c, us]) => [c, perSync(us)])),
  top,
};
writeFileSync(out, JSON.stringify(report, null, 1));
if (process.env.PROFILE_RAW) writeFileSync(process.env.PROFILE_RAW, JSON.stringify(result.profile));
console.error(`profile ${worker}/${scenario}: ${report.msPerSync} ms/sync busy; ${Object.entries(report.categories).map(([c, ms]) => `${c} ${ms}`).join(', ')}`);
