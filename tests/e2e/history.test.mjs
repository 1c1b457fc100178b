// Issue 11, point 2: each run is recorded per configuration, GET /status answers from the record,
// the record is bounded, survives a restart (Miniflare persistence), closes runs cut short, and
// holds no secret.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from '../../emulator/index.mjs';
import { start, waitFor, AUTH_TOKEN, CF_TOKEN, ZONE, CONFIG } from './harness.mjs';

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

let h;
before(async () => {
  h = await start();
});
after(() => h.close());
beforeEach(() => {
  h.emu.idp('main').clear();
  h.emu.clearFaults();
  h.emu.clearRequests();
});

const target = async () => {
  const r = await h.status();
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.targets.length, 1);
  return r.body.targets[0];
};

test('GET /status needs the bearer token', async () => {
  for (const headers of [{}, { authorization: 'Bearer wrong' }]) {
    const r = await h.get('/status', headers);
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, 'UNAUTHORIZED');
  }
  assert.equal((await h.fetch('/status', { method: 'POST', headers: { authorization: `Bearer ${AUTH_TOKEN}` } })).status, 405);
});

test('status: last run, last success, last change with its kids, failures in a row, the runs', async () => {
  const before = await h.status();
  assert.equal(before.body.stale_after_s, 900, 'three times the */5 cron of wrangler.toml');
  assert.equal(before.body.stale_after_from, 'cron');
  assert.deepEqual(before.body.crons, ['*/5 * * * *']);
  const t0 = before.body.targets[0];
  assert.deepEqual([t0.name, t0.zone_id, t0.config_id, t0.last_run, t0.failures_in_a_row, t0.runs], ['default', ZONE, CONFIG, null, 0, []]);
  assert.match(t0.first_seen, RFC3339);

  const idp = h.emu.idp('main');
  const first = await h.post(); // run 1: updated
  const kid0 = idp.keys[0].kid;
  assert.equal(first.body.targets[0].run_id, 1);
  await h.scheduled(); // run 2: unchanged, by cron
  idp.misbehave({ status: 503 });
  await h.post(); // run 3: failed
  await h.scheduled(); // run 4: failed
  idp.clear();

  let t = await target();
  assert.equal(t.failures_in_a_row, 2);
  assert.equal(t.alert_state, 'failing');
  assert.deepEqual(t.runs.map((r) => [r.id, r.trigger, r.outcome]), [
    [4, 'cron', 'failed'],
    [3, 'http', 'failed'],
    [2, 'cron', 'unchanged'],
    [1, 'http', 'updated'],
  ]);
  assert.deepEqual(t.last_run, t.runs[0]);
  assert.equal(t.last_success.id, 2);
  assert.equal(t.last_change.id, 1);
  assert.deepEqual(t.last_change.kids, { added: [kid0], removed: [] });
  assert.deepEqual([t.last_run.stage, t.last_run.code], ['fetch', 'JWKS_UNAVAILABLE']);
  assert.match(t.last_run.message, /^HTTP 503 from the IdP after 3 attempts \(503, 503, 503\); http:/);
  for (const r of t.runs) {
    assert.match(r.started_at, RFC3339);
    assert.match(r.finished_at, RFC3339);
    assert.ok(Number.isInteger(r.duration_ms) && r.duration_ms >= 0);
  }
  assert.deepEqual(t.restorable_runs, [1]);
  assert.deepEqual(t.freshness, { age_s: t.freshness.age_s, stale: false });

  const rotated = idp.rotate({ alg: 'ES256' });
  idp.retire(kid0);
  // A rotation without overlap replaces every live key: allowed for this run (issue 10).
  await h.post('/?allow_full_replacement=true'); // run 5: updated, recovers
  t = await target();
  assert.equal(t.failures_in_a_row, 0);
  assert.equal(t.alert_state, 'ok');
  assert.deepEqual([t.last_success.id, t.last_change.id], [5, 5]);
  assert.deepEqual(t.last_change.kids, { added: [rotated.kid], removed: [kid0] });
  assert.deepEqual(t.restorable_runs, [5, 1]);
});

