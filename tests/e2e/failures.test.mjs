// Safety over liveness: every IdP and Cloudflare failure ends as outcome `failed` with the right
// stage, and what is live is not changed.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { start, ids, ZONE, CONFIG } from './harness.mjs';

let h;
let live;
let published;
before(async () => {
  h = await start();
  // Something is live already: a failure must leave exactly this in place. The IdP still
  // publishes it beside a new key (a rotation), so a successful sync keeps it.
  live = [h.emu.idp('main').generateKey({ alg: 'ES256' })];
  published = [...h.emu.idp('main').keys, ...live];
});
after(() => h.close());
beforeEach(() => {
  h.emu.setStoredKeys(ZONE, CONFIG, live);
  h.emu.idp('main').setKeys(published);
  h.emu.idp('main').clear();
  h.emu.clearFaults();
  h.emu.rateLimit(false);
  h.emu.clearRequests();
});

// Every way the IdP side fails: its stage, its code, a hint naming what to check, and a message
// that leads with the cause and ends with the URL.
const IDP_FAILURES = [
  ['5xx', { status: 503 }, 'fetch', 'JWKS_UNAVAILABLE', /^HTTP 503 from the IdP after 3 attempts \(503, 503, 503\); /, /status page/],
  ['429 with a long retry-after', { status: 429, retryAfter: 600 }, 'fetch', 'JWKS_RATE_LIMITED', /^HTTP 429 from the IdP; retry-after 600; /, /retry-after/],
  ['403 from a WAF', { status: 403 }, 'fetch', 'JWKS_FORBIDDEN', /^HTTP 403 from the IdP; /, /WAF/],
  ['401', { status: 401 }, 'fetch', 'JWKS_FORBIDDEN', /^HTTP 401 from the IdP; /, /JWKS_URL/],
  ['404', { status: 404 }, 'fetch', 'JWKS_NOT_FOUND', /^HTTP 404 from the IdP; /, /JWKS_URL.*OIDC_ISSUER/],
  ['410', { status: 410 }, 'fetch', 'JWKS_NOT_FOUND', /^HTTP 410 from the IdP; /, /JWKS_URL/],
  ["the edge's TLS failure (526)", { status: 526 }, 'fetch', 'JWKS_TLS_ERROR', /^HTTP 526 from the IdP after 3 attempts/, /certificate/],
  ["the edge's DNS failure (530, 1016)", { status: 530 }, 'fetch', 'JWKS_DNS_ERROR', /^HTTP 530 from the IdP after 3 attempts/, /DNS/],
  ['slow answer past the timeout', { delayMs: 2000 }, 'fetch', 'JWKS_TIMEOUT', /^no answer from the IdP within 500 ms \(FETCH_TIMEOUT_MS\) after 3 attempts/, /FETCH_TIMEOUT_MS/],
  ['dropped connection', { drop: true }, 'fetch', 'JWKS_UNREACHABLE', /^no answer from the IdP \(network error: /, /DNS/],
  ['redirect loop', { redirect: 'loop' }, 'fetch', 'JWKS_REDIRECT', /^more than 3 redirects/, /final https URL/],
  ['redirect to plain http', { redirect: 'http://idp.example/jwks' }, 'fetch', 'JWKS_REDIRECT', /^redirect 302 to "http:\/\/idp.example\/jwks" refused/, /final https URL/],
  ['HTML with 200', { html: true }, 'parse', 'JWKS_HTML', /^body is HTML, not a JWKS; /, /jwks_uri/],
  ['not JSON', { notJson: true }, 'parse', 'JWKS_NOT_JSON', /^body is not JSON; /, /JWKS_URL/],
  ['empty key set', { emptyKeys: true }, 'normalize', 'JWKS_NO_USABLE_KEYS', /^no usable keys; nothing is pushed; /, /kid/],
  ['a private key', { body: JSON.stringify({ keys: [{ kty: 'EC', kid: 'leak', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', d: 'jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI' }] }) }, 'normalize', 'JWKS_PRIVATE_KEY', /^JWKS serves private key material/, /rotate/],
];

for (const [name, misbehaviour, stage, code, message, hint] of IDP_FAILURES) {
  test(`IdP ${name}: failed at ${stage}, nothing written`, async () => {
    h.emu.idp('main').misbehave(misbehaviour);
    const r = await h.post();
    assert.equal(r.status, 502);
    const [t] = r.body.targets;
    assert.equal(t.outcome, 'failed');
    assert.equal(t.error.stage, stage, t.error.message);
    assert.equal(t.error.code, code, t.error.message);
    assert.match(t.error.message, message);
    assert.match(t.error.hint, hint);
    assert.ok(t.error.message.endsWith(h.emu.jwksUrl('main')) || /\/idp\/main\/\S*$/.test(t.error.message), t.error.message);
    assert.equal(h.puts().length, 0);
    assert.equal(h.emu.requestsTo({ route: 'getConfig' }).length, 0, 'no Cloudflare call after an IdP failure');
    assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG), live);
  });
}

test('a PEM private key served at JWKS_URL is never quoted: not in the answer, the log or the history', async () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  for (const pem of [privateKey.export({ type: 'sec1', format: 'pem' }), privateKey.export({ type: 'pkcs8', format: 'pem' })]) {
    h.emu.idp('main').misbehave({ body: pem });
    const r = await h.post();
    const [t] = r.body.targets;
    assert.deepEqual([t.outcome, t.error.code], ['failed', 'JWKS_NOT_JSON']);
    assert.match(t.error.message, /, first bytes withheld: the body holds a PEM private key; /);
    const secret = pem.split('\n')[1].slice(0, 12);
    const everything = JSON.stringify(r.body) + h.logs.join('\n') + JSON.stringify((await h.status()).body);
    assert.ok(!everything.includes(secret), 'no byte of the key is shown');
    h.emu.idp('main').clear();
  }
  assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG), live);
});

test('IdP 5xx then recovery within the retry budget still syncs, and says it was retried', async () => {
  h.emu.idp('main').misbehave({ status: 502, times: 1 });
  const r = await h.post();
  const [t] = r.body.targets;
  assert.equal(t.outcome, 'updated', JSON.stringify(r.body));
  assert.equal(h.emu.requestsTo({ face: 'idp' }).length, 2);
  assert.ok(t.warnings.includes(`succeeded after 2 attempts (502); GET ${h.emu.jwksUrl('main')}`), JSON.stringify(t.warnings));
});

const DOC_URL = 'https://developers.cloudflare.com/fundamentals/api/troubleshooting/';
// Each Cloudflare answer an operator acts on differently: its code, the message (cause first),
// the hint, and Cloudflare's own errors kept as sent.
const CF_FAILURES = [
  ['403 bad permission', { route: 'getConfig', status: 403, code: 10000, message: 'Authentication error' }, 'CF_PERMISSION_DENIED',
    /^HTTP 403 from Cloudflare \(10000: Authentication error\) reading live keys; http/, /API Gateway > Edit/,
    [{ code: 10000, message: 'Authentication error', documentation_url: DOC_URL }]],
  ['403 token invalid or IP-filtered', { route: 'getConfig', status: 403, code: 9109 }, 'CF_TOKEN_INVALID',
    /^HTTP 403 from Cloudflare \(9109: Invalid access token\) reading live keys; /, /IP filter/,
    [{ code: 9109, message: 'Invalid access token', documentation_url: DOC_URL }]],
  ['403 not entitled', { route: 'getConfig', status: 403, code: 10403 }, 'CF_NOT_ENTITLED',
    /^HTTP 403 from Cloudflare \(10403: /, /Enterprise add-on/,
    [{ code: 10403, message: 'This account is not entitled to API Shield JWT validation', documentation_url: DOC_URL }]],
  ['400 malformed Authorization', { route: 'getConfig', status: 400, code: 6003 }, 'CF_AUTH_MALFORMED',
    /^HTTP 400 from Cloudflare \(6003: Invalid request headers \[6111: Invalid format for Authorization header\]\) reading live keys; /, /bare/,
    [{ code: 6003, message: 'Invalid request headers', error_chain: [{ code: 6111, message: 'Invalid format for Authorization header' }] }]],
  ['404 unknown config', { route: 'getConfig', status: 404, code: 7003, message: 'Could not route' }, 'CF_NOT_FOUND',
    /^HTTP 404 from Cloudflare \(7003: Could not route\) reading live keys; /, /CF_TOKEN_CONFIG_ID/,
    [{ code: 7003, message: 'Could not route' }]],
  ['404 that is not an API answer (CF_API_BASE without /client/v4)', { route: 'getConfig', status: 404, body: 'Not Found' }, 'CF_NOT_FOUND',
    /^HTTP 404 from Cloudflare, not an API answer \(starts "Not Found"\) reading live keys; /, /CF_API_BASE is wrong/,
    undefined],
  ['504 from a gateway on the read', { route: 'getConfig', status: 504, body: 'upstream request timeout' }, 'CF_UNAVAILABLE',
    /^HTTP 504 from Cloudflare, not an API answer \(starts "upstream request timeout"\) reading live keys after 3 attempts \(504, 504, 504\); /, /transient/,
    undefined],
  ['400 on the write', { route: 'putCredentials', status: 400, code: 10021, message: 'invalid key' }, 'CF_API_STATUS',
    /^HTTP 400 from Cloudflare \(10021: invalid key\) replacing credentials \(PUT\); /, /cloudflare_errors/,
    [{ code: 10021, message: 'invalid key' }]],
  ['5xx on the write, not applied', { route: 'putCredentials', status: 503 }, 'CF_WRITE_UNCONFIRMED',
    /^the write got no definite answer \(HTTP 503 from Cloudflare \(10002: Service Unavailable\) replacing credentials \(PUT\) after 3 attempts/, /live_kids/,
    [{ code: 10002, message: 'Service Unavailable' }]],
  ['malformed answer to the write, not applied', { route: 'putCredentials', malformed: true }, 'CF_WRITE_UNCONFIRMED',
    /not a Cloudflare API envelope.*, and the keys live now are /, /re-read/,
    undefined],
];

for (const [name, fault, code, message, hint, errors] of CF_FAILURES) {
  test(`Cloudflare ${name}: failed at cloudflare with its code and hint`, async () => {
    h.emu.fault(fault);
    const r = await h.post();
    assert.equal(r.status, 502);
    const [t] = r.body.targets;
    assert.equal(t.outcome, 'failed');
    assert.equal(t.error.stage, 'cloudflare');
    assert.equal(t.error.code, code, t.error.message);
    assert.match(t.error.message, message);
    assert.match(t.error.hint, hint);
    assert.deepEqual(t.error.cloudflare_errors, errors);
    assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG), live);
  });
}

test('an unconfirmed write names the kids a re-read found live', async () => {
  h.emu.fault({ route: 'putCredentials', status: 504, body: 'upstream request timeout' });
  const r = await h.post();
  const [t] = r.body.targets;
  assert.equal(t.error.code, 'CF_WRITE_UNCONFIRMED', t.error.message);
  assert.deepEqual(t.error.live_kids, live.map((k) => k.kid));
  assert.equal(h.emu.requestsTo({ route: 'getConfig' }).length, 2, 'read, then re-read after the write');
});

test('a write applied whose answer was lost (504 after applying) is updated, with a warning', async () => {
  h.emu.fault({ route: 'putCredentials', status: 504, body: 'upstream request timeout', apply: true });
  const r = await h.post();
  const [t] = r.body.targets;
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(t.outcome, 'updated');
  assert.ok(
    t.warnings.includes('the write got no definite answer (HTTP 504 from Cloudflare, not an API answer (starts "upstream request timeout") replacing credentials (PUT) after 3 attempts (504, 504, 504)); a re-read shows the keys sent live'),
    JSON.stringify(t.warnings),
  );
  assert.deepEqual(ids(h.emu.storedKeys(ZONE, CONFIG)), ids(h.emu.idp('main').keys));
});

test("Cloudflare's too-many-keys answer names MAX_KEYS", async () => {
  h.emu.maxKeys = 1;
  try {
    const r = await h.post();
    const [t] = r.body.targets;
    assert.equal(t.error.code, 'CF_TOO_MANY_KEYS', t.error.message);
    assert.match(t.error.hint, /MAX_KEYS/);
  } finally {
    h.emu.maxKeys = 16;
  }
});

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

test('Cloudflare 429 with retry-after is honoured, then the write lands, with a warning', async () => {
  h.emu.fault({ route: 'putCredentials', status: 429, code: 971, retryAfter: 1, times: 1 });
  const r = await h.post();
  const [t] = r.body.targets;
  assert.equal(t.outcome, 'updated', JSON.stringify(r.body));
  assert.equal(h.puts().length, 2);
  assert.ok(t.warnings.some((w) => w.startsWith('succeeded after 2 attempts (429); PUT ')), JSON.stringify(t.warnings));
});

test('Cloudflare rate limit for 5 minutes: failed, not waited out, retry-after named', async () => {
  h.emu.rateLimit(true, 300);
  const r = await h.post();
  const [t] = r.body.targets;
  assert.equal(t.error.code, 'CF_RATE_LIMITED');
  assert.match(t.error.message, /^HTTP 429 from Cloudflare \(971: .*\) reading live keys; retry-after 300; /);
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
