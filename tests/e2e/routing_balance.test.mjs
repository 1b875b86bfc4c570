// Model groups, balancing: smooth weighted round robin keeps its proportions under concurrent
// keep-alive load and through a reload that changes the weights (no request fails); consistent
// hashing keeps a key on its target and moves only a removed target's keys; least_busy steers
// away from a target whose calls are still running; least_latency learns which target is fast.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startProxy, KEY } from './lib/fleet.mjs';
import { UPSTREAM_KEY } from './lib/gateway.mjs';
import { startMock, teardown, scrapeMetrics, eventually } from './lib/harness.mjs';

let mock, slow, stall, s;
const providers = () => ({ mock: `${mock.base}/v1`, slow: `${slow.base}/v1`, stall: `${stall.base}/v1` });
const t = (name, provider = 'mock') => ({ name, provider, upstream: `up-${name}` });
const rr = (weights) => ({
  name: 'rr', routing: { strategy: 'round_robin', targets: weights.map((weight, i) => ({ model: `rr-${i}`, weight })) },
});
const hashGroup = (names) => ({ name: 'sticky', routing: { strategy: 'consistent_hash', targets: names.map((model) => ({ model })) } });
const models = (rrWeights, hashTargets) => [
  t('rr-0'), t('rr-1'), t('rr-2'), rr(rrWeights),
  t('h-a'), t('h-b'), t('h-c'), hashGroup(hashTargets),
  t('busy-slow', 'stall'), t('busy-fast'),
  { name: 'busy', routing: { strategy: 'least_busy', targets: [{ model: 'busy-slow' }, { model: 'busy-fast' }] } },
  t('lat-slow', 'slow'), t('lat-fast'),
  { name: 'lat', routing: { strategy: 'least_latency', targets: [{ model: 'lat-slow' }, { model: 'lat-fast' }] } },
];

before(async () => {
  mock = await startMock(['--require-key', UPSTREAM_KEY, '--threads', '2']);
  slow = await startMock(['--require-key', UPSTREAM_KEY, '--latency-ms', '1500']);
  stall = await startMock(['--require-key', UPSTREAM_KEY, '--latency-ms', '3600000']);
  s = await startProxy({ providers: providers(), models: models([5, 3, 2], ['h-a', 'h-b', 'h-c']) });
});

after(() => teardown(
  async () => assert.equal((await s.stop()).code, 0),
  () => mock.stop(),
  () => slow.stop(),
  () => stall.stop(),
));

// Keep-alive connections, many requests in flight at once.
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

// A request and a way to abandon it.
function send(model, headers = {}) {
  let req;
  const done = new Promise((resolve, reject) => {
    const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] });
    req = http.request({
      host: '127.0.0.1', port: s.port, path: '/v1/chat/completions', method: 'POST', agent,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, served: res.headers['x-sluice-served-by'] }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  return { req, done };
}

const chat = (model, headers = {}) => send(model, headers).done;

// n requests, `width` at a time; resolves with every result.
async function load(n, width, model, onEach = () => {}) {
  const out = [];
  let next = 0;
  async function lane() {
    while (next < n) {
      const i = next++;
      out[i] = await chat(model);
      onEach(i, out[i]);
    }
  }
  await Promise.all(Array.from({ length: width }, lane));
  return out;
}

const shares = (results) => {
  const c = {};
  for (const r of results) c[r.served] = (c[r.served] ?? 0) + 1;
  return c;
};

test('round robin 5:3:2 over 2,000 concurrent keep-alive requests: within 3 % of each share', async () => {
  const results = await load(2000, 32, 'rr');
  assert.ok(results.every((r) => r.status === 200), JSON.stringify(shares(results)));
  const c = shares(results);
  for (const [target, weight] of [['rr-0', 5], ['rr-1', 3], ['rr-2', 2]]) {
    const want = 2000 * weight / 10;
    assert.ok(Math.abs(c[target] - want) <= 2000 * 0.03, `${target}: ${c[target]} of 2000, want ${want}: ${JSON.stringify(c)}`);
  }
});

