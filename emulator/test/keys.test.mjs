// The documented credential rules, tested on the pure function.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { publicView, checkCredentials, bitLength } from '../keys.mjs';
import { fixture } from './helpers.mjs';

const opts = { maxKeys: 16 };
const okta = fixture('okta-default-as-keys.json').keys[0];

test('bitLength ignores leading zero octets', () => {
  assert.equal(bitLength('AQAB'), 17);
  assert.equal(bitLength(Buffer.from([0, 0, 0x80]).toString('base64url')), 8);
  // 255 octets of 0xff behind a zero octet: 2040 bits, not 2048.
  assert.equal(bitLength(Buffer.concat([Buffer.from([0]), Buffer.alloc(255, 0xff)]).toString('base64url')), 2040);
});

test('an RSA key keeps only alg, e, kid, kty, n', () => {
  const r = checkCredentials({ keys: [okta] }, opts);
  assert.deepEqual(r, { ok: true, keys: [{ alg: 'RS256', e: okta.e, kid: okta.kid, kty: 'RSA', n: okta.n }], messages: [], dropped: [] });
});

test('an RSA key of 2040 bits padded to 256 octets is too small', () => {
  const n = Buffer.concat([Buffer.from([0]), Buffer.alloc(255, 0xff)]).toString('base64url');
  const r = checkCredentials({ keys: [{ kty: 'RSA', kid: 'k', alg: 'RS256', n, e: 'AQAB' }] }, opts);
  assert.equal(r.ok, false);
  assert.deepEqual(r.errors.map((e) => e.code), [110005]);
  assert.match(r.errors[0].message, /2040-bit/);
});

test('unsupported keys are dropped with a reason and never fail the request', () => {
  const keys = [
    { kty: 'OKP', crv: 'Ed25519', kid: 'ed', x: 'AAAA' },
    { kty: 'EC', crv: 'P-521', kid: 'p521', alg: 'ES512', x: 'AA', y: 'AA' },
    { kty: 'EC', crv: 'P-256', kid: 'es512', alg: 'ES512', x: 'AA', y: 'AA' },
    { kty: 'oct', kid: 'hmac', alg: 'A128KW', k: 'AAAA' },
    { kty: 'AKP', kid: 'pq', alg: 'ML-DSA-44' },
    { kty: 'RSA', kid: 'enc', alg: 'RSA-OAEP', n: okta.n, e: 'AQAB' },
    { kid: 'nokty' },
    okta,
  ];
  const r = checkCredentials({ keys }, opts);
  assert.equal(r.ok, true);
  assert.deepEqual(r.keys.map((k) => k.kid), [okta.kid]);
  assert.deepEqual(r.dropped.map((d) => [d.kid, d.reason]), [
    ['ed', 'unsupported kty OKP'],
    ['p521', 'unsupported crv P-521'],
    ['es512', 'unsupported alg ES512 for kty EC'],
    ['hmac', 'unsupported alg A128KW for kty oct'],
    ['pq', 'unsupported kty AKP'],
    ['enc', 'unsupported alg RSA-OAEP for kty RSA'],
    ['nokty', 'unsupported kty undefined'],
  ]);
});

test('rejections carry a code and a JSON pointer', () => {
  const cases = [
    [{ keys: [{ ...okta, kid: undefined }] }, 110004, '/keys/0/kid'],
    [{ keys: [{ ...okta, kid: '' }] }, 110004, '/keys/0/kid'],
    [{ keys: [{ ...okta, n: undefined }] }, 110002, '/keys/0/n'],
    [{ keys: [{ ...okta, n: okta.n.replace(/-/g, '+') + '==' }] }, 110002, '/keys/0/n'],
    [{ keys: [{ ...okta, alg: 7 }] }, 110002, '/keys/0/alg'],
    [{ keys: [okta, 'x'] }, 110001, '/keys/1'],
    [{ keys: [{ kty: 'EC', crv: 'P-256', kid: 'e', x: 'AA', y: 'AA' }] }, 110008, '/keys/0/alg'],
    [{ keys: [{ kty: 'EC', crv: 'P-384', kid: 'e', alg: 'ES256', x: 'AA', y: 'AA' }] }, 110002, '/keys/0/alg'],
    [{ keys: [{ kty: 'EC', crv: 'P-256', kid: 'e', alg: 'ES256', x: 'AA', y: 'AA' }] }, 110002, '/keys/0/x'],
    [{ keys: [okta, okta] }, 110006, '/keys/1'],
    [{ keys: {} }, 110001, '/keys'],
    [{}, 110001, '/keys'],
    [null, 110001, '/keys'],
    [undefined, 110001, '/keys'],
    [[okta], 110001, '/keys'],
  ];
  for (const [body, code, pointer] of cases) {
    const r = checkCredentials(body, opts);
    assert.equal(r.ok, false, JSON.stringify(body)?.slice(0, 80));
    assert.equal(r.status, 400);
    assert.deepEqual(r.errors.map((e) => [e.code, e.source.pointer]), [[code, pointer]]);
  }
});

