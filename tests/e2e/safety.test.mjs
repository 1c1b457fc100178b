// Safety in a shared configuration (issue 10): a key set that shares nothing with live is refused
// unless allowed, and a pasted API token is cleaned up with a warning, or refused before any
// request when it cannot be.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { start, defaultEnv, ids, ZONE, CONFIG, CF_TOKEN, AUTH_TOKEN } from './harness.mjs';
import { generateKeyPair } from '../../emulator/index.mjs';

let h;
let placeholder;
before(async () => {
  h = await start();
  // A configuration created with a placeholder key, or one fed by another tenant: nothing the
  // IdP publishes is live.
  placeholder = h.emu.idp('main').generateKey({ alg: 'ES256' });
});
after(() => h.close());
beforeEach(() => {
  h.emu.setStoredKeys(ZONE, CONFIG, [placeholder]);
  h.emu.clearRequests();
});

test('a write that would replace every live key is refused, in the sync and the preview', async () => {
  for (const send of [h.post, h.get]) {
    const r = await send('/');
    assert.equal(r.status, 502);
    const [t] = r.body.targets;
    assert.equal(t.outcome, 'failed');
    assert.deepEqual([t.error.stage, t.error.code], ['plan', 'FULL_REPLACEMENT_REFUSED']);
    assert.match(t.error.message, new RegExp(`^the IdP's keys \\(${h.emu.idp('main').keys[0].kid}\\) share no kid and alg with the live keys \\(${placeholder.kid}\\)`));
    assert.match(t.error.hint, /wrong tenant, issuer or SYNC_TARGETS entry/);
    assert.match(t.error.hint, /POST \/\?allow_full_replacement=true/);
    assert.deepEqual(t.diff.removed, [placeholder.kid]);
  }
  assert.equal(h.puts().length, 0);
  assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG), [placeholder]);
});

test('the same kid and alg with other key material is a replacement, not an overlap', async () => {
  // Live: production's key. The source now serves a staging issuer's key under the same kid and
  // alg: every production token would fail once it is written.
  const [current] = h.emu.idp('main').keys;
  const staging = generateKeyPair({ alg: current.alg, kid: current.kid }).jwk;
  h.emu.setStoredKeys(ZONE, CONFIG, [staging]);
  for (const send of [h.post, h.get]) {
    const r = await send('/');
    assert.equal(r.status, 502);
    const [t] = r.body.targets;
    assert.deepEqual([t.outcome, t.error.stage, t.error.code], ['failed', 'plan', 'FULL_REPLACEMENT_REFUSED']);
    assert.equal(
      t.error.message.split('; ')[0],
      `the IdP's keys (${current.kid}) keep none of the live keys (${current.kid}): ${current.kid} comes with the same kid and alg but other key material, which replaces the live key`,
    );
    assert.match(t.error.hint, /same kid with other key material/);
    assert.deepEqual(t.diff, { added: [], removed: [], unchanged: [], changed: [current.kid] });
  }
  assert.equal(h.puts().length, 0);
  assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG), [staging]);
  // Allowed once, it goes ahead.
  const r = await h.post('/?allow_full_replacement=true');
  assert.equal(r.body.targets[0].outcome, 'updated', JSON.stringify(r.body));
  assert.equal(h.emu.storedKeys(ZONE, CONFIG)[0].x ?? h.emu.storedKeys(ZONE, CONFIG)[0].n, current.x ?? current.n);
});

test('POST /?allow_full_replacement=true allows it once, with a warning', async () => {
  const r = await h.post('/?allow_full_replacement=true');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const [t] = r.body.targets;
  assert.equal(t.outcome, 'updated');
  const idpKeys = h.emu.idp('main').keys;
  assert.deepEqual(t.warnings, [`full replacement allowed by ?allow_full_replacement=true: every live key (${placeholder.kid}) is replaced by the IdP's (${idpKeys.map((k) => k.kid).join(', ')})`]);
  assert.deepEqual(ids(h.emu.storedKeys(ZONE, CONFIG)), ids(idpKeys));
  // Once: the next refusal is back.
  h.emu.setStoredKeys(ZONE, CONFIG, [placeholder]);
  assert.equal((await h.post()).body.targets[0].error.code, 'FULL_REPLACEMENT_REFUSED');
});

test('a preview can ask what an allowed replacement would do, and writes nothing', async () => {
  const r = await h.post('/?dry_run=true&allow_full_replacement=true');
  assert.equal(r.status, 200);
  assert.equal(r.body.targets[0].outcome, 'would_update');
  assert.equal(h.puts().length, 0);
});

