// Issue 11, point 1: runs for one configuration never overlap. Every sync goes through the
// configuration's Durable Object, which runs one at a time; a caller arriving during a run gets the
// next run (callers waiting together share it), so no answer rests on IdP data fetched before its
// request arrived. Previews take no lock.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { start, ids, waitFor, ZONE, CONFIG } from './harness.mjs';

let h;
before(async () => {
  // The IdP's slow answers below (1 to 1.5 s) must be slow, not timed out.
  h = await start({ env: (emu) => ({ JWKS_URL: emu.jwksUrl('main'), CF_ZONE_ID: ZONE, CF_TOKEN_CONFIG_ID: CONFIG, FETCH_TIMEOUT_MS: '5000' }) });
});
after(() => h.close());
beforeEach(() => {
  h.emu.setStoredKeys(ZONE, CONFIG, []);
  h.emu.idp('main').clear();
  h.emu.clearRequests();
});

const idpRequests = () => h.emu.requestsTo({ face: 'idp' });

/** The emulator's requests as `face/route` words, in arrival order. */
const sequence = () => h.emu.requests.map((r) => (r.face === 'idp' ? 'idp' : r.route));

test('two POSTs at once while the IdP changes its set: live ends as what the IdP publishes last', async () => {
  const idp = h.emu.idp('main');
  const a = idp.generateKey({ alg: 'ES256' });
  const b = idp.generateKey({ alg: 'ES256' });
  idp.setKeys([a]);
  // The IdP's first answer (set A) takes 1.5 s; the second (set B, a rotation: A's key and the
  // next one) comes at once.
  idp.misbehave({ delayMs: 1500, times: 1 });
  const first = h.post();
  await waitFor(() => idpRequests().length === 1, 10_000, 'the first run to ask the IdP');
  idp.setKeys([a, b]);
  const second = h.post();
  const [r1, r2] = await Promise.all([first, second]);

  const [t1] = r1.body.targets;
  const [t2] = r2.body.targets;
  assert.deepEqual([t1.outcome, ids(t1.keys)], ['updated', ids([a])]);
  assert.deepEqual([t2.outcome, ids(t2.keys)], ['updated', ids([a, b])]);
  assert.equal(t2.run_id, t1.run_id + 1);
  assert.deepEqual(ids(h.emu.storedKeys(ZONE, CONFIG)), ids([a, b]), 'live holds the set the IdP published last');
  // The second run asked the IdP only after the first one had written: the runs did not overlap.
  assert.deepEqual(sequence(), ['idp', 'getConfig', 'putCredentials', 'idp', 'getConfig', 'putCredentials']);
});

test('callers arriving during a run share the next run', async () => {
  const idp = h.emu.idp('main');
  idp.misbehave({ delayMs: 1000, times: 1 });
  const first = h.post();
  await waitFor(() => idpRequests().length === 1, 10_000, 'the first run to ask the IdP');
  const rest = [h.post(), h.post(), h.post()];
  const answers = await Promise.all([first, ...rest]);
  const runIds = answers.map((r) => r.body.targets[0].run_id);
  assert.equal(new Set(runIds.slice(1)).size, 1, `the waiting callers share one run: ${runIds}`);
  assert.equal(runIds[1], runIds[0] + 1);
  assert.equal(idpRequests().length, 2, 'two runs in all, not four');
  assert.deepEqual(answers.map((r) => r.body.targets[0].outcome), ['updated', 'unchanged', 'unchanged', 'unchanged']);
});

test('a cron tick during a manual run waits for it, then runs on its own', async () => {
  const idp = h.emu.idp('main');
  idp.misbehave({ delayMs: 1000, times: 1 });
  const post = h.post();
  await waitFor(() => idpRequests().length === 1, 10_000, 'the manual run to ask the IdP');
  const rotated = idp.rotate({ alg: 'ES256' });
  const cron = await h.scheduled();
  const r = await post;
  assert.equal(cron.outcome, 'ok');
  assert.equal(r.body.targets[0].outcome, 'updated');
  assert.ok(ids(h.emu.storedKeys(ZONE, CONFIG)).some((k) => k.kid === rotated.kid), 'the cron run saw the rotation');
  assert.deepEqual(sequence(), ['idp', 'getConfig', 'putCredentials', 'idp', 'getConfig', 'putCredentials']);
  const lines = (await h.logLines()).filter((l) => l.event === 'jwks-sync' && l.run_id !== undefined);
  const triggers = Object.fromEntries(lines.map((l) => [l.run_id, l.trigger]));
  assert.equal(triggers[r.body.targets[0].run_id], 'http');
  assert.equal(triggers[r.body.targets[0].run_id + 1], 'cron');
});

