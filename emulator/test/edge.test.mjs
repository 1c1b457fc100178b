// The validating edge: JWTs accepted or refused as API Shield does, by (kid, alg), signature,
// exp/nbf with 60 s of skew; the pure functions, then the /edge route over HTTP.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startEmulator, generateKeyPair, signJwt, validateJwt, tokenFrom, REASONS, CLOCK_SKEW_S } from '../index.mjs';
import { verifySignature, secretKey } from '../jose.mjs';
import { cf, credentialsPath, request, ZONE, CONFIG } from './helpers.mjs';

const NOW = 1_800_000_000;
const claims = (extra = {}) => ({ iss: 'https://idp.example', aud: 'api', iat: NOW, nbf: NOW, exp: NOW + 300, ...extra });
/** The members Cloudflare stores for a key (emulator/keys.mjs rule 7). */
const stored = ({ jwk }) => (jwk.kty === 'RSA' ? { alg: jwk.alg, e: jwk.e, kid: jwk.kid, kty: 'RSA', n: jwk.n } : { alg: jwk.alg, crv: jwk.crv, kid: jwk.kid, kty: 'EC', x: jwk.x, y: jwk.y });
const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384'];

// One key pair per alg, generated once (RSA generation is the slow part).
const pairs = Object.fromEntries(ASYMMETRIC.map((alg) => [alg, generateKeyPair({ alg, kid: `kid-${alg}` })]));
const rs = pairs.RS256;
const rsKeys = [stored(rs)];

