// The Worker's HTTP surface: health, auth, methods, paths, bad settings, and no secret anywhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, AUTH_TOKEN, CF_TOKEN, ZONE, CONFIG } from './harness.mjs';

let h;
before(async () => {
  h = await start();
});
after(() => h.close());

test('GET /healthz answers 200 without auth and without any outbound request', async () => {
  h.emu.clearRequests();
  const r = await h.get('/healthz', {});
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { status: 'ok' });
  assert.equal(h.emu.requests.length, 0);
});

for (const [name, headers, challenge] of [
  ['missing', {}, 'Bearer realm="jwks-sync"'],
  ['wrong', { authorization: `Bearer ${AUTH_TOKEN}x` }, 'Bearer realm="jwks-sync", error="invalid_token"'],
  ['other scheme', { authorization: `Basic ${Buffer.from(`u:${AUTH_TOKEN}`).toString('base64')}` }, 'Bearer realm="jwks-sync"'],
]) {
  test(`${name} token: 401 with WWW-Authenticate, nothing fetched`, async () => {
    h.emu.clearRequests();
    for (const send of [h.get, h.post]) {
      const r = await send('/', headers);
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), challenge);
      assert.equal(r.body.error.code, 'UNAUTHORIZED');
    }
    assert.equal(h.emu.requests.length, 0);
  });
}

test('right token: the preview runs', async () => {
  const r = await h.get('/');
  assert.equal(r.status, 200);
  assert.equal(r.body.targets.length, 1);
});

test('other methods get 405 with Allow; other paths 404; errors are JSON', async () => {
  for (const [method, path, allow] of [['PUT', '/', 'GET, POST'], ['DELETE', '/', 'GET, POST'], ['POST', '/healthz', 'GET, HEAD']]) {
    const r = await h.fetch(path, { method, headers: { authorization: `Bearer ${AUTH_TOKEN}` } });
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.equal(r.headers.get('allow'), allow);
    assert.equal((await r.json()).error.code, 'METHOD_NOT_ALLOWED');
  }
  const r = await h.fetch('/admin');
  assert.equal(r.status, 404);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.equal((await r.json()).error.code, 'NOT_FOUND');
});

test('a mistyped or repeated dry_run is refused rather than taken as a write', async () => {
  h.emu.clearRequests();
  for (const [send, query, message] of [
    [h.post, '?dry_run=yes', 'dry_run must be true, false, 1 or 0, got "yes"'],
    [h.get, '?dry_run=maybe', 'dry_run must be true, false, 1 or 0, got "maybe"'],
    [h.post, '?dry_run=true&dry_run=false', 'dry_run is given more than once'],
    [h.post, '?dryrun=true', 'unknown query parameter "dryrun"; the only ones are dry_run and allow_full_replacement (POST)'],
    [h.get, '?allow_full_replacement=true', 'allow_full_replacement is only accepted on POST /; GET / never writes'],
    [h.post, '?allow_full_replacement', 'allow_full_replacement must be true, false, 1 or 0, got ""'],
  ]) {
    const r = await send(`/${query}`);
    assert.equal(r.status, 400, query);
    assert.deepEqual(Object.keys(r.body.error).sort(), ['code', 'hint', 'message']);
    assert.deepEqual([r.body.error.code, r.body.error.message], ['BAD_REQUEST', message]);
    assert.match(r.body.error.hint, /^HTTP 400: .*`POST \/` takes only `dry_run` and `allow_full_replacement`/);
  }
  assert.equal(h.emu.requests.length, 0);
});

test('authentication comes before the query is looked at', async () => {
  const r = await h.post('/?dry_run=maybe', {});
  assert.equal(r.status, 401);
});

test('no secret reaches a response body or a log line', async () => {
  h.emu.fault({ route: 'getConfig', status: 403, code: 10000, message: 'Authentication error' });
  const bodies = [JSON.stringify((await h.post()).body), JSON.stringify((await h.get()).body)];
  h.emu.clearFaults();
  bodies.push(JSON.stringify((await h.post()).body));
  const logs = (await h.logLines()).map((l) => JSON.stringify(l)).join('\n') + h.logs.join('\n');
  assert.ok(logs.includes('"event":"jwks-sync"'), 'the Worker logged its runs');
  for (const secret of [AUTH_TOKEN, CF_TOKEN]) {
    for (const b of bodies) assert.ok(!b.includes(secret), `a body holds ${secret}`);
    assert.ok(!logs.includes(secret), `a log line holds ${secret}`);
  }
});

test('unset SYNC_AUTH_TOKEN disables GET and POST (503), health still answers', async () => {
  const h2 = await start({ env: (emu) => ({ SYNC_AUTH_TOKEN: undefined, JWKS_URL: emu.jwksUrl('main'), CF_ZONE_ID: ZONE, CF_TOKEN_CONFIG_ID: CONFIG }) });
  try {
    for (const send of [h2.get, h2.post]) {
      const r = await send('/', { authorization: 'Bearer anything' });
      assert.equal(r.status, 503);
      assert.equal(r.body.error.code, 'AUTH_DISABLED');
    }
    assert.equal((await h2.get('/healthz', {})).status, 200);
    assert.equal(h2.emu.requests.length, 0);
  } finally {
    await h2.close();
  }
});

test('bad settings: one error listing every problem, before any request', async () => {
  const h2 = await start({ env: () => ({ JWKS_URL: 'http://idp.example/jwks', CF_ZONE_ID: 'zone', CF_TOKEN_CONFIG_ID: 'cfg', MAX_KEYS: 'lots' }) });
  try {
    const r = await h2.post();
    assert.equal(r.status, 500);
    assert.deepEqual(r.body.targets, []);
    assert.equal(r.body.error.stage, 'config');
    assert.equal(r.body.error.code, 'CONFIG_INVALID');
    assert.match(r.body.error.hint, /error\.problems/);
    assert.match(r.body.error.message, /^4 problems in the settings: /);
    assert.deepEqual(r.body.error.problems, [
      'JWKS_URL must be an https URL (http only for a loopback host), got "http"… (23 characters)',
      'CF_ZONE_ID must be 32 hexadecimal characters, got "zone"',
      'CF_TOKEN_CONFIG_ID must be a UUID (8-4-4-4-12 hexadecimal), got "cfg"',
      'MAX_KEYS must be a whole number from 1 to 256, got "lots"',
    ]);
    assert.equal(h2.emu.requests.length, 0);
  } finally {
    await h2.close();
  }
});

test('without the TARGET_STATE binding every target fails at stage state, and /healthz is 503', async () => {
  const h2 = await start({ miniflare: { durableObjects: {} } });
  try {
    const r = await h2.post();
    assert.equal(r.status, 502);
    const [t] = r.body.targets;
    assert.deepEqual([t.name, t.outcome, t.error.stage, t.error.code], ['default', 'failed', 'state', 'STATE_UNAVAILABLE']);
    assert.match(t.error.message, /^the target's state is unavailable: /);
    assert.equal(h2.puts().length, 0);
    assert.deepEqual(await h2.health().then((x) => [x.status, x.body]), [503, { status: 'stale', stale: [{ name: 'default', age_s: null }] }]);
    assert.equal((await h2.status()).status, 502);
    assert.equal((await h2.scheduled()).outcome, 'exception');
    const line = (await h2.logLines()).find((l) => l.event === 'jwks-sync' && l.trigger === 'http');
    assert.equal(line.error.code, 'STATE_UNAVAILABLE', 'the Worker logs what the object could not');
  } finally {
    await h2.close();
  }
});
