// Model groups on the Responses API: POST /v1/responses walks the plan like the other routes
// (JSON and streams fail over between targets; a chat-only target answers through translation),
// response ids are sealed for the provider key of the target that served them, and whatever
// needs a stored response stays on that key: GET /v1/responses/{id} and previous_response_id go
// to it even when the group would try another target first, and never fail over to another key.
//
// Every target is on one mock (its fail_first counters are shared: {fail_first: 1, tag} fails
// exactly the first attempt of a request), but each provider key has its own api_base prefix
// (/a/v1, /b/v1, ...; the mock matches path suffixes), so the mock's request log says which key
// a call went to. Groups use the default strategy (failover: declaration order).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy, call } from './lib/fleet.mjs';
import { UPSTREAM_KEY } from './lib/gateway.mjs';
import { startMock, teardown } from './lib/harness.mjs';

let mock, s;
const NO_COOLDOWN = { enabled: false };

before(async () => {
  mock = await startMock(['--require-key', UPSTREAM_KEY]);
  const t = (name, provider) => ({ name, provider, upstream: `up-${name}`, cooldown: NO_COOLDOWN });
  const group = (name, targets) => ({ name, routing: { targets: targets.map((model) => ({ model })) } });
  s = await startProxy({
    providers: {
      pa: `${mock.base}/a/v1`,
      pb: `${mock.base}/b/v1`,
      // vllm: an OpenAI-compatible family without the Responses capability (chat only).
      pc: { base: `${mock.base}/c/v1`, vendor: 'vllm' },
    },
    models: [
      t('ra', 'pa'), t('rb', 'pb'), group('resp', ['ra', 'rb']),
      t('sa', 'pa'), t('sb', 'pb'), group('resp-stream', ['sa', 'sb']),
      t('ma', 'pa'), t('mc', 'pc'), group('resp-mixed', ['ma', 'mc']),
      t('ca', 'pa'), t('cb', 'pb'), group('resp-cut', ['ca', 'cb']),
    ],
  });
});

after(() => teardown(
  async () => assert.equal((await s.stop()).code, 0),
  () => mock.stop(),
));

const responses = (model, extra = {}) => call(s.port, '/v1/responses',
  { body: JSON.stringify({ model, input: 'hi', ...extra }) });
const served = (r) => r.headers['x-sluice-served-by'];
const failFirst = (tag, opts) => ({ mock: { fail_first: 1, tag, ...opts } });
const lastUpstream = async () => (await mock.requests()).at(-1);

async function accessLine(r) {
  const id = r.headers['x-request-id'];
  const m = await s.waitFor(new RegExp(`INFO  access .*request_id="${id}".*\\n`), `the access line of ${id}`);
  return m[0];
}
const attemptsOf = (line) => line.match(/ attempts="([^"]*)"/)[1].split(', ').map((a) => a.replace(/ \d+ms$/, ''));

// The data of each named event of an SSE body.
const eventsOf = (text) => text.split('\n\n').filter(Boolean).map((e) => {
  const name = e.match(/^event: (.*)$/m)?.[1];
  const data = e.match(/^data: (.*)$/m)?.[1];
  return { name, data: data !== undefined ? JSON.parse(data) : undefined };
});

let storedId; // a response created through the group, served by rb (key pb)

test('a 500 fails over to the next target; the id is sealed for the key that served it', async () => {
  await mock.reset();
  const r = await responses('resp', failFirst('resp', { status: 500 }));
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'rb');
  const body = JSON.parse(r.text);
  assert.equal(body.object, 'response');
  assert.equal(body.model, 'resp', 'the caller sees the name it sent');
  assert.match(body.id, /^resp_/);
  assert.doesNotMatch(body.id, /^resp_mock_/, 'the upstream id is sealed');
  assert.deepEqual(attemptsOf(await accessLine(r)), ['ra 500', 'rb 200']);
  const sent = await mock.requests();
  assert.deepEqual(sent.map((q) => `${q.method} ${q.path}`), ['POST /a/v1/responses', 'POST /b/v1/responses']);
  assert.equal(JSON.parse(sent[1].body).model, 'up-rb');
  storedId = body.id;
});

test('a stored response is read from the key that holds it, not re-routed across the group', async () => {
  assert.ok(storedId, 'needs the response of the failover test');
  await mock.reset();
  // The group would try ra (key pa) first; the id names pb.
  const r = await call(s.port, `/v1/responses/${storedId}`, { method: 'GET' });
  assert.equal(r.status, 200, r.text);
  const body = JSON.parse(r.text);
  assert.equal(body.id, storedId);
  assert.equal(body.model, 'resp');
  const up = await lastUpstream();
  assert.equal(up.method, 'GET');
  assert.match(up.path, /^\/b\/v1\/responses\/resp_mock_/);
  assert.equal((await mock.stats()).requests, 1);
  assert.deepEqual(attemptsOf(await accessLine(r)), ['rb 200']);
  assert.equal(served(r), undefined, 'one direct model, not a routed call');
});

