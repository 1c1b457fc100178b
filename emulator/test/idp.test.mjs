// The identity-provider face: JWKS, discovery, fixtures, rotation, misbehaviour.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createPublicKey, verify } from 'node:crypto';
import { startEmulator, thumbprint } from '../index.mjs';
import { request, fixturePath } from './helpers.mjs';
import { bitLength } from '../keys.mjs';

let emu;
before(async () => {
  emu = await startEmulator({
    idps: ['gen', { name: 'okta', fixture: fixturePath('okta-default-as-keys.json') }, { name: 'ec', generate: [{ alg: 'ES256' }], contentType: 'application/jwk-set+json' }],
  });
});
after(() => emu.close());
beforeEach(() => {
  for (const n of emu.idpNames()) emu.idp(n).clear();
  emu.clearRequests();
});

test('a new IdP publishes one generated RSA 2048 RS256 key, public members only', async () => {
  const r = await request(emu.jwksUrl('gen'));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.equal(r.json.keys.length, 1);
  const [k] = r.json.keys;
  assert.deepEqual(Object.keys(k), ['kty', 'kid', 'use', 'alg', 'n', 'e']);
  assert.equal(k.kty, 'RSA');
  assert.equal(k.alg, 'RS256');
  assert.equal(k.use, 'sig');
  assert.equal(k.e, 'AQAB');
  assert.equal(k.kid, thumbprint(k));
  assert.equal(bitLength(k.n), 2048);
  assert.deepEqual(emu.idp('gen').keys, r.json.keys);
});

test('generated EC keys and the jwk-set content type', async () => {
  const r = await request(emu.jwksUrl('ec'));
  assert.equal(r.headers.get('content-type'), 'application/jwk-set+json');
  const [k] = r.json.keys;
  assert.deepEqual(Object.keys(k), ['kty', 'kid', 'use', 'alg', 'crv', 'x', 'y']);
  assert.deepEqual([k.kty, k.alg, k.crv], ['EC', 'ES256', 'P-256']);
  assert.equal(Buffer.from(k.x, 'base64url').length, 32);
});

test('discovery document points back at the JWKS', async () => {
  const r = await request(`${emu.url}/idp/okta/.well-known/openid-configuration`);
  assert.equal(r.status, 200);
  assert.equal(r.json.issuer, `${emu.url}/idp/okta`);
  assert.equal(r.json.issuer, emu.issuer('okta'));
  assert.equal(r.json.jwks_uri, `${emu.url}/idp/okta/jwks.json`);
  assert.deepEqual(r.json.id_token_signing_alg_values_supported, ['RS256']);
  assert.match(emu.url, /^http:\/\/127\.0\.0\.1:\d+$/);
});

test('a fixture is served byte for byte, also at .well-known/jwks.json', async () => {
  const raw = readFileSync(fixturePath('okta-default-as-keys.json'), 'utf8');
  assert.equal((await request(emu.jwksUrl('okta'))).text, raw);
  assert.equal((await request(`${emu.idpUrl('okta')}/.well-known/jwks.json`)).text, raw);
});

test('a fixture that is not JSON is served as is, with no keys', async () => {
  const e = emu.idp('broken');
  const path = fixturePath('pingfederate-2015-hand-modified-dup-kid-INVALID-JSON.json');
  assert.deepEqual(e.loadFixture(path), []);
  const r = await request(emu.jwksUrl('broken'));
  assert.equal(r.text, readFileSync(path, 'utf8'));
  assert.throws(() => e.rotate(), /does not serve a JWKS/);
});

test('rotation adds a generated key; retire removes an old kid', async () => {
  const i = emu.idp('rot', { keys: [] });
  assert.deepEqual(i.keys, []);
  const first = i.rotate();
  const second = i.rotate({ alg: 'ES384' });
  assert.deepEqual([second.kty, second.crv, second.alg], ['EC', 'P-384', 'ES384']);
  assert.deepEqual((await request(emu.jwksUrl('rot'))).json.keys.map((k) => k.kid), [first.kid, second.kid]);
  const third = i.rotate({ alg: 'PS256', kid: 'new-one', position: 'start' });
  assert.equal(third.kid, 'new-one');
  assert.equal(i.retire(first.kid), 1);
  assert.equal(i.retire('absent'), 0);
  assert.deepEqual((await request(emu.jwksUrl('rot'))).json.keys.map((k) => k.kid), ['new-one', second.kid]);
  // generateKey does not publish.
  const loose = i.generateKey({ kty: 'OKP' });
  assert.deepEqual([loose.kty, loose.crv, loose.alg], ['OKP', 'Ed25519', 'EdDSA']);
  assert.equal(i.keys.length, 2);
});

