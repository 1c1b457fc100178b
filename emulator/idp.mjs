// The identity-provider face: one `Idp` per name, served under /idp/{name}/.

import { createHash, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { RuleList } from './faults.mjs';

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
const NODE_HASH = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };

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

/** Sign a compact JWS (a JWT) with a generated key. */
export function signJwt(payload, { jwk, privateKey }, header = {}) {
  const h = { alg: jwk.alg, typ: 'JWT', kid: jwk.kid, ...header };
  const input = `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const alg = jwk.alg;
  let sig;
  if (alg === 'EdDSA') sig = cryptoSign(null, Buffer.from(input), privateKey);
  else {
    const hash = NODE_HASH[alg.slice(2)];
    const opts = { key: privateKey };
    if (alg.startsWith('PS')) Object.assign(opts, { padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: Number(alg.slice(2)) / 8 });
    if (alg.startsWith('ES')) opts.dsaEncoding = 'ieee-p1363';
    sig = cryptoSign(hash, Buffer.from(input), opts);
  }
  return `${input}.${sig.toString('base64url')}`;
}

const HTML_PAGE = '<!doctype html>\n<html><head><title>Sign in</title></head><body><h1>Please sign in</h1></body></html>\n';
const NOT_JSON = '{"keys":[{"kty":"RSA","kid":"truncated","n":"0vx7agoebGcQSuu';

export class Idp {
  #doc = { keys: [] }; // parsed document, or null when the served raw text does not parse
  #raw = null; // served verbatim when set (fixtures)
  #privateKeys = new Map();
  #misbehaviour = new RuleList();

  /**
   * @param {string} name
   * @param {() => string} origin returns http://127.0.0.1:PORT once listening
   * @param {{contentType?:string}} [opts]
   */
  constructor(name, origin, { contentType = 'application/json' } = {}) {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new TypeError(`invalid IdP name ${JSON.stringify(name)}`);
    this.name = name;
    this.origin = origin;
    this.contentType = contentType;
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
    return this.keys;
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

  /** Rotation step 1: generate a new key, publish it, return its public JWK. */
  rotate(opts = {}) {
    const jwk = this.generateKey(opts);
    this.addKey(jwk, opts);
    return jwk;
  }

  /** Rotation step 2: stop publishing every key with this kid. Returns how many were removed. */
  retire(kid) {
    if (!this.#doc || !Array.isArray(this.#doc.keys)) throw new Error(`IdP ${this.name} does not serve a JWKS; cannot retire a key`);
    const before = this.#doc.keys.length;
    this.#doc.keys = this.#doc.keys.filter((k) => k?.kid !== kid);
    this.#raw = null;
    return before - this.#doc.keys.length;
  }

  /** Sign a JWT with a key this IdP generated. */
  sign(payload, { kid, header } = {}) {
    const pair = kid ? this.#privateKeys.get(kid) : [...this.#privateKeys.values()].at(-1);
    if (!pair) throw new Error(`IdP ${this.name} holds no private key${kid ? ` for kid ${kid}` : ''}`);
    return signJwt({ iss: this.issuer, ...payload }, pair, header);
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
    return { name: this.name, issuer: this.issuer, jwksUrl: this.jwksUrl, contentType: this.contentType, keys: this.keys, body: this.#raw !== null ? this.#raw : undefined, misbehaviour: this.#misbehaviour.list() };
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
