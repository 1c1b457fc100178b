// What a failed cron run prints where a user sees it: `wrangler dev` (workerd, plus the exceptions
// wrangler receives through its DevTools inspector). The run logs its JSON line and fails with one
// short message, without the wasm call frames an Error made in wasm carries. The invocation stays an
// exception (scheduled.test.mjs checks the outcome; here /__scheduled answers 500).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, openSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { startEmulator, DEFAULT_ZONE_ID, DEFAULT_CONFIG_ID, DEFAULT_TOKEN } from '../../emulator/index.mjs';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let emu;
let wrangler;
let dir;
let url;
const log = () => stripVTControlCharacters(readFileSync(join(dir, 'wrangler.log'), 'utf8'));

before(async () => {
  emu = await startEmulator({ idps: ['main'] });
  dir = mkdtempSync(join(tmpdir(), 'jwks-sync-cron-output-'));
  const vars = {
    JWKS_URL: emu.jwksUrl('main'),
    CF_API_BASE: emu.cfApiBase,
    CF_API_TOKEN: DEFAULT_TOKEN,
    CF_ZONE_ID: DEFAULT_ZONE_ID,
    CF_TOKEN_CONFIG_ID: DEFAULT_CONFIG_ID,
    FETCH_TIMEOUT_MS: '1000',
  };
  writeFileSync(join(dir, 'test.env'), Object.entries(vars).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join('\n') + '\n');
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  url = `http://127.0.0.1:${port}`;
  const out = openSync(join(dir, 'wrangler.log'), 'a');
  wrangler = spawn(
    'npx',
    // --persist-to: a fresh Durable Object storage per run. In .wrangler/state, an object left by a
    // run more than STALE_AFTER ago has never succeeded since: /healthz would stay 503 below.
    ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', String(port), '--test-scheduled', '--env-file', join(dir, 'test.env'), '--persist-to', join(dir, 'state'), '--show-interactive-dev-session=false'],
    { cwd: repo, detached: true, stdio: ['ignore', out, out], env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } },
  );
  closeSync(out);
  const end = Date.now() + 300_000;
  for (;;) {
    assert.equal(wrangler.exitCode, null, `wrangler dev exited:\n${log()}`);
    assert.ok(Date.now() < end, `wrangler dev did not start:\n${log()}`);
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch {}
    await sleep(500);
  }
  // The request line of that /healthz is written a little later; the tests read what follows it.
  for (let i = 0; i < 100 && !log().includes('GET /healthz'); i++) await sleep(100);
});

after(async () => {
  if (wrangler?.exitCode === null) {
    process.kill(-wrangler.pid, 'SIGTERM');
    await new Promise((r) => wrangler.once('exit', r));
  }
  await emu?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the cron trigger; resolves to its HTTP status and the output lines it added (once quiet). */
async function cron() {
  const from = statSync(join(dir, 'wrangler.log')).size;
  const r = await fetch(`${url}/__scheduled?cron=${encodeURIComponent('*/5 * * * *')}`);
  await r.arrayBuffer();
  // Until this request's line is written and nothing more has come for 1 s (at most 30 s).
  const added = () => stripVTControlCharacters(readFileSync(join(dir, 'wrangler.log')).subarray(from).toString('utf8'));
  let size = -1;
  for (let i = 0; i < 30; i++) {
    await sleep(1000);
    const now = statSync(join(dir, 'wrangler.log')).size;
    if (now === size && added().includes('GET /__scheduled')) break;
    size = now;
  }
  const text = added();
  return { status: r.status, lines: text.split('\n').filter((l) => l.trim() !== '') };
}

test('a failed cron run prints its JSON line and one short message, no wasm frames', async () => {
  emu.idp('main').misbehave({ html: true });
  const { status, lines } = await cron();
  emu.idp('main').clear();
  assert.equal(status, 500, lines.join('\n'));
  const json = lines.filter((l) => l.includes('"event":"jwks-sync"'));
  assert.equal(json.length, 1, lines.join('\n'));
  const entry = JSON.parse(json[0].slice(json[0].indexOf('{')));
  assert.deepEqual([entry.trigger, entry.outcome, entry.error.stage, entry.error.code], ['cron', 'failed', 'parse', 'JWKS_HTML']);
  // workerd logs the uncaught rejection once, and wrangler dev prints it again as received from the
  // inspector: the same single line each time, never followed by call frames.
  const uncaught = lines.filter((l) => l.includes('Uncaught'));
  assert.ok(uncaught.length >= 1, lines.join('\n'));
  for (const l of uncaught) assert.equal(l.trim(), '✘ [ERROR] Uncaught Error: jwks-sync: sync failed for default (parse)');
  assert.deepEqual(
    lines.filter((l) => /wasm:\/\/|^\s+at |\$func\d+/.test(l)),
    [],
  );
  const others = lines.filter((l) => !json.includes(l) && !uncaught.includes(l));
  assert.deepEqual(others.map((l) => l.replace(/\(\d+ms\)/, '(…)')), ['[wrangler:info] GET /__scheduled 500 Internal Server Error (…)']);
});

test('a successful cron run prints its JSON line only', async () => {
  const { status, lines } = await cron();
  assert.equal(status, 200);
  assert.deepEqual(
    lines.map((l) => l.replace(/\(\d+ms\)/, '(…)')).filter((l) => !l.includes('"event":"jwks-sync"')),
    ['[wrangler:info] GET /__scheduled 200 OK (…)'],
  );
  assert.equal(lines.filter((l) => l.includes('"outcome":"updated"')).length, 1);
});
