// The Cloudflare API face over HTTP: envelope, auth, routing, PUT semantics.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator } from '../index.mjs';
import { cf, fixture, configPath, credentialsPath, ZONE, CONFIG } from './helpers.mjs';

const okta = fixture('okta-default-as-keys.json').keys[0];
const oktaStored = { alg: 'RS256', e: okta.e, kid: okta.kid, kty: 'RSA', n: okta.n };
const supabase = fixture('supabase-auth-es256-webcrypto-ext-keyops.json').keys[0];
const supabaseStored = { alg: 'ES256', crv: 'P-256', kid: supabase.kid, kty: 'EC', x: supabase.x, y: supabase.y };
const DOC_URL = 'https://developers.cloudflare.com/fundamentals/api/troubleshooting/';

let emu;
before(async () => {
  emu = await startEmulator({ port: 0 });
});
after(() => emu.close());
beforeEach(() => {
  emu.clearFaults();
  emu.rateLimit(false);
  emu.setPutResponseShape('top');
  emu.maxKeys = 16;
  emu.setStoredKeys(ZONE, CONFIG, []);
  emu.clearRequests();
});

test('GET config answers the default seed in the v4 envelope', async () => {
  const r = await cf(emu, 'GET', configPath());
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  const { result, ...env } = r.json;
  assert.deepEqual(env, { success: true, errors: [], messages: [] });
  assert.deepEqual(Object.keys(result), ['id', 'token_type', 'title', 'description', 'token_sources', 'credentials', 'created_at', 'last_updated']);
  assert.equal(result.id, CONFIG);
  assert.equal(result.token_type, 'JWT');
  assert.deepEqual(result.credentials, { keys: [] });
  assert.match(result.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test('a missing or wrong token is 403 with code 10000 and documentation_url', async () => {
  const expected = { success: false, errors: [{ code: 10000, message: 'Authentication error', documentation_url: DOC_URL }], messages: [], result: null };
  for (const token of [null, 'wrong-token', '']) {
    const r = await cf(emu, 'GET', configPath(), { token });
    assert.equal(r.status, 403);
    assert.deepEqual(r.json, expected);
  }
  const put = await cf(emu, 'PUT', credentialsPath(), { token: 'nope', body: { keys: [okta] } });
  assert.equal(put.status, 403);
  assert.deepEqual(emu.storedKeys(ZONE, CONFIG), []);
});

test('an unknown zone or configuration is 404 with code 7003', async () => {
  const zone = 'ffffffffffffffffffffffffffffffff';
  for (const [path, shown] of [
    [configPath(zone, CONFIG), `/zones/${zone}/token_validation/config/${CONFIG}`],
    [configPath(ZONE, 'nope'), `/zones/${ZONE}/token_validation/config/nope`],
    [`/zones/${zone}/token_validation/config`, `/zones/${zone}/token_validation/config`],
  ]) {
    const r = await cf(emu, 'GET', path);
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { success: false, errors: [{ code: 7003, message: `Could not route to ${shown}, perhaps your object identifier is invalid?` }], messages: [], result: null });
  }
  const put = await cf(emu, 'PUT', credentialsPath(ZONE, 'nope'), { body: { keys: [okta] } });
  assert.equal(put.status, 404);
  assert.equal(put.json.errors[0].code, 7003);
});

test('the PUT answer carries the keys under result by default (the newest schema)', async () => {
  const e = await startEmulator();
  try {
    const r = await cf(e, 'PUT', credentialsPath(), { body: { keys: [okta] } });
    assert.deepEqual(r.json, { success: true, errors: [], messages: [], result: { keys: [oktaStored] } });
  } finally {
    await e.close();
  }
});

test('symmetric keys: accepted with k on PUT, k never in any answer', async () => {
  emu.setPutResponseShape('both');
  const hmac = { kty: 'oct', kid: 'hmac-1', alg: 'HS256', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ' };
  const shown = { alg: 'HS256', kid: 'hmac-1', kty: 'oct' };
  const r = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [hmac, okta] } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.keys, [shown, oktaStored]);
  assert.deepEqual(r.json.result.keys, [shown, oktaStored]);
  assert.deepEqual((await cf(emu, 'GET', configPath())).json.result.credentials.keys, [shown, oktaStored]);
  assert.equal(emu.storedKeys(ZONE, CONFIG)[0].k, hmac.k);
  assert.ok(!JSON.stringify(emu.requests.filter((q) => q.method === 'GET')).includes(hmac.k));
});

test('PATCH keeps a symmetric key sent without k, removes what is left out, and refuses a new one without k', async () => {
  const hmac = { alg: 'HS256', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ', kid: 'hmac-1', kty: 'oct' };
  emu.setStoredKeys(ZONE, CONFIG, [hmac, supabaseStored]);
  const r = await cf(emu, 'PATCH', credentialsPath(), { body: { keys: [okta, { kty: 'oct', kid: 'hmac-1', alg: 'HS256' }] } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { success: true, errors: [], messages: [], keys: [oktaStored, { alg: 'HS256', kid: 'hmac-1', kty: 'oct' }] });
  assert.deepEqual(emu.storedKeys(ZONE, CONFIG), [oktaStored, hmac]);
  const bad = await cf(emu, 'PATCH', credentialsPath(), { body: { keys: [okta, { kty: 'oct', kid: 'new', alg: 'HS256' }] } });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json.errors, [{ code: 110010, message: 'keys[1].k is required for a new symmetric key (kid new)', source: { pointer: '/keys/1/k' } }]);
  assert.deepEqual(emu.storedKeys(ZONE, CONFIG), [oktaStored, hmac], 'a refused PATCH changes nothing');
  assert.deepEqual(emu.requests.map((q) => q.route), ['patchCredentials', 'patchCredentials']);
});

test('the PATCH route can be made to refuse, as an API without it would', async () => {
  emu.setPatchSupported(false);
  try {
    emu.setStoredKeys(ZONE, CONFIG, [oktaStored]);
    const r = await cf(emu, 'PATCH', credentialsPath(), { body: { keys: [supabase] } });
    assert.equal(r.status, 405);
    assert.deepEqual(r.json.errors, [{ code: 7001, message: 'Method PATCH not available for that URI.' }]);
    assert.deepEqual(emu.storedKeys(ZONE, CONFIG), [oktaStored]);
  } finally {
    emu.setPatchSupported(true);
  }
});

test('an unknown route is 404 code 7000 and a wrong method 405 code 7001', async () => {
  const r = await cf(emu, 'GET', `/zones/${ZONE}/nothing_here`);
  assert.equal(r.status, 404);
  assert.deepEqual(r.json.errors, [{ code: 7000, message: 'No route for that URI' }]);
  const m = await cf(emu, 'POST', credentialsPath(), { body: { keys: [] } });
  assert.equal(m.status, 405);
  assert.deepEqual(m.json.errors, [{ code: 7001, message: 'Method POST not available for that URI.' }]);
});

test('list is paginated with page, per_page and result_info', async () => {
  const zone = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const e = await startEmulator({ configs: ['c1', 'c2', 'c3'].map((configId) => ({ zoneId: zone, configId, title: configId })) });
  try {
    const all = await cf(e, 'GET', `/zones/${zone}/token_validation/config`);
    assert.equal(all.status, 200);
    assert.deepEqual(all.json.result.map((c) => c.title), ['c1', 'c2', 'c3']);
    assert.deepEqual(all.json.result_info, { page: 1, per_page: 20, count: 3, total_count: 3, total_pages: 1 });
    const p2 = await cf(e, 'GET', `/zones/${zone}/token_validation/config?page=2&per_page=2`);
    assert.deepEqual(p2.json.result.map((c) => c.id), ['c3']);
    assert.deepEqual(p2.json.result_info, { page: 2, per_page: 2, count: 1, total_count: 3, total_pages: 2 });
    const p9 = await cf(e, 'GET', `/zones/${zone}/token_validation/config?page=9&per_page=2`);
    assert.deepEqual(p9.json.result, []);
    for (const q of ['per_page=0', 'per_page=51', 'page=0', 'page=x']) {
      const bad = await cf(e, 'GET', `/zones/${zone}/token_validation/config?${q}`);
      assert.equal(bad.status, 400, q);
      assert.equal(bad.json.errors[0].code, 110009);
    }
  } finally {
    await e.close();
  }
});

test('PUT replaces the keys and answers them at the top level', async () => {
  emu.setStoredKeys(ZONE, CONFIG, [supabaseStored]);
  const before = (await cf(emu, 'GET', configPath())).json.result.last_updated;
  await new Promise((r) => setTimeout(r, 5));
  const r = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { success: true, errors: [], messages: [], keys: [oktaStored] });
  assert.deepEqual(emu.storedKeys(ZONE, CONFIG), [oktaStored]);
  const got = (await cf(emu, 'GET', configPath())).json.result;
  assert.deepEqual(got.credentials.keys, [oktaStored]);
  assert.ok(got.last_updated > before);
});

test('PUT answer shape can be switched to result.keys (or both)', async () => {
  emu.setPutResponseShape('result');
  let r = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } });
  assert.deepEqual(r.json, { success: true, errors: [], messages: [], result: { keys: [oktaStored] } });
  emu.setPutResponseShape('both');
  r = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } });
  assert.deepEqual(r.json, { success: true, errors: [], messages: [], keys: [oktaStored], result: { keys: [oktaStored] } });
});

