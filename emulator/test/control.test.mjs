// The /__emulator control routes, as a separate process would use them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator } from '../index.mjs';
import { cf, control, fixture, fixturePath, request, configPath, credentialsPath, ZONE, CONFIG } from './helpers.mjs';

const okta = fixture('okta-default-as-keys.json').keys[0];
const oktaStored = { alg: 'RS256', e: okta.e, kid: okta.kid, kty: 'RSA', n: okta.n };
let emu;
before(async () => {
  emu = await startEmulator();
});
after(() => emu.close());

test('GET /__emulator/state describes the emulator without the token', async () => {
  const r = await control(emu, 'GET', '/state');
  assert.equal(r.status, 200);
  assert.equal(r.json.url, emu.url);
  assert.equal(r.json.cfApiBase, `${emu.url}/client/v4`);
  assert.equal(r.json.token, '[redacted]');
  assert.equal(r.json.maxKeys, 16);
  assert.equal(r.json.putResponseShape, 'result');
  assert.equal(r.json.patchSupported, true);
  assert.deepEqual(r.json.configs.map((c) => [c.zoneId, c.id]), [[ZONE, CONFIG]]);
  assert.deepEqual(r.json.idps, []);
  assert.deepEqual(r.json.faults, []);
  assert.equal(r.json.rateLimit, null);
});

test('over HTTP, stored symmetric keys are shown without their secret', async () => {
  const hmac = { alg: 'HS256', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ', kid: 'h', kty: 'oct' };
  const r = await control(emu, 'POST', `/configs/${ZONE}/${CONFIG}/keys`, { keys: [hmac] });
  assert.deepEqual(r.json, { keys: [{ alg: 'HS256', kid: 'h', kty: 'oct' }] });
  assert.deepEqual((await control(emu, 'GET', `/configs/${ZONE}/${CONFIG}/keys`)).json, [{ alg: 'HS256', kid: 'h', kty: 'oct' }]);
  assert.deepEqual(emu.storedKeys(ZONE, CONFIG), [hmac], 'the JS API shows what is stored');
  emu.setStoredKeys(ZONE, CONFIG, []);
});

test('stored keys can be read and written', async () => {
  let r = await control(emu, 'POST', `/configs/${ZONE}/${CONFIG}/keys`, { keys: [oktaStored] });
  assert.deepEqual(r.json, { keys: [oktaStored] });
  r = await control(emu, 'GET', `/configs/${ZONE}/${CONFIG}/keys`);
  assert.deepEqual(r.json, [oktaStored]);
  r = await control(emu, 'POST', '/configs', { zoneId: 'z2', configId: 'c2', title: 'second' });
  assert.equal(r.status, 200);
  assert.deepEqual(emu.storedKeys('z2', 'c2'), []);
  r = await control(emu, 'GET', `/configs/${ZONE}/missing/keys`);
  assert.equal(r.status, 404);
  assert.deepEqual(r.json, { error: `no configuration missing in zone ${ZONE}` });
});

test('faults, rate limit, drop-kid, put shape and max keys over HTTP', async () => {
  await control(emu, 'POST', '/fault', { route: 'getConfig', status: 502, times: 1 });
  assert.equal((await cf(emu, 'GET', configPath())).status, 502);
  assert.equal((await cf(emu, 'GET', configPath())).status, 200);

  await control(emu, 'POST', '/rate-limit', { on: true, retryAfter: 5 });
  const limited = await cf(emu, 'GET', configPath());
  assert.deepEqual([limited.status, limited.headers.get('retry-after')], [429, '5']);
  await control(emu, 'POST', '/rate-limit', { on: false });

  await control(emu, 'POST', '/drop-kid', { kid: okta.kid });
  await control(emu, 'POST', '/put-response-shape', { shape: 'result' });
  let r = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } });
  assert.deepEqual(r.json, { success: true, errors: [], messages: [], result: { keys: [] } });
  await control(emu, 'POST', '/faults/clear');
  await control(emu, 'POST', '/put-response-shape', { shape: 'top' });
  await control(emu, 'POST', '/max-keys', { maxKeys: 0 });
  assert.equal((await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } })).status, 400);
  await control(emu, 'POST', '/max-keys', { maxKeys: 16 });
  r = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } });
  assert.deepEqual(r.json.keys, [oktaStored]);
  await control(emu, 'POST', '/put-response-shape', { shape: 'result' });

  await control(emu, 'POST', '/patch-supported', { on: false });
  assert.equal((await cf(emu, 'PATCH', credentialsPath(), { body: { keys: [okta] } })).status, 405);
  await control(emu, 'POST', '/patch-supported', { on: true });
  assert.equal((await cf(emu, 'PATCH', credentialsPath(), { body: { keys: [okta] } })).status, 200);

  r = await control(emu, 'POST', '/fault', { route: 'bogus', status: 500 });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /unknown route bogus/);
});

