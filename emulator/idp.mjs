// The identity-provider face: one `Idp` per name, served under /idp/{name}/.

import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { RuleList } from './faults.mjs';
import { signInput } from './jose.mjs';

/** Sub-paths an IdP answers, relative to /idp/{name}/. */
export const IDP_PATHS = Object.freeze(['jwks.json', '.well-known/jwks.json', '.well-known/openid-configuration']);

// alg -> how to generate it with node:crypto.
const GEN = {
  RS256: { kty: 'RSA' }, RS384: { kty: 'RSA' }, RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' }, PS384: { kty: 'RSA' }, PS512: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' }, ES384: { kty: 'EC', crv: 'P-384' }, ES512: { kty: 'EC', crv: 'P-521' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
};
const DEFAULT_ALG = { RSA: 'RS256', EC: 'ES256', OKP: 'EdDSA' };
/** Lifetime of a token `sign()` issues, in seconds, unless told otherwise (an hour, as most IdPs). */
export const DEFAULT_TOKEN_TTL_S = 3600;

/** RFC 7638 JWK thumbprint (SHA-256, base64url). */
export function thumbprint(jwk) {
  const members = { RSA: ['e', 'kty', 'n'], EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'] }[jwk.kty];
  if (!members) throw new TypeError(`no thumbprint for kty ${jwk.kty}`);
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, jwk[m]])));
  return createHash('sha256').update(canonical).digest('base64url');
}

/**
 * Generate a signing key pair. Returns the PUBLIC JWK (kty, kid, use, alg and
 * the public members only) and the private KeyObject.
 * @param {{alg?:string, kty?:string, kid?:string, modulusLength?:number}} [opts]
 */
export function generateKeyPair({ alg, kty, kid, modulusLength = 2048 } = {}) {
  alg ??= DEFAULT_ALG[kty ?? 'RSA'];
  const gen = GEN[alg];
  if (!gen) throw new TypeError(`cannot generate a key for alg ${alg} (kty ${kty})`);
  if (kty && kty !== gen.kty) throw new TypeError(`alg ${alg} needs kty ${gen.kty}, not ${kty}`);
  let pair;
  if (gen.kty === 'RSA') pair = generateKeyPairSync('rsa', { modulusLength, publicExponent: 0x10001 });
  else if (gen.kty === 'EC') pair = generateKeyPairSync('ec', { namedCurve: gen.crv });
  else pair = generateKeyPairSync('ed25519');
  const pub = pair.publicKey.export({ format: 'jwk' });
  const jwk = { kty: pub.kty, kid: kid ?? thumbprint(pub), use: 'sig', alg };
  for (const m of ['n', 'e', 'crv', 'x', 'y']) if (pub[m] !== undefined) jwk[m] = pub[m];
  return { jwk, privateKey: pair.privateKey };
}

/**
 * Sign a compact JWS (a JWT, RFC 7519) over `payload` with a generated key pair (or, for HS*,
 * `{ jwk: {kid, alg}, privateKey: <secret KeyObject> }`). The header is `{alg, typ, kid}` from the
 * key, overridden by `header`; the signature uses the header's `alg`, so `header: {alg: 'PS256'}`
 * signs with PS256 even when the key says RS256 (a token with the wrong alg for its kid).
 */
export function signJwt(payload, { jwk, privateKey }, header = {}) {
  const h = { alg: jwk.alg, typ: 'JWT', kid: jwk.kid, ...header };
  const input = `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${input}.${signInput(h.alg, privateKey, input).toString('base64url')}`;
}

const HTML_PAGE = '<!doctype html>\n<html><head><title>Sign in</title></head><body><h1>Please sign in</h1></body></html>\n';
const NOT_JSON = '{"keys":[{"kty":"RSA","kid":"truncated","n":"0vx7agoebGcQSuu';

export class Idp {
  #doc = { keys: [] }; // parsed document, or null when the served raw text does not parse
  #raw = null; // served verbatim when set (fixtures)
  #privateKeys = new Map();
  #misbehaviour = new RuleList();
  #signingKid = null; // the published key sign() uses by default
  #nextKid = null; // a published key waiting to become the signing key

  /**
   * @param {string} name
   * @param {() => string} origin returns http://127.0.0.1:PORT once listening
   * @param {{contentType?:string, audience?:string}} [opts] `audience` is the `aud` of the tokens
   *   sign() issues (default `api://{name}`)
   */
  constructor(name, origin, { contentType = 'application/json', audience } = {}) {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new TypeError(`invalid IdP name ${JSON.stringify(name)}`);
    this.name = name;
    this.origin = origin;
    this.contentType = contentType;
    this.audience = audience ?? `api://${name}`;
  }

  /** kid of the key tokens are signed with now, or null (none generated, or it was retired). */
  get signingKid() {
    return this.#signingKid;
  }

  /** kid of the key published ahead of use by prepublish() and not signing yet, or null. */
  get nextKid() {
    return this.#nextKid;
  }

