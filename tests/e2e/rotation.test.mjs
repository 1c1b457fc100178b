// Zero-downtime rotation, end to end: the emulated IdP signs real JWTs, the Worker's cron (in
// workerd) syncs its JWKS into the emulated configuration, and the emulated edge validates every
// token as API Shield does. Each step presents every token issued so far and asserts its verdict.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { start, ids, ZONE, CONFIG } from './harness.mjs';

let h;
let idp;
let first; // the key live before each test, signing
before(async () => {
  h = await start();
  idp = h.emu.idp('main');
});
after(() => h.close());
beforeEach(async () => {
  idp.clear();
  h.emu.clearFaults();
  idp.setKeys([]);
  h.emu.setStoredKeys(ZONE, CONFIG, []);
  first = idp.rotateUnannounced({ alg: 'RS256' });
  await cron('ok');
  assert.deepEqual(ids(live()), ids([first]));
});

const live = () => h.emu.storedKeys(ZONE, CONFIG);

/** One cron run of the Worker; asserts how it ended ('ok' or 'exception'). */
async function cron(expected) {
  const { outcome } = await h.scheduled();
  assert.equal(outcome, expected, `cron run ended ${outcome}`);
}

/** Present a token to the protected origin: 'valid' or the reason it was refused. */
async function present(token) {
  const r = await fetch(`${h.emu.edgeUrl()}/api/orders`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
  const body = await r.json();
  assert.equal(r.status, body.valid ? 200 : 401);
  return body.valid ? 'valid' : body.reason;
}

/** The verdict on every token issued so far, by label, for one deepEqual per step. */
async function verdicts(tokens) {
  const out = {};
  for (const [label, token] of Object.entries(tokens)) out[label] = await present(token);
  return out;
}
const all = (tokens, verdict) => Object.fromEntries(Object.keys(tokens).map((label) => [label, verdict]));

for (const alg of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384']) {
  test(`(a) pre-published ${alg} key: every token validates at every step; the retired key stops after the next run`, async () => {
    const tokens = { old1: idp.sign({ sub: 'before' }) };
    assert.deepEqual(await verdicts(tokens), all(tokens, 'valid'));

    const next = idp.prepublish({ alg });
    tokens.old2 = idp.sign({ sub: 'after pre-publication' });
    assert.equal(JSON.parse(Buffer.from(tokens.old2.split('.')[0], 'base64url')).kid, first.kid);
    assert.deepEqual(await verdicts(tokens), all(tokens, 'valid'));

    await cron('ok');
    assert.deepEqual(ids(live()), ids([first, next]));
    tokens.old3 = idp.sign({ sub: 'after the sync' });
    assert.deepEqual(await verdicts(tokens), all(tokens, 'valid'));

    // The IdP switches: its very first token with the new key validates, with no run in between.
    idp.switchSigning();
    h.emu.clearRequests();
    tokens.new1 = idp.sign({ sub: 'first use of the new key' });
    assert.deepEqual(JSON.parse(Buffer.from(tokens.new1.split('.')[0], 'base64url')), { alg, typ: 'JWT', kid: next.kid });
    assert.deepEqual(await verdicts(tokens), all(tokens, 'valid'));

    await cron('ok');
    assert.equal(h.puts().length, 0, 'nothing changed, nothing written');
    tokens.new2 = idp.sign();
    assert.deepEqual(await verdicts(tokens), all(tokens, 'valid'));

    // Retired at the IdP: the old key's tokens still validate until the next run removes it.
    idp.retire(first.kid);
    tokens.new3 = idp.sign();
    assert.deepEqual(await verdicts(tokens), all(tokens, 'valid'));

    await cron('ok');
    assert.deepEqual(ids(live()), ids([next]));
    tokens.new4 = idp.sign();
    assert.deepEqual(await verdicts(tokens), {
      old1: 'no key for kid/alg',
      old2: 'no key for kid/alg',
      old3: 'no key for kid/alg',
      new1: 'valid',
      new2: 'valid',
      new3: 'valid',
      new4: 'valid',
    });
  });
}

test('(b) switching without pre-publishing: new tokens fail only until the next run, which takes one run', async () => {
  const tokens = { old: idp.sign() };
  const added = idp.rotateUnannounced({ alg: 'ES256' });
  tokens.new = idp.sign();
  assert.equal(JSON.parse(Buffer.from(tokens.new.split('.')[0], 'base64url')).kid, added.kid);
  assert.deepEqual(await verdicts(tokens), { old: 'valid', new: 'no key for kid/alg' });
  let runs = 0;
  while ((await present(tokens.new)) !== 'valid' && runs < 5) {
    await cron('ok');
    runs += 1;
  }
  assert.equal(runs, 1, 'runs until a token signed with the new key validates');
  assert.deepEqual(ids(live()), ids([first, added]));
  tokens.later = idp.sign();
  assert.deepEqual(await verdicts(tokens), all(tokens, 'valid'));
});

test('(c) a retired key stops validating after the next successful run: not before, not after a failed one', async () => {
  const next = idp.prepublish({ alg: 'PS256' });
  await cron('ok');
  idp.switchSigning();
  const tokens = { old: idp.sign({}, { kid: first.kid }), new: idp.sign() };
  idp.retire(first.kid);
  assert.deepEqual(await verdicts(tokens), { old: 'valid', new: 'valid' });

  idp.misbehave({ status: 503 });
  await cron('exception');
  assert.deepEqual(ids(live()), ids([first, next]));
  assert.deepEqual(await verdicts(tokens), { old: 'valid', new: 'valid' });

  idp.clear();
  await cron('ok');
  assert.deepEqual(ids(live()), ids([next]));
  assert.deepEqual(await verdicts(tokens), { old: 'no key for kid/alg', new: 'valid' });
  // A token signed with the retired key after its retirement is refused the same way.
  assert.equal(await present(idp.sign({}, { kid: first.kid })), 'no key for kid/alg');
});

// name, how to fail, the error code the run's log line must carry.
const FAILURES = [
  ['IdP 5xx', () => idp.misbehave({ status: 503 }), 'JWKS_UNAVAILABLE'],
  ['IdP HTML error page', () => idp.misbehave({ html: true }), 'JWKS_HTML'],
  ['IdP empty key set', () => idp.misbehave({ emptyKeys: true }), 'JWKS_NO_USABLE_KEYS'],
  ['Cloudflare 5xx reading the configuration', () => h.emu.fault({ route: 'getConfig', status: 503 }), 'CF_UNAVAILABLE'],
  // A 5xx on the write leaves its outcome unknown: a re-read shows the old keys, so unconfirmed.
  ['Cloudflare 5xx on the write', () => h.emu.fault({ route: 'putCredentials', status: 503 }), 'CF_WRITE_UNCONFIRMED'],
  ['Cloudflare rate limit', () => h.emu.rateLimit(true, 300), 'CF_RATE_LIMITED'],
];

for (const [name, fail, code] of FAILURES) {
  test(`(d) a failed run in the middle (${name}) changes nothing; the next good run converges`, async () => {
    const tokens = { old: idp.sign() };
    const next = idp.prepublish({ alg: 'ES384' });
    const before = live();
    fail();
    h.logs.splice(0);
    h.emu.clearRequests();
    await cron('exception');
    const [line] = (await h.logLines()).filter((l) => l.trigger === 'cron');
    assert.equal(line.error.code, code, line.error.message);
    if (name.includes('write')) assert.ok(h.puts().length > 0, 'the write was attempted');
    assert.deepEqual(live(), before);
    tokens.afterFailure = idp.sign();
    assert.deepEqual(await verdicts(tokens), all(tokens, 'valid'));
    // The next key is not live yet: switching now would be refused (so an IdP needs a lead time
    // longer than the cron period plus the failed runs it must ride out).
    assert.equal(await present(idp.sign({}, { kid: next.kid })), 'no key for kid/alg');

    idp.clear();
    h.emu.clearFaults();
    h.emu.rateLimit(false);
    await cron('ok');
    assert.deepEqual(ids(live()), ids([first, next]));
    idp.switchSigning();
    tokens.new = idp.sign();
    assert.deepEqual(await verdicts(tokens), all(tokens, 'valid'));
  });
}
