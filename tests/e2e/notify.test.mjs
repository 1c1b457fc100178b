// Issue 11, points 5 and 6: the heartbeat after every cron run (HEARTBEAT_URL on success,
// HEARTBEAT_FAIL_URL otherwise; never from POST /; a failing ping is a warning), and one alert per
// change of state to ALERT_WEBHOOK_URL (starts failing, recovers, live keys change), retried on
// 5xx within the run, a warning when it cannot be delivered, never holding a secret.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { start, AUTH_TOKEN, CF_TOKEN, ZONE, CONFIG } from './harness.mjs';

let h;
let hook;
let hb;
before(async () => {
  h = await start({
    emulator: { sinks: ['webhook', 'hb'] },
    env: (e) => ({
      JWKS_URL: e.jwksUrl('main'),
      CF_ZONE_ID: ZONE,
      CF_TOKEN_CONFIG_ID: CONFIG,
      FETCH_TIMEOUT_MS: '500',
      ALERT_WEBHOOK_URL: e.sinkUrl('webhook'),
      HEARTBEAT_URL: e.sinkUrl('hb'),
      HEARTBEAT_FAIL_URL: e.sinkUrl('hb', 'fail'),
    }),
  });
  hook = h.emu.sink('webhook');
  hb = h.emu.sink('hb');
});
after(() => h.close());
beforeEach(() => {
  hook.clear();
  hb.clear();
  h.emu.idp('main').clear();
  h.emu.clearFaults();
});

const alerts = () => hook.received.map((r) => r.body);
const pings = () => hb.received.map((r) => `${r.method} /${r.path}`);
const cronLine = async () => (await h.logLines()).filter((l) => l.event === 'jwks-sync-cron').at(-1);

