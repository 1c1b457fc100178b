// `make run`'s demo (scripts/demo.mjs) end to end: the real script, a real `wrangler dev` running the
// built Worker, and a SECOND emulator standing in for the real Cloudflare API (and for the user's own
// IdP), to check that the demo never writes there unless told to, and that a failing IdP stops it
// cleanly. Needs the built Worker (scripts/test.sh builds before running this).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, readFileSync, rmSync, mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { startEmulator } from '../../emulator/index.mjs';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const ZONE = '0123456789abcdef0123456789abcdef';
const CONFIG = '11111111-2222-4333-8444-555555555555';
const TOKEN = 'stand-in-for-a-real-api-token';

/** The stand-in for the real API: one configuration that already holds a key, and an IdP `own`. */
let real;
let liveBefore;
before(async () => {
  real = await startEmulator({ token: TOKEN, configs: [{ zoneId: ZONE, configId: CONFIG, title: 'production' }], idps: ['own'] });
  // One key the IdP publishes and one it does not: a sync keeps one live key, so the no-overlap
  // guard (FULL_REPLACEMENT_REFUSED) lets it through.
  real.setStoredKeys(ZONE, CONFIG, [real.idp('own').keys[0], real.idp('own').generateKey({ alg: 'ES256' })]);
  liveBefore = real.storedKeys(ZONE, CONFIG);
});
after(() => real.close());

const realCf = () => ({ CF_API_TOKEN: TOKEN, CF_ZONE_ID: ZONE, CF_TOKEN_CONFIG_ID: CONFIG, CF_API_BASE: real.cfApiBase });
const writes = () => real.requests.filter((r) => r.method === 'PUT' || r.method === 'PATCH');

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Runs `node scripts/demo.mjs` with only `env` of the demo's settings (the rest of the environment is
 * inherited, minus any setting the demo reads), stdin not a terminal. Resolves to { code, out, err }
 * with colour codes removed. Killed (and failed) after `timeoutMs`.
 */
async function demo(env, { args = [], timeoutMs = 400_000, answer } = {}) {
  const base = { ...process.env };
  for (const k of Object.keys(base)) {
    if (/^(JWKS_URL|OIDC_ISSUER|CF_|DEMO_|DRY_RUN$|MAX_KEYS$|RSA_DEFAULT_ALG$|JWKS_KEYS_POINTER$|FETCH_TIMEOUT_MS$)/.test(k)) delete base[k];
  }
  // With `answer`, stdin is a terminal (util-linux `script` runs the demo in a pseudo-terminal),
  // and `answer` is typed when the demo asks.
  const [cmd, argv] = answer === undefined ? [process.execPath, ['scripts/demo.mjs', ...args]] : ['script', ['-qefc', `node scripts/demo.mjs ${args.join(' ')}`, '/dev/null']];
  const child = spawn(cmd, argv, {
    cwd: repo,
    env: { ...base, DEMO_PORT: String(await freePort()), ...env },
    stdio: [answer === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
    if (answer !== undefined && out.includes('press Enter to preview only: ')) {
      child.stdin.write(`${answer}\n`);
      answer = undefined;
    }
  });
  child.stderr.on('data', (d) => (err += d));
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }, timeoutMs);
  const code = await new Promise((r) => child.on('close', (c, sig) => r(c ?? sig)));
  clearTimeout(timer);
  return { code, out: stripVTControlCharacters(out).replace(/\r\n/g, '\n'), err: stripVTControlCharacters(err) };
}
const noTerminal = spawnSync('script', ['--version']).status !== 0 && 'util-linux `script` (a pseudo-terminal) is not installed';

test('with the emulated IdP, CF_* in the environment are not used: the real API is never called', async () => {
  real.clearRequests();
  const r = await demo(realCf());
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /CF_API_TOKEN, CF_ZONE_ID and CF_TOKEN_CONFIG_ID are set but not used: with the emulated IdP the demo writes only to the emulated Cloudflare API/);
  assert.match(r.out, /Cloudflare API: {4}emulated, http:\/\/127\.0\.0\.1:\d+\/client\/v4/);
  for (const step of ['Preview', 'First sync', 'Second sync', 'Unannounced rotation', 'Announced rotation', 'The IdP retires', 'A failure at the IdP', 'Run history', 'Freshness']) {
    assert.match(r.out, new RegExp(`── \\d+\\. ${step}`));
  }
  // What the steps show (each step also fails the demo when it does not happen).
  assert.match(r.out, /token signed with key-2 ES256 \(before the sync\) → edge: 401 refused, no key for kid\/alg\n/);
  assert.match(r.out, /token signed with key-2 ES256 \(the same token, after the tick\) → edge: 200 accepted\n/);
  assert.match(r.out, /token signed with key-3 PS256 \(its first token\) → edge: 200 accepted\n/);
  assert.match(r.out, /retained: key-1 RS256: missing at the IdP since \S+, stays live until \S+\n/);
  assert.match(r.out, /token signed with key-1 RS256 \(the token from the first sync\) → edge: 401 refused, no key for kid\/alg\n/);
  assert.match(r.out, /heartbeat → failure ping \(HEARTBEAT_FAIL_URL\)\nno alert \(no change of state\)\n/);
  assert.match(r.out, /alert → webhook: recovered: /);
  assert.match(r.out, /GET \/healthz → 503 \{"status":"stale"/);
  assert.match(r.out, /demo complete/);
  assert.doesNotMatch(r.out, /logs kept in/);
  assert.deepEqual(real.requests, []);
  assert.deepEqual(real.storedKeys(ZONE, CONFIG), liveBefore);
});

