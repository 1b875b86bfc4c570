// Same-target retries, the reference gateway's rules: 5xx and transport failures are retried up
// to the model's `retries` (else upstream.retries, default 2) with backoff, honouring a short
// Retry-After; 4xx (429 included) never; a timeout only when the model sets retries itself.
// A small upstream in this test fails the first N calls of each scenario and then succeeds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startProxy, call, chatBody } from './lib/fleet.mjs';
import { teardown } from './lib/harness.mjs';

let up, s;
const calls = new Map(); // upstream model -> [{ at }]

// The upstream model name encodes the scenario: "<status>x<failures>[-ra<secs>][-slow][-tag]"
// (failures are slow when -slow; the tag only keeps scenarios' counters apart).
function handle(req, res) {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    const model = JSON.parse(body).model;
    const seen = calls.get(model) ?? [];
    seen.push({ at: Date.now() });
    calls.set(model, seen);
    const [, status, failures, ra, slow] = model.match(/^(\d+)x(\d+)(?:-ra(\d+))?(-slow)?(?:-[a-z]+)?$/);
    const reply = () => {
      if (seen.length <= Number(failures)) {
        const headers = { 'content-type': 'application/json' };
        if (ra) headers['retry-after'] = ra;
        res.writeHead(Number(status), headers);
        res.end(JSON.stringify({ error: { message: `failure ${seen.length}`, type: 'server_error' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', model, choices: [{ index: 0, message: { role: 'assistant', content: `ok after ${seen.length}` }, finish_reason: 'stop' }] }));
    };
    if (slow && seen.length <= Number(failures)) setTimeout(reply, 1500); else reply();
  });
}

before(async () => {
  up = http.createServer(handle);
  await new Promise((r) => up.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${up.address().port}/v1`;
  const m = (name, upstream, extra = {}) => ({ name, provider: 'flaky', upstream, ...extra });
  s = await startProxy({
    providers: { flaky: base },
    models: [
      m('recovers', '503x2'),
      m('gives-up', '502x3'),
      m('no-retries', '500x1', { retries: 0 }),
      m('rate-limited', '429x1'),
      m('retry-after', '503x1-ra1'),
      m('timeout-default', '504x1-slow', { timeout: 500 }),
      m('timeout-explicit', '504x1-slow-explicit', { timeout: 500, retries: 1 }),
      m('stream-recovers', '503x1'),
    ],
  });
});

after(() => teardown(
  async () => assert.equal((await s.stop()).code, 0),
  () => up.close(),
));

const attempts = (upstream) => (calls.get(upstream) ?? []).length;

test('a 5xx is retried with the default budget and the caller gets the success', async () => {
  const r = await call(s.port, '/v1/chat/completions', { body: chatBody('recovers') });
  assert.equal(r.status, 200, r.text);
  assert.equal(JSON.parse(r.text).choices[0].message.content, 'ok after 3');
  assert.equal(attempts('503x2'), 3);
});

test('past the budget the caller gets 502, after 1 + retries attempts', async () => {
  const r = await call(s.port, '/v1/chat/completions', { body: chatBody('gives-up') });
  assert.equal(r.status, 502);
  assert.equal(JSON.parse(r.text).error.message, 'upstream returned 502');
  assert.equal(attempts('502x3'), 3);
});

test('retries: 0 on the model: one attempt', async () => {
  const r = await call(s.port, '/v1/chat/completions', { body: chatBody('no-retries') });
  assert.equal(r.status, 502);
  assert.equal(attempts('500x1'), 1);
});

test('a 429 is never retried on a direct model; the caller sees it', async () => {
  const r = await call(s.port, '/v1/chat/completions', { body: chatBody('rate-limited') });
  assert.equal(r.status, 429);
  assert.equal(attempts('429x1'), 1);
});

test('a short Retry-After on a 5xx sets the wait before the retry', async () => {
  const r = await call(s.port, '/v1/chat/completions', { body: chatBody('retry-after') });
  assert.equal(r.status, 200);
  const [first, second] = calls.get('503x1-ra1');
  assert.ok(second.at - first.at >= 900, `waited ${second.at - first.at} ms for Retry-After: 1`);
});

test('a timeout is not retried by default, and is when the model sets retries', async () => {
  const d = await call(s.port, '/v1/chat/completions', { body: chatBody('timeout-default') });
  assert.equal(d.status, 504);
  const e = await call(s.port, '/v1/chat/completions', { body: chatBody('timeout-explicit') });
  assert.equal(e.status, 200, e.text);
  assert.equal(attempts('504x1-slow'), 1);
  assert.equal(attempts('504x1-slow-explicit'), 2);
});

test('a stream whose upstream fails before its head is retried too', async () => {
  const r = await call(s.port, '/v1/chat/completions', { body: chatBody('stream-recovers', { stream: true }) });
  assert.equal(r.status, 200);
  assert.equal(attempts('503x1'), 2);
});
