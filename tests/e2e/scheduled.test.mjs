// The cron trigger: a sync that succeeds ends `ok`; one that fails ends as an exception naming the
// failed target and stage, and writes one JSON log line per target.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, ids, ZONE, CONFIG } from './harness.mjs';

let h;
before(async () => {
  h = await start();
});
after(() => h.close());

test('a successful cron run pushes the keys and ends ok', async () => {
  const result = await h.scheduled();
  assert.equal(result.outcome, 'ok');
  assert.deepEqual(ids(h.emu.storedKeys(ZONE, CONFIG)), ids(h.emu.idp('main').keys));
  const lines = (await h.logLines()).filter((l) => l.event === 'jwks-sync' && l.trigger === 'cron');
  assert.equal(lines.length, 1);
  assert.equal(lines[0].outcome, 'updated');
  assert.equal(lines[0].name, 'default');
});

test('a failed cron run ends as an exception and changes nothing', async () => {
  const before = h.emu.storedKeys(ZONE, CONFIG);
  h.emu.idp('main').rotate({ alg: 'ES256' });
  h.emu.idp('main').misbehave({ html: true });
  const result = await h.scheduled();
  assert.equal(result.outcome, 'exception');
  assert.deepEqual(h.emu.storedKeys(ZONE, CONFIG), before);
  const failed = (await h.logLines()).filter((l) => l.trigger === 'cron' && l.outcome === 'failed');
  assert.equal(failed.length, 1);
  assert.equal(failed[0].error.stage, 'parse');
  h.emu.idp('main').clear();
  // The isolate is not reset by a failed run: the next tick succeeds in the same instance.
  assert.equal((await h.scheduled()).outcome, 'ok');
  assert.ok(!h.logs.some((l) => l.includes('Reinitializing')));
});