test('with your IdP and the emulated API: preview, syncs and a cron tick, without the rotation story', async () => {
  real.clearRequests();
  const r = await demo({ JWKS_URL: real.jwksUrl('own') });
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /Cloudflare API: {4}emulated, /);
  assert.match(r.out, /── 3\. First sync \(POST \/\): the IdP keys are pushed\n(.*\n){4}live in the emulated Cloudflare: /);
  assert.match(r.out, /── 5\. Cron tick .*\ncron tick: GET \/__scheduled → HTTP 200, dry_run false\ntarget default: unchanged \(run 3\)\n/);
  assert.doesNotMatch(r.out, /token signed|alert|heartbeat|rotation|retires|healthz/);
  assert.match(r.out, /demo complete/);
  // The stand-in IdP was read; the stand-in for the real API was not called.
  assert.ok(real.requestsTo({ face: 'idp' }).length >= 3);
  assert.deepEqual(real.requests.filter((q) => q.face !== 'idp'), []);
});

test('with your IdP and the real API, the demo previews only and writes nothing', async () => {
  real.clearRequests();
  const r = await demo({ ...realCf(), JWKS_URL: real.jwksUrl('own') });
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, new RegExp(`Cloudflare API: {4}REAL \\(${real.cfApiBase.replace(/[./]/g, '\\$&')}\\), zone ${ZONE}, configuration ${CONFIG}: preview only, nothing is written`));
  assert.match(r.out, new RegExp(`preview complete: nothing was written\\. To let the demo write to configuration ${CONFIG}, run it again with DEMO_WRITE_REAL=${CONFIG}\\.`));
  assert.match(r.out, /would_update/);
  assert.doesNotMatch(r.out, /First sync|Cron tick/);
  // It did talk to the stand-in (the preview read what is live there), and never wrote.
  assert.ok(real.requestsTo({ route: 'getConfig' }).length >= 1);
  assert.deepEqual(writes(), []);
  assert.deepEqual(real.storedKeys(ZONE, CONFIG), liveBefore);
});

test('DEMO_WRITE_REAL naming another configuration refuses to start', async () => {
  real.clearRequests();
  const r = await demo({ ...realCf(), JWKS_URL: real.jwksUrl('own'), DEMO_WRITE_REAL: 'yes' });
  assert.equal(r.code, 2);
  assert.equal(
    r.err.trim(),
    `demo: DEMO_WRITE_REAL is "yes", which is not CF_TOKEN_CONFIG_ID (${CONFIG}): it must name the configuration the demo may write to; nothing was started`,
  );
  assert.equal(r.out, '');
  assert.deepEqual(real.requests, []);
});

test('with DEMO_WRITE_REAL=<configuration id> the demo syncs the real configuration', async () => {
  real.clearRequests();
  const r = await demo({ ...realCf(), JWKS_URL: real.jwksUrl('own'), DEMO_WRITE_REAL: CONFIG });
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /: this run WRITES to it/);
  assert.match(r.out, /Cron tick/);
  assert.match(r.out, /cron tick: GET \/__scheduled → HTTP 200, dry_run false\ntarget default: unchanged/);
  assert.equal(real.requestsTo({ route: 'putCredentials' }).length, 1);
  assert.deepEqual(
    real.storedKeys(ZONE, CONFIG).map((k) => k.kid),
    real.idp('own').keys.map((k) => k.kid),
  );
  real.setStoredKeys(ZONE, CONFIG, liveBefore);
});

test('in a terminal, typing the configuration id lets the demo write to it', { skip: noTerminal }, async () => {
  real.clearRequests();
  const r = await demo({ ...realCf(), JWKS_URL: real.jwksUrl('own') }, { answer: CONFIG });
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, new RegExp(`The Cloudflare API is real: zone ${ZONE}, token validation configuration ${CONFIG}\\.\n`));
  assert.match(r.out, /: this run WRITES to it/);
  assert.equal(real.requestsTo({ route: 'putCredentials' }).length, 1);
  real.setStoredKeys(ZONE, CONFIG, liveBefore);
});