test('previous_response_id keeps the plan to the key that holds the response, and never fails over to another', async () => {
  assert.ok(storedId, 'needs the response of the failover test');
  await mock.reset();
  const r = await responses('resp', { previous_response_id: storedId });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'rb', 'ra comes first in the group but its key does not hold the response');
  const up = await lastUpstream();
  assert.equal(up.path, '/b/v1/responses');
  assert.match(JSON.parse(up.body).previous_response_id, /^resp_mock_/, 'the upstream gets its own id');
  assert.equal(JSON.parse(r.text).previous_response_id, storedId, 'and the caller the sealed one');

  // rb failing: its retries, then the failure; ra (another key) is never asked.
  await mock.reset();
  const f = await responses('resp', { previous_response_id: storedId, mock: { status: 500 } });
  assert.equal(f.status, 502, f.text);
  assert.deepEqual(attemptsOf(await accessLine(f)), ['rb 500', 'rb 500', 'rb 500']);
  assert.ok((await mock.requests()).every((q) => q.path === '/b/v1/responses'));
});

test('an id that opens for no target of the group is refused (400 previous_response_not_found)', async () => {
  await mock.reset();
  const r = await responses('resp-mixed', { previous_response_id: storedId });
  assert.equal(r.status, 400, r.text);
  assert.equal(JSON.parse(r.text).error.code, 'previous_response_not_found');
  assert.equal((await mock.stats()).requests, 0);
});

test('a stream fails over before its first event; its ids are sealed for the serving key', async () => {
  await mock.reset();
  const r = await responses('resp-stream', { stream: true, ...failFirst('resp-stream', { status: 503 }) });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'sb');
  const ev = eventsOf(r.text);
  assert.equal(ev[0].name, 'response.created');
  assert.equal(ev.at(-1).name, 'response.completed');
  const id = ev.at(-1).data.response.id;
  assert.doesNotMatch(id, /^resp_mock_/);
  assert.equal(ev[0].data.response.id, id);
  assert.equal(ev.at(-1).data.response.model, 'resp-stream');
  assert.deepEqual(attemptsOf(await accessLine(r)), ['sa 503', 'sb 200']);
  // The id opens for pb: reading it goes to /b.
  await mock.reset();
  const g = await call(s.port, `/v1/responses/${id}`, { method: 'GET' });
  assert.equal(g.status, 200, g.text);
  assert.match((await lastUpstream()).path, /^\/b\/v1\/responses\//);
});

test('a stream that fails after its first event does not fail over: the upstream\'s error event ends it', async () => {
  await mock.reset();
  const r = await responses('resp-cut', { stream: true, mock: { stream_error_after_chunks: 2 } });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'ca');
  const ev = eventsOf(r.text);
  assert.equal(ev[0].name, 'response.created');
  assert.equal(ev.at(-1).name, 'error');
  assert.equal(ev.at(-1).data.code, 'server_error');
  assert.ok(!ev.some((e) => e.name === 'response.completed'));
  assert.deepEqual(attemptsOf(await accessLine(r)), ['ca 200']);
  assert.equal((await mock.stats()).requests, 1);
});

test('a Responses target failing over to a chat-only target: the request is translated, JSON and streams', async () => {
  await mock.reset();
  const r = await responses('resp-mixed', failFirst('mixed-json', { status: 500 }));
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'mc');
  const body = JSON.parse(r.text);
  assert.equal(body.object, 'response');
  assert.equal(body.model, 'resp-mixed');
  assert.equal(body.status, 'completed');
  assert.ok(body.output.some((o) => o.type === 'message'), r.text);
  assert.deepEqual((await mock.requests()).map((q) => q.path), ['/a/v1/responses', '/c/v1/chat/completions']);
  assert.equal(JSON.parse((await lastUpstream()).body).model, 'up-mc');
  assert.deepEqual(attemptsOf(await accessLine(r)), ['ma 500', 'mc 200']);

  await mock.reset();
  const st = await responses('resp-mixed', { stream: true, ...failFirst('mixed-stream', { status: 500 }) });
  assert.equal(st.status, 200, st.text);
  assert.equal(served(st), 'mc');
  const ev = eventsOf(st.text);
  assert.equal(ev[0].name, 'response.created');
  assert.equal(ev.at(-1).name, 'response.completed');
  assert.equal(ev.at(-1).data.response.model, 'resp-mixed');
  assert.deepEqual((await mock.requests()).map((q) => q.path), ['/a/v1/responses', '/c/v1/chat/completions']);
});
