// The demo's decisions (scripts/demo-lib.mjs): which IdP and Cloudflare API a run uses and whether it
// may write and with which settings; the step runner; reading the Worker's log lines out of
// wrangler's coloured output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, confirmsWrite, workerVars, runSteps, StepFailure, logLines, failures } from '../../scripts/demo-lib.mjs';

const CF = { CF_API_TOKEN: 'tok', CF_ZONE_ID: '023e105f4ecef8ad9ca31a8372d0c353', CF_TOKEN_CONFIG_ID: '4a7ee8d3-dd63-4ceb-9d5f-c27831854ce7' };
const OWN = { JWKS_URL: 'https://idp.example.com/jwks' };

test('the emulated IdP always goes with the emulated Cloudflare API, whatever CF_* say', () => {
  assert.deepEqual(plan({}), { port: 8787, idp: 'emulated', cloudflare: 'emulated', write: true, ask: false, notes: [] });
  assert.deepEqual(plan({ ...CF, DEMO_WRITE_REAL: CF.CF_TOKEN_CONFIG_ID }, { tty: true }), {
    port: 8787,
    idp: 'emulated',
    cloudflare: 'emulated',
    write: true,
    ask: false,
    notes: [
      'CF_API_TOKEN, CF_ZONE_ID and CF_TOKEN_CONFIG_ID are set but not used: with the emulated IdP the demo writes only to the emulated Cloudflare API',
      "DEMO_WRITE_REAL is ignored: the emulated IdP's throwaway keys never go to a real configuration",
    ],
  });
  assert.deepEqual(plan({ CF_ZONE_ID: CF.CF_ZONE_ID }).notes, [
    'CF_ZONE_ID is set but not used: with the emulated IdP the demo writes only to the emulated Cloudflare API',
  ]);
});

test('your IdP with some but not all CF_* uses the emulated Cloudflare API and says why', () => {
  const p = plan({ ...OWN, CF_API_TOKEN: 'tok', CF_ZONE_ID: CF.CF_ZONE_ID, CF_TOKEN_CONFIG_ID: ' ' });
  assert.deepEqual(p, {
    port: 8787,
    idp: 'own',
    cloudflare: 'emulated',
    write: true,
    ask: false,
    notes: ['CF_API_TOKEN and CF_ZONE_ID are set but not CF_TOKEN_CONFIG_ID: using the emulated Cloudflare API (set all three for the real one)'],
  });
  assert.deepEqual(plan({ OIDC_ISSUER: 'https://idp.example.com' }), { port: 8787, idp: 'own', cloudflare: 'emulated', write: true, ask: false, notes: [] });
});

test('your IdP and all three CF_* preview only, unless DEMO_WRITE_REAL names the configuration', () => {
  assert.deepEqual(plan({ ...OWN, ...CF }), { port: 8787, idp: 'own', cloudflare: 'real', write: false, ask: false, notes: [] });
  assert.deepEqual(plan({ ...OWN, ...CF }, { tty: true }), { port: 8787, idp: 'own', cloudflare: 'real', write: false, ask: true, notes: [] });
  assert.deepEqual(plan({ ...OWN, ...CF, DEMO_WRITE_REAL: CF.CF_TOKEN_CONFIG_ID }, { tty: true }), {
    port: 8787,
    idp: 'own',
    cloudflare: 'real',
    write: true,
    ask: false,
    notes: [],
  });
  assert.deepEqual(plan({ ...OWN, ...CF, DEMO_WRITE_REAL: '1' }), {
    error:
      'DEMO_WRITE_REAL is "1", which is not CF_TOKEN_CONFIG_ID (4a7ee8d3-dd63-4ceb-9d5f-c27831854ce7): it must name the configuration the demo may write to; nothing was started',
  });
});

/** A stand-in for the emulator's URLs, as scripts/demo.mjs gives them to workerVars. */
const EMU = {
  jwksUrl: 'http://127.0.0.1:9/idp/demo/jwks.json',
  cfApiBase: 'http://127.0.0.1:9/client/v4',
  zoneId: 'e'.repeat(32),
  configId: 'eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee',
  token: 'emulator-token',
  sinkUrl: (name, sub) => `http://127.0.0.1:9/sink/${name}${sub ? `/${sub}` : ''}`,
};