test('unknown members are stripped silently (use, key_ops, ext, x5c, issuer)', async () => {
  const r = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [supabase] } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.keys, [supabaseStored]);
  assert.deepEqual(r.json.messages, []);
});

test('unsupported keys are dropped silently and RSA keys without alg default to RS256 with 110003', async () => {
  // keyfunc fixture: PS256, ES512(P-521), ES384, RS512, PS512, PS384, RS384, ES256, RS256, OKP, oct, RSA use=enc without alg.
  // Its oct key has no alg, which the emulator refuses (test below): it is left out here.
  const keys = fixture('keyfunc-testfixture-all-algs-oct-okp-private-d-enc.json').keys.filter((k) => k.kty !== 'oct');
  const r = await cf(emu, 'PUT', credentialsPath(), { body: { keys } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.keys.map((k) => k.alg), ['PS256', 'ES384', 'RS512', 'PS512', 'PS384', 'RS384', 'ES256', 'RS256', 'RS256']);
  assert.deepEqual(r.json.messages, [{ code: 110003, message: 'keys[10].alg was omitted and defaulted to "RS256" (kid kidWithBadUse)' }]);
  assert.equal(r.json.keys.at(-1).kid, 'kidWithBadUse');
  assert.ok(r.json.keys.every((k) => !('use' in k) && !('x5c' in k) && !('d' in k)));
  assert.deepEqual(emu.storedKeys(ZONE, CONFIG), r.json.keys);
});

test('one 110003 message per defaulted key (Entra keys without alg)', async () => {
  const keys = fixture('entra-tenant-v2-keys-no-alg.json').keys;
  const r = await cf(emu, 'PUT', credentialsPath(), { body: { keys } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.messages, keys.map((k, i) => ({ code: 110003, message: `keys[${i}].alg was omitted and defaulted to "RS256" (kid ${k.kid})` })));
  assert.deepEqual(r.json.keys, keys.map((k) => ({ alg: 'RS256', e: k.e, kid: k.kid, kty: 'RSA', n: k.n })));
});

test('a rejected PUT is a 400 envelope and leaves the stored keys alone', async () => {
  emu.setStoredKeys(ZONE, CONFIG, [oktaStored]);
  const small = fixture('forgerock-demo-2015-rsa1024-leading-zero-n.json').keys[0];
  const cases = [
    ['{"keys": [', 110001],
    ['', 110001],
    [{ keys: 'x' }, 110001],
    [{ jwks: [okta] }, 110001],
    [{ keys: [{ ...okta, kid: undefined }] }, 110004],
    [{ keys: [small] }, 110005],
    [{ keys: [okta, okta] }, 110006],
    [{ keys: [{ ...supabase, alg: undefined }] }, 110008],
  ];
  for (const [body, code] of cases) {
    const r = await cf(emu, 'PUT', credentialsPath(), { body });
    assert.equal(r.status, 400, JSON.stringify(body).slice(0, 60));
    assert.equal(r.json.success, false);
    assert.equal(r.json.result, null);
    assert.deepEqual(r.json.errors.map((e) => e.code), [code]);
  }
  const tiny = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [small] } });
  assert.deepEqual(tiny.json.errors, [{ code: 110005, message: `keys[0] is a 1024-bit RSA key; RSA keys must be at least 2048 bits (kid ${small.kid})`, source: { pointer: '/keys/0/n' } }]);
  assert.deepEqual(emu.storedKeys(ZONE, CONFIG), [oktaStored]);
});

