// The credential rules of API Shield token validation, as documented in
// cloudflare-docs api-shield/security/jwt-validation/api.mdx and the
// 2026 changelog (see shared/reference/cloudflare-api.md section 2).
//
// `checkCredentials(body, options)` is a pure function: it decides what a
// `PUT .../credentials` with `body` does, without touching any state.

import { CODES } from './codes.mjs';

export const RSA_ALGS = Object.freeze(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
// Supported EC curves and the one alg each may carry. EC keys are never
// defaulted (the docs default only RSA keys), so an EC key needs `alg`.
export const EC_CURVES = Object.freeze({ 'P-256': { alg: 'ES256', bytes: 32 }, 'P-384': { alg: 'ES384', bytes: 48 } });
export const MIN_RSA_BITS = 2048;

const B64URL = /^[A-Za-z0-9_-]+$/;

/** Bits of a base64url big-endian unsigned integer, ignoring leading zero octets. */
export function bitLength(b64url) {
  const bytes = Buffer.from(b64url, 'base64url');
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]));
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function err(kind, message, pointer) {
  const e = { code: CODES[kind].code, message };
  if (pointer !== undefined) e.source = { pointer };
  return e;
}

/**
 * Classify one JWK. Returns one of
 *   { drop: reason }            unsupported: dropped silently, as Cloudflare does
 *   { error: {code,message} }   rejected: the whole request fails with 400
 *   { key, defaulted }          accepted: `key` holds only the members Cloudflare keeps
 */
export function checkKey(jwk, i) {
  const at = `keys[${i}]`;
  if (!isPlainObject(jwk)) return { error: err('INVALID_BODY', `${at} must be an object`, `/keys/${i}`) };
  const { kty, alg, crv } = jwk;
  if (alg !== undefined && typeof alg !== 'string') {
    return { error: err('INVALID_KEY', `${at}.alg must be a string`, `/keys/${i}/alg`) };
  }
  // 1. Supported key type / alg / curve? If not, drop silently.
  if (kty === 'RSA') {
    if (alg !== undefined && !RSA_ALGS.includes(alg)) return { drop: `unsupported alg ${alg} for kty RSA` };
  } else if (kty === 'EC') {
    if (!Object.hasOwn(EC_CURVES, crv)) return { drop: `unsupported crv ${crv}` };
    if (alg !== undefined && !['ES256', 'ES384'].includes(alg)) return { drop: `unsupported alg ${alg} for kty EC` };
  } else {
    return { drop: `unsupported kty ${kty}` };
  }
  // 2. kid is required.
  if (typeof jwk.kid !== 'string' || jwk.kid === '') {
    return { error: err('KID_REQUIRED', `${at}.kid is required`, `/keys/${i}/kid`) };
  }
  const kid = jwk.kid;
  // 3. Key material.
  if (kty === 'RSA') {
    for (const m of ['n', 'e']) {
      if (typeof jwk[m] !== 'string' || !B64URL.test(jwk[m])) {
        return { error: err('INVALID_KEY', `${at}.${m} must be a base64url string (kid ${kid})`, `/keys/${i}/${m}`) };
      }
    }
    const bits = bitLength(jwk.n);
    if (bits < MIN_RSA_BITS) {
      return { error: err('RSA_KEY_TOO_SMALL', `${at} is a ${bits}-bit RSA key; RSA keys must be at least ${MIN_RSA_BITS} bits (kid ${kid})`, `/keys/${i}/n`) };
    }
    const effectiveAlg = alg ?? 'RS256';
    return { key: { alg: effectiveAlg, e: jwk.e, kid, kty: 'RSA', n: jwk.n }, defaulted: alg === undefined };
  }
  // EC
  const curve = EC_CURVES[crv];
  if (alg === undefined) {
    return { error: err('ALG_REQUIRED', `${at}.alg is required for EC keys (kid ${kid})`, `/keys/${i}/alg`) };
  }
  if (alg !== curve.alg) {
    return { error: err('INVALID_KEY', `${at}.alg ${alg} does not match crv ${crv} (kid ${kid})`, `/keys/${i}/alg`) };
  }
  for (const m of ['x', 'y']) {
    const v = jwk[m];
    if (typeof v !== 'string' || !B64URL.test(v) || Buffer.from(v, 'base64url').length !== curve.bytes) {
      return { error: err('INVALID_KEY', `${at}.${m} must be a base64url ${crv} coordinate of ${curve.bytes} octets (kid ${kid})`, `/keys/${i}/${m}`) };
    }
  }
  return { key: { alg, crv, kid, kty: 'EC', x: jwk.x, y: jwk.y }, defaulted: false };
}

/**
 * Decide the outcome of a credentials PUT.
 * @param {unknown} body parsed JSON body (or undefined when it did not parse)
 * @param {{maxKeys:number, dropKids?:Set<string>}} options
 * @returns {{ok:true, keys:object[], messages:object[], dropped:object[]} | {ok:false, status:number, errors:object[]}}
 */
export function checkCredentials(body, { maxKeys, dropKids = new Set() }) {
  if (!isPlainObject(body) || !Array.isArray(body.keys)) {
    return { ok: false, status: 400, errors: [err('INVALID_BODY', 'Invalid request body: expected a JSON object with a "keys" array', '/keys')] };
  }
  const errors = [];
  const keys = [];
  const messages = [];
  const dropped = [];
  const seen = new Map();
  body.keys.forEach((jwk, i) => {
    const r = checkKey(jwk, i);
    if (r.error) return void errors.push(r.error);
    if (r.drop) return void dropped.push({ index: i, kid: jwk?.kid, reason: r.drop });
    const identity = `${r.key.alg}\u0000${r.key.kid}`;
    if (seen.has(identity)) {
      return void errors.push(err('DUPLICATE_KEY', `keys[${i}] repeats (alg ${r.key.alg}, kid ${r.key.kid}) of keys[${seen.get(identity)}]; (alg, kid) must be unique`, `/keys/${i}`));
    }
    seen.set(identity, i);
    // Fault switch: pretend Cloudflare dropped this supported key.
    if (dropKids.has(r.key.kid)) return void dropped.push({ index: i, kid: r.key.kid, reason: 'dropKidOnPut fault' });
    keys.push(r.key);
    if (r.defaulted) {
      messages.push({ code: CODES.ALG_DEFAULTED.code, message: `keys[${i}].alg was omitted and defaulted to "RS256" (kid ${r.key.kid})` });
    }
  });
  if (errors.length === 0 && keys.length > maxKeys) {
    errors.push(err('TOO_MANY_KEYS', `too many keys: ${keys.length} supported keys given, at most ${maxKeys} allowed per configuration`, '/keys'));
  }
  if (errors.length) return { ok: false, status: 400, errors };
  return { ok: true, keys, messages, dropped };
}