test("the emulated IdP's Worker reports to the emulator's sinks, with a short STALE_AFTER and grace period", () => {
  assert.deepEqual(workerVars(plan({ ...CF, MAX_KEYS: '8' }), { ...CF, MAX_KEYS: '8' }, EMU, 'auth'), {
    JWKS_URL: EMU.jwksUrl,
    OIDC_ISSUER: '',
    CF_API_BASE: EMU.cfApiBase,
    CF_API_TOKEN: 'emulator-token',
    CF_ZONE_ID: EMU.zoneId,
    CF_TOKEN_CONFIG_ID: EMU.configId,
    SYNC_TARGETS: '',
    SYNC_AUTH_TOKEN: 'auth',
    DRY_RUN: 'false',
    ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/sink/webhook',
    HEARTBEAT_URL: 'http://127.0.0.1:9/sink/heartbeat',
    HEARTBEAT_FAIL_URL: 'http://127.0.0.1:9/sink/heartbeat/fail',
    STALE_AFTER: '15s',
    RETAIN_REMOVED_KEYS_FOR: '5s',
    MAX_KEYS: '8',
  });
});

test('with your IdP the Worker gets no webhook, heartbeat, STALE_AFTER or grace period, and previews the real API', () => {
  const env = { ...OWN, ...CF, CF_API_BASE: ' https://cf.example.com/client/v4 ', ALLOW_FULL_REPLACEMENT: 'true' };
  assert.deepEqual(workerVars(plan(env), env, EMU, 'auth'), {
    JWKS_URL: OWN.JWKS_URL,
    OIDC_ISSUER: '',
    CF_API_BASE: 'https://cf.example.com/client/v4',
    CF_API_TOKEN: 'tok',
    CF_ZONE_ID: CF.CF_ZONE_ID,
    CF_TOKEN_CONFIG_ID: CF.CF_TOKEN_CONFIG_ID,
    SYNC_TARGETS: '',
    SYNC_AUTH_TOKEN: 'auth',
    DRY_RUN: 'true',
    // A real configuration holding only placeholder keys previews its first full replacement.
    ALLOW_FULL_REPLACEMENT: 'true',
  });
  const emulatedCf = { OIDC_ISSUER: 'https://idp.example.com' };
  assert.deepEqual(workerVars(plan(emulatedCf), emulatedCf, EMU, 'auth'), {
    JWKS_URL: '',
    OIDC_ISSUER: 'https://idp.example.com',
    CF_API_BASE: EMU.cfApiBase,
    CF_API_TOKEN: 'emulator-token',
    CF_ZONE_ID: EMU.zoneId,
    CF_TOKEN_CONFIG_ID: EMU.configId,
    SYNC_TARGETS: '',
    SYNC_AUTH_TOKEN: 'auth',
    DRY_RUN: 'false',
  });
});

test('the interactive confirmation writes only when the exact configuration id is typed', () => {
  const id = CF.CF_TOKEN_CONFIG_ID;
  assert.equal(confirmsWrite(id, id), true);
  assert.equal(confirmsWrite(`  ${id}\n`, id), true);
  for (const answer of ['', 'y', 'yes', id.slice(0, -1), undefined]) assert.equal(confirmsWrite(answer, id), false, String(answer));
});

test('invalid settings are refused before anything starts', () => {
  assert.deepEqual(plan({ DEMO_PORT: '80x' }), { error: 'DEMO_PORT must be a port number from 1 to 65535, got "80x"' });
  assert.deepEqual(plan({ DEMO_PORT: '70000' }), { error: 'DEMO_PORT must be a port number from 1 to 65535, got "70000"' });
  assert.equal(plan({ DEMO_PORT: '8790' }).port, 8790);
  assert.deepEqual(plan({ ...OWN, OIDC_ISSUER: 'https://idp.example.com' }), {
    error: 'JWKS_URL and OIDC_ISSUER are both set; set one of them (or neither, for the emulated IdP)',
  });
});

