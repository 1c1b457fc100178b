// The main job, end to end: first sync, no-op, rotation, OIDC discovery, two-source merge, dry run.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { start, ids, ZONE, CONFIG, PUT_SHAPE } from './harness.mjs';

let h;
before(async () => {
  h = await start();
});
after(() => h.close());
beforeEach(() => {
  h.emu.setStoredKeys(ZONE, CONFIG, []);
  h.emu.clearRequests();
  h.emu.clearFaults();
});

/** The public members the Worker must send for an emulator key. */
const pushed = (k) =>
  k.kty === 'RSA' ? { kty: 'RSA', kid: k.kid, alg: k.alg, n: k.n, e: k.e } : { kty: 'EC', kid: k.kid, alg: k.alg, crv: k.crv, x: k.x, y: k.y };

test('first sync pushes exactly the IdP keys, a second one writes nothing', async () => {
  // The suite runs once per shape of the PUT answer (scripts/test.sh).
  assert.equal(h.emu.state().putResponseShape, PUT_SHAPE);
  const idpKeys = h.emu.idp('main').keys;
  const r = await h.post();
  assert.equal(r.status, 200);
  assert.equal(r.body.dry_run, false);
  const [t] = r.body.targets;
  assert.deepEqual(
    { name: t.name, zone_id: t.zone_id, config_id: t.config_id, outcome: t.outcome },
    { name: 'default', zone_id: ZONE, config_id: CONFIG, outcome: 'updated' },
  );
  assert.deepEqual(t.keys, idpKeys.map((k) => ({ kid: k.kid, alg: k.alg })));
  assert.deepEqual(t.diff, { added: idpKeys.map((k) => k.kid), removed: [], unchanged: [] });
  const puts = h.puts();
  assert.equal(puts.length, 1);
  assert.deepEqual(puts[0].body, { keys: idpKeys.map(pushed) });
  assert.equal(h.emu.requestsTo({ method: 'PATCH' }).length, 0, 'without symmetric keys live, the write is a PUT');
  assert.equal(puts[0].headers['content-type'], 'application/json');
  assert.deepEqual(ids(h.emu.storedKeys(ZONE, CONFIG)), ids(idpKeys));

  h.emu.clearRequests();
  const again = await h.post();
  assert.equal(again.status, 200);
  assert.equal(again.body.targets[0].outcome, 'unchanged');
  assert.deepEqual(again.body.targets[0].diff, { added: [], removed: [], unchanged: idpKeys.map((k) => k.kid) });
  assert.equal(h.puts().length, 0);
});

test('the IdP request carries Accept, an identifying User-Agent and no cached answer', async () => {
  await h.get();
  const [req] = h.emu.requestsTo({ face: 'idp' });
  assert.equal(req.headers.accept, 'application/jwk-set+json, application/json;q=0.9, */*;q=0.1');
  assert.match(req.headers['user-agent'], /^jwks-sync\/\d+\.\d+\.\d+ /);
  const [get] = h.emu.requestsTo({ route: 'getConfig' });
  assert.equal(get.headers.authorization, 'Bearer [redacted]');
});

test('rotation: a new key is pushed beside the old, then the retired one is removed', async () => {
  const idp = h.emu.idp('main');
  const [old] = idp.keys;
  await h.post();
  const added = idp.rotate({ alg: 'ES256' });
  h.emu.clearRequests();
  const r1 = await h.post();
  assert.equal(r1.body.targets[0].outcome, 'updated');
  assert.deepEqual(r1.body.targets[0].diff, { added: [added.kid], removed: [], unchanged: [old.kid] });
  assert.deepEqual(h.puts()[0].body, { keys: [pushed(old), pushed(added)] });

  idp.retire(old.kid);
  h.emu.clearRequests();
  const r2 = await h.post();
  assert.deepEqual(r2.body.targets[0].diff, { added: [], removed: [old.kid], unchanged: [added.kid] });
  assert.deepEqual(h.puts()[0].body, { keys: [pushed(added)] });
  assert.deepEqual(ids(h.emu.storedKeys(ZONE, CONFIG)), ids([added]));
});

test('GET previews with the diff against live and writes nothing', async () => {
  const r = await h.get();
  assert.equal(r.status, 200);
  assert.equal(r.body.dry_run, true);
  assert.equal(r.body.targets[0].outcome, 'would_update');
  assert.equal(h.puts().length, 0);
  assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG), []);
});

test('POST ?dry_run=true previews instead of writing', async () => {
  const r = await h.post('/?dry_run=true');
  assert.equal(r.body.dry_run, true);
  assert.equal(r.body.targets[0].outcome, 'would_update');
  assert.equal(h.puts().length, 0);
});

test('POST ?dry_run with no value previews too, as the README says', async () => {
  const r = await h.post('/?dry_run');
  assert.equal(r.status, 200);
  assert.equal(r.body.dry_run, true);
  assert.equal(r.body.targets[0].outcome, 'would_update');
  assert.equal(h.puts().length, 0);
});

test('with DRY_RUN set, a POST that asks to write previews and says why in a warning', async () => {
  const p = await start({ env: (emu) => ({ JWKS_URL: emu.jwksUrl('main'), CF_ZONE_ID: ZONE, CF_TOKEN_CONFIG_ID: CONFIG, DRY_RUN: 'true' }) });
  try {
    const r = await p.post('/?dry_run=false');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.dry_run, true);
    assert.equal(r.body.targets[0].outcome, 'would_update');
    assert.deepEqual(r.body.warnings, ['DRY_RUN is set: this POST / previewed and wrote nothing; set DRY_RUN to false (or remove it) to sync']);
    assert.equal(p.puts().length, 0);
    // A preview asked for as such needs no such warning.
    assert.deepEqual((await p.get()).body.warnings, []);
  } finally {
    await p.close();
  }
});
