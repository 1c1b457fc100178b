// Rate limiting and fault injection on the Cloudflare face.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator } from '../index.mjs';
import { cf, fixture, configPath, credentialsPath, request, ZONE, CONFIG } from './helpers.mjs';

const okta = fixture('okta-default-as-keys.json').keys[0];
let emu;
before(async () => {
  emu = await startEmulator();
});
after(() => emu.close());
beforeEach(() => {
  emu.clearFaults();
  emu.rateLimit(false);
  emu.clearRequests();
});

test('rate limiting answers 429, code 971 and retry-after, even before auth', async () => {
  emu.rateLimit(true, 30);
  for (const token of [undefined, 'bad']) {
    const r = await cf(emu, 'GET', configPath(), { token });
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '30');
    assert.deepEqual(r.json, { success: false, errors: [{ code: 971, message: 'Please wait and consider throttling your request speed' }], messages: [], result: null });
  }
  emu.rateLimit(false);
  const ok = await cf(emu, 'GET', configPath());
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('retry-after'), null);
});

test('a status fault for the next N requests of one route', async () => {
  emu.fault({ route: 'putCredentials', status: 503, times: 2 });
  assert.equal((await cf(emu, 'GET', configPath())).status, 200);
  for (let i = 0; i < 2; i++) {
    const r = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } });
    assert.equal(r.status, 503);
    assert.deepEqual(r.json, { success: false, errors: [{ code: 10002, message: 'Service Unavailable' }], messages: [], result: null });
  }
  assert.equal((await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } })).status, 200);
  assert.deepEqual(emu.requests.map((r) => r.status), [200, 503, 503, 200]);
});

test('a status fault can carry its own code and message; 429 gets retry-after', async () => {
  emu.fault({ route: 'getConfig', status: 400, code: 10403, message: 'not entitled', times: 1 });
  const r = await cf(emu, 'GET', configPath());
  assert.equal(r.status, 400);
  assert.deepEqual(r.json.errors, [{ code: 10403, message: 'not entitled' }]);
  emu.fault({ route: 'getConfig', status: 429, retryAfter: 7, times: 1 });
  const t = await cf(emu, 'GET', configPath());
  assert.equal(t.status, 429);
  assert.equal(t.headers.get('retry-after'), '7');
  assert.deepEqual(t.json.errors, [{ code: 971, message: 'Please wait and consider throttling your request speed' }]);
});

test('token and entitlement faults answer as the API does: 9109, 10403, 6003 with its error_chain', async () => {
  const DOC = 'https://developers.cloudflare.com/fundamentals/api/troubleshooting/';
  const rows = [
    [{ status: 403, code: 9109 }, 403, [{ code: 9109, message: 'Invalid access token', documentation_url: DOC }]],
    [{ status: 403, code: 10403 }, 403, [{ code: 10403, message: 'This account is not entitled to API Shield JWT validation', documentation_url: DOC }]],
    [{ status: 403 }, 403, [{ code: 10000, message: 'Authentication error', documentation_url: DOC }]],
    [{ status: 400, code: 6003 }, 400, [{ code: 6003, message: 'Invalid request headers', error_chain: [{ code: 6111, message: 'Invalid format for Authorization header' }] }]],
  ];
  for (const [spec, status, errors] of rows) {
    emu.fault({ route: 'getConfig', times: 1, ...spec });
    const r = await cf(emu, 'GET', configPath());
    assert.equal(r.status, status);
    assert.deepEqual(r.json, { success: false, errors, messages: [], result: null });
  }
});

test('a fault with a body answers it as text, as a gateway does', async () => {
  emu.fault({ route: 'getConfig', status: 504, body: 'upstream request timeout', times: 1 });
  const r = await cf(emu, 'GET', configPath());
  assert.equal(r.status, 504);
  assert.equal(r.headers.get('content-type'), 'text/plain');
  assert.equal(r.text, 'upstream request timeout');
  assert.throws(() => emu.fault({ route: 'getConfig', body: 'x' }), /needs a status/);
});

test('an apply fault makes the write take effect, then answers the fault (a lost answer)', async () => {
  emu.setStoredKeys(ZONE, CONFIG, []);
  emu.fault({ route: 'putCredentials', status: 504, body: 'upstream request timeout', apply: true, times: 1 });
  const r = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } });
  assert.equal(r.status, 504);
  assert.deepEqual(emu.storedKeys(ZONE, CONFIG).map((k) => k.kid), [okta.kid]);
  emu.setStoredKeys(ZONE, CONFIG, []);
  emu.fault({ route: 'putCredentials', status: 504, times: 1 });
  await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } });
  assert.deepEqual(emu.storedKeys(ZONE, CONFIG), [], 'without apply, the write does not happen');
});

test('a fault without times stays until cleared; * matches every route', async () => {
  emu.fault({ route: '*', status: 500 });
  for (const path of [configPath(), configPath(), `/zones/023e105f4ecef8ad9ca31a8372d0c353/token_validation/config`]) {
    assert.equal((await cf(emu, 'GET', path)).status, 500);
  }
  emu.clearFaults();
  assert.equal((await cf(emu, 'GET', configPath())).status, 200);
});

test('a delay fault answers correctly but late', async () => {
  emu.fault({ route: 'getConfig', delayMs: 300, times: 1 });
  const t0 = performance.now();
  const r = await cf(emu, 'GET', configPath());
  assert.ok(performance.now() - t0 >= 290);
  assert.equal(r.status, 200);
  assert.equal(r.json.success, true);
});

test('a malformed fault answers 200 with a body that is not JSON', async () => {
  emu.fault({ route: 'putCredentials', malformed: true, times: 1 });
  const r = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.equal(r.json, undefined);
  assert.equal(r.text, '{"success":true,"errors":[],"messages":[],"result":{"id":');
});

test('a drop fault destroys the connection without an answer', async () => {
  emu.fault({ route: 'putCredentials', drop: true, times: 1 });
  await assert.rejects(cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } }), (e) => e instanceof TypeError);
  assert.equal(emu.requests.at(-1).status, null);
  assert.equal((await cf(emu, 'PUT', credentialsPath(), { body: { keys: [okta] } })).status, 200);
});

test('fault specs are checked', () => {
  assert.throws(() => emu.fault({ route: 'nope', status: 500 }), /unknown route nope/);
  assert.throws(() => emu.fault({ route: 'getConfig' }), /needs status, malformed, drop or delayMs/);
  assert.throws(() => emu.fault({ route: 'getConfig', status: 500, times: 0 }), /positive integer/);
});

test('close() ends pending delays promptly', async () => {
  const e = await startEmulator();
  e.fault({ route: 'getConfig', delayMs: 60_000 });
  const pending = cf(e, 'GET', configPath()).then(() => 'answered', () => 'dropped');
  await new Promise((r) => setTimeout(r, 50));
  const t0 = performance.now();
  await e.close();
  assert.equal(await pending, 'dropped');
  assert.ok(performance.now() - t0 < 1000);
});

test('paths outside /client/v4 and /idp are 404', async () => {
  const r = await request(`${emu.url}/nothing`);
  assert.equal(r.status, 404);
  assert.deepEqual(r.json, { error: 'not_found', path: '/nothing' });
});
