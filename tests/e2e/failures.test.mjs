// Safety over liveness: every IdP and Cloudflare failure ends as outcome `failed` with the right
// stage, and what is live is not changed.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { start, ids, ZONE, CONFIG } from './harness.mjs';

let h;
let live;
before(async () => {
  h = await start();
  // Something is live already: a failure must leave exactly this in place.
  live = [h.emu.idp('main').generateKey({ alg: 'ES256' })];
});
after(() => h.close());
beforeEach(() => {
  h.emu.setStoredKeys(ZONE, CONFIG, live);
  h.emu.idp('main').clear();
  h.emu.clearFaults();
  h.emu.rateLimit(false);
  h.emu.clearRequests();
});

const IDP_FAILURES = [
  ['5xx', { status: 503 }, 'fetch', 'JWKS_HTTP_STATUS'],
  ['429 with a long retry-after', { status: 429, retryAfter: 600 }, 'fetch', 'JWKS_HTTP_STATUS'],
  ['403 from a WAF', { status: 403 }, 'fetch', 'JWKS_HTTP_STATUS'],
  ['slow answer past the timeout', { delayMs: 2000 }, 'fetch', 'JWKS_TIMEOUT'],
  ['dropped connection', { drop: true }, 'fetch', 'JWKS_UNREACHABLE'],
  ['redirect loop', { redirect: 'loop' }, 'fetch', 'JWKS_REDIRECT'],
  ['redirect to plain http', { redirect: 'http://idp.example/jwks' }, 'fetch', 'JWKS_REDIRECT'],
  ['HTML with 200', { html: true }, 'parse', 'JWKS_HTML'],
  ['not JSON', { notJson: true }, 'parse', 'JWKS_NOT_JSON'],
  ['empty key set', { emptyKeys: true }, 'normalize', 'JWKS_NO_USABLE_KEYS'],
  ['a private key', { body: JSON.stringify({ keys: [{ kty: 'EC', kid: 'leak', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', d: 'jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI' }] }) }, 'normalize', 'JWKS_PRIVATE_KEY'],
];

for (const [name, misbehaviour, stage, code] of IDP_FAILURES) {
  test(`IdP ${name}: failed at ${stage}, nothing written`, async () => {
    h.emu.idp('main').misbehave(misbehaviour);
    const r = await h.post();
    assert.equal(r.status, 502);
    const [t] = r.body.targets;
    assert.equal(t.outcome, 'failed');
    assert.equal(t.error.stage, stage, t.error.message);
    assert.equal(t.error.code, code, t.error.message);
    assert.ok(t.error.message.includes(h.emu.jwksUrl('main')) || t.error.message.includes('/idp/main/'), t.error.message);
    assert.equal(h.puts().length, 0);
    assert.equal(h.emu.requestsTo({ route: 'getConfig' }).length, 0, 'no Cloudflare call after an IdP failure');
    assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG), live);
  });
}

test('IdP 5xx then recovery within the retry budget still syncs', async () => {
  h.emu.idp('main').misbehave({ status: 502, times: 1 });
  const r = await h.post();
  assert.equal(r.body.targets[0].outcome, 'updated', JSON.stringify(r.body));
  assert.equal(h.emu.requestsTo({ face: 'idp' }).length, 2);
});

const CF_FAILURES = [
  ['403 bad token', { route: 'getConfig', status: 403, code: 10000, message: 'Authentication error' }, 'CF_API_STATUS', /HTTP 403; 10000: Authentication error/],
  ['404 unknown config', { route: 'getConfig', status: 404, code: 7003, message: 'Could not route' }, 'CF_API_STATUS', /HTTP 404; 7003/],
  ['400 on the write', { route: 'putCredentials', status: 400, code: 10021, message: 'invalid key' }, 'CF_API_STATUS', /HTTP 400; 10021: invalid key/],
  ['5xx on the write', { route: 'putCredentials', status: 503 }, 'CF_API_STATUS', /HTTP 503/],
  ['malformed answer', { route: 'putCredentials', malformed: true }, 'CF_API_INVALID', /not a Cloudflare API envelope/],
];

for (const [name, fault, code, message] of CF_FAILURES) {
  test(`Cloudflare ${name}: failed at cloudflare with its codes`, async () => {
    h.emu.fault(fault);
    const r = await h.post();
    assert.equal(r.status, 502);
    const [t] = r.body.targets;
    assert.equal(t.outcome, 'failed');
    assert.equal(t.error.stage, 'cloudflare');
    assert.equal(t.error.code, code, t.error.message);
    assert.match(t.error.message, message);
    assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG), live);
  });
}

test('a 400 on the write is not retried; a 5xx is', async () => {
  h.emu.fault({ route: 'putCredentials', status: 400 });
  await h.post();
  assert.equal(h.puts().length, 1);
  h.emu.clearFaults();
  h.emu.clearRequests();
  h.emu.fault({ route: 'putCredentials', status: 503 });
  await h.post();
  assert.equal(h.puts().length, 3);
});

test('Cloudflare 429 with retry-after is honoured, then the write lands', async () => {
  h.emu.fault({ route: 'putCredentials', status: 429, code: 971, retryAfter: 1, times: 1 });
  const r = await h.post();
  assert.equal(r.body.targets[0].outcome, 'updated', JSON.stringify(r.body));
  assert.equal(h.puts().length, 2);
});

test('Cloudflare rate limit for 5 minutes: failed, not waited out', async () => {
  h.emu.rateLimit(true, 300);
  const r = await h.post();
  const [t] = r.body.targets;
  assert.equal(t.error.code, 'CF_RATE_LIMITED');
  assert.match(t.error.message, /HTTP 429; 971: /);
  assert.equal(h.emu.requestsTo({ route: 'getConfig' }).length, 1);
});

test('a key Cloudflare silently dropped fails the target with its kid', async () => {
  const [key] = h.emu.idp('main').keys;
  h.emu.dropKidOnPut(key.kid);
  const r = await h.post();
  const [t] = r.body.targets;
  assert.equal(t.outcome, 'failed');
  assert.equal(t.error.code, 'CF_VERIFY_MISMATCH');
  assert.ok(t.error.message.includes(`${key.kid} (${key.alg})`), t.error.message);
});

test('the PUT answer with keys under result is accepted too', async () => {
  h.emu.setPutResponseShape('result');
  try {
    const r = await h.post();
    assert.equal(r.body.targets[0].outcome, 'updated', JSON.stringify(r.body));
  } finally {
    h.emu.setPutResponseShape('top');
  }
  assert.deepEqual(ids(h.emu.storedKeys(ZONE, CONFIG)), ids(h.emu.idp('main').keys));
});

test('an oversized body is refused whether or not content-length announces it', async () => {
  h.emu.idp('main').misbehave({ body: `{"keys":[${'0,'.repeat(600_000)}0]}` });
  let r = await h.post();
  assert.equal(r.body.targets[0].error.code, 'JWKS_TOO_LARGE', r.body.targets[0].error.message);
  assert.equal(r.body.targets[0].error.stage, 'fetch');

  // Chunked, no content-length: the Worker must stop reading at the limit, not after.
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const write = () => {
      let ok = true;
      while (ok && sent < 4 * 1024 * 1024) {
        ok = res.write(chunk);
        sent += chunk.length;
      }
      if (sent >= 4 * 1024 * 1024) res.end();
    };
    res.on('drain', write);
    write();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const h2 = await start({
    env: (emu) => ({ JWKS_URL: `http://127.0.0.1:${server.address().port}/jwks`, CF_ZONE_ID: ZONE, CF_TOKEN_CONFIG_ID: CONFIG }),
  });
  try {
    r = await h2.post();
    const [t] = r.body.targets;
    assert.equal(t.error.code, 'JWKS_TOO_LARGE', t.error.message);
    assert.match(t.error.message, /body is over the limit of 1048576 bytes/);
    assert.equal(h2.puts().length, 0);
  } finally {
    await h2.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
