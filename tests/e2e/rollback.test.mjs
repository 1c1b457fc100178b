// Issue 11, point 3: the last key sets the Worker wrote are kept (public members only), and
// POST /rollback puts one back, naming the run that wrote it, through the same read of the live
// keys, write and verification as a sync; DRY_RUN pauses the cron, not a restore. With issue 10,
// that write path keeps the live symmetric keys (PATCH), and its no-overlap rule judges a restore
// too (allowed once by "allow_full_replacement": true in the body).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from '../../emulator/index.mjs';
import { randomBytes } from 'node:crypto';
import { start, ids, PUT_SHAPE, ZONE, CONFIG, AUTH_TOKEN } from './harness.mjs';

let emu;
let dir;
let h;
const env = (extra = {}) => (e) => ({ JWKS_URL: e.jwksUrl('main'), CF_ZONE_ID: ZONE, CF_TOKEN_CONFIG_ID: CONFIG, FETCH_TIMEOUT_MS: '2000', ALERT_WEBHOOK_URL: e.sinkUrl('webhook'), ...extra });
let keys; // the key set each run wrote, by run id
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jwks-sync-rollback-'));
  emu = await startEmulator({ idps: ['main'], sinks: ['webhook'], putResponseShape: PUT_SHAPE });
  h = await start({ emu, env: env(), persistDir: dir });
  // Run 1 writes {k1}; run 2 writes {k1, k2}; run 3 writes {k2}.
  const idp = emu.idp('main');
  const [k1] = idp.keys;
  const r1 = await h.post();
  const k2 = idp.rotate({ alg: 'ES256' });
  const r2 = await h.post();
  idp.retire(k1.kid);
  const r3 = await h.post();
  assert.deepEqual([r1, r2, r3].map((r) => r.body.targets[0].run_id), [1, 2, 3]);
  keys = { 1: [k1], 2: [k1, k2], 3: [k2] };
});
after(async () => {
  await h.close();
  await emu.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the written key sets are listed as restorable runs', async () => {
  const t = (await h.status()).body.targets[0];
  assert.deepEqual(t.restorable_runs, [3, 2, 1]);
});