test('tokens signed by a generated key verify with the published public key', async () => {
  const i = emu.idp('signer', { generate: [{ alg: 'ES256' }, { alg: 'PS256' }] });
  for (const jwk of i.keys) {
    const jwt = i.sign({ sub: 'u1' }, { kid: jwk.kid });
    const [h, p, s] = jwt.split('.');
    assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url')), { alg: jwk.alg, typ: 'JWT', kid: jwk.kid });
    assert.deepEqual(JSON.parse(Buffer.from(p, 'base64url')), { iss: emu.issuer('signer'), sub: 'u1' });
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    const opts = jwk.kty === 'EC' ? { key, dsaEncoding: 'ieee-p1363' } : { key, padding: 6, saltLength: 32 };
    assert.equal(verify('sha256', Buffer.from(`${h}.${p}`), opts, Buffer.from(s, 'base64url')), true);
  }
});

test('several IdPs are independent, and an unknown one is 404', async () => {
  assert.notDeepEqual(emu.idp('gen').keys, emu.idp('okta').keys);
  const r = await request(emu.jwksUrl('nobody'));
  assert.equal(r.status, 404);
  assert.equal((await request(`${emu.idpUrl('gen')}/other`)).status, 404);
  assert.equal((await request(emu.jwksUrl('gen'), { method: 'POST', body: '{}' })).status, 405);
});

test('misbehave: 5xx for the next N requests, then normal', async () => {
  emu.idp('gen').misbehave({ status: 503, times: 2 });
  assert.equal((await request(emu.jwksUrl('gen'))).status, 503);
  // Other paths and other IdPs are unaffected.
  assert.equal((await request(`${emu.idpUrl('gen')}/.well-known/openid-configuration`)).status, 200);
  assert.equal((await request(emu.jwksUrl('okta'))).status, 200);
  assert.equal((await request(emu.jwksUrl('gen'))).status, 503);
  assert.equal((await request(emu.jwksUrl('gen'))).status, 200);
  assert.deepEqual(emu.requestsTo({ idp: 'gen', route: 'jwks.json' }).map((r) => r.status), [503, 503, 200]);
});

test('misbehave: 429 with retry-after, until cleared', async () => {
  emu.idp('gen').misbehave({ status: 429, retryAfter: 120 });
  for (let n = 0; n < 3; n++) {
    const r = await request(emu.jwksUrl('gen'));
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '120');
  }
  emu.idp('gen').clear();
  assert.equal((await request(emu.jwksUrl('gen'))).status, 200);
});

test('misbehave: HTML with 200, empty key set, body that is not JSON', async () => {
  const i = emu.idp('gen');
  i.misbehave({ html: true, times: 1 });
  let r = await request(emu.jwksUrl('gen'));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(r.text, /^<!doctype html>/);
  i.misbehave({ emptyKeys: true, times: 1 });
  r = await request(emu.jwksUrl('gen'));
  assert.equal(r.status, 200);
  assert.equal(r.text, '{"keys":[]}');
  i.misbehave({ notJson: true, times: 1 });
  r = await request(emu.jwksUrl('gen'));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.throws(() => JSON.parse(r.text), SyntaxError);
  r = await request(emu.jwksUrl('gen'));
  assert.equal(r.json.keys.length, 1);
});

test('misbehave: redirect to another path, and a redirect loop', async () => {
  const i = emu.idp('gen');
  i.misbehave({ redirect: '/idp/gen/.well-known/jwks.json', redirectStatus: 301, times: 1 });
  let r = await request(emu.jwksUrl('gen'));
  assert.equal(r.status, 301);
  assert.equal(r.headers.get('location'), `${emu.url}/idp/gen/.well-known/jwks.json`);
  i.misbehave({ redirect: '/idp/gen/.well-known/jwks.json', times: 1 });
  r = await request(emu.jwksUrl('gen'), { redirect: 'follow' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.keys, i.keys);
  i.misbehave({ redirect: 'loop' });
  r = await request(emu.jwksUrl('gen'));
  assert.equal(r.status, 302);
  assert.equal(r.headers.get('location'), emu.jwksUrl('gen'));
  await assert.rejects(request(emu.jwksUrl('gen'), { redirect: 'follow' }), /fetch failed/);
});

test('misbehave: slow answer, dropped connection, discovery path', async () => {
  const i = emu.idp('gen');
  i.misbehave({ delayMs: 250, times: 1 });
  const t0 = performance.now();
  const r = await request(emu.jwksUrl('gen'));
  assert.ok(performance.now() - t0 >= 240);
  assert.equal(r.status, 200);
  i.misbehave({ drop: true, times: 1 });
  await assert.rejects(request(emu.jwksUrl('gen')), TypeError);
  i.misbehave({ path: '.well-known/openid-configuration', status: 500, times: 1 });
  assert.equal((await request(`${emu.idpUrl('gen')}/.well-known/openid-configuration`)).status, 500);
  assert.equal((await request(emu.jwksUrl('gen'))).status, 200);
});

test('misbehave specs are checked', () => {
  const i = emu.idp('gen');
  assert.throws(() => i.misbehave({ html: true, emptyKeys: true }), /one behaviour at a time/);
  assert.throws(() => i.misbehave({}), /needs a behaviour or delayMs/);
  assert.throws(() => i.misbehave({ path: 'keys', status: 500 }), /unknown IdP path/);
});
