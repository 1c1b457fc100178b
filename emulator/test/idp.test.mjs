// The identity-provider face: JWKS, discovery, fixtures, rotation, misbehaviour.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { constants, createPublicKey, verify } from 'node:crypto';
import { startEmulator, thumbprint, DEFAULT_TOKEN_TTL_S } from '../index.mjs';
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

const part = (jwt, i) => JSON.parse(Buffer.from(jwt.split('.')[i], 'base64url'));
/** Verify with node:crypto directly, with the RFC 7518 parameters written out here, not jose.mjs's. */
function verifiedBy(jwk, jwt) {
  const [h, p, s] = jwt.split('.');
  const { alg } = part(jwt, 0);
  const bits = Number(alg.slice(2));
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const opts = alg.startsWith('ES') ? { key, dsaEncoding: 'ieee-p1363' } : alg.startsWith('PS') ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: bits / 8 } : key;
  return verify(`sha${bits}`, Buffer.from(`${h}.${p}`), opts, Buffer.from(s, 'base64url'));
}

test('tokens carry kid, alg and the standard claims, and verify with the published key, for every API Shield alg', () => {
  for (const alg of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384']) {
    const i = emu.idp(`signer-${alg}`, { generate: [{ alg }] });
    const [jwk] = i.keys;
    assert.equal(i.signingKid, jwk.kid);
    const jwt = i.sign({ sub: 'u1' }, { nowS: 1_800_000_000 });
    assert.deepEqual(part(jwt, 0), { alg, typ: 'JWT', kid: jwk.kid });
    assert.deepEqual(part(jwt, 1), { iss: emu.issuer(`signer-${alg}`), aud: `api://signer-${alg}`, iat: 1_800_000_000, nbf: 1_800_000_000, exp: 1_800_000_000 + DEFAULT_TOKEN_TTL_S, sub: 'u1' });
    assert.equal(verifiedBy(jwk, jwt), true, alg);
    // A changed payload no longer verifies.
    const [h, , s] = jwt.split('.');
    assert.equal(verifiedBy(jwk, `${h}.${Buffer.from('{"sub":"u2"}').toString('base64url')}.${s}`), false, alg);
  }
});

test('sign: claims from the clock by default, payload overrides, ttlS, another alg for the same key', () => {
  const i = emu.idp('claims', { generate: [{ alg: 'RS256' }], audience: 'https://api.example' });
  const [jwk] = i.keys;
  const before = Math.floor(Date.now() / 1000);
  const c = part(i.sign(), 1);
  assert.ok(c.iat >= before && c.iat <= Math.floor(Date.now() / 1000));
  assert.deepEqual(c, { iss: emu.issuer('claims'), aud: 'https://api.example', iat: c.iat, nbf: c.iat, exp: c.iat + 3600 });
  assert.deepEqual(part(i.sign({ exp: 5, aud: 'other' }, { nowS: 100, ttlS: 60 }), 1), { iss: emu.issuer('claims'), aud: 'other', iat: 100, nbf: 100, exp: 5 });
  assert.equal(part(i.sign({}, { nowS: 100, ttlS: 60 }), 1).exp, 160);
  // The same RSA key, signing PS256 with a header that says so: the wrong alg for this kid.
  const ps = i.sign({}, { alg: 'PS256' });
  assert.deepEqual(part(ps, 0), { alg: 'PS256', typ: 'JWT', kid: jwk.kid });
  assert.equal(verifiedBy(jwk, ps), true);
  assert.deepEqual(part(i.sign({}, { header: { typ: 'at+jwt', extra: 1 } }), 0), { alg: 'RS256', typ: 'at+jwt', kid: jwk.kid, extra: 1 });
});

test('rotation ahead of use: prepublish, switch signing, retire the old key', async () => {
  const i = emu.idp('lifecycle', { generate: [{ alg: 'RS256' }] });
  const [old] = i.keys;
  assert.deepEqual([i.signingKid, i.nextKid], [old.kid, null]);
  const next = i.prepublish({ alg: 'ES256' });
  // Published, not signing yet.
  assert.deepEqual((await request(emu.jwksUrl('lifecycle'))).json.keys.map((k) => k.kid), [old.kid, next.kid]);
  assert.deepEqual([i.signingKid, i.nextKid], [old.kid, next.kid]);
  assert.equal(part(i.sign(), 0).kid, old.kid);
  assert.deepEqual(i.switchSigning(), next);
  assert.deepEqual([i.signingKid, i.nextKid], [next.kid, null]);
  assert.deepEqual(part(i.sign(), 0), { alg: 'ES256', typ: 'JWT', kid: next.kid });
  assert.equal(i.retire(old.kid), 1);
  assert.deepEqual((await request(emu.jwksUrl('lifecycle'))).json.keys.map((k) => k.kid), [next.kid]);
  assert.equal(i.signingKid, next.kid);
  // A token for the retired key can still be made, by naming it (to show it is refused).
  assert.equal(verifiedBy(old, i.sign({}, { kid: old.kid })), true);
  assert.deepEqual(i.state().signingKid, next.kid);
  assert.deepEqual(i.state().nextKid, null);
});

test('an unannounced rotation publishes a key and signs with it at once', async () => {
  const i = emu.idp('sudden', { generate: [{ alg: 'RS256' }] });
  const [old] = i.keys;
  const added = i.rotateUnannounced({ alg: 'PS384', position: 'start' });
  assert.deepEqual((await request(emu.jwksUrl('sudden'))).json.keys.map((k) => k.kid), [added.kid, old.kid]);
  assert.deepEqual([i.signingKid, i.nextKid], [added.kid, null]);
  assert.deepEqual(part(i.sign(), 0), { alg: 'PS384', typ: 'JWT', kid: added.kid });
});

test('switching signing needs a next key or a published key of this IdP', () => {
  const i = emu.idp('strict', { generate: [{ alg: 'RS256' }] });
  assert.throws(() => i.switchSigning(), /no pre-published next key/);
  assert.throws(() => i.switchSigning('nobody'), /holds no private key for kid nobody/);
  const loose = i.generateKey({ alg: 'ES384' });
  assert.throws(() => i.switchSigning(loose.kid), new RegExp(`does not publish kid ${loose.kid}`));
  i.addKey(loose);
  assert.equal(i.switchSigning(loose.kid).kid, loose.kid);
});

test('retiring or unpublishing the signing key leaves the IdP without one', () => {
  const i = emu.idp('orphan', { generate: [{ alg: 'RS256' }] });
  const [old] = i.keys;
  const next = i.prepublish();
  i.retire(old.kid);
  assert.deepEqual([i.signingKid, i.nextKid], [null, next.kid]);
  assert.throws(() => i.sign(), /has no signing key/);
  i.switchSigning();
  i.setKeys([]);
  assert.deepEqual([i.signingKid, i.nextKid], [null, null]);
  // An IdP made of published keys only (a fixture) has no private key at all.
  assert.equal(emu.idp('okta').signingKid, null);
  assert.throws(() => emu.idp('okta').sign({}, { kid: emu.idp('okta').keys[0].kid }), /holds no private key/);
});

test('only the first generated key signs; the others are published beside it', () => {
  const i = emu.idp('several', { generate: [{ alg: 'ES256' }, { alg: 'RS256' }] });
  const [first, second] = i.keys;
  assert.deepEqual([first.alg, second.alg], ['ES256', 'RS256']);
  assert.deepEqual([i.signingKid, i.nextKid], [first.kid, null]);
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