test('a caller that allows a full replacement never shares a run with one that does not', async () => {
  const idp = h.emu.idp('main');
  const [a, b] = [idp.generateKey({ alg: 'ES256' }), idp.generateKey({ alg: 'ES256' })];
  idp.setKeys([a]);
  await h.post();
  idp.misbehave({ delayMs: 1500, times: 1 });
  const first = h.post();
  await waitFor(() => idpRequests().length === 2, 10_000, 'the slow run to ask the IdP');
  // The IdP switches to a set that shares nothing with live: only an allowed run may write it.
  idp.setKeys([b]);
  const allowing = h.post('/?allow_full_replacement=true');
  await new Promise((r) => setTimeout(r, 200));
  const plain = h.post();
  const [r1, r2, r3] = await Promise.all([first, allowing, plain]);
  const [t1, t2, t3] = [r1, r2, r3].map((r) => r.body.targets[0]);
  assert.equal(t1.outcome, 'unchanged');
  assert.deepEqual([t2.outcome, t2.run_id], ['updated', t1.run_id + 1], JSON.stringify(t2));
  assert.deepEqual(t2.warnings, [`full replacement allowed by ?allow_full_replacement=true: every live key (${a.kid}) is replaced by the IdP's (${b.kid})`]);
  // Its own run, after the allowed one: nothing left to write, and no allowance in its answer.
  assert.deepEqual([t3.outcome, t3.run_id, t3.warnings], ['unchanged', t1.run_id + 2, []]);
  assert.deepEqual(ids(h.emu.storedKeys(ZONE, CONFIG)), ids([b]));
});

test('a preview takes no lock: it answers while a sync is still running', async () => {
  const idp = h.emu.idp('main');
  idp.misbehave({ delayMs: 1500, times: 1 });
  let postDone = false;
  const post = h.post().then((r) => ((postDone = true), r));
  await waitFor(() => idpRequests().length === 1, 10_000, 'the sync to ask the IdP');
  const preview = await h.get();
  assert.equal(postDone, false, 'the preview answered before the sync ended');
  assert.equal(preview.body.targets[0].outcome, 'would_update');
  assert.equal(preview.body.targets[0].run_id, undefined, 'a preview is not a recorded run');
  assert.equal((await post).body.targets[0].outcome, 'updated');
});

test('three overlapping POSTs: each gets its own run, answered when that run ends, not after later ones', async () => {
  // Each run asks the IdP first, and the IdP takes 2.5 s to answer each of the three runs.
  h.emu.idp('main').misbehave({ delayMs: 2500, times: 3 });
  const runsPastTheIdp = () => h.emu.requestsTo({ route: 'getConfig' }).length;
  const seen = {};
  const post = (name) => h.post().then((r) => ((seen[name] = runsPastTheIdp()), r));
  const first = post('first');
  await waitFor(() => idpRequests().length === 1, 10_000, 'run 1 to ask the IdP');
  const second = post('second');
  await waitFor(() => idpRequests().length === 2, 15_000, 'run 2 to ask the IdP (run 1 ended)');
  const third = post('third');
  const answers = await Promise.all([first, second, third]);

  const [id1, id2, id3] = answers.map((r) => r.body.targets[0].run_id);
  assert.deepEqual([id2, id3], [id1 + 1, id1 + 2], 'three callers, three runs, each its own');
  assert.deepEqual(answers.map((r) => r.body.targets[0].outcome), ['updated', 'unchanged', 'unchanged']);
  // A caller answered while the next run was still waiting for the IdP (2.5 s) was not held for
  // it: the first POST's answer came before run 2 read the live keys, the second's before run 3 did.
  assert.deepEqual([seen.first, seen.second, seen.third], [1, 2, 3], 'how many runs had got past the IdP when each caller was answered');
  assert.equal(idpRequests().length, 3);
});
