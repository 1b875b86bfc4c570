// Model groups, health: a failing target cools down (for the upstream's Retry-After when it sends
// one) and comes back when the cooldown ends; background checks take a target out and put it
// back; when every candidate fails its checks, when_all_unavailable decides between a 503 and
// trying anyway. Streams fail over until their first event, and never after it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startProxy, call, closedPort } from './lib/fleet.mjs';
import { UPSTREAM_KEY } from './lib/gateway.mjs';
import { startMock, teardown, scrapeMetrics, eventually } from './lib/harness.mjs';

let mock, late, s, dead, flaky;
// The flaky upstream answers chat completions with `flakyStatus` (200: a completion).
let flakyStatus = 503;
let flakyCalls = 0;

function startFlaky() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      flakyCalls++;
      if (flakyStatus !== 200) {
        res.writeHead(flakyStatus, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'down for maintenance', type: 'server_error' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'flaky',
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] }));
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

const CHECK = { enabled: true, interval_seconds: 5, timeout_seconds: 2, prompt: 'ping', max_tokens: 1, stale_after_seconds: 3600 };

before(async () => {
  mock = await startMock(['--require-key', UPSTREAM_KEY]);
  late = await startMock(['--require-key', UPSTREAM_KEY, '--ttft-ms', '60000']);
  dead = await closedPort();
  flaky = await startFlaky();
  const t = (name, provider = 'mock', extra = {}) => ({ name, provider, upstream: `up-${name}`, ...extra });
  const group = (name, targets, routing = {}, extra = {}) =>
    ({ name, routing: { targets: targets.map((model) => ({ model })), ...routing }, ...extra });
  s = await startProxy({
    providers: {
      mock: `${mock.base}/v1`, late: `${late.base}/v1`, dead: `http://127.0.0.1:${dead}/v1`,
      flaky: `http://127.0.0.1:${flaky.address().port}/v1`,
    },
    models: [
      t('cool-a', 'mock', { cooldown: { default_seconds: 600, max_seconds: 600 } }), t('cool-b'),
      group('cool', ['cool-a', 'cool-b'], { retry_on_429: true }),
      t('chk-a', 'flaky', { background_model_check: CHECK }), t('chk-b'),
      group('checked', ['chk-a', 'chk-b']),
      t('down-a', 'dead', { background_model_check: CHECK }), t('down-b', 'dead', { background_model_check: CHECK }),
      group('all-down', ['down-a', 'down-b']),
      group('all-down-anyway', ['down-a', 'down-b'], { when_all_unavailable: 'try_anyway' }),
      t('st-late', 'late', { stream_timeout: 300 }), t('st-ok'),
      group('streams', ['st-late', 'st-ok']),
      t('cut-a', 'mock', { cooldown: { enabled: false } }), t('cut-b'),
      group('cut', ['cut-a', 'cut-b']),
    ],
  });
});

after(() => teardown(
  async () => assert.equal((await s.stop()).code, 0),
  () => mock.stop(),
  () => late.stop(),
  () => new Promise((r) => flaky.close(r)),
));

const chat = (model, extra = {}) => call(s.port, '/v1/chat/completions',
  { body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }) });
const served = (r) => r.headers['x-sluice-served-by'];
const metric = async (name) => (await scrapeMetrics(s)).get(name);

test('a 429 with Retry-After cools the target down for that long, not default_seconds, then it is back', async () => {
  const r = await chat('cool', { mock: { status: 429, retry_after: 2, fail_first: 1, tag: 'cool' } });
  assert.equal(served(r), 'cool-b');
  assert.equal(await metric('sluice_target_cooldown{target="cool-a"}'), 1);
  const left = await metric('sluice_target_cooldown_remaining_seconds{target="cool-a"}');
  assert.ok(left > 0 && left <= 2, `${left} s left: Retry-After 2, not default_seconds 600`);
  assert.equal(await metric('sluice_target_cooldowns_total{target="cool-a"}'), 1);
  // While it cools, the group goes straight to cool-b.
  assert.equal(served(await chat('cool')), 'cool-b');
  // Once the 2 s are over (the wait allows far less than the 600 s default), cool-a is back.
  await eventually(async () => served(await chat('cool')) === 'cool-a', 'cool-a back in rotation');
  assert.equal(await metric('sluice_target_cooldown{target="cool-a"}'), 0);
});

test('a failing background check takes a target out; a passing one puts it back', async () => {
  await eventually(async () => await metric('sluice_target_check_failing{target="chk-a"}') === 1, 'the first check of chk-a failing');
  const attempts = await metric('sluice_target_attempts_total{target="chk-a"}');
  for (let i = 0; i < 3; i++) assert.equal(served(await chat('checked')), 'chk-b');
  assert.equal(await metric('sluice_target_attempts_total{target="chk-a"}'), attempts, 'no request went to the failing target');
  assert.ok(flakyCalls >= 1, 'the check reached it');
  flakyStatus = 200;
  await eventually(async () => await metric('sluice_target_check_failing{target="chk-a"}') === 0, 'a check of chk-a passing');
  assert.equal(served(await chat('checked')), 'chk-a');
});

test('every candidate failing its checks: 503 all_candidates_unavailable with Retry-After, or try_anyway', async () => {
  await eventually(async () => await metric('sluice_target_check_failing{target="down-a"}') === 1 &&
    await metric('sluice_target_check_failing{target="down-b"}') === 1, 'both checks failing');
  const r = await chat('all-down');
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '30');
  assert.deepEqual(JSON.parse(r.text).error, { message: 'all routing candidates are unavailable',
    type: 'all_candidates_unavailable', code: 'all_candidates_unavailable' });
  // try_anyway sends it to them all, in order (each refuses the connection).
  const before = await metric('sluice_target_attempts_total{target="down-b"}') ?? 0;
  const a = await chat('all-down-anyway');
  assert.equal(a.status, 502);
  assert.match(JSON.parse(a.text).error.message, /^upstream unreachable/);
  assert.ok(await metric('sluice_target_attempts_total{target="down-b"}') > before);
});

// A stream request through node's http client: status, headers and the whole body.
const events = (text) => text.split('\n\n').filter(Boolean);

test('a stream whose target says nothing before its first event fails over before the 200', async () => {
  const r = await chat('streams', { stream: true });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'st-ok');
  const ev = events(r.text);
  assert.equal(ev.at(-1), 'data: [DONE]');
  await eventually(async () => (await late.stats()).streams_aborted === 1, 'the silent upstream cancelled');
});

test('after the first event there is no failover: the stream ends with an error frame', async () => {
  await mock.reset();
  const r = await chat('cut', { stream: true, mock: { disconnect_after_chunks: 2 } });
  assert.equal(r.status, 200);
  assert.equal(served(r), 'cut-a');
  const ev = events(r.text);
  assert.ok(!ev.includes('data: [DONE]'));
  assert.match(ev.at(-1), /^event: error\ndata: /);
  const st = await mock.stats();
  assert.deepEqual([st.requests, st.streams_started, st.streams_disconnected], [1, 1, 1], JSON.stringify(st));
});

test('a stream whose first target fails at the head fails over too', async () => {
  await mock.reset();
  const r = await chat('cut', { stream: true, mock: { status: 500, fail_first: 1, tag: 'cut-head' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'cut-b');
  assert.equal(events(r.text).at(-1), 'data: [DONE]');
});