  get issuer() {
    return `${this.origin()}/idp/${this.name}`;
  }

  get jwksUrl() {
    return `${this.issuer}/jwks.json`;
  }

  /** The keys currently published (empty when the served document is not a JWKS). */
  get keys() {
    return structuredClone(Array.isArray(this.#doc?.keys) ? this.#doc.keys : []);
  }

  /** The exact body served at jwks.json. */
  get body() {
    return this.#raw ?? JSON.stringify(this.#doc);
  }

  /** Publish exactly these keys: `{"keys": keys}`. */
  setKeys(keys) {
    if (!Array.isArray(keys)) throw new TypeError('setKeys expects an array of JWKs');
    this.#doc = { keys: structuredClone(keys) };
    this.#raw = null;
    this.#forgetUnpublished();
    return this.keys;
  }

  /** Serve a fixture file verbatim (even one that is not JSON or not a JWKS). */
  loadFixture(path) {
    const raw = readFileSync(resolve(path), 'utf8');
    this.#raw = raw;
    try {
      this.#doc = JSON.parse(raw);
    } catch {
      this.#doc = null;
    }
    this.#forgetUnpublished();
    return this.keys;
  }

  /** The signing and next keys are always published ones: forget those that no longer are. */
  #forgetUnpublished() {
    const published = new Set(this.keys.map((k) => k?.kid));
    if (!published.has(this.#signingKid)) this.#signingKid = null;
    if (!published.has(this.#nextKid)) this.#nextKid = null;
  }

  /** Generate a key pair WITHOUT publishing it; remembers the private key. */
  generateKey(opts = {}) {
    const pair = generateKeyPair(opts);
    this.#privateKeys.set(pair.jwk.kid, pair);
    return structuredClone(pair.jwk);
  }

  /** Publish one more key, at the end (default) or the start of the set. */
  addKey(jwk, { position = 'end' } = {}) {
    if (!this.#doc || !Array.isArray(this.#doc.keys)) throw new Error(`IdP ${this.name} does not serve a JWKS; cannot add a key`);
    this.#raw = null;
    if (position === 'start') this.#doc.keys.unshift(structuredClone(jwk));
    else this.#doc.keys.push(structuredClone(jwk));
    return this.keys;
  }

  /**
   * Rotation step 1, as Auth0, Okta and Entra do ahead of a planned rotation: generate a key and
   * publish it (at `position`, default the end) WITHOUT signing with it; it becomes `nextKid`.
   * Returns its public JWK.
   */
  prepublish(opts = {}) {
    const jwk = this.generateKey(opts);
    this.addKey(jwk, opts);
    this.#nextKid = jwk.kid;
    return jwk;
  }

  /** The older name of prepublish(), kept for scripts that use it. */
  rotate(opts = {}) {
    return this.prepublish(opts);
  }

  /**
   * Rotation step 2: sign with `kid` from now on, by default the pre-published next key. The key
   * must be one this IdP generated and publishes (an IdP signs only with keys it publishes; for a
   * key published and used at once, see rotateUnannounced). Returns its public JWK.
   */
  switchSigning(kid = this.#nextKid) {
    if (!kid) throw new Error(`IdP ${this.name} has no pre-published next key: prepublish() one first, or name a kid`);
    const pair = this.#privateKeys.get(kid);
    if (!pair) throw new Error(`IdP ${this.name} holds no private key for kid ${kid}`);
    if (!this.keys.some((k) => k?.kid === kid)) {
      throw new Error(`IdP ${this.name} does not publish kid ${kid}; it signs only with published keys (rotateUnannounced publishes and switches at once)`);
    }
    this.#signingKid = kid;
    if (this.#nextKid === kid) this.#nextKid = null;
    return structuredClone(pair.jwk);
  }

  /**
   * An unannounced rotation (Entra emergency rotations, some Zitadel and EKS set-ups): generate a
   * key, publish it and sign with it at once, with no lead time. Returns its public JWK.
   */
  rotateUnannounced(opts = {}) {
    const jwk = this.generateKey(opts);
    this.addKey(jwk, opts);
    this.#signingKid = jwk.kid;
    return jwk;
  }

  /**
   * Rotation step 3: stop publishing every key with this kid. Returns how many were removed.
   * Retiring the signing key leaves the IdP without one until switchSigning().
   */
  retire(kid) {
    if (!this.#doc || !Array.isArray(this.#doc.keys)) throw new Error(`IdP ${this.name} does not serve a JWKS; cannot retire a key`);
    const before = this.#doc.keys.length;
    this.#doc.keys = this.#doc.keys.filter((k) => k?.kid !== kid);
    this.#raw = null;
    this.#forgetUnpublished();
    return before - this.#doc.keys.length;
  }

  /**
   * Issue a JWT signed by the current signing key, or by `kid` (any key this IdP generated, even
   * one it retired). Claims: `iss` (the issuer), `aud` (`audience`), `iat` and `nbf` (`nowS`,
   * default the clock, in seconds) and `exp` (`nowS + ttlS`, default an hour later), overridden
   * by `payload`. `alg` and `header` override the header (see signJwt).
   */
  sign(payload = {}, { kid = this.#signingKid, alg, header, ttlS = DEFAULT_TOKEN_TTL_S, nowS = Math.floor(Date.now() / 1000) } = {}) {
    if (!kid) throw new Error(`IdP ${this.name} has no signing key: switchSigning() first, or name a kid`);
    const pair = this.#privateKeys.get(kid);
    if (!pair) throw new Error(`IdP ${this.name} holds no private key for kid ${kid}`);
    const claims = { iss: this.issuer, aud: this.audience, iat: nowS, nbf: nowS, exp: nowS + ttlS, ...payload };
    return signJwt(claims, pair, { ...(alg ? { alg } : {}), ...header });
  }

  /**
   * Misbehave on `path` (default 'jwks.json'; '*' = every IdP path) for the
   * next `times` requests, or until clear(). Exactly one behaviour per call
   * (plus an optional delayMs):
   *   status (+ retryAfter for 429), html, redirect ('loop' | path | URL,
   *   with redirectStatus, default 302), emptyKeys, notJson, drop,
   *   body (+ contentType), or delayMs alone (slow but correct answer).
   */
  misbehave(spec) {
    const { path = 'jwks.json', times, ...rest } = spec ?? {};
    if (path !== '*' && !IDP_PATHS.includes(path)) throw new TypeError(`unknown IdP path ${path}; one of ${IDP_PATHS.join(', ')} or *`);
    const kinds = ['status', 'html', 'redirect', 'emptyKeys', 'notJson', 'drop', 'body'].filter((k) => rest[k] !== undefined && rest[k] !== false);
    if (kinds.length > 1) throw new TypeError(`misbehave takes one behaviour at a time, got ${kinds.join(', ')}`);
    if (kinds.length === 0 && rest.delayMs === undefined) throw new TypeError('misbehave needs a behaviour or delayMs');
    this.#misbehaviour.add(path, rest, times);
  }

  /** Stop misbehaving. */
  clear() {
    this.#misbehaviour.clear();
  }

  state() {
    return { name: this.name, issuer: this.issuer, jwksUrl: this.jwksUrl, contentType: this.contentType, audience: this.audience, signingKid: this.#signingKid, nextKid: this.#nextKid, keys: this.keys, body: this.#raw !== null ? this.#raw : undefined, misbehaviour: this.#misbehaviour.list() };
  }

  discovery() {
    const algs = [...new Set(this.keys.map((k) => k?.alg).filter((a) => typeof a === 'string'))];
    return {
      issuer: this.issuer,
      jwks_uri: this.jwksUrl,
      authorization_endpoint: `${this.issuer}/authorize`,
      token_endpoint: `${this.issuer}/token`,
      response_types_supported: ['code', 'id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: algs.length ? algs : ['RS256'],
    };
  }

  /**
   * Answer GET /idp/{name}/{sub}. Returns a response description
   * {status, headers, body, delayMs?, drop?} for the server to send.
   */
  respond(sub, method) {
    if (!IDP_PATHS.includes(sub)) return json(404, { error: 'not_found', path: `/idp/${this.name}/${sub}` });
    if (method !== 'GET' && method !== 'HEAD') return { ...json(405, { error: 'method_not_allowed' }), headers: { 'content-type': 'application/json', allow: 'GET, HEAD' } };
    const spec = this.#misbehaviour.take(sub) ?? {};
    const out = this.#behave(sub, spec);
    if (spec.delayMs) out.delayMs = spec.delayMs;
    return out;
  }

  #behave(sub, spec) {
    if (spec.drop) return { drop: true };
    if (spec.redirect !== undefined) {
      let to = spec.redirect === 'loop' ? `/idp/${this.name}/${sub}` : spec.redirect;
      if (to.startsWith('/')) to = this.origin() + to;
      return { status: spec.redirectStatus ?? 302, headers: { location: to, 'content-type': 'text/html' }, body: `<a href="${to}">Found</a>\n` };
    }
    if (spec.status !== undefined) {
      const headers = { 'content-type': 'text/plain' };
      if (spec.retryAfter !== undefined) headers['retry-after'] = String(spec.retryAfter);
      return { status: spec.status, headers, body: `${spec.status} error injected by the emulator\n` };
    }
    if (spec.html) return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: HTML_PAGE };
    if (spec.emptyKeys) return { status: 200, headers: { 'content-type': this.contentType }, body: '{"keys":[]}' };
    if (spec.notJson) return { status: 200, headers: { 'content-type': this.contentType }, body: NOT_JSON };
    if (spec.body !== undefined) return { status: 200, headers: { 'content-type': spec.contentType ?? this.contentType }, body: String(spec.body) };
    if (sub === '.well-known/openid-configuration') return json(200, this.discovery());
    return { status: 200, headers: { 'content-type': this.contentType, 'cache-control': 'public, max-age=300' }, body: this.body };
  }
}

function json(status, value) {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}