test('the same kid with two algs is two identities', () => {
  const r = checkCredentials({ keys: [okta, { ...okta, alg: 'RS512' }] }, opts);
  assert.equal(r.ok, true);
  assert.deepEqual(r.keys.map((k) => `${k.alg}/${k.kid}`), [`RS256/${okta.kid}`, `RS512/${okta.kid}`]);
});

test('a defaulted alg collides with an explicit RS256 of the same kid', () => {
  const r = checkCredentials({ keys: [okta, { ...okta, alg: undefined }] }, opts);
  assert.deepEqual(r.errors.map((e) => e.code), [110006]);
});

test('the key limit counts supported keys, after dropping', () => {
  const three = ['a', 'b', 'c'].map((kid) => ({ ...okta, kid }));
  assert.equal(checkCredentials({ keys: [...three, { kty: 'OKP', kid: 'x' }] }, { maxKeys: 3 }).ok, true);
  const r = checkCredentials({ keys: three }, { maxKeys: 2 });
  assert.deepEqual(r.errors, [{ code: 110007, message: 'too many keys: 3 supported keys given, at most 2 allowed per configuration', source: { pointer: '/keys' } }]);
});

test('a symmetric key is stored with its secret and shown without it', () => {
  const hmac = { kty: 'oct', kid: 'h', alg: 'HS384', k: 'c2VjcmV0', use: 'sig' };
  const r = checkCredentials({ keys: [hmac] }, opts);
  assert.equal(r.ok, true);
  assert.deepEqual(r.keys, [{ alg: 'HS384', k: 'c2VjcmV0', kid: 'h', kty: 'oct' }]);
  assert.deepEqual(publicView(r.keys[0]), { alg: 'HS384', kid: 'h', kty: 'oct' });
  assert.deepEqual(publicView(okta), okta);
});

test('a PUT cannot keep a symmetric key without its secret', () => {
  for (const [key, code, pointer] of [
    [{ kty: 'oct', kid: 'h', alg: 'HS256' }, 110010, '/keys/0/k'],
    [{ kty: 'oct', kid: 'h', k: 'c2VjcmV0' }, 110008, '/keys/0/alg'],
    [{ kty: 'oct', kid: 'h', alg: 'HS256', k: 'not base64url!' }, 110002, '/keys/0/k'],
  ]) {
    const r = checkCredentials({ keys: [key] }, opts);
    assert.equal(r.ok, false);
    assert.deepEqual(r.errors.map((e) => [e.code, e.source.pointer]), [[code, pointer]]);
  }
});

test('PATCH: the keys sent are the whole set, and omitted fields inherit by {alg, kid}', () => {
  const stored = [
    { alg: 'HS256', k: 'c2VjcmV0', kid: 'h', kty: 'oct' },
    { alg: 'RS256', e: okta.e, kid: 'old', kty: 'RSA', n: okta.n },
  ];
  const r = checkCredentials({ keys: [okta, { kty: 'oct', kid: 'h', alg: 'HS256' }] }, { ...opts, stored });
  assert.equal(r.ok, true);
  assert.deepEqual(r.keys.map((k) => k.kid), [okta.kid, 'h']);
  assert.equal(r.keys[1].k, 'c2VjcmV0', 'the stored secret is kept');
  // Another alg is another identity: nothing to inherit from.
  const other = checkCredentials({ keys: [{ kty: 'oct', kid: 'h', alg: 'HS512' }] }, { ...opts, stored });
  assert.deepEqual(other.errors.map((e) => e.code), [110010]);
  // A provided k overwrites the stored one.
  const rotated = checkCredentials({ keys: [{ kty: 'oct', kid: 'h', alg: 'HS256', k: 'bmV3' }] }, { ...opts, stored });
  assert.deepEqual(rotated.keys, [{ alg: 'HS256', k: 'bmV3', kid: 'h', kty: 'oct' }]);
  // Omitted members of an RSA key inherit too.
  const partial = checkCredentials({ keys: [{ kty: 'RSA', kid: 'old', alg: 'RS256' }] }, { ...opts, stored });
  assert.deepEqual(partial.keys, [stored[1]]);
});