test('one alert per transition: keys changed, starts failing (once), recovers', async () => {
  const idp = h.emu.idp('main');
  h.emu.setStoredKeys(ZONE, CONFIG, []);
  const first = await h.post();
  const run1 = first.body.targets[0].run_id;
  assert.equal(alerts().length, 1);
  const [changed] = alerts();
  assert.deepEqual(
    { event: changed.event, target: changed.target, zone_id: changed.zone_id, config_id: changed.config_id, outcome: changed.outcome, kids: changed.kids, run_id: changed.run_id, trigger: changed.trigger },
    { event: 'keys_changed', target: 'default', zone_id: ZONE, config_id: CONFIG, outcome: 'updated', kids: { added: idp.keys.map((k) => k.kid), removed: [] }, run_id: run1, trigger: 'http' },
  );
  assert.equal(changed.text, `jwks-sync default: live keys changed; added ${idp.keys[0].kid} (run ${run1}, http)`);
  assert.match(changed.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(hook.received[0].headers['content-type'], 'application/json');

  await h.post(); // unchanged: no alert
  assert.equal(alerts().length, 1);

  idp.misbehave({ html: true });
  const failed = await h.post();
  await h.post();
  await h.scheduled();
  assert.equal(alerts().length, 2, 'three failed runs, one alert');
  const failing = alerts()[1];
  assert.deepEqual([failing.event, failing.outcome, failing.code, failing.error.stage], ['failing', 'failed', 'JWKS_HTML', 'parse']);
  assert.equal(failing.run_id, failed.body.targets[0].run_id);
  assert.match(failing.text, /^jwks-sync default: FAILING at parse \(JWKS_HTML\): body is HTML, not a JWKS; .*; http:\/\/127\.0\.0\.1:\d+\/idp\/main\/jwks\.json \(run \d+, http\)\n/);
  // Issue 10's hint: a field of its own, in the error, and the text's second line.
  assert.match(failing.hint, /^The URL serves an HTML page .* set JWKS_URL to the IdP's `jwks_uri`/);
  assert.equal(failing.error.hint, failing.hint);
  assert.ok(failing.text.endsWith(`\nWhat to do: ${failing.hint}`), failing.text);
  assert.equal(changed.hint, undefined, 'a change of keys has nothing to fix');

  idp.clear();
  await h.scheduled();
  assert.equal(alerts().length, 3);
  assert.deepEqual([alerts()[2].event, alerts()[2].outcome, alerts()[2].trigger], ['recovered', 'unchanged', 'cron']);
  assert.equal(alerts()[2].error, undefined);
  await h.scheduled();
  assert.equal(alerts().length, 3, 'steady again: no alert');

  for (const a of hook.received) {
    const text = JSON.stringify(a);
    for (const secret of [CF_TOKEN, AUTH_TOKEN, h.emu.sinkUrl('webhook'), h.emu.sinkUrl('hb'), '/sink/']) assert.ok(!text.includes(secret), secret);
  }
});

test('a webhook answering 503 is retried once within the run', async () => {
  h.emu.setStoredKeys(ZONE, CONFIG, []);
  hook.respond({ status: 503, times: 1 });
  const r = await h.post();
  assert.deepEqual(hook.received.map((x) => x.status), [503, 200]);
  assert.deepEqual(r.body.targets[0].warnings, []);
});

test('an undelivered alert is a warning, not a failure, and the next run announces the change again', async () => {
  h.emu.idp('main').misbehave({ html: true });
  hook.respond({ status: 500, times: 2 });
  const r = await h.post();
  assert.equal(r.body.targets[0].outcome, 'failed');
  assert.deepEqual(hook.received.map((x) => x.status), [500, 500], 'one retry, no more');
  assert.deepEqual(r.body.targets[0].warnings, ['alert webhook: HTTP 500; the failing alert was not delivered']);
  hook.respond({ status: 404, times: 1 });
  const again = await h.post();
  assert.deepEqual(hook.received.map((x) => x.status), [500, 500, 404], 'a 4xx is not retried');
  assert.deepEqual(again.body.targets[0].warnings, ['alert webhook: HTTP 404; the failing alert was not delivered']);
  await h.post();
  assert.deepEqual(hook.received.map((x) => [x.status, x.body.event]).at(-1), [200, 'failing'], 'delivered at last');
  await h.post();
  assert.equal(hook.received.length, 4, 'and only once');
  h.emu.idp('main').clear();
  await h.post();
  assert.equal(alerts().at(-1).event, 'recovered');
});

test('heartbeat: the success URL after a good cron run, the fail URL after a failed one, never from POST', async () => {
  assert.equal((await h.scheduled()).outcome, 'ok');
  assert.deepEqual(pings(), ['GET /']);
  assert.equal((await cronLine()).heartbeat, 'success ping sent');

  await h.post();
  assert.deepEqual(pings(), ['GET /'], 'a manual sync does not ping');

  h.emu.idp('main').misbehave({ html: true });
  assert.equal((await h.scheduled()).outcome, 'exception');
  assert.deepEqual(pings(), ['GET /', 'GET /fail']);
  const line = await cronLine();
  assert.deepEqual([line.heartbeat, line.failed], ['fail ping sent', ['default (parse)']]);
});

test('a failing heartbeat is a warning in the cron log line, never a failed run, and shows no URL', async () => {
  hb.respond({ status: 500 });
  const result = await h.scheduled();
  assert.equal(result.outcome, 'ok');
  assert.deepEqual(hb.received.map((x) => x.status), [500, 500], 'one retry');
  const line = await cronLine();
  assert.equal(line.heartbeat, 'success ping failed: HTTP 500');
  const logs = h.logs.join('\n');
  assert.ok(!logs.includes('/sink/'), 'no heartbeat or webhook URL in the log');
});

test('without HEARTBEAT_FAIL_URL a failed cron run pings nothing: the missing ping is the signal', async () => {
  const h2 = await start({
    emu: h.emu,
    env: (e) => ({ JWKS_URL: e.jwksUrl('main'), CF_ZONE_ID: ZONE, CF_TOKEN_CONFIG_ID: CONFIG, FETCH_TIMEOUT_MS: '500', HEARTBEAT_URL: e.sinkUrl('hb') }),
  });
  try {
    h.emu.idp('main').misbehave({ html: true });
    assert.equal((await h2.scheduled()).outcome, 'exception');
    assert.deepEqual(pings(), []);
    assert.deepEqual((await h2.logLines()).filter((l) => l.event === 'jwks-sync-cron'), [], 'no ping, no heartbeat line');
  } finally {
    await h2.close();
  }
});

test('under DRY_RUN a cron run whose keys would change is not in sync: the fail URL, never the success one', async () => {
  const h2 = await start({
    emu: h.emu,
    env: (e) => ({
      JWKS_URL: e.jwksUrl('main'), CF_ZONE_ID: ZONE, CF_TOKEN_CONFIG_ID: CONFIG, FETCH_TIMEOUT_MS: '500', DRY_RUN: 'true',
      HEARTBEAT_URL: e.sinkUrl('hb'), HEARTBEAT_FAIL_URL: e.sinkUrl('hb', 'fail'),
    }),
  });
  try {
    h.emu.setStoredKeys(ZONE, CONFIG, []);
    assert.equal((await h2.scheduled()).outcome, 'ok', 'a preview is no failed run');
    assert.deepEqual(pings(), ['GET /fail']);
    const line = (await h2.logLines()).filter((l) => l.event === 'jwks-sync-cron').at(-1);
    assert.deepEqual([line.dry_run, line.failed, line.heartbeat], [true, [], 'fail ping sent']);
    // Live equal to the IdP's keys: in sync, even paused.
    await h.post();
    hb.clear();
    assert.equal((await h2.scheduled()).outcome, 'ok');
    assert.deepEqual(pings(), ['GET /']);
  } finally {
    await h2.close();
  }
});

test('a cron run with invalid settings pings HEARTBEAT_FAIL_URL when that one is valid, and logs it', async () => {
  const broken = (fail) => (e) => ({
    JWKS_URL: e.jwksUrl('main'), CF_ZONE_ID: ZONE, CF_TOKEN_CONFIG_ID: CONFIG,
    CF_API_TOKEN: 'a-token-re-entered\nwith-a-line-break', // `wrangler secret put` does not check it
    HEARTBEAT_URL: e.sinkUrl('hb'), HEARTBEAT_FAIL_URL: fail(e),
  });
  const h2 = await start({ emu: h.emu, env: broken((e) => e.sinkUrl('hb', 'fail')) });
  try {
    assert.equal((await h2.scheduled()).outcome, 'exception');
    assert.deepEqual(pings(), ['GET /fail']);
    const lines = await h2.logLines();
    assert.equal(lines.find((l) => l.event === 'jwks-sync').error.code, 'CONFIG_INVALID');
    assert.deepEqual(lines.filter((l) => l.event === 'jwks-sync-cron'), [
      { event: 'jwks-sync-cron', dry_run: false, targets: 0, failed: ['settings (config)'], heartbeat: 'fail ping sent' },
    ]);
    assert.ok(!h2.logs.join('\n').includes('/sink/'), 'no heartbeat URL in the log');
  } finally {
    await h2.close();
  }
  hb.clear();
  // The fail URL itself invalid: nothing to ping, and no heartbeat line.
  const h3 = await start({ emu: h.emu, env: broken(() => 'hb.example/fail') });
  try {
    assert.equal((await h3.scheduled()).outcome, 'exception');
    assert.deepEqual(pings(), []);
    assert.deepEqual((await h3.logLines()).filter((l) => l.event === 'jwks-sync-cron'), []);
  } finally {
    await h3.close();
  }
});

test('a write that failed its verification but changed the live keys is announced, also while failing', async () => {
  const idp = h.emu.idp('main');
  const [a, b, c] = [0, 1, 2].map(() => idp.generateKey({ alg: 'ES256' }));
  idp.setKeys([a, b]);
  h.emu.setStoredKeys(ZONE, CONFIG, []);
  assert.equal((await h.post()).body.targets[0].outcome, 'updated');
  idp.misbehave({ html: true, times: 1 });
  assert.equal((await h.post()).body.targets[0].outcome, 'failed');
  assert.equal((await h.status()).body.targets[0].alert_state, 'failing');
  hook.clear();

  // The IdP retires a and publishes c, which Cloudflare drops from the write: a leaves, c never
  // arrives, and the run fails, but what is live changed.
  idp.setKeys([b, c]);
  h.emu.dropKidOnPut(c.kid);
  const r = await h.post();
  const [t] = r.body.targets;
  assert.deepEqual([t.outcome, t.error.code], ['failed', 'CF_VERIFY_MISMATCH']);
  assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG).map((k) => k.kid), [b.kid]);
  assert.equal(alerts().length, 1, 'announced although the target was already failing');
  const [changed] = alerts();
  assert.deepEqual(
    [changed.event, changed.outcome, changed.code, changed.kids, changed.run_id],
    ['keys_changed', 'failed', 'CF_VERIFY_MISMATCH', { added: [c.kid], removed: [a.kid] }, t.run_id],
  );
  assert.ok(changed.text.startsWith('jwks-sync default: live keys changed by a write that failed at cloudflare (CF_VERIFY_MISMATCH): '), changed.text);
  assert.equal((await h.status()).body.targets[0].alert_state, 'failing');

  h.emu.clearFaults();
  await h.post();
  assert.deepEqual(alerts().map((x) => x.event), ['keys_changed', 'recovered']);
});
