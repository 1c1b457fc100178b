// Local emulator of the Cloudflare token validation API and of identity
// providers, for demos and end-to-end tests of the jwks-sync Worker.
// See emulator/README.md for the API.
//
// Layout:
//   index.mjs      startEmulator(): the HTTP server, request log, control routes
//   cloudflare.mjs the /client/v4 face (configs, PUT credentials, faults, rate limit)
//   keys.mjs       the documented credential rules (pure)
//   idp.mjs        the /idp/{name}/ face (JWKS, discovery, signing keys and rotation, misbehaviour)
//   edge.mjs       the /edge/{zone}/{config}/ face: validates JWTs as API Shield does
//   jose.mjs       JWS signing and verification with node:crypto
//   sinks.mjs      the /sink/{name} receivers of alert webhooks and heartbeat pings
//   faults.mjs     "next N requests / until cleared" rule lists
//   codes.mjs      every error code, confirmed or chosen
//   cli.mjs        the command line

import { createServer } from 'node:http';
import { CloudflareApi, CF_BASE_PATH, DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID } from './cloudflare.mjs';
import { publicView } from './keys.mjs';
import { Idp } from './idp.mjs';
import { Sink, SINK_PATH } from './sinks.mjs';
import { edgeRespond, validateJwt } from './edge.mjs';

export { CODES } from './codes.mjs';
export { checkCredentials, publicView } from './keys.mjs';
export { generateKeyPair, signJwt, thumbprint, DEFAULT_TOKEN_TTL_S } from './idp.mjs';
export { validateJwt, tokenFrom, REASONS, CLOCK_SKEW_S } from './edge.mjs';
export { DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID, DEFAULT_TOKEN, DEFAULT_MAX_KEYS, CF_ROUTES } from './cloudflare.mjs';

export const CONTROL_PATH = '/__emulator';
/** The validating edge: /edge/{zone}/{config}/{any path}. */
export const EDGE_PATH = '/edge';
const EDGE_RE = /^\/edge\/([^/]+)\/([^/]+)(?:\/.*)?$/;
/** Longest delay any fault may ask for; every timer is bounded by this. */
export const MAX_DELAY_MS = 120_000;
const MAX_BODY_BYTES = 1 << 20;
const REDACTED_HEADERS = ['authorization', 'x-auth-key', 'cookie', 'cf-access-client-secret'];

