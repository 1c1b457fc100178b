// The sinks: receivers that record alert webhooks and heartbeat pings, and answer as told.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator } from '../index.mjs';
import { control, request } from './helpers.mjs';

let emu;
before(async () => {
  emu = await startEmulator({ sinks: ['webhook'] });
});
after(() => emu.close());
beforeEach(() => {
  for (const name of emu.sinkNames()) emu.sink(name).clear();
  emu.clearRequests();
});

test('a sink records each request and answers 200 ok', async () => {
  const hook = emu.sink('webhook');
  assert.equal(hook.url(), `${emu.url}/sink/webhook`);
  assert.equal(emu.sinkUrl('webhook', 'fail'), `${emu.url}/sink/webhook/fail`);
  const r = await request(hook.url(), { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer s3cret' }, body: { text: 'hello', n: 1 } });
  assert.deepEqual([r.status, r.text], [200, 'ok']);
  assert.equal(hook.received.length, 1);
  const [got] = hook.received;
  assert.deepEqual({ method: got.method, path: got.path, body: got.body, status: got.status }, { method: 'POST', path: '', body: { text: 'hello', n: 1 }, status: 200 });
  assert.equal(got.headers['content-type'], 'application/json');
  assert.equal(got.headers.authorization, 'Bearer [redacted]');
  assert.match(got.time, /^\d{4}-\d\d-\d\dT/);
  // It is in the request log too, as face 'sink'.
  const [logged] = emu.requestsTo({ face: 'sink' });
  assert.deepEqual([logged.sink, logged.route, logged.status], ['webhook', '', 200]);
});

test('sub-paths and queries are kept: a heartbeat success and failure on one sink', async () => {
  await request(emu.sinkUrl('hc'));
  await request(`${emu.sinkUrl('hc', 'fail')}?rid=1`, { method: 'HEAD' });
  assert.deepEqual(
    emu.sink('hc').received.map((r) => [r.method, r.path, r.query]),
    [
      ['GET', '', {}],
      ['HEAD', 'fail', { rid: '1' }],
    ],
  );
  assert.ok(emu.sinkNames().includes('hc'), 'created by its first request');
});

test('respond: statuses for the next N requests, retry-after, delays, then ok again', async () => {
  const hook = emu.sink('webhook');
  hook.respond({ status: 503, retryAfter: 1, times: 2 });
  hook.respond({ status: 200, delayMs: 300, times: 1 });
  const a = await request(hook.url(), { method: 'POST', body: '{}' });
  assert.deepEqual([a.status, a.headers.get('retry-after'), a.text], [503, '1', 'sink webhook answers 503']);
  assert.equal((await request(hook.url(), { method: 'POST', body: '{}' })).status, 503);
  const t0 = Date.now();
  assert.equal((await request(hook.url(), { method: 'POST', body: '{}' })).status, 200);
  assert.ok(Date.now() - t0 >= 250, 'the delay applies');
  assert.equal((await request(hook.url(), { method: 'POST', body: '{}' })).status, 200);
  assert.deepEqual(hook.received.map((r) => r.status), [503, 503, 200, 200]);
  hook.respond({ status: 404 });
  assert.equal((await request(hook.url())).status, 404);
  assert.equal((await request(hook.url())).status, 404, 'without times: until cleared');
  hook.clear();
  assert.equal((await request(hook.url())).status, 200);
  assert.throws(() => hook.respond({ status: 42 }), /status must be an HTTP status/);
});

test('control routes read, script and clear a sink', async () => {
  let r = await control(emu, 'POST', '/sink/webhook/respond', { status: 500, times: 1 });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.rules, [{ target: '*', status: 500, remaining: 1 }]);
  assert.equal((await request(emu.sinkUrl('webhook'), { method: 'POST', body: { text: 'x' } })).status, 500);
  r = await control(emu, 'GET', '/sink/webhook');
  assert.deepEqual([r.json.name, r.json.url, r.json.received.map((x) => [x.body.text, x.status])], ['webhook', emu.sinkUrl('webhook'), [['x', 500]]]);
  assert.deepEqual((await control(emu, 'GET', '/state')).json.sinks.find((s) => s.name === 'webhook'), { name: 'webhook', url: emu.sinkUrl('webhook'), received: 1 });
  await control(emu, 'POST', '/sink/webhook/clear');
  assert.deepEqual((await control(emu, 'GET', '/sink/webhook')).json.received, []);
  assert.equal((await control(emu, 'POST', '/sink/bad name!/clear')).status, 400);
});
