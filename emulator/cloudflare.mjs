// The Cloudflare API face: token validation configurations under /client/v4.

import { STATUS_CODES } from 'node:http';
import { CODES, BY_CODE, DOCUMENTATION_URL_403 } from './codes.mjs';
import { checkCredentials, publicView } from './keys.mjs';
import { RuleList } from './faults.mjs';

export const CF_BASE_PATH = '/client/v4';
export const DEFAULT_ZONE_ID = '023e105f4ecef8ad9ca31a8372d0c353';
export const DEFAULT_CONFIG_ID = '4a7ee8d3-dd63-4ceb-9d5f-c27831854ce7';
export const DEFAULT_TOKEN = 'test-cf-api-token';
export const DEFAULT_MAX_KEYS = 16;
/** Route names, for fault injection and request filtering. */
export const CF_ROUTES = Object.freeze(['listConfigs', 'getConfig', 'putCredentials', 'patchCredentials']);
export const PUT_RESPONSE_SHAPES = Object.freeze(['top', 'result', 'both']);
const PAGE_DEFAULT = 20;
const PAGE_MAX = 50;

const ROUTE_RE = /^\/zones\/([^/]+)\/token_validation\/config(?:\/([^/]+)(\/credentials)?)?\/?$/;

/** The v4 envelope. */
export function envelope({ success = true, errors = [], messages = [], result = null, ...extra } = {}) {
  return { success, errors, messages, result, ...extra };
}