function recorder() {
  const events = [];
  return {
    events,
    io: {
      heading: (n, title) => events.push(`${n} ${title}`),
      skipped: (step, dep, why) => events.push(`skipped ${step.id}: ${dep} ${why}`),
      failed: (n, step, e) => events.push(`failed ${n} ${step.id}: ${e.message}`),
    },
  };
}

test('a failed step skips the steps that need it, directly or not, and only those', async () => {
  const ran = [];
  const step = (id, needs, fail) => ({
    id,
    title: id.toUpperCase(),
    needs,
    run: async () => {
      ran.push(id);
      if (fail) throw new StepFailure(`${id} broke`);
    },
  });
  const { events, io } = recorder();
  const status = await runSteps([step('a'), step('b', ['a'], true), step('c', ['b']), step('d', ['c']), step('e', ['a'])], {}, io);
  assert.deepEqual([...status], [['a', 'ok'], ['b', 'failed'], ['c', 'skipped'], ['d', 'skipped'], ['e', 'ok']]);
  assert.deepEqual(ran, ['a', 'b', 'e']);
  assert.deepEqual(events, ['1 A', '2 B', 'failed 2 b: b broke', '3 C', 'skipped c: b failed', '4 D', 'skipped d: c skipped', '5 E']);
});

test('an unexpected error in a step fails that step, not the run', async () => {
  const { events, io } = recorder();
  const status = await runSteps(
    [
      { id: 'x', title: 'X', run: async () => JSON.parse('{') },
      { id: 'y', title: 'Y', run: async () => {} },
    ],
    {},
    io,
  );
  assert.deepEqual([...status], [['x', 'failed'], ['y', 'ok']]);
  assert.match(events[1], /^failed 1 x: /);
});

test('a step may only need an earlier step', async () => {
  await assert.rejects(runSteps([{ id: 'a', title: 'A', needs: ['b'], run: async () => {} }], {}, recorder().io), {
    message: 'step a needs b, which is not an earlier step',
  });
});

test("the Worker's log lines are read out of wrangler's coloured output", () => {
  const line = { event: 'jwks-sync', trigger: 'cron', dry_run: false, name: 'default', outcome: 'failed', error: { stage: 'fetch', code: 'JWKS_UNREACHABLE', message: 'x {y}' } };
  // What wrangler 4 writes for console.error: a red "✘ [ERROR]" badge and the line in bold.
  const coloured = `\x1b[31m✘ \x1b[41;31m[\x1b[41;97mERROR\x1b[41;31m]\x1b[0m \x1b[1m${JSON.stringify(line)}\x1b[0m\n\n`;
  const plain = JSON.stringify({ ...line, trigger: 'http', outcome: 'updated' });
  const text = ['[wrangler:info] Ready on http://127.0.0.1:8787', coloured, plain, '{"event":"jwks-sync", broken', '\x1b[1m{"other":1}\x1b[0m'].join('\n');
  assert.deepEqual(logLines(text, 'cron'), [line]);
  assert.deepEqual(
    logLines(text).map((l) => l.trigger),
    ['cron', 'http'],
  );
  assert.deepEqual(logLines('', 'cron'), []);
});

test('failures name each failed target, and the error of an answer without targets', () => {
  assert.deepEqual(
    failures({
      targets: [
        { name: 'a', outcome: 'updated' },
        { name: 'b', outcome: 'failed', error: { stage: 'fetch', code: 'JWKS_UNREACHABLE', message: 'fetch x: network error' } },
      ],
    }),
    ['b: [fetch] JWKS_UNREACHABLE: fetch x: network error'],
  );
  assert.deepEqual(failures({ dry_run: true, targets: [], error: { stage: 'config', code: 'CONFIG_INVALID', message: 'config: 1 problem: CF_ZONE_ID is not set', problems: ['CF_ZONE_ID is not set'] } }), [
    '[config] CONFIG_INVALID: config: 1 problem: CF_ZONE_ID is not set',
  ]);
  assert.deepEqual(failures({ error: { code: 'UNAUTHORIZED', message: 'send Authorization' } }), ['UNAUTHORIZED: send Authorization']);
  assert.deepEqual(failures({ targets: [{ name: 'a', outcome: 'unchanged' }] }), []);
});