test('in a terminal, anything but the configuration id previews only', { skip: noTerminal }, async () => {
  real.clearRequests();
  const r = await demo({ ...realCf(), JWKS_URL: real.jwksUrl('own') }, { answer: 'yes' });
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /preview only, nothing is written/);
  assert.match(r.out, new RegExp(`run it again with DEMO_WRITE_REAL=${CONFIG} or type the id when asked\\.`));
  assert.deepEqual(writes(), []);
  assert.deepEqual(real.storedKeys(ZONE, CONFIG), liveBefore);
});

test('an unreachable IdP: the step that failed is named, its dependents skipped, the logs kept', async () => {
  const closed = await freePort();
  const r = await demo({ JWKS_URL: `http://127.0.0.1:${closed}/jwks`, FETCH_TIMEOUT_MS: '1000' });
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.out, new RegExp(`✗ step 2 \\(preview\\) failed: the preview answered HTTP 502: default: \\[fetch\\] JWKS_UNREACHABLE: no answer from the IdP \\(.*\\); http://127\\.0\\.0\\.1:${closed}/jwks\\n`));
  assert.match(r.out, /── 3\. First sync \(POST \/\): the IdP keys are pushed\nskipped: it needs step "preview", which failed/);
  assert.match(r.out, /── 5\. Cron tick .*\nskipped: it needs step "first-sync", which was skipped/);
  assert.match(r.out, /demo failed at preview; skipped: first-sync, second-sync, cron/);
  assert.doesNotMatch(r.out, /demo complete|SyntaxError/);
  const logs = /logs kept in (\S+)/.exec(r.out)?.[1];
  assert.ok(logs && existsSync(logs), `the logs folder is printed and exists: ${logs}`);
  const wranglerLog = readFileSync(`${logs}/wrangler.log`, 'utf8');
  assert.match(wranglerLog, /JWKS_UNREACHABLE/);
  // One build per run: wrangler dev's [build] command found the Worker already built.
  assert.match(wranglerLog, /\[custom build\] build: up to date/);
  assert.ok(existsSync(`${logs}/emulator-requests.json`));
  rmSync(logs, { recursive: true, force: true });
});

test('wrangler dev failing to start (e.g. its build) is shown with its last lines; nothing else runs', async () => {
  // A stand-in npx whose `wrangler dev` fails the way a broken [build] command does.
  const bin = mkdtempSync(join(tmpdir(), 'jwks-sync-fake-npx-'));
  writeFileSync(
    join(bin, 'npx'),
    '#!/usr/bin/env bash\necho "[custom build] error[E0425]: cannot find value \\`x\\` in this scope"\necho "✘ [ERROR] Running custom build \\`bash scripts/build.sh\\` failed."\nexit 1\n',
  );
  chmodSync(join(bin, 'npx'), 0o755);
  try {
    const r = await demo({ PATH: `${bin}:${process.env.PATH}` });
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(
      r.out,
      /✗ step 1 \(start\) failed: wrangler dev exited \(1\) before the Worker answered; its last lines:\n {4}\[custom build\] error\[E0425\]: cannot find value `x` in this scope\n {4}✘ \[ERROR\] Running custom build `bash scripts\/build\.sh` failed\.\n/,
    );
    assert.match(r.out, /── 2\. Preview .*\nskipped: it needs step "start", which failed/);
    assert.match(r.out, /demo failed at start; skipped: preview, first-sync, second-sync, unannounced, prepublished, retire, idp-failure, status, freshness\n/);
    const logs = /logs kept in (\S+)/.exec(r.out)?.[1];
    assert.ok(logs && existsSync(`${logs}/wrangler.log`));
    rmSync(logs, { recursive: true, force: true });
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test('a busy port is one line naming the port and DEMO_PORT, before anything starts', async () => {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address();
  try {
    for (const args of [['--preflight'], []]) {
      const started = Date.now();
      const r = await demo({ DEMO_PORT: String(port) }, { args });
      assert.equal(r.code, 1);
      assert.equal(r.err, `demo: port ${port} is already in use; set DEMO_PORT to a free port, e.g. DEMO_PORT=8790 make run\n`);
      assert.equal(r.out, '');
      assert.ok(Date.now() - started < 20_000);
    }
  } finally {
    server.close();
  }
});

test('--preflight with good settings and a free port says nothing and succeeds', async () => {
  const r = await demo({}, { args: ['--preflight'] });
  assert.deepEqual(r, { code: 0, out: '', err: '' });
});