function reply(status, body, headers = {}) {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

function failure(kind, message, extra = {}) {
  const c = CODES[kind];
  return reply(extra.status ?? c.status, envelope({ success: false, errors: [{ code: c.code, message: message ?? c.message }] }));
}

/**
 * One `errors[]` entry for an injected fault, shaped as the API shapes it: every 403 carries
 * `documentation_url` (changelog 2026-08-20), and a 6003 carries its cause 6111 in `error_chain`.
 */
function faultError(status, code, message) {
  const e = { code, message: message ?? BY_CODE[code]?.message ?? STATUS_CODES[status] ?? 'Injected fault' };
  if (code === CODES.BAD_HEADERS.code) e.error_chain = [{ code: CODES.BAD_AUTHORIZATION_FORMAT.code, message: CODES.BAD_AUTHORIZATION_FORMAT.message }];
  if (status === 403) e.documentation_url = DOCUMENTATION_URL_403;
  return e;
}

export class CloudflareApi {
  #configs = new Map(); // "zone/config" -> config
  #faults = new RuleList();
  #dropKids = new Set();
  #rateLimit = null; // { retryAfter } when on

  constructor({ token = DEFAULT_TOKEN, maxKeys = DEFAULT_MAX_KEYS, configs, putResponseShape = 'result', patchSupported = true } = {}) {
    if (!Number.isInteger(maxKeys) || maxKeys < 0) throw new TypeError(`maxKeys must be a non-negative integer, got ${maxKeys}`);
    this.token = token;
    this.maxKeys = maxKeys;
    this.setPutResponseShape(putResponseShape);
    this.setPatchSupported(patchSupported);
    for (const c of configs ?? [{ zoneId: DEFAULT_ZONE_ID, configId: DEFAULT_CONFIG_ID }]) this.addConfig(c);
  }

  setPutResponseShape(shape) {
    if (!PUT_RESPONSE_SHAPES.includes(shape)) throw new TypeError(`putResponseShape must be one of ${PUT_RESPONSE_SHAPES.join(', ')}`);
    this.putResponseShape = shape;
  }

  /** With `false`, PATCH …/credentials answers 405 / 7001, as an API without the route would. */
  setPatchSupported(on) {
    this.patchSupported = Boolean(on);
  }

  addConfig({ zoneId, configId, title, description, tokenSources, keys = [] }) {
    if (!zoneId || !configId) throw new TypeError('a configuration needs zoneId and configId');
    const now = new Date().toISOString();
    this.#configs.set(`${zoneId}/${configId}`, {
      zoneId,
      id: configId,
      token_type: 'JWT',
      title: title ?? 'JWT configuration',
      description: description ?? 'Emulated token validation configuration.',
      token_sources: tokenSources ?? ['http.request.headers["authorization"][0]'],
      credentials: { keys: structuredClone(keys) },
      created_at: now,
      last_updated: now,
    });
  }

  #config(zoneId, configId) {
    const c = this.#configs.get(`${zoneId}/${configId}`);
    if (!c) throw Object.assign(new Error(`no configuration ${configId} in zone ${zoneId}`), { status: 404 });
    return c;
  }

  /** The stored keys as stored, symmetric secrets included (test set-up and assertions only). */
  storedKeys(zoneId = DEFAULT_ZONE_ID, configId = DEFAULT_CONFIG_ID) {
    return structuredClone(this.#config(zoneId, configId).credentials.keys);
  }

  /** Overwrite stored keys directly, without the PUT checks (test set-up). */
  setStoredKeys(zoneId, configId, keys) {
    if (!Array.isArray(keys)) throw new TypeError('setStoredKeys expects an array of JWKs');
    const c = this.#config(zoneId, configId);
    c.credentials.keys = structuredClone(keys);
    c.last_updated = new Date().toISOString();
  }

  configs() {
    return [...this.#configs.values()].map((c) => ({ zoneId: c.zoneId, ...this.#view(c) }));
  }

  /**
   * What the validating edge (edge.mjs) needs of a configuration: its stored credentials as
   * stored (secret members included: a symmetric key's `k`, which no API answer shows) and its
   * token sources. Throws (status 404) when unknown.
   */
  validationSettings(zoneId, configId) {
    const c = this.#config(zoneId, configId);
    return { keys: structuredClone(c.credentials.keys), tokenSources: [...c.token_sources] };
  }

  /** A configuration as answers show it: no zone id, and no symmetric key's `k`. */
  #view(c) {
    const { zoneId, ...rest } = c;
    const view = structuredClone(rest);
    view.credentials.keys = view.credentials.keys.map(publicView);
    return view;
  }

  /**
   * Inject a fault on a route ('listConfigs' | 'getConfig' | 'putCredentials' | 'patchCredentials' | '*').
   * spec: { status, code?, message?, body?, retryAfter?, apply?, delayMs?, malformed?, drop?, times? }.
   * `body` answers that text (text/plain) instead of an envelope, as a gateway does; `apply`
   * makes a write take effect before the fault answers (a lost answer).
   */
  fault({ route = '*', times, ...spec } = {}) {
    if (route !== '*' && !CF_ROUTES.includes(route)) throw new TypeError(`unknown route ${route}; one of ${CF_ROUTES.join(', ')} or *`);
    if (spec.body !== undefined && spec.status === undefined) throw new TypeError('a fault with a body needs a status');
    if (spec.status === undefined && !spec.malformed && !spec.drop && spec.delayMs === undefined) {
      throw new TypeError('a fault needs status, malformed, drop or delayMs');
    }
    this.#faults.add(route, spec, times);
  }

  clearFaults() {
    this.#faults.clear();
    this.#dropKids.clear();
  }

  dropKidOnPut(kid) {
    this.#dropKids.add(kid);
  }

  rateLimit(on, retryAfterSeconds = 60) {
    this.#rateLimit = on ? { retryAfter: Math.max(1, Math.ceil(retryAfterSeconds)) } : null;
  }

  faultState() {
    return { faults: this.#faults.list(), dropKids: [...this.#dropKids], rateLimit: this.#rateLimit };
  }

  /** Name the route of a path under /client/v4 (for recording), or null. */
  static routeOf(method, rest) {
    const m = ROUTE_RE.exec(rest);
    if (!m) return null;
    const [, , configId, credentials] = m;
    if (credentials) return { PUT: 'putCredentials', PATCH: 'patchCredentials' }[method] ?? 'methodNotAllowed';
    if (configId) return method === 'GET' ? 'getConfig' : 'methodNotAllowed';
    return method === 'GET' ? 'listConfigs' : 'methodNotAllowed';
  }

  /**
   * Answer one request. `rest` is the path after /client/v4, `query` a
   * URLSearchParams, `body` the parsed JSON body (undefined when absent or not JSON).
   */
  respond({ method, rest, query, headers, body }) {
    if (this.#rateLimit) {
      return reply(429, envelope({ success: false, errors: [{ code: CODES.RATE_LIMITED.code, message: CODES.RATE_LIMITED.message }] }), { 'retry-after': String(this.#rateLimit.retryAfter) });
    }
    const route = CloudflareApi.routeOf(method, rest);
    const fault = route && route !== 'methodNotAllowed' ? this.#faults.take(route) : null;
    const out = this.#answer(route, { method, rest, query, headers, body }, fault);
    if (fault?.delayMs) out.delayMs = fault.delayMs;
    return out;
  }

  #answer(route, req, fault) {
    if (fault?.apply) {
      // The write takes effect, and its answer is lost: the fault answers instead.
      this.#answer(route, req, null);
      return this.#answer(route, req, { ...fault, apply: false });
    }
    if (fault?.drop) return { drop: true };
    if (fault?.malformed) {
      return { status: fault.status ?? 200, headers: { 'content-type': 'application/json' }, body: '{"success":true,"errors":[],"messages":[],"result":{"id":' };
    }
    if (fault?.status !== undefined) {
      const headers = fault.status === 429 ? { 'retry-after': String(fault.retryAfter ?? 60) } : {};
      if (fault.body !== undefined) return { status: fault.status, headers: { 'content-type': 'text/plain', ...headers }, body: String(fault.body) };
      const byStatus = { 403: CODES.AUTH, 404: CODES.BAD_OBJECT_ID, 405: CODES.METHOD_NOT_ALLOWED, 429: CODES.RATE_LIMITED }[fault.status];
      const code = fault.code ?? byStatus?.code ?? CODES.INJECTED_FAULT.code;
      const message = fault.message ?? (fault.status === 405 && fault.code === undefined ? `Method ${req.method} not available for that URI.` : undefined);
      return reply(fault.status, envelope({ success: false, errors: [faultError(fault.status, code, message)] }), headers);
    }
    if (!this.#authorized(req.headers.authorization)) {
      return reply(403, envelope({ success: false, errors: [{ code: CODES.AUTH.code, message: CODES.AUTH.message, documentation_url: DOCUMENTATION_URL_403 }] }));
    }
    if (route === null) return failure('NO_ROUTE');
    if (route === 'methodNotAllowed') return failure('METHOD_NOT_ALLOWED', `Method ${req.method} not available for that URI.`);
    const [, zoneId, configId] = ROUTE_RE.exec(req.rest);
    const notFound = () => failure('BAD_OBJECT_ID', `Could not route to ${req.rest.replace(/\/$/, '')}, perhaps your object identifier is invalid?`);
    if (route === 'listConfigs') {
      const inZone = [...this.#configs.values()].filter((c) => c.zoneId === zoneId);
      if (inZone.length === 0) return notFound();
      return this.#list(inZone, req.query);
    }
    const config = this.#configs.get(`${zoneId}/${configId}`);
    if (!config) return notFound();
    if (route === 'getConfig') return reply(200, envelope({ result: this.#view(config) }));
    if (route === 'patchCredentials' && !this.patchSupported) return failure('METHOD_NOT_ALLOWED', 'Method PATCH not available for that URI.');
    // putCredentials, patchCredentials
    const stored = route === 'patchCredentials' ? config.credentials.keys : undefined;
    const outcome = checkCredentials(req.body, { maxKeys: this.maxKeys, dropKids: this.#dropKids, stored });
    if (!outcome.ok) return reply(outcome.status, envelope({ success: false, errors: outcome.errors }));
    config.credentials.keys = outcome.keys;
    config.last_updated = new Date().toISOString();
    // UNCONFIRMED: whether the PATCH answer has the PUT answer's shape; the same here.
    const keys = outcome.keys.map(publicView);
    const answer = { success: true, errors: [], messages: outcome.messages };
    if (this.putResponseShape !== 'result') answer.keys = keys;
    if (this.putResponseShape !== 'top') answer.result = { keys: structuredClone(keys) };
    return reply(200, answer);
  }

  #authorized(header) {
    if (typeof header !== 'string') return false;
    const m = /^Bearer +(.+)$/i.exec(header);
    return m !== null && m[1] === this.token;
  }

  #list(configs, query) {
    const num = (name, dflt, max) => {
      const raw = query.get(name);
      if (raw === null) return dflt;
      const n = Number(raw);
      return Number.isInteger(n) && n >= 1 && n <= max ? n : NaN;
    };
    const page = num('page', 1, Number.MAX_SAFE_INTEGER);
    const perPage = num('per_page', PAGE_DEFAULT, PAGE_MAX);
    if (Number.isNaN(page)) return failure('INVALID_PAGINATION', 'page must be an integer >= 1');
    if (Number.isNaN(perPage)) return failure('INVALID_PAGINATION', `per_page must be an integer from 1 to ${PAGE_MAX}`);
    const slice = configs.slice((page - 1) * perPage, page * perPage);
    return reply(200, envelope({
      result: slice.map((c) => this.#view(c)),
      result_info: { page, per_page: perPage, count: slice.length, total_count: configs.length, total_pages: Math.ceil(configs.length / perPage) },
    }));
  }
}