test('more keys than maxKeys is a 400 envelope', async () => {
  emu.maxKeys = 4;
  const keys = ['a', 'b', 'c', 'd', 'e'].map((kid) => ({ ...okta, kid }));
  const r = await cf(emu, 'PUT', credentialsPath(), { body: { keys } });
  assert.equal(r.status, 400);
  assert.deepEqual(r.json.errors, [{ code: 110007, message: 'too many keys: 5 supported keys given, at most 4 allowed per configuration', source: { pointer: '/keys' } }]);
  const ok = await cf(emu, 'PUT', credentialsPath(), { body: { keys: keys.slice(0, 4) } });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.keys.length, 4);
});

test('the maxKeys option defaults to 16', async () => {
  const keys = Array.from({ length: 17 }, (_, i) => ({ ...okta, kid: `k${i}` }));
  assert.equal((await cf(emu, 'PUT', credentialsPath(), { body: { keys } })).status, 400);
  assert.equal((await cf(emu, 'PUT', credentialsPath(), { body: { keys: keys.slice(1) } })).status, 200);
});

test('dropKidOnPut silently drops a supported key', async () => {
  emu.dropKidOnPut(okta.kid);
  const r = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta, supabase] } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { success: true, errors: [], messages: [], keys: [supabaseStored] });
  assert.deepEqual(emu.storedKeys(ZONE, CONFIG), [supabaseStored]);
  emu.clearFaults();
  const again = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta, supabase] } });
  assert.deepEqual(again.json.keys, [oktaStored, supabaseStored]);
});

