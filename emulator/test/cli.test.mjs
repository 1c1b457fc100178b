// The command line: --help, printed URLs, flags, clean shutdown on signals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseFault } from '../cli-args.mjs';
import { cf, request, fixturePath, credentialsPath, fixture } from './helpers.mjs';

const CLI = fileURLToPath(new URL('../cli.mjs', import.meta.url));

/** Start the CLI and wait (bounded) for its first output block. */
function startCli(args) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI did not start: ${err}`));
    }, 10_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('/__emulator/state\n')) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`CLI exited ${code}: ${err}`));
    });
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out, err })));
  return { child, ready, exited };
}

test('--help prints usage and exits 0', () => {
  const out = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8', timeout: 10_000 });
  assert.match(out, /^Usage: node emulator\/cli\.mjs \[options\]/);
  for (const flag of ['--port', '--token', '--max-keys', '--config', '--idp', '--fault', '--rate-limit', '--drop-kid', '--put-shape', '--no-patch', '--sink']) assert.ok(out.includes(flag), flag);
});

test('bad flags exit 2 with a message', () => {
  assert.throws(() => execFileSync(process.execPath, [CLI, '--port', 'x'], { encoding: 'utf8', stdio: 'pipe', timeout: 10_000 }), (e) => e.status === 2 && /--port x/.test(e.stderr));
  assert.throws(() => execFileSync(process.execPath, [CLI, '--port', '0', '--fault', 'getConfig:explode'], { encoding: 'utf8', stdio: 'pipe', timeout: 10_000 }), (e) => e.status === 2 && /unknown part explode/.test(e.stderr));
});

test('parseFault reads ROUTE:KIND[,times=N]', () => {
  assert.deepEqual(parseFault('putCredentials:status=503,times=2'), { route: 'putCredentials', status: 503, times: 2 });
  assert.deepEqual(parseFault('*:drop'), { route: '*', drop: true });
  assert.deepEqual(parseFault('getConfig:delay=3000,malformed'), { route: 'getConfig', delayMs: 3000, malformed: true });
  assert.deepEqual(parseFault('putCredentials:status=504,apply'), { route: 'putCredentials', status: 504, apply: true });
  assert.throws(() => parseFault('getConfig'), /expected ROUTE:KIND/);
});

test('the CLI serves what its flags say and stops cleanly on SIGTERM', async () => {
  const okta = fixture('okta-default-as-keys.json').keys[0];
  const { child, ready, exited } = startCli([
    '--port', '0', '--token', 'cli-token', '--max-keys', '4',
    '--config', 'zone1:cfg1:My config',
    '--idp', `okta=${fixturePath('okta-default-as-keys.json')}`, '--idp', 'gen',
    '--fault', 'putCredentials:status=503,times=1',
    '--drop-kid', 'gone',
    '--sink', 'webhook',
  ]);
  const out = await ready;
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)[1];
  assert.ok(out.includes(`CF_API_BASE=${url}/client/v4`));
  assert.ok(out.includes(`idp okta: issuer ${url}/idp/okta  jwks ${url}/idp/okta/jwks.json`));
  assert.ok(out.includes(`  edge     ${url}/edge/zone1/cfg1/\n`));
  assert.ok(out.includes(`sink webhook: ${url}/sink/webhook`));
  assert.equal((await request(`${url}/sink/webhook`, { method: 'POST', body: { text: 'hi' } })).text, 'ok');
  assert.deepEqual((await request(`${url}/__emulator/sink/webhook`)).json.received.map((r) => r.body), [{ text: 'hi' }]);
  const emu = { url, cfApiBase: `${url}/client/v4` };
  const put = (keys) => cf(emu, 'PUT', credentialsPath('zone1', 'cfg1'), { token: 'cli-token', body: { keys } });
  assert.equal((await put([okta])).status, 503);
  const r = await put([okta, { ...okta, kid: 'gone' }]);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.result.keys.map((k) => k.kid), [okta.kid]);
  assert.equal((await put(['a', 'b', 'c', 'd', 'e'].map((kid) => ({ ...okta, kid })))).status, 400);
  assert.equal((await request(`${url}/idp/okta/jwks.json`)).json.keys[0].kid, okta.kid);
  assert.equal((await request(`${url}/idp/gen/jwks.json`)).json.keys[0].alg, 'RS256');
  // The generated IdP signs; the edge refuses its token until the configuration holds its key.
  const jwt = (await request(`${url}/__emulator/idp/gen/sign`, { method: 'POST', body: {} })).json.jwt;
  const edge = await request(`${url}/edge/zone1/cfg1/`, { headers: { authorization: `Bearer ${jwt}` } });
  assert.deepEqual([edge.status, edge.json.reason], [401, 'no key for kid/alg']);
  const state = await request(`${url}/__emulator/state`);
  assert.deepEqual(state.json.configs.map((c) => [c.zoneId, c.id, c.title]), [['zone1', 'cfg1', 'My config']]);
  child.kill('SIGTERM');
  const end = await exited;
  assert.equal(end.code, 0);
  assert.match(end.out, /received SIGTERM, shutting down\n$/);
});

test('--rate-limit without a value and SIGINT', async () => {
  const { child, ready, exited } = startCli(['--port', '0', '--rate-limit']);
  const out = await ready;
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)[1];
  const r = await request(`${url}/client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/token_validation/config`);
  assert.equal(r.status, 429);
  assert.equal(r.headers.get('retry-after'), '60');
  child.kill('SIGINT');
  assert.equal((await exited).code, 0);
});