// RFC 7515 Appendix A: known keys and their example JWS, independent of this emulator's signer.
const RFC7515 = {
  hs256: {
    jwk: { kty: 'oct', k: 'AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow' },
    jws: 'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
  },
  rs256: {
    jwk: {
      kty: 'RSA',
      e: 'AQAB',
      n: 'ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ',
    },
    jws: 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw',
  },
  es256: {
    jwk: { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' },
    jws: 'eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q',
  },
};
const split = (jws) => {
  const [h, p, s] = jws.split('.');
  return [`${h}.${p}`, Buffer.from(s, 'base64url')];
};

test('RFC 7515 appendix A: the known HS256, RS256 and ES256 examples verify; altered ones do not', () => {
  for (const [name, alg] of [['hs256', 'HS256'], ['rs256', 'RS256'], ['es256', 'ES256']]) {
    const { jwk, jws } = RFC7515[name];
    const [input, sig] = split(jws);
    assert.equal(verifySignature(alg, jwk, input, sig), true, name);
    assert.equal(verifySignature(alg, jwk, `${input}x`, sig), false, `${name}: altered input`);
    const flipped = Buffer.from(sig);
    flipped[5] ^= 1;
    assert.equal(verifySignature(alg, jwk, input, flipped), false, `${name}: altered signature`);
  }
  const [input, sig] = split(RFC7515.rs256.jws);
  // The right signature under another alg, or a key of another type, is no signature.
  assert.equal(verifySignature('PS256', RFC7515.rs256.jwk, input, sig), false);
  assert.equal(verifySignature('RS384', RFC7515.rs256.jwk, input, sig), false);
  assert.equal(verifySignature('RS256', RFC7515.es256.jwk, input, sig), false);
  assert.equal(verifySignature('ES384', RFC7515.es256.jwk, ...split(RFC7515.es256.jws)), false);
  assert.equal(verifySignature('HS256', { kty: 'oct' }, ...split(RFC7515.hs256.jws)), false);
  assert.equal(verifySignature('none', RFC7515.rs256.jwk, input, sig), false);
  // An ES256 signature must be exactly R || S (64 octets).
  assert.equal(verifySignature('ES256', RFC7515.es256.jwk, split(RFC7515.es256.jws)[0], Buffer.alloc(10)), false);
});

test('a token signed by a stored key is valid, for every asymmetric alg API Shield supports', () => {
  const keys = Object.values(pairs).map(stored);
  for (const alg of ASYMMETRIC) {
    const jwt = signJwt(claims({ sub: alg }), pairs[alg]);
    assert.deepEqual(validateJwt(jwt, keys, { nowS: NOW }), { valid: true, kid: `kid-${alg}`, alg, claims: claims({ sub: alg }) }, alg);
  }
});

test('HS256/384/512 validate against a stored oct key with its k', () => {
  for (const alg of ['HS256', 'HS384', 'HS512']) {
    const k = randomBytes(64).toString('base64url');
    const key = { kty: 'oct', kid: `hs-${alg}`, alg, k };
    const jwt = signJwt(claims(), { jwk: key, privateKey: secretKey(key) });
    assert.equal(validateJwt(jwt, [key], { nowS: NOW }).valid, true, alg);
    const other = { ...key, k: randomBytes(64).toString('base64url') };
    assert.deepEqual(validateJwt(jwt, [other], { nowS: NOW }).reason, REASONS.BAD_SIGNATURE, alg);
    const withoutK = { kty: 'oct', kid: key.kid, alg };
    const r = validateJwt(jwt, [withoutK], { nowS: NOW });
    assert.equal(r.reason, REASONS.BAD_SIGNATURE);
    assert.match(r.detail, /the stored oct key has no k/);
  }
});

test('the right kid with the wrong alg has no key, even when the signature is good under that alg', () => {
  // The stored key says RS256; the token is PS256, correctly signed by the same RSA key.
  const jwt = signJwt(claims(), rs, { alg: 'PS256' });
  const r = validateJwt(jwt, rsKeys, { nowS: NOW });
  assert.deepEqual(r, { valid: false, reason: REASONS.NO_KEY, detail: 'no stored key with kid "kid-RS256" and alg "PS256"; kid "kid-RS256" is stored with alg RS256' });
  // Stored under both algs (two identities), both tokens validate.
  assert.equal(validateJwt(jwt, [...rsKeys, { ...rsKeys[0], alg: 'PS256' }], { nowS: NOW }).valid, true);
});

test('an unknown kid, a token without kid, alg none and a stored alg API Shield lacks: no key', () => {
  const other = generateKeyPair({ alg: 'RS256', kid: 'kid-unknown' });
  assert.deepEqual(validateJwt(signJwt(claims(), other), rsKeys, { nowS: NOW }), {
    valid: false,
    reason: REASONS.NO_KEY,
    detail: 'no stored key with kid "kid-unknown" and alg "RS256"',
  });
  // RFC 7515 A.2 has no kid in its header: API Shield requires one.
  assert.equal(validateJwt(RFC7515.rs256.jws, [{ ...RFC7515.rs256.jwk, alg: 'RS256', kid: 'k' }], { nowS: NOW }).reason, REASONS.NO_KEY);
  const none = `${b64({ alg: 'none', kid: 'kid-RS256' })}.${b64(claims())}.${b64('x')}`;
  assert.equal(validateJwt(none, [{ ...rsKeys[0], alg: 'none' }], { nowS: NOW }).reason, REASONS.NO_KEY);
  const es512 = generateKeyPair({ alg: 'ES512', kid: 'p521' });
  assert.equal(validateJwt(signJwt(claims(), es512), [{ ...es512.jwk }], { nowS: NOW }).reason, REASONS.NO_KEY);
  assert.equal(validateJwt(signJwt(claims(), rs), [], { nowS: NOW }).reason, REASONS.NO_KEY);
});

test('a changed payload, or another key under the same kid: bad signature', () => {
  const jwt = signJwt(claims({ sub: 'alice' }), rs);
  const [h, , s] = jwt.split('.');
  const forged = `${h}.${b64(claims({ sub: 'admin' }))}.${s}`;
  assert.deepEqual(validateJwt(forged, rsKeys, { nowS: NOW }), {
    valid: false,
    reason: REASONS.BAD_SIGNATURE,
    detail: 'the signature does not verify with the stored key kid "kid-RS256" alg RS256',
  });
  const impostor = generateKeyPair({ alg: 'RS256', kid: 'kid-RS256' });
  assert.equal(validateJwt(signJwt(claims(), impostor), rsKeys, { nowS: NOW }).reason, REASONS.BAD_SIGNATURE);
  // The signature is checked before the dates: an expired forgery is a bad signature.
  const expiredForgery = `${h}.${b64(claims({ exp: NOW - 3600 }))}.${s}`;
  assert.equal(validateJwt(expiredForgery, rsKeys, { nowS: NOW }).reason, REASONS.BAD_SIGNATURE);
});

test('exp and nbf are enforced with 60 s of skew, at the exact boundaries', () => {
  assert.equal(CLOCK_SKEW_S, 60);
  const at = (c, nowS) => validateJwt(signJwt(claims(c), rs), rsKeys, { nowS });
  const exp = NOW + 300;
  assert.equal(at({ exp }, exp - 1).valid, true);
  assert.equal(at({ exp }, exp + 59).valid, true);
  assert.deepEqual(at({ exp }, exp + 60), { valid: false, reason: REASONS.EXPIRED, detail: `exp ${exp} is 60 s before now (${exp + 60}), more than the 60 s skew` });
  assert.equal(at({ exp: NOW - 3600 }, NOW).reason, REASONS.EXPIRED);
  const nbf = NOW + 100;
  assert.equal(at({ nbf }, nbf - 60).valid, true);
  assert.deepEqual(at({ nbf }, nbf - 61), { valid: false, reason: REASONS.NOT_YET_VALID, detail: `nbf ${nbf} is 61 s after now (${nbf - 61}), more than the 60 s skew` });
  // Both are optional (RFC 7519 section 4.1): a token without them passes that check.
  assert.equal(at({ exp: undefined, nbf: undefined }, NOW + 10 ** 9).valid, true);
  // A non-numeric date is malformed.
  assert.equal(at({ exp: String(exp) }, NOW).reason, REASONS.MALFORMED);
  assert.equal(at({ nbf: null }, NOW).reason, REASONS.MALFORMED);
});

test('malformed tokens', () => {
  const good = signJwt(claims(), rs);
  const [h, p, s] = good.split('.');
  const cases = {
    'two parts': `${h}.${p}`,
    'five parts (a JWE)': `${h}.${p}.${s}.${s}.${s}`,
    'empty signature': `${h}.${p}.`,
    'padding': `${h}.${p}.${s}==`,
    'standard base64': `${h}.${p}.${s.replace(/-|_/g, '+')}+/`,
    'a space inside': `${h} .${p}.${s}`,
    'header not JSON': `${b64('{"alg":')}.${p}.${s}`,
    'header an array': `${b64(['RS256'])}.${p}.${s}`,
    'payload not an object': `${h}.${b64('"claims"')}.${s}`,
  };
  for (const [name, token] of Object.entries(cases)) assert.equal(validateJwt(token, rsKeys, { nowS: NOW }).reason, REASONS.MALFORMED, name);
  assert.equal(validateJwt('', rsKeys, { nowS: NOW }).reason, REASONS.MISSING);
  assert.equal(validateJwt(null, rsKeys, { nowS: NOW }).reason, REASONS.MISSING);
});

test('the token comes from the first configured source present; a leading Bearer is ignored', () => {
  const auth = ['http.request.headers["authorization"][0]'];
  assert.equal(tokenFrom(auth, { authorization: 'Bearer abc.def.ghi' }), 'abc.def.ghi');
  assert.equal(tokenFrom(auth, { authorization: 'bearer  abc.def.ghi' }), 'abc.def.ghi');
  assert.equal(tokenFrom(auth, { authorization: 'abc.def.ghi' }), 'abc.def.ghi');
  assert.equal(tokenFrom(auth, {}), null);
  const both = ['http.request.cookies["session"][0]', 'http.request.headers["X-Token"][0]'];
  assert.equal(tokenFrom(both, { cookie: 'a=1; session=from.cookie.x; b=2', 'x-token': 'from.header.x' }), 'from.cookie.x');
  assert.equal(tokenFrom(both, { cookie: 'a=1', 'x-token': 'from.header.x' }), 'from.header.x');
  assert.equal(tokenFrom(['http.request.uri.query["t"][0]'], { authorization: 'Bearer x' }), null);
});

// ---- the route, over HTTP ----
let emu;
before(async () => {
  emu = await startEmulator();
});
after(() => emu.close());
beforeEach(() => {
  emu.setStoredKeys(ZONE, CONFIG, rsKeys);
  emu.clearRequests();
});
const now = () => Math.floor(Date.now() / 1000);
const live = (extra) => claims({ iat: now(), nbf: now(), exp: now() + 300, ...extra });
const present = (token, { path = '/orders/1', method = 'GET', headers = {} } = {}) =>
  request(`${emu.edgeUrl()}${path}`, { method, headers: token === undefined ? headers : { authorization: `Bearer ${token}`, ...headers } });

test('GET /edge/{zone}/{config}/…: 200 with the claims for a valid token, 401 with the reason otherwise', async () => {
  assert.equal(emu.edgeUrl(), `${emu.url}/edge/${ZONE}/${CONFIG}`);
  const c = live({ sub: 'alice' });
  let r = await present(signJwt(c, rs));
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { valid: true, kid: 'kid-RS256', alg: 'RS256', claims: c });

  r = await present(signJwt(live({ exp: now() - 120 }), rs));
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
  assert.equal(r.json.valid, false);
  assert.equal(r.json.reason, 'expired');

  r = await present(signJwt(live({ nbf: now() + 600 }), rs), { method: 'POST' });
  assert.deepEqual([r.status, r.json.reason], [401, 'not yet valid']);
  r = await present(signJwt(live(), pairs.ES256));
  assert.deepEqual([r.status, r.json.reason], [401, 'no key for kid/alg']);
  r = await present(signJwt(live(), rs, { alg: 'RS512' }));
  assert.deepEqual([r.status, r.json.reason], [401, 'no key for kid/alg']);
  r = await present('not-a-jwt');
  assert.deepEqual([r.status, r.json.reason], [401, 'malformed']);
  r = await present(undefined);
  assert.deepEqual([r.status, r.json.reason], [401, 'missing token']);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer');
  // The path below the configuration is free; the bare configuration URL is protected too.
  assert.equal((await present(signJwt(live(), rs), { path: '' })).status, 200);
});

