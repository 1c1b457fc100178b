// Issue 11, point 7: with RETAIN_REMOVED_KEYS_FOR, a live key the IdP stops publishing stays live
// for that long after its first missing run, is listed with the time it goes, then goes; an IdP
// that alternates two overlapping sets (the real Entra flap-a / flap-b) stops causing writes once
// the union is live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { start, ids, sleep, ZONE, CONFIG } from './harness.mjs';

const fixture = (name) => fileURLToPath(new URL(`../fixtures/jwks/real/${name}`, import.meta.url));
const env = (retain) => (e) => ({ JWKS_URL: e.jwksUrl('main'), CF_ZONE_ID: ZONE, CF_TOKEN_CONFIG_ID: CONFIG, FETCH_TIMEOUT_MS: '2000', RETAIN_REMOVED_KEYS_FOR: retain });
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

test('a retired key stays live for the grace period, listed with when it goes, then goes', async () => {
  const h = await start({ env: env('3s') });
  try {
    const idp = h.emu.idp('main');
    const [old] = idp.keys;
    await h.post();
    const added = idp.rotate({ alg: 'ES256' });
    idp.retire(old.kid);

    const r = await h.post();
    const [t] = r.body.targets;
    assert.equal(t.outcome, 'updated', 'the new key is added; the retired one is kept');
    assert.deepEqual(t.diff, { added: [added.kid], removed: [], unchanged: [old.kid] });
    // A rotation without overlap passes the no-overlap rule only thanks to the retained key: said.
    assert.deepEqual(t.warnings, [`the IdP's keys (${added.kid}) share no kid and alg with the live keys (${old.kid}); only the grace period (RETAIN_REMOVED_KEYS_FOR) keeps those live, and they go when it ends: if this is not a rotation, check JWKS_URL or OIDC_ISSUER`]);
    assert.deepEqual(ids(t.keys), ids([added, old]));
    assert.deepEqual(t.retained.map((k) => [k.kid, k.alg]), [[old.kid, old.alg]]);
    const { missing_since: since, until } = t.retained[0];
    assert.match(since, RFC3339);
    assert.match(until, RFC3339);
    assert.equal(Date.parse(until) - Date.parse(since), 3000);
    assert.deepEqual(ids(h.emu.storedKeys(ZONE, CONFIG)), ids([added, old]));

    // Recorded: the next run (and the preview) count from the same first-missing time.
    const again = await h.post();
    assert.equal(again.body.targets[0].outcome, 'unchanged');
    assert.deepEqual(again.body.targets[0].retained, t.retained);
    assert.deepEqual((await h.get()).body.targets[0].retained, t.retained);
    const status = (await h.status()).body.targets[0];
    assert.deepEqual(status.missing_keys, [{ kid: old.kid, alg: old.alg, missing_since: since }]);

    await sleep(3600);
    const gone = await h.post();
    const [g] = gone.body.targets;
    assert.equal(g.outcome, 'updated');
    assert.deepEqual(g.diff, { added: [], removed: [old.kid], unchanged: [added.kid] });
    assert.equal(g.retained, undefined);
    assert.deepEqual(ids(h.emu.storedKeys(ZONE, CONFIG)), ids([added]));
    assert.deepEqual((await h.status()).body.targets[0].missing_keys, []);
  } finally {
    await h.close();
  }
});

test('never beyond MAX_KEYS, and never when the IdP republishes the kid with other material', async () => {
  const h = await start({ env: (e) => ({ ...env('1h')(e), MAX_KEYS: '2' }) });
  try {
    const idp = h.emu.idp('main');
    const a = idp.generateKey({ alg: 'ES256', kid: 'a' });
    const b = idp.generateKey({ alg: 'ES256', kid: 'b' });
    idp.setKeys([a, b]);
    await h.post();
    // The IdP now publishes c and d: no room is left for a or b, so nothing live stays and the
    // no-overlap rule refuses until the replacement is allowed.
    const c = idp.generateKey({ alg: 'ES256', kid: 'c' });
    const d = idp.generateKey({ alg: 'ES256', kid: 'd' });
    idp.setKeys([c, d]);
    const refused = (await h.post()).body.targets[0];
    assert.deepEqual([refused.outcome, refused.error.code], ['failed', 'FULL_REPLACEMENT_REFUSED']);
    assert.deepEqual(ids(h.emu.storedKeys(ZONE, CONFIG)), ids([a, b]));
    const r = (await h.post('/?allow_full_replacement=true')).body.targets[0];
    assert.deepEqual(ids(h.emu.storedKeys(ZONE, CONFIG)), ids([c, d]));
    assert.equal(r.retained, undefined);
    assert.equal(r.warnings.filter((w) => /no room for it under MAX_KEYS \(2\); removed$/.test(w)).length, 2);
    // Same kid and alg, new material: replaced, not kept beside.
    const c2 = idp.generateKey({ alg: 'ES256', kid: 'c' });
    idp.setKeys([c2, d]);
    const s = (await h.post()).body.targets[0];
    assert.equal(s.retained, undefined);
    assert.deepEqual(s.diff.changed, ['c']);
    assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG).find((k) => k.kid === 'c').x, c2.x);
  } finally {
    await h.close();
  }
});

test('Entra flap-a / flap-b: one write of flap-a, one of the union, then none', async () => {
  const h = await start({ env: env('1h') });
  try {
    const idp = h.emu.idp('main');
    const outcomes = [];
    for (const name of ['flap-a-11keys', 'flap-b-8keys', 'flap-a-11keys', 'flap-b-8keys', 'flap-a-11keys']) {
      idp.loadFixture(fixture(`entra-common-v2-keys-${name}.json`));
      const t = (await h.post()).body.targets[0];
      outcomes.push([t.outcome, h.emu.storedKeys(ZONE, CONFIG).length]);
    }
    assert.deepEqual(outcomes, [
      ['updated', 11],
      ['updated', 12],
      ['unchanged', 12],
      ['unchanged', 12],
      ['unchanged', 12],
    ]);
    assert.equal(h.puts().length, 2);
  } finally {
    await h.close();
  }
});
