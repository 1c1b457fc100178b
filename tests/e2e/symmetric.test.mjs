// Symmetric keys in the live configuration (issue 10, point 1): a sync never removes them. Every
// answer shows them without `k`, a PUT cannot keep them, so the write carries them as
// {kty, kid, alg} through PATCH, whose documented semantics keep the stored secret.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { start, defaultEnv, ids, ZONE, CONFIG } from './harness.mjs';

const SECRET = 'aG1hYy1zZWNyZXQtdGhhdC1tdXN0LXN1cnZpdmU';
const hmac = { alg: 'HS256', k: SECRET, kid: 'hmac-1', kty: 'oct' };
const shown = { kty: 'oct', kid: 'hmac-1', alg: 'HS256' };
const pushed = (k) =>
  k.kty === 'RSA' ? { kty: 'RSA', kid: k.kid, alg: k.alg, n: k.n, e: k.e } : { kty: 'EC', kid: k.kid, alg: k.alg, crv: k.crv, x: k.x, y: k.y };

let h;
let current;
before(async () => {
  h = await start();
  [current] = h.emu.idp('main').keys;
});
after(() => h.close());
beforeEach(() => {
  h.emu.idp('main').setKeys([current]);
  h.emu.setStoredKeys(ZONE, CONFIG, [hmac, pushed(current)]);
  h.emu.setPatchSupported(true);
  h.emu.clearFaults();
  h.emu.clearRequests();
});

test('the issue\'s case: live [hmac-1, K], IdP publishes [K]: nothing removed, nothing written', async () => {
  const r = await h.post();
  const [t] = r.body.targets;
  assert.equal(t.outcome, 'unchanged', JSON.stringify(r.body));
  assert.deepEqual(t.diff, { added: [], removed: [], unchanged: [current.kid] });
  assert.deepEqual(t.kept.map(({ kid, alg }) => ({ kid, alg })), [{ kid: 'hmac-1', alg: 'HS256' }]);
  assert.equal(h.emu.requestsTo({ method: 'PUT' }).length + h.emu.requestsTo({ method: 'PATCH' }).length, 0);
  assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG)[0], hmac);
});

test('a rotation beside a symmetric key is written with PATCH, and the secret survives', async () => {
  const next = h.emu.idp('main').rotate({ alg: 'ES256' });
  const r = await h.post();
  const [t] = r.body.targets;
  assert.equal(t.outcome, 'updated', JSON.stringify(r.body));
  assert.deepEqual(t.diff, { added: [next.kid], removed: [], unchanged: [current.kid] });
  assert.equal(t.kept[0].why, 'symmetric key managed outside the IdP: Cloudflare never returns its secret, so the write keeps it through PATCH');
  const [patch] = h.emu.requestsTo({ route: 'patchCredentials' });
  assert.deepEqual(patch.body, { keys: [pushed(current), pushed(next), shown] });
  assert.equal(h.emu.requestsTo({ route: 'putCredentials' }).length, 0);
  const stored = h.emu.storedKeys(ZONE, CONFIG);
  assert.deepEqual(stored.find((k) => k.kid === 'hmac-1'), hmac, 'the stored secret is kept');
  assert.deepEqual(ids(stored.filter((k) => k.kty !== 'oct')), ids([current, next]));
  // And a removal (the IdP retires a key) still keeps the symmetric key.
  h.emu.idp('main').retire(current.kid);
  h.emu.clearRequests();
  const again = (await h.post()).body.targets[0];
  assert.deepEqual(again.diff, { added: [], removed: [current.kid], unchanged: [next.kid] });
  assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG).find((k) => k.kid === 'hmac-1'), hmac);
});

test('the preview lists the kept key and never removes it', async () => {
  h.emu.idp('main').rotate({ alg: 'ES256' });
  const r = await h.get();
  const [t] = r.body.targets;
  assert.equal(t.outcome, 'would_update');
  assert.deepEqual(t.kept.map((k) => k.kid), ['hmac-1']);
  assert.ok(!t.diff.removed.includes('hmac-1'));
  assert.equal(h.emu.requestsTo({ method: 'PATCH' }).length, 0);
});

for (const [name, refuse] of [
  ['405', () => h.emu.setPatchSupported(false)],
  ['404 on the route (7000)', () => h.emu.fault({ route: 'patchCredentials', status: 404, code: 7000, message: 'No route for that URI' })],
]) {
  test(`a PATCH refused with ${name}: its own code, nothing written, the hint says what to do`, async () => {
    h.emu.idp('main').rotate({ alg: 'ES256' });
    refuse();
    const before = h.emu.storedKeys(ZONE, CONFIG);
    const r = await h.post();
    const [t] = r.body.targets;
    assert.equal(r.status, 502);
    assert.deepEqual([t.error.stage, t.error.code], ['cloudflare', 'CF_PATCH_REFUSED']);
    assert.match(t.error.message, /^HTTP 40[45] from Cloudflare \(70(01|00): .*\) editing credentials \(PATCH\); /);
    assert.match(t.error.hint, /separate configuration/);
    assert.equal(h.emu.requestsTo({ method: 'PATCH' }).length, 1);
    assert.equal(h.emu.requestsTo({ method: 'PUT' }).length, 0, 'never falls back to a PUT');
    assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG), before);
  });
}

test('kept keys count toward MAX_KEYS: the IdP keys get what is left', async () => {
  const h2 = await start({ env: (emu) => ({ ...defaultEnv(emu), MAX_KEYS: '2' }) });
  try {
    const idp = h2.emu.idp('main');
    const [k1] = idp.keys;
    const k2 = idp.rotate({ alg: 'ES256' });
    h2.emu.setStoredKeys(ZONE, CONFIG, [hmac, pushed(k1)]);
    const r = await h2.post();
    const [t] = r.body.targets;
    assert.equal(t.outcome, 'unchanged', JSON.stringify(r.body));
    assert.deepEqual(t.keys.map((k) => k.kid), [k1.kid]);
    assert.deepEqual(t.dropped.map((d) => [d.kid, d.code]), [[k2.kid, 'OVER_LIMIT']]);
    assert.ok(t.warnings.includes('1 of the 2 MAX_KEYS slots hold kept symmetric keys; the IdP\'s keys get 1'), JSON.stringify(t.warnings));
    // A usable key left out is a warning: the IdP may sign with it next.
    assert.ok(t.warnings.includes(`1 usable key(s) left out over MAX_KEYS (2): ${k2.kid}; tokens the IdP signs with them are refused: raise MAX_KEYS if the account allows more keys`), JSON.stringify(t.warnings));

    h2.emu.setStoredKeys(ZONE, CONFIG, [hmac, { ...hmac, kid: 'hmac-2' }]);
    const full = (await h2.post()).body.targets[0];
    assert.deepEqual([full.error.stage, full.error.code], ['plan', 'KEY_LIMIT_REACHED']);
    assert.equal(h2.emu.requestsTo({ method: 'PATCH' }).length, 0);
  } finally {
    await h2.close();
  }
});