function redact(headers) {
  const out = { ...headers };
  for (const h of REDACTED_HEADERS) {
    if (out[h] === undefined) continue;
    const m = /^(\w+) /.exec(out[h]);
    out[h] = h === 'authorization' && m ? `${m[1]} [redacted]` : '[redacted]';
  }
  return out;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(Object.assign(new Error('body too large'), { tooLarge: true }));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text) {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function matches(record, filter) {
  if (filter === undefined) return true;
  if (typeof filter === 'function') return filter(record);
  if (typeof filter === 'string') return record.route === filter || record.path === filter;
  return Object.entries(filter).every(([k, v]) => {
    if (v instanceof RegExp) return v.test(String(record[k]));
    return record[k] === v;
  });
}

/**
 * Start the emulator.
 * @param {object} [options]
 * @param {number} [options.port=0] 0 picks a free port
 * @param {string} [options.host='127.0.0.1']
 * @param {string} [options.token='test-cf-api-token'] the API token the Cloudflare face accepts
 * @param {number} [options.maxKeys=16] keys allowed per configuration
 * @param {{zoneId:string, configId:string, title?:string, keys?:object[]}[]} [options.configs]
 * @param {(string|{name:string, fixture?:string, keys?:object[], generate?:object[], contentType?:string, audience?:string})[]} [options.idps] the first generated key of each signs
 * @param {'top'|'result'|'both'} [options.putResponseShape='result'] where the PUT and PATCH answers carry the keys
 * @param {boolean} [options.patchSupported=true] false: PATCH …/credentials answers 405 / 7001
 * @param {string[]} [options.sinks] sinks to create at once (others are created on first use)
 */
export async function startEmulator({ port = 0, host = '127.0.0.1', token, maxKeys, configs, idps = [], sinks = [], putResponseShape, patchSupported } = {}) {
  let origin = null;
  const getOrigin = () => origin;
  const cf = new CloudflareApi({ token, maxKeys, configs, putResponseShape, patchSupported });
  const idpMap = new Map();
  const sinkMap = new Map();
  const requests = [];
  const timers = new Set();
  let seq = 0;
  let closed = false;

  function idp(name, opts) {
    let i = idpMap.get(name);
    if (!i) {
      i = new Idp(name, getOrigin, opts);
      idpMap.set(name, i);
      if (opts?.fixture) i.loadFixture(opts.fixture);
      else if (opts?.keys) i.setKeys(opts.keys);
      else {
        // The first generated key signs; the others are published beside it.
        const [first, ...rest] = opts?.generate ?? [{ alg: 'RS256' }];
        if (first) i.rotateUnannounced(first);
        for (const g of rest) i.addKey(i.generateKey(g));
      }
    }
    return i;
  }
  function sink(name) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw Object.assign(new Error(`bad sink name ${JSON.stringify(name)}`), { status: 400 });
    let s = sinkMap.get(name);
    if (!s) {
      s = new Sink(name, getOrigin);
      sinkMap.set(name, s);
    }
    return s;
  }
  for (const name of sinks) sink(name);

  for (const spec of idps) {
    const s = typeof spec === 'string' ? { name: spec } : spec;
    idp(s.name, s);
  }

  function sleep(ms) {
    const bounded = Math.min(Math.max(0, Number(ms) || 0), MAX_DELAY_MS);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(entry);
        resolve();
      }, bounded);
      const entry = { t, resolve };
      timers.add(entry);
    });
  }

  async function send(req, res, out, record) {
    if (out.delayMs) await sleep(out.delayMs);
    if (closed || out.drop) {
      if (record) record.status = null;
      req.socket.destroy();
      return;
    }
    if (record) record.status = out.status;
    res.writeHead(out.status, out.headers);
    res.end(out.body);
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://emulator.invalid');
    const path = url.pathname;
    let text;
    try {
      text = await readBody(req);
    } catch (e) {
      if (!res.headersSent && !req.socket.destroyed) {
        res.writeHead(e.tooLarge ? 413 : 400, { 'content-type': 'text/plain' });
        res.end('bad request body\n');
      }
      return;
    }
    const body = parseJson(text);
    if (path === CONTROL_PATH || path.startsWith(`${CONTROL_PATH}/`)) {
      let status = 200;
      let value;
      try {
        value = control(req.method, path.slice(CONTROL_PATH.length), url.searchParams, body ?? {});
      } catch (e) {
        status = e.status ?? 400;
        value = { error: e.message };
      }
      return send(req, res, { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value ?? { ok: true }) });
    }
    const record = {
      seq: ++seq,
      time: new Date().toISOString(),
      method: req.method,
      path,
      query: Object.fromEntries(url.searchParams),
      headers: redact(req.headers),
      body: body !== undefined ? body : text === '' ? null : text,
      face: null,
      route: null,
      status: undefined,
    };
    requests.push(record);
    let out;
    const edge = EDGE_RE.exec(path);
    if (edge) {
      record.face = 'edge';
      record.route = 'edge';
      try {
        out = edgeRespond(cf.validationSettings(decodeURIComponent(edge[1]), decodeURIComponent(edge[2])), req.headers);
      } catch (e) {
        if (e.status !== 404) throw e;
        out = { status: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: e.message }) };
      }
    } else if (path === CF_BASE_PATH || path.startsWith(`${CF_BASE_PATH}/`)) {
      const rest = path.slice(CF_BASE_PATH.length);
      record.face = 'cloudflare';
      record.route = CloudflareApi.routeOf(req.method, rest);
      out = cf.respond({ method: req.method, rest, query: url.searchParams, headers: req.headers, body });
    } else if (path.startsWith(`${SINK_PATH}/`)) {
      const [name, ...rest] = path.slice(SINK_PATH.length + 1).split('/');
      record.face = 'sink';
      record.sink = name;
      record.route = rest.join('/');
      try {
        out = sink(decodeURIComponent(name)).receive({ time: record.time, method: req.method, path: record.route, query: record.query, headers: record.headers, body: record.body });
      } catch (e) {
        out = { status: e.status ?? 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: e.message }) };
      }
    } else {
      const m = /^\/idp\/([^/]+)\/(.*)$/.exec(path);
      const i = m && idpMap.get(m[1]);
      if (i) {
        record.face = 'idp';
        record.idp = i.name;
        record.route = m[2];
        out = i.respond(m[2], req.method);
      } else {
        out = { status: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 'not_found', path }) };
      }
    }
    return send(req, res, out, record);
  }

  // --- control, shared by the JS API and /__emulator ---
  const api = {
    get url() {
      return origin;
    },
    get cfApiBase() {
      return `${origin}${CF_BASE_PATH}`;
    },
    idpUrl: (name) => `${origin}/idp/${name}`,
    edgeUrl: (zoneId = DEFAULT_ZONE_ID, configId = DEFAULT_CONFIG_ID) => `${origin}${EDGE_PATH}/${zoneId}/${configId}`,
    validateToken: (token, { zoneId = DEFAULT_ZONE_ID, configId = DEFAULT_CONFIG_ID, nowS = Math.floor(Date.now() / 1000) } = {}) =>
      validateJwt(token, cf.validationSettings(zoneId, configId).keys, { nowS }),
    jwksUrl: (name) => `${origin}/idp/${name}/jwks.json`,
    issuer: (name) => `${origin}/idp/${name}`,
    discoveryUrl: (name) => `${origin}/idp/${name}/.well-known/openid-configuration`,
    requests,
    requestsTo: (filter) => requests.filter((r) => matches(r, filter)),
    clearRequests: () => void requests.splice(0),
    storedKeys: (zoneId, configId) => cf.storedKeys(zoneId, configId),
    setStoredKeys: (zoneId, configId, keys) => cf.setStoredKeys(zoneId, configId, keys),
    addConfig: (c) => cf.addConfig(c),
    configs: () => cf.configs(),
    fault: (spec) => cf.fault(spec),
    clearFaults: () => cf.clearFaults(),
    rateLimit: (on, retryAfterSeconds) => cf.rateLimit(on, retryAfterSeconds),
    dropKidOnPut: (kid) => cf.dropKidOnPut(kid),
    setPutResponseShape: (shape) => cf.setPutResponseShape(shape),
    setPatchSupported: (on) => cf.setPatchSupported(on),
    get maxKeys() {
      return cf.maxKeys;
    },
    set maxKeys(n) {
      cf.maxKeys = n;
    },
    idp,
    idpNames: () => [...idpMap.keys()],
    sink,
    sinkUrl: (name, sub) => sink(name).url(sub),
    sinkNames: () => [...sinkMap.keys()],
    state: () => ({
      url: origin,
      cfApiBase: api.cfApiBase,
      token: '[redacted]',
      maxKeys: cf.maxKeys,
      putResponseShape: cf.putResponseShape,
      patchSupported: cf.patchSupported,
      configs: cf.configs(),
      ...cf.faultState(),
      idps: [...idpMap.values()].map((i) => i.state()),
      sinks: [...sinkMap.values()].map((k) => ({ name: k.name, url: k.url(), received: k.received.length })),
    }),
    close,
  };

  function control(method, sub, query, body) {
    const post = method === 'POST' || method === 'PUT';
    const parts = sub.split('/').filter(Boolean).map(decodeURIComponent);
    const [head, a, b, c] = parts;
    const notFound = (message) => Object.assign(new Error(message), { status: 404 });
    if (method === 'GET' && (head === undefined || head === 'state')) return api.state();
    if (head === 'requests') {
      if (method === 'GET') {
        const filter = Object.fromEntries(query);
        return api.requestsTo(Object.keys(filter).length ? filter : undefined);
      }
      if (method === 'DELETE' || (post && a === 'clear')) return api.clearRequests(), { ok: true };
    }
    if (head === 'configs') {
      if (post && a === undefined) return api.addConfig(body), { ok: true };
      if (a && b && c === 'keys') {
        // Over HTTP a symmetric key's secret is redacted, as in every answer of the API face.
        if (method === 'GET') return api.storedKeys(a, b).map(publicView);
        if (post) return api.setStoredKeys(a, b, body.keys), { keys: api.storedKeys(a, b).map(publicView) };
      }
    }
    if (post && head === 'fault') return api.fault(body), { ok: true, ...cf.faultState() };
    if (post && head === 'faults' && a === 'clear') return api.clearFaults(), { ok: true };
    if (post && head === 'rate-limit') return api.rateLimit(body.on ?? true, body.retryAfter), { ok: true, ...cf.faultState() };
    if (post && head === 'drop-kid') return api.dropKidOnPut(body.kid), { ok: true, ...cf.faultState() };
    if (post && head === 'put-response-shape') return api.setPutResponseShape(body.shape), { ok: true };
    if (post && head === 'patch-supported') return api.setPatchSupported(body.on ?? true), { ok: true };
    if (post && head === 'max-keys') return (api.maxKeys = Number(body.maxKeys)), { ok: true };
    if (head === 'sink' && a) {
      if (method === 'GET' && b === undefined) return sink(a).state();
      if (post && b === 'respond') return sink(a).respond(body), sink(a).state();
      if (post && b === 'clear') return sink(a).clear(), { ok: true };
    }
    if (head === 'idp' && a) {
      if (method === 'GET' && b === undefined) {
        const i = idpMap.get(a);
        if (!i) throw notFound(`no IdP ${a}`);
        return i.state();
      }
      if (post) {
        if (b === undefined) return idp(a, body).state();
        const i = idp(a);
        switch (b) {
          case 'keys': return { keys: i.setKeys(body.keys) };
          case 'fixture': return { keys: i.loadFixture(body.path) };
          case 'prepublish':
          case 'rotate': return { key: i.prepublish(body) };
          case 'switch': return { key: i.switchSigning(body.kid) };
          case 'rotate-unannounced': return { key: i.rotateUnannounced(body) };
          case 'retire': return { removed: i.retire(body.kid) };
          case 'misbehave': return i.misbehave(body), i.state();
          case 'clear': return i.clear(), { ok: true };
          case 'sign': return { jwt: i.sign(body.payload ?? {}, body) };
          case 'content-type': return (i.contentType = body.contentType), { ok: true };
        }
      }
    }
    throw notFound(`no control route ${method} ${CONTROL_PATH}${sub}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`emulator error: ${e.message}\n`);
      }
    });
  });

  function close() {
    closed = true;
    for (const { t, resolve } of timers) {
      clearTimeout(t);
      resolve();
    }
    timers.clear();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  origin = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
  api.server = server;
  return api;
}
