// Streams at the wire level (curl), where the SDK would hide framing: CRLF and split upstream
// writes, the error frame after a mid-stream failure, keep-alive comments, a client leaving
// mid-stream (the upstream transfer must stop), a reload while a stream runs, and a client
// leaving a slow non-streaming call.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn as spawnChild } from 'node:child_process';

// curl for tests that kill it midway: no stdin, and no error when it dies.
function spawn(cmd, args) {
  const child = spawnChild(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.on('error', () => {});
  return child;
}
import { startGateway, stopGateway, KEYS, resourcesYaml } from './lib/gateway.mjs';
import { curl, eventually, sleep } from './lib/harness.mjs';

let g;
before(async () => { g = await startGateway({ configExtra: 'downstream:\n  sse_keepalive_interval_secs: 1\n' }); });
after(async () => { assert.equal((await stopGateway(g)).code, 0); });

function chatBody(extra) {
  return JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true, ...extra });
}

async function rawStream(extra, args = []) {
  return curl(['-N', '-X', 'POST', '-H', `authorization: Bearer ${KEYS.teamA}`, '-H', 'content-type: application/json',
    '-d', chatBody(extra), ...args, g.sluice.url('/v1/chat/completions')]);
}

function events(body) {
  return body.split('\n\n').filter((e) => e.length > 0);
}

test('stream headers and framing: text/event-stream, no buffering, [DONE] last', async () => {
  const r = await rawStream({ mock: { chunks: 3 } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/event-stream; charset=utf-8');
  assert.equal(r.headers['x-accel-buffering'], 'no');
  assert.equal(r.headers['cache-control'], 'no-cache');
  const ev = events(r.body);
  assert.equal(ev.at(-1), 'data: [DONE]');
  for (const e of ev.slice(0, -1)) {
    assert.match(e, /^data: \{/);
    const chunk = JSON.parse(e.slice(6));
    assert.equal(chunk.model, 'gpt-4o-mini');
    // The upstream was asked for usage (every chunk then carries "usage": null); a caller who
    // did not ask sees chunks as OpenAI would send them: no usage member at all.
    assert.equal('usage' in chunk, false, e);
  }
  assert.equal(ev.length, 1 + 3 + 1 + 1);
});

for (const [name, mock] of [['CRLF line endings', { crlf: true }], ['events split across TCP writes', { split_writes: true }],
  ['both', { crlf: true, split_writes: true }]]) {
  test(`upstream ${name} are relayed as clean events`, async () => {
    const r = await rawStream({ stream_options: { include_usage: true }, mock: { chunks: 5, chunk_text: 'w', ...mock } });
    const ev = events(r.body);
    assert.equal(ev.at(-1), 'data: [DONE]');
    const chunks = ev.slice(0, -1).map((e) => JSON.parse(e.slice(6)));
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'wwwww');
    assert.equal(chunks.at(-1).usage.completion_tokens, 5);
    assert.ok(chunks.every((c) => c.model === 'gpt-4o-mini'));
  });
}

test('an upstream cut mid-stream ends with an error frame and no [DONE]', async () => {
  const r = await rawStream({ mock: { chunks: 6, disconnect_after_chunks: 2 } });
  assert.equal(r.status, 200);
  const ev = events(r.body);
  assert.ok(!ev.includes('data: [DONE]'));
  const last = ev.at(-1);
  assert.match(last, /^event: error\ndata: /);
  const err = JSON.parse(last.split('\ndata: ')[1]).error;
  assert.equal(err.type, 'stream_aborted');
  assert.match(err.message, /^upstream stream failed: /);
});

test('a stalled upstream stream hits the stream timeout (idle) and ends with an error frame', async () => {
  // quick-timeout has timeout: 300 (ms), which is also its stream budget between events.
  const r = await rawStream({ model: 'quick-timeout', mock: { chunks: 5, stall_after_chunks: 1 } });
  const last = events(r.body).at(-1);
  const err = JSON.parse(last.split('\ndata: ')[1]).error;
  assert.equal(err.type, 'timeout');
  assert.equal(err.message, 'upstream stream timed out: nothing received for 300 ms');
});

test('keep-alive comments flow while the upstream is silent', async () => {
  const r = await rawStream({ mock: { chunks: 1, ttft_ms: 3600 } });
  const ev = events(r.body);
  assert.ok(ev.filter((e) => e === ':').length >= 2, JSON.stringify(ev));
  assert.equal(ev.at(-1), 'data: [DONE]');
});

// The upstream's answer takes far longer (hours) than any wait below (eventually() gives up
// after 30 s, 120 s under Valgrind), so only Sluice cancelling it can end it in time.
const FOREVER_MS = 3600000;

test('a client leaving mid-stream stops the upstream transfer', async () => {
  await g.mock.reset();
  const child = spawn('curl', ['-sN', '-X', 'POST', '-H', `authorization: Bearer ${KEYS.teamA}`,
    '-d', chatBody({ mock: { chunks: 1000000, chunk_interval_ms: 20 } }), g.sluice.url('/v1/chat/completions')]);
  let got = '';
  child.stdout.on('data', (d) => { got += d; });
  await eventually(() => got.includes('"delta"'), 'the first chunks');
  const mark = g.sluice.log().length;
  child.kill('SIGKILL');
  const s = await eventually(async () => {
    const st = await g.mock.stats();
    return st.streams_aborted === 1 && st.active === 0 ? st : null;
  }, 'the upstream stream to be aborted');
  assert.deepEqual([s.requests, s.streams_started, s.streams_completed, s.streams_aborted], [1, 1, 0, 1]);
  await g.sluice.waitFor(/status=499/, 'the 499 access line', mark);
});

test('a client leaving a slow non-streaming call cancels the upstream call', async () => {
  await g.mock.reset();
  const child = spawn('curl', ['-s', '-X', 'POST', '-H', `authorization: Bearer ${KEYS.teamA}`,
    '-d', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], mock: { latency_ms: FOREVER_MS } }),
    g.sluice.url('/v1/chat/completions')]);
  await eventually(async () => (await g.mock.stats()).active === 1, 'the upstream call to start');
  const mark = g.sluice.log().length;
  child.kill('SIGKILL');
  await eventually(async () => (await g.mock.stats()).active === 0, 'the upstream call to be cancelled');
  assert.equal((await g.mock.stats()).requests, 1);
  await g.sluice.waitFor(/status=499/, 'the 499 access line', mark);
});

