// workerd benchmarks (issue 7): CPU per sync, requests per second and cold start of the Rust Worker
// (build/index.js + .wasm) and of the reference JavaScript Worker (bench/workers/reference.js), with
// three floors (a constant response; one subrequest passed through; the same through a SQLite
// Durable Object recording a run, as ours does), all in workerd via Miniflare
// against the local emulator (127.0.0.1 only).
//
// CPU: utime+stime of the workerd process(es) Miniflare started for that Worker, read from
// /proc/<pid>/stat before and after a batch of N sequential requests, minus the process's idle CPU
// rate (measured on the same process) times the batch's wall time, divided by N. Each Worker runs
// in its own workerd; batches of all Workers are interleaved round by round so drift hits all of
// them alike, and each ratio ours/reference is taken within one round.
//
// Usage: node bench/workerd.mjs OUT.json   (env: BENCH_N, BENCH_ROUNDS, BENCH_COLD, BENCH_KEYS)
import { Miniflare } from 'miniflare';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID } from '../emulator/index.mjs';
import { AUTH, HZ, benchEmulator, cpu, descendants } from './common.mjs';
import { workerOptions } from '../tests/e2e/miniflare.mjs';

const root = fileURLToPath(new URL('../', import.meta.url));
const out = process.argv[2] ?? 'workerd-results.json';
const N = Number(process.env.BENCH_N ?? 200); // requests per batch
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const COLD = Number(process.env.BENCH_COLD ?? 7); // cold starts per Worker
const KEYS = Number(process.env.BENCH_KEYS ?? 2); // RS256 keys the IdP publishes
const DEADLINE = Date.now() + Number(process.env.BENCH_DEADLINE_S ?? 420) * 1000; // hard bound

const { emu, bindings: env } = await benchEmulator(KEYS);

const WORKERS = {
  ours: { scriptPath: 'build/index.js', request: { method: 'POST', headers: { authorization: `Bearer ${AUTH}` } } },
  reference: { scriptPath: 'bench/workers/reference.js', request: { method: 'POST' } },
  'floor-constant': { scriptPath: 'bench/workers/floor-constant.js', request: { method: 'GET' } },
  'floor-passthrough': { scriptPath: 'bench/workers/floor-passthrough.js', request: { method: 'GET' } },
  'floor-do': { scriptPath: 'bench/workers/floor-do.js', request: { method: 'GET' } },
};

function checkTime(what) {
  if (Date.now() > DEADLINE) throw new Error(`workerd bench: over its time bound during ${what}`);
}

function newMiniflare(name) {
  const handleRuntimeStdio = (stdout, stderr) => {
    stdout.resume();
    stderr.resume();
  };
  // Ours with its Durable Object, exactly as the end-to-end tests run it.
  if (name === 'ours') return new Miniflare(workerOptions({ bindings: env, handleRuntimeStdio }));
  return new Miniflare({
    rootPath: root,
    scriptPath: WORKERS[name].scriptPath,
    modules: true,
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'], fallthrough: true }],
    compatibilityDate: '2025-09-01',
    bindings: env,
    ...(name === 'floor-do' ? { durableObjects: { FLOOR_STATE: { className: 'FloorState', useSQLite: true } } } : {}),
    handleRuntimeStdio: (stdout, stderr) => {
      stdout.resume();
      stderr.resume();
    },
  });
}

async function call(mf, url, name) {
  const r = await mf.dispatchFetch(url, WORKERS[name].request);
  const body = await r.text();
  if (r.status !== 200) throw new Error(`${name}: status ${r.status}: ${body.slice(0, 300)}`);
  return body;
}

// ---- cold start: new Miniflare (workerd start) → first answered request ----
async function coldStart(name) {
  const t0 = process.hrtime.bigint();
  const mf = newMiniflare(name);
  const url = await mf.ready;
  await call(mf, url, name);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await mf.dispose();
  return ms;
}

const results = { n: N, rounds: ROUNDS, keys: KEYS, hz: HZ, cold: {}, batches: [], idle: {}, puts: {} };
const coldNames = ['ours', 'reference', 'floor-constant'];
for (const name of coldNames) {
  results.cold[name] = [];
  await coldStart(name); // discarded: warms the disk cache for the binary and bundle
}
for (let i = 0; i < COLD; i++) {
  // Round-robin, so a busy moment on the machine does not land on one Worker's starts only.
  for (const name of coldNames) {
    checkTime('cold start');
    results.cold[name].push(await coldStart(name));
  }
}
for (const name of coldNames) console.error(`cold ${name}: ${results.cold[name].map((x) => x.toFixed(0)).join(' ')} ms`);

// ---- warm: one workerd per Worker, kept for all rounds ----
const live = {};
for (const name of Object.keys(WORKERS)) {
  const before = new Set(descendants(process.pid));
  const mf = newMiniflare(name);
  const url = await mf.ready;
  const pids = descendants(process.pid).filter((p) => !before.has(p));
  if (pids.length === 0) throw new Error(`${name}: no workerd process found`);
  for (let i = 0; i < 20; i++) await call(mf, url, name); // warm up (JIT, wasm tier-up)
  live[name] = { mf, url, pids };
}

async function idleRate(name, ms = 1000) {
  const { pids } = live[name];
  const c0 = cpu(pids);
  const t0 = performance.now();
  await sleep(ms);
  return (cpu(pids) - c0) / ((performance.now() - t0) / 1000);
}
for (const name of Object.keys(WORKERS)) results.idle[name] = await idleRate(name);

const stored = () => emu.storedKeys(DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID);
async function batch(name, scenario, round) {
  checkTime(`${name} ${scenario}`);
  const { mf, url, pids } = live[name];
  const change = scenario === 'changed';
  let snapshot = null;
  if (!change && name === 'ours') await call(mf, url, name); // live keys = published keys
  if (change) snapshot = stored();
  emu.clearRequests();
  const c0 = cpu(pids);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    // A change on every sync: the live configuration is emptied (in the emulator, outside workerd).
    if (change) emu.setStoredKeys(DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID, []);
    await call(mf, url, name);
  }
  const wall = (performance.now() - t0) / 1000;
  const used = cpu(pids) - c0;
  const puts = emu.requestsTo({ route: 'putCredentials' }).length;
  if (snapshot) emu.setStoredKeys(DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID, snapshot);
  const cpuMs = ((used - results.idle[name] * wall) / N) * 1000;
  results.batches.push({ round, name, scenario, cpuMs, rawCpuMs: (used / N) * 1000, rps: N / wall, puts, wall });
}

try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const scenario of ['unchanged', 'changed']) {
      for (const name of ['ours', 'reference']) await batch(name, scenario, round);
    }
    for (const name of ['floor-constant', 'floor-passthrough', 'floor-do']) await batch(name, 'floor', round);
    const last = results.batches.slice(-7);
    console.error(`round ${round + 1}/${ROUNDS}: ` + last.map((b) => `${b.name}/${b.scenario} ${b.cpuMs.toFixed(2)}ms ${b.rps.toFixed(0)}rps puts=${b.puts}`).join('; '));
  }
  // A second idle reading, to report how stable the baseline was.
  results.idleAfter = {};
  for (const name of Object.keys(WORKERS)) results.idleAfter[name] = await idleRate(name);
} finally {
  for (const { mf } of Object.values(live)) await mf.dispose();
  await emu.close();
}
results.date = new Date().toISOString();
writeFileSync(out, JSON.stringify(results, null, 2));
console.error(`workerd bench: wrote ${out}`);
