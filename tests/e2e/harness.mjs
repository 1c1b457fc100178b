// The end-to-end harness: the compiled Worker (build/index.js) in workerd through Miniflare, pointed
// at the local emulator of the Cloudflare API and of identity providers.
import { Miniflare } from 'miniflare';
import { startEmulator, DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID, DEFAULT_TOKEN } from '../../emulator/index.mjs';
import { workerOptions, DURABLE_OBJECTS } from './miniflare.mjs';

const ZONE_ID = DEFAULT_ZONE_ID;
const CONFIG_ID = DEFAULT_CONFIG_ID;

export { DEFAULT_ZONE_ID as ZONE, DEFAULT_CONFIG_ID as CONFIG, DEFAULT_TOKEN as CF_TOKEN };
export const AUTH_TOKEN = 'e2e-sync-auth-token-0123456789';
/**
 * Where the emulated Cloudflare puts the keys in its PUT and PATCH answers: `result` (the newest
 * schema, the default) or `top` (older SDKs). `scripts/test.sh` runs the write suites under both.
 */
export const PUT_SHAPE = process.env.E2E_PUT_SHAPE || 'result';

/**
 * Starts the emulator and the Worker. `env(emu)` returns the Worker's bindings (vars and secrets);
 * the default is one target synced from the emulator IdP `main`. `emu` reuses a running emulator
 * (then `close()` leaves it running); `persistDir` keeps the Durable Objects' storage there;
 * `miniflare` overrides Miniflare options (e.g. `{ durableObjects: {} }`). `objectEnv(emu)`, when
 * given, runs the Durable Object in a second Worker whose bindings are the first's with these
 * over them: an object that reads other settings than the Worker calling it, as while a deploy
 * rolls out.
 * Returns { emu, mf, logs, fetch(path, init), get(path), post(path), status(), health(),
 * rollback(body), scheduled(), close() }.
 */
export async function start({ env, emulator = {}, emu: shared, persistDir, miniflare = {}, objectEnv } = {}) {
  const emu = shared ?? (await startEmulator({ idps: ['main'], putResponseShape: PUT_SHAPE, ...emulator }));
  const bindings = {
    CF_API_BASE: emu.cfApiBase,
    CF_API_TOKEN: DEFAULT_TOKEN,
    SYNC_AUTH_TOKEN: AUTH_TOKEN,
    ...(env ? env(emu) : defaultEnv(emu)),
  };
  for (const [k, v] of Object.entries(bindings)) if (v === undefined) delete bindings[k];
  const logs = [];
  const collect = (stream) => {
    let buf = '';
    stream.on('data', (chunk) => {
      buf += chunk;
      const lines = buf.split('\n');
      buf = lines.pop();
      logs.push(...lines.filter((l) => l.trim() !== ''));
    });
  };
  const options = workerOptions({
    bindings,
    persistDir,
    handleRuntimeStdio: (stdout, stderr) => {
      collect(stdout);
      collect(stderr);
    },
  });
  const mf = new Miniflare({ ...(objectEnv ? twoWorkers(options, { ...bindings, ...objectEnv(emu) }) : options), ...miniflare });
  const url = await mf.ready;
  const auth = { authorization: `Bearer ${AUTH_TOKEN}` };
  const h = {
    emu,
    mf,
    logs,
    fetch: (path, init) => mf.dispatchFetch(new URL(path, url), init),
    async get(path = '/', headers = auth) {
      const r = await h.fetch(path, { headers });
      return { status: r.status, headers: r.headers, body: await r.json() };
    },
    async post(path = '/', headers = auth) {
      const r = await h.fetch(path, { method: 'POST', headers });
      return { status: r.status, headers: r.headers, body: await r.json() };
    },
    /** `GET /status`, authenticated. */
    status: () => h.get('/status'),
    /** `GET /healthz`, unauthenticated. */
    health: () => h.get('/healthz', {}),
    /** `POST /rollback` with a JSON body (an object, or text as it is). */
    async rollback(body, headers = auth) {
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      const r = await h.fetch('/rollback', { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: text });
      return { status: r.status, headers: r.headers, body: await r.json() };
    },
    async scheduled(cron = '*/5 * * * *') {
      const worker = await mf.getWorker();
      return worker.scheduled({ cron });
    },
    /** The JSON log lines the Worker wrote (waits briefly for stdio to drain). */
    async logLines() {
      await new Promise((r) => setTimeout(r, 100));
      return logs.flatMap((l) => {
        const i = l.indexOf('{');
        if (i < 0) return [];
        try {
          return [JSON.parse(l.slice(i))];
        } catch {
          return [];
        }
      });
    },
    puts: () => emu.requestsTo({ route: 'putCredentials' }),
    async close() {
      await mf.dispose();
      if (!shared) await emu.close();
    },
  };
  return h;
}

/** Miniflare options with the Worker of `options` first, and its Durable Object in a second Worker with `objectBindings`. */
function twoWorkers(options, objectBindings) {
  const { durableObjectsPersist, handleRuntimeStdio, ...worker } = options;
  const objects = { ...DURABLE_OBJECTS.TARGET_STATE, scriptName: 'objects' };
  return {
    durableObjectsPersist,
    handleRuntimeStdio,
    workers: [
      { ...worker, name: 'worker', durableObjects: { TARGET_STATE: objects } },
      { ...worker, name: 'objects', bindings: objectBindings },
    ],
  };
}

/** The default bindings of `start()`, to extend in a test's `env`. */
export const defaultEnv = (emu) => ({ JWKS_URL: emu.jwksUrl('main'), CF_ZONE_ID: ZONE_ID, CF_TOKEN_CONFIG_ID: CONFIG_ID, FETCH_TIMEOUT_MS: '500' });

/** `{kid, alg}` of each key, for compact assertions. */
export const ids = (keys) => keys.map((k) => ({ kid: k.kid, alg: k.alg }));

/** Polls `check` every 20 ms until it returns true; fails after `timeoutMs`. */
export async function waitFor(check, timeoutMs = 10_000, what = 'condition') {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
