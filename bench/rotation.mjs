// Rotation latency (issue 12): how long after an IdP publishes a new signing key does the edge
// accept the first token signed with it? The compiled Worker runs in workerd (Miniflare, through
// the e2e harness) against the emulator; a timer plays the cron trigger with a short period P
// (Miniflare fires no crons by itself), calling the Worker's scheduled() on a fixed grid.
//
// Unannounced rotations: at a random phase of the cron period the IdP publishes a new key and signs
// with it at once; a token signed with it is presented to the emulated edge every POLL ms until
// it is accepted. Latency = first acceptance - publication, reported as a multiple of P (the goal:
// at most one period plus the sync's own time). Pre-published rotations: the IdP publishes the next
// key LEAD before signing with it; the first token it signs is presented at once (the goal: never
// refused). Every cron run's wall time (the scheduled() call, end to end) is recorded too.
//
// Usage: node bench/rotation.mjs [OUT.json]   (needs build/; `bash scripts/build.sh` first)
// env: BENCH_ROTATION_PERIOD_MS (default 2000), BENCH_ROTATIONS (40), BENCH_PREPUBLISHED (10),
//      BENCH_POLL_MS (10), BENCH_LEAD_PERIODS (1.5); BENCH_QUICK=1 for 1000 ms, 12 and 4.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { start } from '../tests/e2e/harness.mjs';

const quick = Boolean(process.env.BENCH_QUICK);
const num = (name, full, short) => Number(process.env[name] ?? (quick ? short : full));
const PERIOD_MS = num('BENCH_ROTATION_PERIOD_MS', 2000, 1000);
const ROTATIONS = num('BENCH_ROTATIONS', 40, 12);
const PREPUBLISHED = num('BENCH_PREPUBLISHED', 10, 4);
const POLL_MS = num('BENCH_POLL_MS', 10, 10);
const LEAD_PERIODS = num('BENCH_LEAD_PERIODS', 1.5, 1.5);
const ALG = 'ES256'; // the key type does not change the latency; EC keys are generated fastest
const out = process.argv[2] ?? 'target/bench/rotation.json';

const h = await start();
const idp = h.emu.idp('main');
const now = () => performance.now();

async function verdict(token) {
  const r = await fetch(`${h.emu.edgeUrl()}/api`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
  const body = await r.json();
  return body.valid ? 'valid' : body.reason;
}

// ---- the simulated cron: scheduled() at t0 + k·P, one run at a time ----
// A run is recorded when it starts (an edge request can see its write before scheduled() returns)
// and completed when it ends.
const ticks = [];
let stopping = false;
const t0 = now();
async function cron() {
  for (let k = 1; !stopping; k++) {
    const at = t0 + k * PERIOD_MS;
    await sleep(Math.max(0, at - now()));
    if (stopping) break;
    const puts = h.puts().length;
    const tick = { k, lateMs: now() - at, start: now(), wallMs: null, wrote: null, outcome: null };
    ticks.push(tick);
    const { outcome } = await h.scheduled();
    Object.assign(tick, { wallMs: now() - tick.start, wrote: h.puts().length > puts, outcome });
  }
}
const cronDone = cron();

// Let the first tick push the initial key, so every rotation starts from a synced state.
let current = idp.keys[0];
while (ticks[0]?.outcome == null) await sleep(POLL_MS);
if ((await verdict(idp.sign())) !== 'valid') throw new Error('rotation bench: the initial key is not live after the first cron run');

/** Publish a generated key; returns the publication instant. */
function publish(jwk) {
  const at = now();
  idp.addKey(jwk);
  return at;
}

const rotations = [];
const prepublished = [];
try {
  for (let i = 0; i < ROTATIONS; i++) {
    await sleep(Math.random() * PERIOD_MS); // a uniformly random phase of the cron period
    const jwk = idp.generateKey({ alg: ALG });
    const published = publish(jwk);
    idp.switchSigning(jwk.kid);
    const token = idp.sign();
    let refused = 0;
    while ((await verdict(token)) !== 'valid') {
      refused += 1;
      if (now() - published > 5 * PERIOD_MS) throw new Error(`rotation bench: key ${jwk.kid} not accepted within 5 periods`);
      await sleep(POLL_MS);
    }
    const accepted = now();
    // The run that made it live: the last one that started before the acceptance was seen (its
    // wall time is read once it has ended, below).
    const tick = ticks.findLast((t) => t.start <= accepted);
    rotations.push({ latencyMs: accepted - published, waitMs: tick.start - published, tick, phaseMs: (published - t0) % PERIOD_MS, refusedPolls: refused });
    idp.retire(current.kid); // the next run removes it; the set stays at one or two keys
    current = jwk;
    console.error(`rotation ${i + 1}/${ROTATIONS}: accepted after ${(accepted - published).toFixed(0)} ms = ${((accepted - published) / PERIOD_MS).toFixed(2)} P (run #${tick.k})`);
  }
  for (let i = 0; i < PREPUBLISHED; i++) {
    await sleep(Math.random() * PERIOD_MS);
    const jwk = idp.generateKey({ alg: ALG });
    const published = publish(jwk);
    await sleep(Math.max(0, published + LEAD_PERIODS * PERIOD_MS - now()));
    idp.switchSigning(jwk.kid);
    const firstUse = await verdict(idp.sign());
    prepublished.push({ leadMs: now() - published, firstUse });
    idp.retire(current.kid);
    current = jwk;
    console.error(`pre-published ${i + 1}/${PREPUBLISHED}: lead ${(now() - published).toFixed(0)} ms, first token ${firstUse}`);
  }
} finally {
  stopping = true;
  await cronDone;
  await h.close();
}

const result = {
  date: new Date().toISOString(),
  periodMs: PERIOD_MS,
  pollMs: POLL_MS,
  leadPeriods: LEAD_PERIODS,
  alg: ALG,
  quick,
  rotations: rotations.map(({ tick, ...r }) => ({ ...r, run: tick.k, syncMs: tick.wallMs })),
  prepublished,
  ticks: ticks.map(({ start, ...t }) => t),
};
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2));
const inP = rotations.map((r) => r.latencyMs / PERIOD_MS).sort((a, b) => a - b);
const at = (q) => inP[Math.max(0, Math.ceil(q * inP.length) - 1)].toFixed(2);
console.error(`rotation bench: publication → first accepted token, in periods of ${PERIOD_MS} ms: median ${at(0.5)}, p95 ${at(0.95)}, max ${at(1)}; ` +
  `pre-published first tokens refused: ${prepublished.filter((p) => p.firstUse !== 'valid').length}/${prepublished.length}; wrote ${out} (bench/report.mjs renders it)`);
