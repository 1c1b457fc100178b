// The credential rules of API Shield token validation, as documented in
// cloudflare-docs api-shield/security/jwt-validation/api.mdx and the
// 2026 changelog (see shared/reference/cloudflare-api.md section 2).
//
// `checkCredentials(body, options)` is a pure function: it decides what a
// `PUT .../credentials` (or, given the stored keys, a `PATCH`) with `body`
// does, without touching any state.

import { CODES } from './codes.mjs';

export const RSA_ALGS = Object.freeze(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
// Symmetric keys (kty "oct", since 2026-08-25): HS256/384/512. Their secret `k` is stored but never
// returned (changelog 2026-08-25-symmetric-jwt-validation; SDK type KeyOctResponse has no `k`).
export const HMAC_ALGS = Object.freeze(['HS256', 'HS384', 'HS512']);
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
  } else if (kty === 'oct') {
    if (alg !== undefined && !HMAC_ALGS.includes(alg)) return { drop: `unsupported alg ${alg} for kty oct` };
  } else {
    return { drop: `unsupported kty ${kty}` };
  }
  // 2. kid is required.
  if (typeof jwk.kid !== 'string' || jwk.kid === '') {
    return { error: err('KID_REQUIRED', `${at}.kid is required`, `/keys/${i}/kid`) };
  }
  const kid = jwk.kid;
  // 3. Key material.
  if (kty === 'oct') {
    // UNCONFIRMED: whether an oct key without alg is refused or defaulted; refused here.
    if (alg === undefined) return { error: err('ALG_REQUIRED', `${at}.alg is required for symmetric keys (kid ${kid})`, `/keys/${i}/alg`) };
    if (jwk.k === undefined) return { error: err('SECRET_REQUIRED', `${at}.k is required for a new symmetric key (kid ${kid})`, `/keys/${i}/k`) };
    if (typeof jwk.k !== 'string' || !B64URL.test(jwk.k)) {
      return { error: err('INVALID_KEY', `${at}.k must be a base64url string (kid ${kid})`, `/keys/${i}/k`) };
    }
    return { key: { alg, k: jwk.k, kid, kty: 'oct' }, defaulted: false };
  }
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

/** The identity a stored key is matched by: {alg, kid}, with an RSA key's alg defaulted. */
function identity(jwk) {
  const alg = jwk?.alg ?? (jwk?.kty === 'RSA' ? 'RS256' : undefined);
  return `${alg}\u0000${jwk?.kid}`;
}

/** A stored key as every answer shows it: a symmetric key's secret `k` is never returned. */
export function publicView(key) {
  if (key?.kty !== 'oct') return key;
  const { k, ...rest } = key;
  return rest;
}

/**
 * Decide the outcome of a credentials PUT, or of a PATCH when `stored` is given.
 *
 * PATCH (OpenAPI `token-validation-config-credentials-edit`, quoted in the shared reference
 * §1.1): `keys` still defines the full resulting set, and stored keys left out are removed;
 * provided fields overwrite the stored key with the same {alg, kid}, omitted fields inherit from
 * it, so a symmetric key sent without `k` keeps its stored secret.
 * @param {unknown} body parsed JSON body (or undefined when it did not parse)
 * @param {{maxKeys:number, dropKids?:Set<string>, stored?:object[]}} options
 * @returns {{ok:true, keys:object[], messages:object[], dropped:object[]} | {ok:false, status:number, errors:object[]}}
 */
export function checkCredentials(body, { maxKeys, dropKids = new Set(), stored }) {
  if (!isPlainObject(body) || !Array.isArray(body.keys)) {
    return { ok: false, status: 400, errors: [err('INVALID_BODY', 'Invalid request body: expected a JSON object with a "keys" array', '/keys')] };
  }
  const byIdentity = new Map((stored ?? []).map((k) => [identity(k), k]));
  const errors = [];
  const keys = [];
  const messages = [];
  const dropped = [];
  const seen = new Map();
  body.keys.forEach((sent, i) => {
    const inherited = isPlainObject(sent) && byIdentity.get(identity(sent));
    const jwk = inherited ? { ...inherited, ...sent } : sent;
    const r = checkKey(jwk, i);
    if (r.error) return void errors.push(r.error);
    if (r.drop) return void dropped.push({ index: i, kid: jwk?.kid, reason: r.drop });
    const id = identity(r.key);
    if (seen.has(id)) {
      return void errors.push(err('DUPLICATE_KEY', `keys[${i}] repeats (alg ${r.key.alg}, kid ${r.key.kid}) of keys[${seen.get(id)}]; (alg, kid) must be unique`, `/keys/${i}`));
    }
    seen.set(id, i);
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
