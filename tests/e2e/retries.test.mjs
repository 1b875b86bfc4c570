// Same-target retries, the reference gateway's rules: 5xx and transport failures are retried up
// to the model's `retries` (else upstream.retries, default 2) with backoff, honouring a short
// Retry-After; 4xx (429 included) never; a timeout only when the model sets retries itself.
// A small upstream in this test fails the first N calls of each scenario and then succeeds;
// streams go to the project's mock, told to fail the first N attempts (mock.fail_first).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startProxy, call, chatBody } from './lib/fleet.mjs';
import { UPSTREAM_KEY } from './lib/gateway.mjs';
import { startMock, teardown } from './lib/harness.mjs';

let up, mock, s;
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
  mock = await startMock(['--require-key', UPSTREAM_KEY]);
  const m = (name, upstream, extra = {}) => ({ name, provider: 'flaky', upstream, ...extra });
  s = await startProxy({
    providers: { flaky: base, mock: `${mock.base}/v1` },
    models: [
      m('recovers', '503x2'),
      m('gives-up', '502x3'),
      m('no-retries', '500x1', { retries: 0 }),
      m('rate-limited', '429x1'),
      m('retry-after', '503x1-ra1'),
      m('timeout-default', '504x1-slow', { timeout: 500 }),
      m('timeout-explicit', '504x1-slow-explicit', { timeout: 500, retries: 1 }),
      { name: 'streamer', provider: 'mock', upstream: 'up-streamer' },
    ],
  });
});

after(() => teardown(
  async () => assert.equal((await s.stop()).code, 0),
  () => up.close(),
  () => mock.stop(),
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

// ---- streams (the mock: it fails only the first N attempts of a tag, then streams) ----

const events = (text) => text.split('\n\n').filter(Boolean);
const streamCall = (tag, mockOpts) => call(s.port, '/v1/chat/completions', {
  body: chatBody('streamer', { stream: true, mock: { tag, chunks: 4, chunk_text: 'ok ', ...mockOpts } }),
});

// A whole stream as the caller must see it: the role chunk, four deltas, the finish chunk, [DONE].
function assertOneCompleteStream(r) {
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers['content-type'], 'text/event-stream; charset=utf-8');
  const ev = events(r.text);
  assert.equal(ev.length, 1 + 4 + 1 + 1, r.text);
  assert.equal(ev.at(-1), 'data: [DONE]');
  const chunks = ev.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)));
  assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), 'ok '.repeat(4));
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1, 'every chunk from one upstream stream');
}

test('a stream whose first attempt gets a 5xx head is retried; the caller gets one complete stream', async () => {
  await mock.reset();
  const r = await streamCall('first-fails', { status: 503, fail_first: 1 });
  assertOneCompleteStream(r);
  const st = await mock.stats();
  assert.deepEqual([st.requests, st.errors_injected, st.streams_started, st.streams_completed, st.streams_aborted],
    [2, 1, 1, 1, 0], JSON.stringify(st));
  const [first, second] = await mock.requests();
  assert.equal(second.body, first.body, 'the retry sends the same request');
});

test('a stream whose every attempt gets a 5xx head: 502 after 1 + retries attempts, no stream started', async () => {
  await mock.reset();
  const r = await streamCall('always-fails', { status: 503, fail_first: 10 });
  assert.equal(r.status, 502);
  assert.equal(JSON.parse(r.text).error.message, 'upstream returned 503');
  const st = await mock.stats();
  assert.deepEqual([st.requests, st.errors_injected, st.streams_started], [3, 3, 0], JSON.stringify(st));
});

test('a stream cut after its head is not retried: the caller gets what came and an error frame', async () => {
  await mock.reset();
  const r = await streamCall('cut', { disconnect_after_chunks: 2 });
  assert.equal(r.status, 200);
  const ev = events(r.text);
  assert.ok(!ev.includes('data: [DONE]'));
  assert.match(ev.at(-1), /^event: error\ndata: /);
  const st = await mock.stats();
  assert.deepEqual([st.requests, st.streams_started, st.streams_disconnected], [1, 1, 1], JSON.stringify(st));
});