test('the history is bounded: the last 50 runs, plus the last change whatever its age', async () => {
  const h2 = await start({ emu: h.emu });
  try {
    await h2.post(); // writes (the emulator's config may already hold the keys: then unchanged)
    h.emu.setStoredKeys(ZONE, CONFIG, []);
    const changed = (await h2.post()).body.targets[0];
    assert.equal(changed.outcome, 'updated');
    for (let i = 0; i < 51; i++) await h2.post();
    const r = await h2.status();
    const t = r.body.targets[0];
    assert.equal(t.runs.length, 50);
    assert.equal(t.runs[0].id, 53);
    assert.equal(t.runs.at(-1).id, 4);
    assert.equal(t.last_change.id, changed.run_id, 'kept although older than the last 50');
    assert.equal(t.last_success.id, 53);
  } finally {
    await h2.close();
  }
});

test('IDs in upper and lower case name one configuration: one Durable Object, one history', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jwks-sync-do-'));
  const emu = await startEmulator({ idps: ['main'] });
  const env = (zone, config) => (e) => ({ JWKS_URL: e.jwksUrl('main'), CF_ZONE_ID: zone, CF_TOKEN_CONFIG_ID: config, FETCH_TIMEOUT_MS: '8000' });
  try {
    const upper = await start({ emu, env: env(ZONE.toUpperCase(), CONFIG.toUpperCase()), persistDir: dir });
    try {
      const [t] = (await upper.post()).body.targets;
      assert.deepEqual([t.outcome, t.zone_id, t.config_id, t.run_id], ['updated', ZONE, CONFIG, 1], JSON.stringify(t));
    } finally {
      await upper.close();
    }
    const lower = await start({ emu, env: env(ZONE, CONFIG), persistDir: dir });
    try {
      assert.equal((await lower.post()).body.targets[0].run_id, 2, 'the same object counts on');
      const [t] = (await lower.status()).body.targets;
      assert.deepEqual(t.runs.map((r) => [r.id, r.outcome]), [[2, 'unchanged'], [1, 'updated']]);
    } finally {
      await lower.close();
    }
  } finally {
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('history survives a restart, a run cut short is closed as interrupted, and no secret is stored', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jwks-sync-do-'));
  const emu = await startEmulator({ idps: ['main'], sinks: ['webhook', 'hb'] });
  const env = (e) => ({
    JWKS_URL: e.jwksUrl('main'),
    CF_ZONE_ID: ZONE,
    CF_TOKEN_CONFIG_ID: CONFIG,
    FETCH_TIMEOUT_MS: '8000',
    ALERT_WEBHOOK_URL: e.sinkUrl('webhook'),
    HEARTBEAT_URL: e.sinkUrl('hb'),
  });
  try {
    const h1 = await start({ emu, env, persistDir: dir });
    assert.equal((await h1.post()).body.targets[0].outcome, 'updated');
    // A second run is in flight (the IdP takes 5 s) when the runtime goes away.
    emu.idp('main').misbehave({ delayMs: 5000, times: 1 });
    const cut = h1.post().catch((e) => e);
    await waitFor(() => emu.requestsTo({ face: 'idp' }).length === 2, 10_000, 'the second run to ask the IdP');
    await h1.close();
    await cut;

    const h2 = await start({ emu, env, persistDir: dir });
    try {
      let t = (await h2.status()).body.targets[0];
      assert.deepEqual(t.runs.map((r) => [r.id, r.outcome]), [
        [2, 'running'],
        [1, 'updated'],
      ]);
      assert.deepEqual(t.restorable_runs, [1]);
      const r = await h2.post();
      assert.equal(r.body.targets[0].run_id, 3);
      t = (await h2.status()).body.targets[0];
      assert.deepEqual(t.runs.map((x) => [x.id, x.outcome]), [
        [3, 'unchanged'],
        [2, 'interrupted'],
        [1, 'updated'],
      ]);
      assert.match(t.runs[1].finished_at, RFC3339);
      assert.equal(t.failures_in_a_row, 0);
      await h2.scheduled(); // pings the heartbeat sink: its URL is in the env, never in storage
    } finally {
      await h2.close();
    }
    // Every byte the Durable Object stored: the SQLite files under the persistence directory.
    const files = [];
    const walk = (d) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(dir);
    assert.ok(files.some((f) => f.endsWith('.sqlite')), `a SQLite file: ${files}`);
    const stored = files.map((f) => readFileSync(f).toString('latin1')).join('\n');
    assert.ok(stored.includes(emu.idp('main').keys[0].kid), 'the record is in these files');
    for (const secret of [CF_TOKEN, AUTH_TOKEN, emu.sinkUrl('webhook'), emu.sinkUrl('hb'), '/sink/']) {
      assert.ok(!stored.includes(secret), `storage holds ${secret}`);
    }
  } finally {
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