test('ALLOW_FULL_REPLACEMENT=true allows it on every run, cron included', async () => {
  const h2 = await start({ env: (emu) => ({ ...defaultEnv(emu), ALLOW_FULL_REPLACEMENT: 'true' }) });
  try {
    h2.emu.setStoredKeys(ZONE, CONFIG, [placeholder]);
    assert.equal((await h2.scheduled()).outcome, 'ok');
    assert.deepEqual(ids(h2.emu.storedKeys(ZONE, CONFIG)), ids(h2.emu.idp('main').keys));
    const [line] = (await h2.logLines()).filter((l) => l.trigger === 'cron');
    assert.match(line.warnings[0], /^full replacement allowed by ALLOW_FULL_REPLACEMENT: /);
  } finally {
    await h2.close();
  }
});

test('a rotation that keeps one live key is not a full replacement', async () => {
  const [current] = h.emu.idp('main').keys;
  h.emu.setStoredKeys(ZONE, CONFIG, [current]);
  const next = h.emu.idp('main').rotate({ alg: 'ES256' });
  h.emu.idp('main').retire(current.kid);
  // The IdP already dropped the old key: the new one shares nothing with live. Refused...
  assert.equal((await h.post()).body.targets[0].error.code, 'FULL_REPLACEMENT_REFUSED');
  // ...while the overlapping step (both published) goes through, and so does the retirement.
  h.emu.idp('main').setKeys([current, next]);
  assert.equal((await h.post()).body.targets[0].outcome, 'updated');
  h.emu.idp('main').retire(current.kid);
  const r = await h.post();
  assert.equal(r.body.targets[0].outcome, 'updated');
  assert.deepEqual(r.body.targets[0].diff, { added: [], removed: [current.kid], unchanged: [next.kid] });
  h.emu.idp('main').setKeys([current]);
});

test('a quoted, Bearer-prefixed API token with a newline still works, with warnings', async () => {
  const h2 = await start({ env: (emu) => ({ ...defaultEnv(emu), CF_API_TOKEN: `"Bearer ${CF_TOKEN}"\n` }) });
  try {
    const r = await h2.post();
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.targets[0].outcome, 'updated');
    const reenter = 're-enter the secret bare with `wrangler secret put CF_API_TOKEN`';
    const warnings = [
      `CF_API_TOKEN: removed whitespace around the token; ${reenter}`,
      `CF_API_TOKEN: removed the quotes around the token; ${reenter}`,
      `CF_API_TOKEN: removed a leading "Bearer " (it belongs in the Authorization header, not in the secret); ${reenter}`,
    ];
    assert.deepEqual(r.body.warnings, warnings);
    const [line] = (await h2.logLines()).filter((l) => l.event === 'jwks-sync');
    assert.deepEqual(line.run_warnings, warnings);
    const all = JSON.stringify(r.body) + h2.logs.join('\n');
    assert.ok(!all.includes(CF_TOKEN), 'the token is never shown');
  } finally {
    await h2.close();
  }
});

test('a secret pasted into the wrong setting is shown as its first four characters and length only', async () => {
  const h2 = await start({ env: (emu) => ({ ...defaultEnv(emu), CF_ZONE_ID: CF_TOKEN, JWKS_URL: AUTH_TOKEN }) });
  try {
    const r = await h2.post();
    assert.equal(r.status, 500);
    assert.equal(r.body.error.code, 'CONFIG_INVALID');
    assert.deepEqual(r.body.error.problems, [
      `JWKS_URL is not a URL (relative URL without a base), got "${AUTH_TOKEN.slice(0, 4)}"… (${AUTH_TOKEN.length} characters)`,
      `CF_ZONE_ID must be 32 hexadecimal characters, got "${CF_TOKEN.slice(0, 4)}"… (${CF_TOKEN.length} characters)`,
    ]);
    const all = JSON.stringify(r.body) + h2.logs.join('\n');
    assert.ok(!all.includes(CF_TOKEN.slice(0, 5)) && !all.includes(AUTH_TOKEN.slice(0, 5)), 'no more than four characters of either');
  } finally {
    await h2.close();
  }
});

test('an API token with a space inside is a settings error before any request, and is never shown', async () => {
  const token = `${CF_TOKEN} extra`;
  const h2 = await start({ env: (emu) => ({ ...defaultEnv(emu), CF_API_TOKEN: token }) });
  try {
    const r = await h2.post();
    assert.equal(r.status, 500);
    assert.equal(r.body.error.code, 'CONFIG_INVALID');
    assert.deepEqual(r.body.error.problems, [
      `CF_API_TOKEN holds whitespace (U+0020) at character ${CF_TOKEN.length + 1} of ${token.length}; a token has none: re-enter the secret bare with \`wrangler secret put CF_API_TOKEN\``,
    ]);
    assert.equal(h2.emu.requests.length, 0);
    const all = JSON.stringify(r.body) + (await h2.logLines()).map((l) => JSON.stringify(l)).join('\n');
    assert.ok(!all.includes(CF_TOKEN), 'the token is never shown');
  } finally {
    await h2.close();
  }
});