test('the edge reads the configuration live: a PUT through the Cloudflare face changes what validates', async () => {
  const es = pairs.ES256;
  const token = signJwt(live(), es);
  assert.equal((await present(token)).status, 401);
  const put = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [es.jwk] } });
  assert.equal(put.status, 200);
  assert.equal((await present(token)).status, 200);
  assert.equal((await present(signJwt(live(), rs))).json.reason, 'no key for kid/alg');
});

test('symmetric keys stored with k validate HS tokens at the edge', async () => {
  const key = { kty: 'oct', kid: 'shared', alg: 'HS384', k: randomBytes(48).toString('base64url') };
  emu.setStoredKeys(ZONE, CONFIG, [key]);
  const r = await present(signJwt(live(), { jwk: key, privateKey: secretKey(key) }));
  assert.deepEqual([r.status, r.json.kid, r.json.alg], [200, 'shared', 'HS384']);
});

test('a symmetric key written with k through PUT, then kept by a PATCH without it, validates HS tokens; no answer shows k', async () => {
  const key = { kty: 'oct', kid: 'shared', alg: 'HS256', k: randomBytes(32).toString('base64url') };
  const token = signJwt(live(), { jwk: key, privateKey: secretKey(key) });
  assert.equal((await present(token)).json.reason, 'no key for kid/alg');
  const put = await cf(emu, 'PUT', credentialsPath(), { body: { keys: [rsKeys[0], key] } });
  assert.equal(put.status, 200);
  assert.equal((await present(token)).status, 200);
  // What the Worker does: PATCH with the symmetric key as {kty, kid, alg}, beside new keys.
  const es = pairs.ES256;
  const patch = await cf(emu, 'PATCH', credentialsPath(), { body: { keys: [es.jwk, { kty: 'oct', kid: 'shared', alg: 'HS256' }] } });
  assert.equal(patch.status, 200);
  assert.deepEqual([(await present(token)).status, (await present(signJwt(live(), es))).status], [200, 200]);
  assert.equal((await present(signJwt(live(), rs))).json.reason, 'no key for kid/alg');
  const got = await cf(emu, 'GET', `/zones/${ZONE}/token_validation/config/${CONFIG}`);
  for (const answer of [put.json, patch.json, got.json]) assert.ok(!JSON.stringify(answer).includes(key.k), 'k is never answered');
  assert.deepEqual(got.json.result.credentials.keys.find((k) => k.kid === 'shared'), { kty: 'oct', kid: 'shared', alg: 'HS256' });
});