test('IdPs are created, rotated, retired and made to misbehave over HTTP', async () => {
  let r = await control(emu, 'POST', '/idp/demo', { fixture: fixturePath('okta-default-as-keys.json') });
  assert.equal(r.json.issuer, `${emu.url}/idp/demo`);
  assert.deepEqual(r.json.keys.map((k) => k.kid), [okta.kid]);
  r = await control(emu, 'POST', '/idp/demo/rotate', { alg: 'ES256' });
  const added = r.json.key;
  assert.equal(added.alg, 'ES256');
  assert.deepEqual((await request(emu.jwksUrl('demo'))).json.keys.map((k) => k.kid), [okta.kid, added.kid]);
  r = await control(emu, 'POST', '/idp/demo/retire', { kid: okta.kid });
  assert.deepEqual(r.json, { removed: 1 });
  assert.deepEqual((await request(emu.jwksUrl('demo'))).json.keys.map((k) => k.kid), [added.kid]);

  await control(emu, 'POST', '/idp/demo/misbehave', { status: 500, times: 1 });
  assert.equal((await request(emu.jwksUrl('demo'))).status, 500);
  await control(emu, 'POST', '/idp/demo/misbehave', { html: true });
  assert.equal((await request(emu.jwksUrl('demo'))).headers.get('content-type'), 'text/html; charset=utf-8');
  await control(emu, 'POST', '/idp/demo/clear');
  assert.equal((await request(emu.jwksUrl('demo'))).status, 200);

  await control(emu, 'POST', '/idp/demo/keys', { keys: [okta] });
  assert.deepEqual((await request(emu.jwksUrl('demo'))).json, { keys: [okta] });
  await control(emu, 'POST', '/idp/demo/fixture', { path: fixturePath('supabase-auth-es256-webcrypto-ext-keyops.json') });
  assert.equal((await request(emu.jwksUrl('demo'))).json.keys[0].kty, 'EC');
  await control(emu, 'POST', '/idp/demo/content-type', { contentType: 'application/jwk-set+json' });
  assert.equal((await request(emu.jwksUrl('demo'))).headers.get('content-type'), 'application/jwk-set+json');

  r = await control(emu, 'GET', '/idp/demo');
  assert.equal(r.json.name, 'demo');
  assert.equal((await control(emu, 'GET', '/idp/nobody')).status, 404);
});

test('signing keys over HTTP: prepublish, switch, unannounced rotation, sign, state', async () => {
  const part = (jwt, i) => JSON.parse(Buffer.from(jwt.split('.')[i], 'base64url'));
  let r = await control(emu, 'POST', '/idp/signing', { generate: [{ alg: 'RS256' }] });
  const old = r.json.keys[0];
  assert.deepEqual([r.json.signingKid, r.json.nextKid, r.json.audience], [old.kid, null, 'api://signing']);
  r = await control(emu, 'POST', '/idp/signing/sign', { payload: { sub: 'u1' }, nowS: 1000, ttlS: 30 });
  assert.deepEqual(part(r.json.jwt, 0), { alg: 'RS256', typ: 'JWT', kid: old.kid });
  assert.deepEqual(part(r.json.jwt, 1), { iss: emu.issuer('signing'), aud: 'api://signing', iat: 1000, nbf: 1000, exp: 1030, sub: 'u1' });

  r = await control(emu, 'POST', '/idp/signing/prepublish', { alg: 'ES384' });
  const next = r.json.key;
  assert.equal(next.alg, 'ES384');
  assert.deepEqual((await control(emu, 'GET', '/idp/signing')).json.nextKid, next.kid);
  r = await control(emu, 'POST', '/idp/signing/switch', {});
  assert.deepEqual(r.json, { key: next });
  r = await control(emu, 'POST', '/idp/signing/sign', {});
  assert.equal(part(r.json.jwt, 0).kid, next.kid);
  r = await control(emu, 'POST', '/idp/signing/sign', { kid: old.kid, alg: 'PS256' });
  assert.deepEqual(part(r.json.jwt, 0), { alg: 'PS256', typ: 'JWT', kid: old.kid });

  r = await control(emu, 'POST', '/idp/signing/rotate-unannounced', { alg: 'PS512' });
  const sudden = r.json.key;
  r = await control(emu, 'GET', '/idp/signing');
  assert.deepEqual([r.json.signingKid, r.json.nextKid], [sudden.kid, null]);
  assert.deepEqual(r.json.keys.map((k) => k.kid), [old.kid, next.kid, sudden.kid]);

  r = await control(emu, 'POST', '/idp/signing/switch', {});
  assert.equal(r.status, 400);
  assert.match(r.json.error, /no pre-published next key/);
  await control(emu, 'POST', '/idp/signing/retire', { kid: sudden.kid });
  r = await control(emu, 'POST', '/idp/signing/sign', {});
  assert.equal(r.status, 400);
  assert.match(r.json.error, /has no signing key/);
});

test('the request log over HTTP, filtered and cleared; control calls are not logged', async () => {
  await control(emu, 'DELETE', '/requests');
  await cf(emu, 'GET', configPath());
  await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } });
  let r = await control(emu, 'GET', '/requests');
  assert.deepEqual(r.json.map((x) => x.route), ['getConfig', 'putCredentials']);
  r = await control(emu, 'GET', '/requests?route=putCredentials');
  assert.equal(r.json.length, 1);
  assert.equal(r.json[0].headers.authorization, 'Bearer [redacted]');
  assert.deepEqual(r.json[0].body, { keys: [okta] });
  await control(emu, 'POST', '/requests/clear');
  assert.deepEqual((await control(emu, 'GET', '/requests')).json, []);
});

test('an unknown control route is 404', async () => {
  const r = await control(emu, 'POST', '/nope', {});
  assert.equal(r.status, 404);
  assert.deepEqual(r.json, { error: 'no control route POST /__emulator/nope' });
});
