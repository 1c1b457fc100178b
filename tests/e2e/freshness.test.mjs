// Issue 11, point 4: GET /healthz, unauthenticated, is 200 when every target succeeded within
// STALE_AFTER and 503 otherwise, naming the stale targets and their age and nothing else; 503 also
// for invalid settings; a Worker whose cron never ran reads as stale once STALE_AFTER has passed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { start, sleep, CF_TOKEN, ZONE, CONFIG } from './harness.mjs';

const env = (extra = {}) => (e) => ({ JWKS_URL: e.jwksUrl('main'), CF_ZONE_ID: ZONE, CF_TOKEN_CONFIG_ID: CONFIG, FETCH_TIMEOUT_MS: '500', STALE_AFTER: '2s', ...extra });

test('fresh after a success, 503 naming the target and its age once STALE_AFTER passes, fresh again after a run', async () => {
  const h = await start({ env: env() });
  try {
    assert.equal((await h.post()).status, 200);
    const fresh = await h.health();
    assert.deepEqual([fresh.status, fresh.body], [200, { status: 'ok' }]);
    await sleep(3100);
    const stale = await h.health();
    assert.equal(stale.status, 503);
    assert.deepEqual(Object.keys(stale.body), ['status', 'stale']);
    assert.equal(stale.body.status, 'stale');
    assert.deepEqual(stale.body.stale.map((s) => Object.keys(s)), [['name', 'age_s']]);
    assert.equal(stale.body.stale[0].name, 'default');
    assert.ok(stale.body.stale[0].age_s >= 3 && stale.body.stale[0].age_s < 60, `age ${stale.body.stale[0].age_s}`);
    assert.equal(stale.headers.get('cache-control'), 'no-store');
    const head = await h.fetch('/healthz', { method: 'HEAD' });
    assert.equal(head.status, 503);
    await h.scheduled();
    assert.deepEqual((await h.health()).body, { status: 'ok' });
    // Failed runs do not count: the target goes stale while its runs fail.
    h.emu.idp('main').misbehave({ status: 503 });
    await sleep(2600);
    await h.scheduled();
    const failing = await h.health();
    assert.equal(failing.status, 503);
    assert.deepEqual(failing.body.stale.map((s) => s.name), ['default']);
  } finally {
    await h.close();
  }
});

test('a Worker whose cron never runs is stale once STALE_AFTER has passed since it was first consulted', async () => {
  const h = await start({ env: env() });
  try {
    assert.deepEqual(await h.health().then((r) => [r.status, r.body]), [200, { status: 'ok' }]);
    await sleep(2600);
    const r = await h.health();
    assert.equal(r.status, 503);
    assert.deepEqual(r.body.stale.map((x) => x.name), ['default']);
    assert.ok(r.body.stale[0].age_s >= 2 && r.body.stale[0].age_s < 60, `age ${r.body.stale[0].age_s}`);
    assert.equal(h.emu.requests.length, 0, 'the health check calls nothing outside Cloudflare');
  } finally {
    await h.close();
  }
});

test('several targets: only the stale ones are named', async () => {
  const h = await start({
    env: (e) => ({
      SYNC_TARGETS: JSON.stringify([
        { name: 'ok', zone_id: ZONE, config_id: CONFIG, sources: [{ jwks_url: e.jwksUrl('main') }] },
        { name: 'never', zone_id: ZONE, config_id: '11111111-2222-3333-4444-555555555555', sources: [{ jwks_url: e.jwksUrl('main') }] },
      ]),
      STALE_AFTER: '2s',
      FETCH_TIMEOUT_MS: '500',
    }),
  });
  try {
    await h.health(); // first consulted now
    await sleep(2600);
    const r = await h.post(); // "ok" succeeds; "never" fails (its configuration does not exist)
    assert.deepEqual(r.body.targets.map((t) => t.outcome), ['updated', 'failed']);
    const health = await h.health();
    assert.equal(health.status, 503);
    assert.deepEqual(health.body.stale.map((s) => s.name), ['never']);
  } finally {
    await h.close();
  }
});

test('invalid settings: 503 without saying which, and nothing echoed', async () => {
  const h = await start({ env: () => ({ JWKS_URL: 'http://idp.example/jwks', CF_ZONE_ID: 'zone', CF_TOKEN_CONFIG_ID: CONFIG, STALE_AFTER: 'soon' }) });
  try {
    const r = await h.health();
    assert.deepEqual([r.status, r.body], [503, { status: 'invalid_settings' }]);
    const text = JSON.stringify(r.body);
    for (const value of ['idp.example', 'zone', 'soon', CF_TOKEN]) assert.ok(!text.includes(value), value);
  } finally {
    await h.close();
  }
});