test('token sources of the configuration, unknown configurations, the request log', async () => {
  emu.addConfig({ zoneId: ZONE, configId: 'cookie-config', tokenSources: ['http.request.cookies["session"][0]'], keys: rsKeys });
  const token = signJwt(live(), rs);
  let r = await request(emu.edgeUrl(ZONE, 'cookie-config'), { headers: { cookie: `theme=dark; session=${token}` } });
  assert.equal(r.status, 200);
  r = await request(emu.edgeUrl(ZONE, 'cookie-config'), { headers: { authorization: `Bearer ${token}` } });
  assert.deepEqual([r.status, r.json.reason], [401, 'missing token']);
  r = await request(emu.edgeUrl(ZONE, 'nope'), { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 404);
  assert.deepEqual(r.json, { error: `no configuration nope in zone ${ZONE}` });
  const log = emu.requestsTo({ face: 'edge' });
  assert.deepEqual(log.map((x) => [x.route, x.status]), [['edge', 200], ['edge', 401], ['edge', 404]]);
  // Tokens are credentials: never in the log.
  assert.ok(!JSON.stringify(log).includes(token.split('.')[2]));
});

test('validateToken: the same decision from the JS API, at a chosen time', () => {
  const token = signJwt(claims(), rs);
  assert.equal(emu.validateToken(token, { nowS: NOW }).valid, true);
  assert.equal(emu.validateToken(token, { nowS: NOW + 300 + 60 }).reason, 'expired');
  // Without nowS, the clock.
  assert.equal(emu.validateToken(signJwt(live(), rs)).valid, true);
  assert.equal(emu.validateToken(signJwt(live({ exp: now() - 120 }), rs)).reason, 'expired');
  assert.throws(() => emu.validateToken(token, { configId: 'nope' }), /no configuration nope/);
});
