// The validating edge: a protected origin that accepts or rejects a request's JWT as API Shield's
// JWT validation does with one token validation configuration's stored credentials.
//
// What API Shield documents (shared/reference/cloudflare-api.md section 2, and the API Shield
// "Configure JWT validation" page): the token is read from the configuration's `token_sources`
// (request headers or cookies; a leading `Bearer ` is ignored); the key is picked by the token
// header's `kid` AND `alg`, and no match means invalid; the signature is verified; `exp` and `nbf`
// are enforced with 60 s of clock skew. UNCONFIRMED, and chosen here: which token source wins when
// several are present (the first listed), that a token without `exp` or `nbf` passes that check
// (both are OPTIONAL in RFC 7519 section 4.1), and the exact boundary of the skew (below).

import { verifySignature } from './jose.mjs';

/** Clock skew allowed on `exp` and `nbf`, in seconds (cloudflare-api.md section 2). */
export const CLOCK_SKEW_S = 60;

/** The algs API Shield validates (cloudflare-api.md section 2); a stored key with another never matches. */
export const EDGE_ALGS = Object.freeze(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'HS256', 'HS384', 'HS512']);

/** Why a token is refused: the `reason` of a 401 answer. */
export const REASONS = Object.freeze({
  MISSING: 'missing token',
  MALFORMED: 'malformed',
  NO_KEY: 'no key for kid/alg',
  BAD_SIGNATURE: 'bad signature',
  EXPIRED: 'expired',
  NOT_YET_VALID: 'not yet valid',
});

const B64URL = /^[A-Za-z0-9_-]+$/;
const HEADER_SOURCE = /^http\.request\.headers\["([^"]+)"\]\[0\]$/;
const COOKIE_SOURCE = /^http\.request\.cookies\["([^"]+)"\]\[0\]$/;

/**
 * The token of a request, from the first of `tokenSources` (Ruleset Engine expressions
 * `http.request.headers["name"][0]` or `http.request.cookies["name"][0]`) that the request
 * carries, without a leading `Bearer `. `headers` are node's (lower-case names). Null when none.
 */
export function tokenFrom(tokenSources, headers) {
  for (const source of tokenSources ?? []) {
    let value;
    const h = HEADER_SOURCE.exec(source);
    const c = COOKIE_SOURCE.exec(source);
    if (h) value = headers[h[1].toLowerCase()];
    else if (c) value = cookie(headers.cookie, c[1]);
    if (typeof value === 'string' && value !== '') return value.replace(/^Bearer +/i, '');
  }
  return null;
}

function cookie(header, name) {
  for (const pair of (header ?? '').split(';')) {
    const i = pair.indexOf('=');
    if (i > 0 && pair.slice(0, i).trim() === name) return pair.slice(i + 1).trim();
  }
  return undefined;
}

const refuse = (reason, detail) => ({ valid: false, reason, detail });

function decodeObject(part) {
  try {
    const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * Validate a compact JWT against a configuration's stored keys at `nowS` (seconds since the
 * epoch), in this order: structure, key by (`kid`, `alg`), signature, then `exp` and `nbf`.
 * Returns `{ valid: true, kid, alg, claims }` or `{ valid: false, reason, detail }` with a
 * reason from REASONS. `exp` fails once `nowS - skewS >= exp` and `nbf` while
 * `nowS + skewS < nbf` (RFC 7519 sections 4.1.4 and 4.1.5, widened by the skew).
 */
export function validateJwt(token, keys, { nowS, skewS = CLOCK_SKEW_S }) {
  if (typeof token !== 'string' || token === '') return refuse(REASONS.MISSING, 'the request carries no token in the configured token sources');
  const parts = token.split('.');
  if (parts.length !== 3) return refuse(REASONS.MALFORMED, `a compact JWS has 3 dot-separated parts, this token has ${parts.length}`);
  if (!parts.every((p) => B64URL.test(p))) return refuse(REASONS.MALFORMED, 'every part must be non-empty base64url');
  const [h, p, s] = parts;
  const header = decodeObject(h);
  const claims = decodeObject(p);
  if (!header) return refuse(REASONS.MALFORMED, 'the header is not a JSON object');
  if (!claims) return refuse(REASONS.MALFORMED, 'the payload is not a JSON object (a JWT claims set)');
  const { kid, alg } = header;
  const key = EDGE_ALGS.includes(alg) ? keys.find((k) => k?.kid === kid && k?.alg === alg) : undefined;
  if (!key) {
    const sameKid = keys.filter((k) => k?.kid === kid).map((k) => k.alg);
    const also = sameKid.length ? `; kid ${JSON.stringify(kid)} is stored with alg ${sameKid.join(', ')}` : '';
    return refuse(REASONS.NO_KEY, `no stored key with kid ${JSON.stringify(kid)} and alg ${JSON.stringify(alg)}${also}`);
  }
  if (!verifySignature(alg, key, `${h}.${p}`, Buffer.from(s, 'base64url'))) {
    const why = key.kty === 'oct' && typeof key.k !== 'string' ? ' (the stored oct key has no k)' : '';
    return refuse(REASONS.BAD_SIGNATURE, `the signature does not verify with the stored key kid ${JSON.stringify(kid)} alg ${alg}${why}`);
  }
  for (const claim of ['exp', 'nbf']) {
    if (claims[claim] !== undefined && !Number.isFinite(claims[claim])) return refuse(REASONS.MALFORMED, `${claim} must be a number of seconds`);
  }
  if (claims.exp !== undefined && nowS - skewS >= claims.exp) {
    return refuse(REASONS.EXPIRED, `exp ${claims.exp} is ${nowS - claims.exp} s before now (${nowS}), more than the ${skewS} s skew`);
  }
  if (claims.nbf !== undefined && nowS + skewS < claims.nbf) {
    return refuse(REASONS.NOT_YET_VALID, `nbf ${claims.nbf} is ${claims.nbf - nowS} s after now (${nowS}), more than the ${skewS} s skew`);
  }
  return { valid: true, kid, alg, claims };
}

/**
 * Answer a request to the protected origin of one configuration (`{ keys, tokenSources }`):
 * 200 `{valid: true, kid, alg, claims}` or 401 `{valid: false, reason, detail}` with
 * `WWW-Authenticate: Bearer` (RFC 6750 section 3: `error="invalid_token"` when a token was sent).
 */
export function edgeRespond(config, headers, nowS = Math.floor(Date.now() / 1000)) {
  const result = validateJwt(tokenFrom(config.tokenSources, headers), config.keys, { nowS });
  const out = { status: result.valid ? 200 : 401, headers: { 'content-type': 'application/json' }, body: JSON.stringify(result) };
  if (!result.valid) out.headers['www-authenticate'] = result.reason === REASONS.MISSING ? 'Bearer' : 'Bearer error="invalid_token"';
  return out;
}