test('a reload that adds a model while a stream is running: the stream finishes, the new model works', async () => {
  const stream = rawStream({ mock: { chunks: 40, chunk_interval_ms: 25 } });
  await sleep(200);
  g.sluice.writeResources(resourcesYaml(g.sluice.apiBase, `  - display_name: added-model
    provider_key: mock
    model_name: newly-added
`));
  const mark = g.sluice.log().length;
  g.sluice.signal('SIGHUP');
  await g.sluice.waitFor(/reload: resources file .* reloaded: generation 2 /, 'the reload', mark);
  const r = await stream;
  const ev = events(r.body);
  assert.equal(ev.at(-1), 'data: [DONE]', 'the running stream completed on its generation');
  assert.equal(ev.length, 1 + 40 + 1 + 1);
  const added = await curl(['-X', 'POST', '-H', `authorization: Bearer ${KEYS.teamA}`, '-d',
    JSON.stringify({ model: 'added-model', messages: [{ role: 'user', content: 'x' }] }), g.sluice.url('/v1/chat/completions')]);
  assert.equal(added.status, 200);
  assert.equal(JSON.parse(added.body).model, 'added-model');
});

test('a broken resources file on reload is rejected with every error; the old one keeps serving', async () => {
  g.sluice.writeResources('_format_version: 1\nmodels:\n  - display_name: x\nbogus: []\n');
  const mark = g.sluice.log().length;
  g.sluice.signal('SIGHUP');
  await g.sluice.waitFor(/reload: .* rejected with \d+ error\(s\); generation \d+ keeps serving/, 'the rejection', mark);
  // Every error is logged, each on its own line.
  await g.sluice.waitFor(/resources\.yaml:1: _format_version: expected the quoted string "1"/, 'the version error', mark);
  await g.sluice.waitFor(/resources\.yaml:\d+: bogus: unknown/, 'the unknown-key error', mark);
  const r = await curl(['-X', 'POST', '-H', `authorization: Bearer ${KEYS.teamA}`, '-d',
    JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }), g.sluice.url('/v1/chat/completions')]);
  assert.equal(r.status, 200);
});