test('every request is recorded, with the token redacted and the body parsed', async () => {
  await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } });
  await cf(emu, 'GET', `/zones/${ZONE}/token_validation/config?page=1&per_page=5`, { token: 'bad' });
  assert.equal(emu.requests.length, 2);
  const [put, list] = emu.requests;
  assert.equal(put.method, 'PUT');
  assert.equal(put.path, `/client/v4${credentialsPath()}`);
  assert.equal(put.face, 'cloudflare');
  assert.equal(put.route, 'putCredentials');
  assert.equal(put.status, 200);
  assert.equal(put.headers.authorization, 'Bearer [redacted]');
  assert.equal(put.headers['content-type'], 'application/json');
  assert.deepEqual(put.body, { keys: [okta] });
  assert.deepEqual(list.query, { page: '1', per_page: '5' });
  assert.equal(list.route, 'listConfigs');
  assert.equal(list.status, 403);
  assert.ok(!JSON.stringify(emu.requests).includes('test-cf-api-token'));
  assert.deepEqual(emu.requestsTo('putCredentials'), [put]);
  assert.deepEqual(emu.requestsTo({ method: 'GET', status: 403 }), [list]);
  assert.deepEqual(emu.requestsTo({ path: /credentials$/ }), [put]);
  assert.deepEqual(emu.requestsTo((r) => r.seq === list.seq), [list]);
  emu.clearRequests();
  assert.equal(emu.requests.length, 0);
});

test('the token and the seeded configurations come from options', async () => {
  const e = await startEmulator({ token: 'tok-2', configs: [{ zoneId: 'z1', configId: 'c1', title: 'Mine', keys: [oktaStored] }] });
  try {
    assert.equal((await cf(e, 'GET', configPath('z1', 'c1'))).status, 403);
    const r = await cf(e, 'GET', configPath('z1', 'c1'), { token: 'tok-2' });
    assert.equal(r.json.result.title, 'Mine');
    assert.deepEqual(r.json.result.credentials.keys, [oktaStored]);
    assert.deepEqual(e.storedKeys('z1', 'c1'), [oktaStored]);
    assert.equal((await cf(e, 'GET', configPath(), { token: 'tok-2' })).status, 404);
  } finally {
    await e.close();
  }
});