test('a query string on POST /rollback is refused before anything runs: ?dry_run=true must not write', async () => {
  emu.clearRequests();
  const r = await h.fetch('/rollback?dry_run=true', {
    method: 'POST',
    headers: { authorization: `Bearer ${AUTH_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ target: 'default', run: 2, allow_full_replacement: true }),
  });
  assert.equal(r.status, 400);
  const body = await r.json();
  assert.equal(body.error.code, 'BAD_REQUEST');
  assert.match(body.error.message, /^POST \/rollback takes no query parameters: put "dry_run": true/);
  assert.deepEqual(emu.requests, []);
});

test('a dry run shows what a restore would change and writes nothing', async () => {
  emu.clearRequests();
  // Run 1's {k1} shares nothing with live {k2}: a full replacement, refused unless allowed.
  const refused = await h.rollback({ target: 'default', run: 1, dry_run: true });
  assert.equal(refused.status, 502);
  const [f] = refused.body.targets;
  assert.deepEqual([f.outcome, f.error.stage, f.error.code, f.restored_from], ['failed', 'plan', 'FULL_REPLACEMENT_REFUSED', 1]);
  assert.match(f.error.message, new RegExp(`^the restored keys \\(${keys[1][0].kid}\\) share no kid and alg with the live keys \\(${keys[3][0].kid}\\)`));
  assert.match(f.error.hint, /"allow_full_replacement": true/);
  const r = await h.rollback({ target: 'default', run: 1, dry_run: true, allow_full_replacement: true });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.dry_run, true);
  const [t] = r.body.targets;
  assert.deepEqual([t.outcome, t.restored_from, t.run_id], ['would_update', 1, undefined]);
  assert.deepEqual(t.diff, { added: [keys[1][0].kid], removed: [keys[3][0].kid], unchanged: [] });
  assert.equal(h.puts().length, 0);
  assert.equal(emu.requestsTo({ face: 'idp' }).length, 0, 'a restore never asks the IdP');
});

test('a restore puts back the exact set a run wrote, and is recorded, alerted and restorable', async () => {
  emu.clearRequests();
  emu.sink('webhook').clear();
  const r = await h.rollback({ target: 'default', run: 2 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const [t] = r.body.targets;
  assert.deepEqual([t.outcome, t.restored_from, t.run_id], ['updated', 2, 4]);
  assert.deepEqual(ids(t.keys), ids(keys[2]));
  const [put] = h.puts();
  assert.deepEqual(ids(put.body.keys), ids(keys[2]));
  for (const k of put.body.keys) assert.deepEqual(Object.keys(k).sort(), k.kty === 'RSA' ? ['alg', 'e', 'kid', 'kty', 'n'] : ['alg', 'crv', 'kid', 'kty', 'x', 'y']);
  assert.deepEqual(ids(emu.storedKeys(ZONE, CONFIG)), ids(keys[2]));
  const status = (await h.status()).body.targets[0];
  assert.deepEqual([status.last_change.id, status.last_change.trigger, status.last_change.restored_from], [4, 'rollback', 2]);
  assert.deepEqual(status.restorable_runs, [4, 3, 2, 1]);
  const [alert] = emu.sink('webhook').received;
  assert.deepEqual([alert.body.event, alert.body.trigger, alert.body.restored_from], ['keys_changed', 'rollback', 2]);
  assert.match(alert.body.text, /restored the key set of run 2 \(run 4, rollback\)$/);
  const log = (await h.logLines()).find((l) => l.event === 'jwks-sync' && l.run_id === 4);
  assert.equal(log.trigger, 'rollback');
});

test('a restore goes through the same verification: a key Cloudflare drops fails it', async () => {
  emu.dropKidOnPut(keys[1][0].kid);
  try {
    const r = await h.rollback({ target: 'default', run: 1 });
    assert.equal(r.status, 502);
    const [t] = r.body.targets;
    assert.deepEqual([t.outcome, t.error.code, t.restored_from], ['failed', 'CF_VERIFY_MISMATCH', 1]);
  } finally {
    emu.clearFaults();
  }
  const status = (await h.status()).body.targets[0];
  assert.ok(!status.restorable_runs.includes(status.last_run.id), 'a failed restore wrote no restorable set');
});

test('refusals: unknown run or target, bad body, no token, wrong method', async () => {
  let r = await h.rollback({ target: 'default', run: 99 });
  assert.equal(r.status, 404);
  assert.equal(r.body.error.code, 'RUN_NOT_RESTORABLE');
  assert.match(r.body.error.message, /^run 99 has no written key set kept; restorable runs: \d+(, \d+)*$/);
  r = await h.rollback({ target: 'prod', run: 1 });
  assert.deepEqual([r.status, r.body.error.code, r.body.error.message], [404, 'NOT_FOUND', 'no target named "prod"; targets: default']);
  for (const body of ['not json', { target: 'default' }, { target: 'default', run: 1, dryrun: true }]) {
    r = await h.rollback(body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error.code, 'BAD_REQUEST');
  }
  emu.clearRequests();
  r = await h.rollback({ target: 'default', run: 1 }, {});
  assert.equal(r.status, 401);
  assert.equal((await h.get('/rollback')).status, 405);
  assert.equal(h.puts().length, 0);
});

test('with DRY_RUN (writes paused), syncs only preview and are not recorded, but a restore writes', async () => {
  // A Worker writes a set, then is redeployed with DRY_RUN (same storage), as README's rollback
  // section says to do.
  try {
    const writer = await start({ emu, env: env(), persistDir: `${dir}-paused` });
    emu.setStoredKeys(ZONE, CONFIG, []);
    const written = (await writer.post()).body.targets[0];
    assert.equal(written.outcome, 'updated');
    await writer.close();
    emu.setStoredKeys(ZONE, CONFIG, []);

    const p = await start({ emu, env: env({ DRY_RUN: 'true' }), persistDir: `${dir}-paused` });
    try {
      emu.clearRequests();
      const sync = await p.post();
      assert.deepEqual([sync.body.dry_run, sync.body.targets[0].outcome, sync.body.targets[0].run_id], [true, 'would_update', undefined]);
      assert.equal((await p.scheduled()).outcome, 'ok');
      assert.equal(p.puts().length, 0);
      const runs = (await p.status()).body.targets[0].runs;
      assert.deepEqual(runs.map((x) => x.id), [written.run_id], 'the previews were not recorded');
      const r = await p.rollback({ target: 'default', run: written.run_id });
      assert.deepEqual([r.status, r.body.dry_run, r.body.targets[0].outcome], [200, false, 'updated']);
      assert.deepEqual(ids(emu.storedKeys(ZONE, CONFIG)), ids(written.keys));
    } finally {
      await p.close();
    }
  } finally {
    rmSync(`${dir}-paused`, { recursive: true, force: true });
  }
});

test('a restore keeps the symmetric keys live in the configuration, and writes a full replacement only when allowed', async () => {
  // Someone added an HMAC key in Cloudflare beside the Worker's keys.
  const hmac = { kty: 'oct', kid: 'hmac-1', alg: 'HS256', k: randomBytes(32).toString('base64url') };
  emu.setStoredKeys(ZONE, CONFIG, [...emu.storedKeys(ZONE, CONFIG).filter((k) => k.kty !== 'oct'), hmac]);
  const live = ids(emu.storedKeys(ZONE, CONFIG).filter((k) => k.kty !== 'oct'));
  const restorable = (await h.status()).body.targets[0].restorable_runs;
  const run = restorable.find((id) => id <= 3 && !live.some((k) => keys[id].some((w) => w.kid === k.kid)));
  assert.ok(run, `a run whose set shares nothing with live ${JSON.stringify(live)}: ${restorable}`);
  emu.clearRequests();
  const refused = await h.rollback({ target: 'default', run });
  assert.deepEqual([refused.status, refused.body.targets[0].error.code], [502, 'FULL_REPLACEMENT_REFUSED'], 'the HMAC key is no overlap');
  assert.equal(emu.requestsTo({ route: 'patchCredentials' }).length + h.puts().length, 0);

  const r = await h.rollback({ target: 'default', run, allow_full_replacement: true });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const [t] = r.body.targets;
  assert.deepEqual([t.outcome, t.restored_from], ['updated', run]);
  assert.deepEqual(t.kept.map((k) => [k.kid, k.alg]), [['hmac-1', 'HS256']]);
  assert.equal(t.warnings.length, 1);
  assert.match(t.warnings[0], /^full replacement allowed by "allow_full_replacement": true: every live key \(.*\) is replaced by the restored keys \(/);
  assert.equal(h.puts().length, 0, 'a PUT would destroy the HMAC secret');
  const [patch] = emu.requestsTo({ route: 'patchCredentials' });
  assert.deepEqual(patch.body.keys.at(-1), { kty: 'oct', kid: 'hmac-1', alg: 'HS256' }, 'sent without k');
  assert.deepEqual(ids(emu.storedKeys(ZONE, CONFIG)), ids([...keys[run], hmac]));
  assert.equal(emu.storedKeys(ZONE, CONFIG).find((k) => k.kid === 'hmac-1').k, hmac.k, 'the secret is kept');
  // Only the asymmetric keys are recorded as the run's set: a restore keeps whatever symmetric keys are live then.
  const status = (await h.status()).body.targets[0];
  assert.equal(status.last_change.restored_from, run);
  assert.ok(!JSON.stringify(status).includes(hmac.k));
});

test('a rollback refused by a safety rule is recorded as refused: not a failure in a row, no alert', async () => {
  const live = ids(emu.storedKeys(ZONE, CONFIG).filter((k) => k.kty !== 'oct'));
  const before = (await h.status()).body.targets[0];
  assert.equal(before.alert_state, 'ok');
  const run = before.restorable_runs.find((id) => id <= 3 && !live.some((k) => keys[id].some((w) => w.kid === k.kid)));
  assert.ok(run, `a run whose set shares nothing with live ${JSON.stringify(live)}`);
  emu.sink('webhook').clear();
  const refused = await h.rollback({ target: 'default', run });
  assert.deepEqual([refused.status, refused.body.targets[0].error.code], [502, 'FULL_REPLACEMENT_REFUSED']);
  const t = (await h.status()).body.targets[0];
  assert.deepEqual(
    [t.last_run.id, t.last_run.outcome, t.last_run.code, t.last_run.restored_from],
    [refused.body.targets[0].run_id, 'refused', 'FULL_REPLACEMENT_REFUSED', run],
  );
  assert.deepEqual([t.failures_in_a_row, t.alert_state], [before.failures_in_a_row, 'ok']);
  assert.deepEqual(emu.sink('webhook').received, [], 'an operator request turned down is not the target failing');
});

test("an object that cannot do the rollback is the target failing at stage state, logged, as for POST /", async () => {
  // The object reads other settings than the Worker (a deploy rolling out): its configuration is
  // not the target's, or its settings are invalid.
  const cases = [
    [{ CF_TOKEN_CONFIG_ID: '11111111-2222-4333-8444-555555555555' }, 'TARGET_NOT_CONFIGURED', /^the target's state refused the run: no configured target has zone and configuration /],
    [{ CF_API_TOKEN: 'a\nb' }, 'STATE_UNAVAILABLE', /^the target's state refused the run: 1 problem in the settings: CF_API_TOKEN/],
  ];
  for (const [objectEnv, code, message] of cases) {
    const w = await start({ emu, env: env(), objectEnv: () => objectEnv });
    try {
      const r = await w.rollback({ target: 'default', run: 1 });
      assert.equal(r.status, 502, JSON.stringify(r.body));
      assert.equal(r.body.dry_run, false);
      const [t] = r.body.targets;
      assert.deepEqual([t.name, t.outcome, t.error.stage, t.error.code], ['default', 'failed', 'state', code]);
      assert.match(t.error.message, message);
      const line = (await w.logLines()).find((l) => l.event === 'jwks-sync' && l.trigger === 'rollback');
      assert.deepEqual([line?.outcome, line?.error.code], ['failed', code], 'the Worker logs what the object could not');
    } finally {
      await w.close();
    }
  }
});
