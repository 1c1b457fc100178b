// A/B CPU per sync of two builds of this Worker (for example main's and a change's), each in its
// own workerd, batches interleaved round by round so that drift hits both alike: the tool issue 13
// measured each candidate change with. CPU is utime+stime of each workerd from /proc, as in
// bench/workerd.mjs (minus its idle rate).
//
// Usage: node bench/ab.mjs DIR_A DIR_B   (each a copy of build/: index.js, index_bg.wasm)
//        env: AB_N (syncs per batch, default 200), AB_ROUNDS (default 9), AB_SCENARIO (unchanged|changed)
import { Miniflare } from 'miniflare';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID } from '../emulator/index.mjs';
import { AUTH, benchEmulator, cpu, descendants } from './common.mjs';
import { workerOptions } from '../tests/e2e/miniflare.mjs';

const dirs = process.argv.slice(2, 4).map((d) => resolve(d));
const N = Number(process.env.AB_N ?? 200);
const ROUNDS = Number(process.env.AB_ROUNDS ?? 9);
const SCENARIO = process.env.AB_SCENARIO ?? 'unchanged';

const { emu, bindings } = await benchEmulator();

const live = [];
for (const dir of dirs) {
  const before = new Set(descendants(process.pid));
  const mf = new Miniflare({
    ...workerOptions({ bindings, handleRuntimeStdio: (o, e) => (o.resume(), e.resume()) }),
    rootPath: dir,
    scriptPath: `${dir}/index.js`,
    modulesRoot: dir,
  });
  const url = await mf.ready;
  const pids = descendants(process.pid).filter((p) => !before.has(p));
  live.push({ dir, mf, url, pids, cpuMs: [] });
}
const sync = async (w) => {
  const r = await w.mf.dispatchFetch(w.url, { method: 'POST', headers: { authorization: `Bearer ${AUTH}` } });
  const t = await r.text();
  if (r.status !== 200) throw new Error(`${w.dir}: ${r.status} ${t.slice(0, 200)}`);
};
for (const w of live) for (let i = 0; i < Number(process.env.AB_WARMUP ?? 300); i++) await sync(w);
for (const w of live) {
  const c0 = cpu(w.pids);
  const t0 = performance.now();
  await sleep(1000);
  w.idle = (cpu(w.pids) - c0) / ((performance.now() - t0) / 1000);
}
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...live].reverse() : live;
    for (const w of order) {
      const c0 = cpu(w.pids);
      const t0 = performance.now();
      for (let i = 0; i < N; i++) {
        if (SCENARIO === 'changed') emu.setStoredKeys(DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID, []);
        await sync(w);
      }
      const wall = (performance.now() - t0) / 1000;
      w.cpuMs.push(((cpu(w.pids) - c0 - w.idle * wall) / N) * 1000);
    }
    console.error(`round ${round + 1}: ${live.map((w) => w.cpuMs.at(-1).toFixed(2)).join(' vs ')} ms/sync`);
  }
} finally {
  for (const w of live) await w.mf.dispose();
  await emu.close();
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const ratios = live[1].cpuMs.map((b, i) => b / live[0].cpuMs[i]);
console.log(`${SCENARIO}: A ${median(live[0].cpuMs).toFixed(3)} ms/sync, B ${median(live[1].cpuMs).toFixed(3)} ms/sync; B/A per round: median ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`);
