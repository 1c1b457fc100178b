// Where keys come from: OIDC discovery, several sources merged into one configuration, fixtures.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, ids, ZONE, CONFIG } from './harness.mjs';

const handles = [];
after(() => Promise.all(handles.map((h) => h.close())));
const open = async (opts) => {
  const h = await start(opts);
  handles.push(h);
  return h;
};

test('OIDC_ISSUER is resolved through the discovery document', async () => {
  const h = await open({ env: (emu) => ({ OIDC_ISSUER: emu.issuer('main'), CF_ZONE_ID: ZONE, CF_TOKEN_CONFIG_ID: CONFIG }) });
  const r = await h.post();
  assert.equal(r.body.targets[0].outcome, 'updated', JSON.stringify(r.body));
  assert.deepEqual(
    h.emu.requestsTo({ face: 'idp' }).map((q) => q.route),
    ['.well-known/openid-configuration', 'jwks.json'],
  );
  assert.deepEqual(ids(h.emu.storedKeys(ZONE, CONFIG)), ids(h.emu.idp('main').keys));
});

// SYNC_TARGETS as a JSON string, and as a TOML array of tables (which reaches the Worker as an object).
for (const form of ['JSON text', 'TOML array']) {
  test(`SYNC_TARGETS (${form}) merges two IdPs into one configuration (an IdP migration)`, async () => {
    const h = await open({
      emulator: { idps: ['old', { name: 'new', generate: [{ alg: 'ES256' }] }] },
      env: (emu) => {
        const targets = [
          { name: 'api', zone_id: ZONE, config_id: CONFIG, sources: [{ jwks_url: emu.jwksUrl('old') }, { issuer: emu.issuer('new') }] },
        ];
        return { SYNC_TARGETS: form === 'JSON text' ? JSON.stringify(targets) : targets };
      },
    });
    const r = await h.post();
    const [t] = r.body.targets;
    assert.equal(t.name, 'api');
    assert.equal(t.outcome, 'updated', JSON.stringify(r.body));
    const expected = [...h.emu.idp('old').keys, ...h.emu.idp('new').keys];
    assert.deepEqual(ids(h.emu.storedKeys(ZONE, CONFIG)), ids(expected));
    assert.deepEqual(ids(h.puts()[0].body.keys), ids(expected));
  });
}

test('over MAX_KEYS, a merged target keeps a key of each IdP (a migration off Entra ID)', async () => {
  // Entra publishes eleven keys with current certificates, which rank before the new IdP's
  // certificate-less key: the ranking alone would fill all four slots with Entra's.
  const h = await open({
    emulator: {
      idps: [
        { name: 'entra', fixture: 'tests/fixtures/jwks/real/entra-common-v2-keys-flap-a-11keys.json' },
        { name: 'new', generate: [{ alg: 'ES256' }] },
      ],
    },
    env: (emu) => ({
      MAX_KEYS: '4',
      SYNC_TARGETS: JSON.stringify([
        { name: 'api', zone_id: ZONE, config_id: CONFIG, sources: [{ jwks_url: emu.jwksUrl('entra') }, { jwks_url: emu.jwksUrl('new') }] },
      ]),
    }),
  });
  const r = await h.post();
  const [t] = r.body.targets;
  assert.equal(t.outcome, 'updated', JSON.stringify(r.body));
  // Entra's three newest certificates (notBefore 2024-05-27, 05-22, 05-20 19:30), in its order.
  const kids = ['W2DcSeRYxeHTB_dQGxcvTCuvRDY', '23ntaxfH9Gk-8D_USzoAJgwjyt8', 'EngR4Vzr4KsOR7allG7pwvY8T2w', h.emu.idp('new').keys[0].kid];
  assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG).map((k) => k.kid), kids);
  assert.deepEqual(t.dropped.map((d) => d.code), Array(8).fill('OVER_LIMIT'));
});

test('MAX_KEYS below the number of a target\'s sources is a settings error', async () => {
  const h = await open({
    emulator: { idps: ['old', 'new'] },
    env: (emu) => ({
      MAX_KEYS: '1',
      SYNC_TARGETS: JSON.stringify([
        { name: 'api', zone_id: ZONE, config_id: CONFIG, sources: [{ jwks_url: emu.jwksUrl('old') }, { jwks_url: emu.jwksUrl('new') }] },
      ]),
    }),
  });
  const r = await h.post();
  assert.equal(r.status, 500);
  assert.equal(r.body.error.code, 'CONFIG_INVALID');
  assert.deepEqual(r.body.error.problems, [
    `MAX_KEYS (1) is less than the 2 sources of target "api" (${h.emu.jwksUrl('old')}, ${h.emu.jwksUrl('new')}), and each source keeps at least one key: raise MAX_KEYS or merge fewer sources`,
  ]);
  assert.equal(h.emu.requests.length, 0);
});

test('a merged target fails when one IdP has no usable key, instead of pushing the other alone', async () => {
  const h = await open({
    emulator: { idps: ['old', 'new'] },
    env: (emu) => ({
      SYNC_TARGETS: JSON.stringify([
        { name: 'api', zone_id: ZONE, config_id: CONFIG, sources: [{ jwks_url: emu.jwksUrl('old') }, { jwks_url: emu.jwksUrl('new') }] },
      ]),
    }),
  });
  await h.post();
  const live = h.emu.storedKeys(ZONE, CONFIG);
  assert.equal(live.length, 2);
  h.emu.idp('new').misbehave({ emptyKeys: true });
  h.emu.clearRequests();
  const r = await h.post();
  const [t] = r.body.targets;
  assert.equal(r.status, 502);
  assert.equal(t.error.code, 'JWKS_NO_USABLE_KEYS');
  assert.ok(t.error.message.includes(h.emu.jwksUrl('new')), t.error.message);
  assert.equal(h.puts().length, 0);
  assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG), live);
});

test('a real Entra ID key set: no alg, x5c members, all sent as RS256 without x5c', async () => {
  const h = await open({ emulator: { idps: [{ name: 'main', fixture: 'tests/fixtures/jwks/real/entra-tenant-v2-keys-no-alg.json' }] } });
  const r = await h.post();
  const [t] = r.body.targets;
  assert.equal(t.outcome, 'updated', JSON.stringify(r.body));
  assert.ok(t.keys.every((k) => k.alg === 'RS256' && k.alg_inferred === true));
  for (const k of h.puts()[0].body.keys) assert.deepEqual(Object.keys(k), ['kty', 'kid', 'alg', 'n', 'e']);
  assert.equal(t.warnings.length, t.keys.length);
  // Cloudflare stores the effective alg: the next run sees the same keys, not a change.
  const again = (await h.post()).body.targets[0];
  assert.equal(again.outcome, 'unchanged');
  assert.deepEqual(again.diff, { added: [], removed: [], unchanged: t.keys.map((k) => k.kid) });
});

test('a real Keycloak set: the encryption key listed first is dropped with its reason', async () => {
  const h = await open({ emulator: { idps: [{ name: 'main', fixture: 'tests/fixtures/jwks/real/keycloak-enc-before-sig.json' }] } });
  const r = await h.post();
  const [t] = r.body.targets;
  assert.equal(t.outcome, 'updated');
  assert.equal(t.keys.length, 1);
  assert.deepEqual(t.dropped.map((d) => d.code), ['NOT_SIG']);
});