test('a reload that changes the weights under load: no request fails, the new weights apply', async () => {
  let reloaded = false;
  const after = [];
  const running = load(3000, 16, 'rr', (i, r) => { if (reloaded) after.push(r); });
  // Reload once a third of the load is through.
  await eventually(async () => (await scrapeMetrics(s)).get('sluice_target_attempts_total{target="rr-0"}') >= 1000 + 1000 * 5 / 10, 'the load under way');
  await s.resources(providers(), models([0, 0, 9], ['h-a', 'h-b', 'h-c']));
  reloaded = true;
  const results = await running;
  assert.deepEqual(results.filter((r) => r.status !== 200), [], 'every request succeeded');
  // After the reload (requests that started before it may still use the old weights): weights
  // 0 and 0 read as 1 each, so rr-2 takes 9 of 11.
  const tail = after.slice(200);
  const c = shares(tail);
  assert.ok(Math.abs(c['rr-2'] - tail.length * 9 / 11) <= tail.length * 0.03, JSON.stringify(c));
  await s.resources(providers(), models([5, 3, 2], ['h-a', 'h-b', 'h-c']));
});

test('consistent hash: a key stays on its target; removing a target moves only its keys', async () => {
  const keys = Array.from({ length: 60 }, (_, i) => `user-${i}`);
  const first = {};
  for (const k of keys) {
    const r = await chat('sticky', { 'x-sluice-routing-key': k });
    assert.equal(r.status, 200);
    first[k] = r.served;
    for (let i = 0; i < 2; i++)
      assert.equal((await chat('sticky', { 'x-sluice-routing-key': k })).served, first[k], `key ${k} moved`);
    // AISIX's header is read too.
    assert.equal((await chat('sticky', { 'x-aisix-routing-key': k })).served, first[k]);
  }
  const used = new Set(Object.values(first));
  assert.equal(used.size, 3, 'the keys spread over every target');
  await s.resources(providers(), models([5, 3, 2], ['h-a', 'h-c']));
  let moved = 0;
  for (const k of keys) {
    const now = (await chat('sticky', { 'x-sluice-routing-key': k })).served;
    if (first[k] !== 'h-b') assert.equal(now, first[k], `key ${k} moved from ${first[k]} to ${now}`);
    else moved++;
  }
  assert.equal(moved, keys.filter((k) => first[k] === 'h-b').length);
  await s.resources(providers(), models([5, 3, 2], ['h-a', 'h-b', 'h-c']));
});

test('least_busy: while a target holds a call, the next ones go to the idle target', async () => {
  // Both idle: the first declared wins the tie, and its upstream never answers.
  const held = send('busy');
  held.done.catch(() => {});
  await eventually(async () => (await stall.stats()).active === 1, 'the call waiting on busy-slow');
  assert.equal((await scrapeMetrics(s)).get('sluice_target_in_flight{target="busy-slow"}'), 1);
  for (let i = 0; i < 10; i++)
    assert.equal((await chat('busy')).served, 'busy-fast');
  assert.equal((await stall.stats()).requests, 1);
  // The caller leaving ends the held call: it no longer counts.
  held.req.destroy();
  await eventually(async () => (await scrapeMetrics(s)).get('sluice_target_in_flight{target="busy-slow"}') === 0,
    'busy-slow idle again');
  assert.equal((await scrapeMetrics(s)).get('sluice_target_in_flight{target="busy-fast"}'), 0);
  // Idle again: the tie goes to the first declared.
  const again = send('busy');
  again.done.catch(() => {});
  await eventually(async () => (await stall.stats()).requests === 2, 'busy-slow picked again');
  again.req.destroy();
});

test('least_latency: a target without a sample goes first, then the faster one wins', async () => {
  // Neither has a sample: declaration order; the slow one answers in 1.5 s.
  assert.equal((await chat('lat')).served, 'lat-slow');
  // lat-fast has no sample yet: it goes first, and from then on it is the faster one.
  for (let i = 0; i < 5; i++) assert.equal((await chat('lat')).served, 'lat-fast');
  const m = await scrapeMetrics(s);
  const slowEwma = m.get('sluice_target_latency_ewma_seconds{target="lat-slow"}');
  const fastEwma = m.get('sluice_target_latency_ewma_seconds{target="lat-fast"}');
  assert.ok(slowEwma >= 1.5, `slow ${slowEwma}`);
  assert.ok(fastEwma < slowEwma, `fast ${fastEwma}`);
});
