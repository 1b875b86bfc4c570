// Model groups, failover: a group's targets are tried in order; a failure the reference counts as
// retryable (5xx, a reset, a timeout, 429 with retry_on_429, a status in fallback_on_statuses)
// fails over to the next target at once, anything else (a 400) ends the request. Every route
// works the same (chat, completions, embeddings, messages), the winner is named in
// x-sluice-served-by, and the access log and metrics list every attempt.
//
// Targets that share the mock share its fail_first counters: {fail_first: 1, tag} fails exactly
// the first attempt of a request, whichever target makes it. Each scenario has targets of its
// own, with cooldown off where a scenario repeats, so scenarios cannot steer each other.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy, call, chatBody, closedPort } from './lib/fleet.mjs';
import { UPSTREAM_KEY } from './lib/gateway.mjs';
import { startMock, teardown, scrapeMetrics } from './lib/harness.mjs';

let mock, slow, s, dead;
const NO_COOLDOWN = { enabled: false };

before(async () => {
  mock = await startMock(['--require-key', UPSTREAM_KEY]);
  slow = await startMock(['--require-key', UPSTREAM_KEY, '--latency-ms', '60000']);
  dead = await closedPort();
  const t = (name, provider = 'mock', extra = {}) => ({ name, provider, upstream: `up-${name}`, cooldown: NO_COOLDOWN, ...extra });
  const group = (name, targets, routing = {}, extra = {}) =>
    ({ name, routing: { targets: targets.map((model) => ({ model })), ...routing }, ...extra });
  s = await startProxy({
    providers: {
      mock: `${mock.base}/v1`,
      slow: `${slow.base}/v1`,
      dead: `http://127.0.0.1:${dead}/v1`,
      anthropic: { base: mock.base, vendor: 'anthropic' },
    },
    proxy: ['real_ip:', '  trusted_proxies: [127.0.0.1]'],
    models: [
      t('f500-a'), t('f500-b'), group('f500', ['f500-a', 'f500-b']),
      t('reset-a'), t('reset-b'), group('reset', ['reset-a', 'reset-b']),
      t('slow-a', 'slow', { timeout: 300 }), t('slow-b'), group('timeouts', ['slow-a', 'slow-b']),
      t('rl-a'), t('rl-b'), group('rl-retry', ['rl-a', 'rl-b'], { retry_on_429: true }),
      t('rl-c'), t('rl-d'), group('rl-final', ['rl-c', 'rl-d']),
      t('bad-a'), t('bad-b'), group('bad', ['bad-a', 'bad-b']),
      t('fb-a'), t('fb-b'), group('fallback', ['fb-a', 'fb-b'], { fallback_on_statuses: [409] }),
      t('all-a'), t('all-b'), group('all-fail', ['all-a', 'all-b']),
      t('rt-a'), t('rt-b'), group('retried', ['rt-a', 'rt-b'], { retries: 1 }),
      t('emb-a', 'dead'), t('emb-b'), group('emb', ['emb-a', 'emb-b']),
      t('cmp-a'), t('cmp-b'), group('cmp', ['cmp-a', 'cmp-b']),
      t('msg-a', 'anthropic'), t('msg-b'), group('msg', ['msg-a', 'msg-b']),
      t('plain'),
      t('tag-eu'), t('tag-us'), t('tag-any'),
      { name: 'tagged', routing: { targets: [{ model: 'tag-eu', tags: ['eu', 'default'] }, { model: 'tag-us', tags: ['us'] }, { model: 'tag-any' }] } },
      t('lan-a', 'mock', { allowed_cidrs: ['10.0.0.0/8'] }), t('lan-b'),
      group('lan', ['lan-a', 'lan-b'], {}, { allowed_cidrs: ['10.0.0.0/8', '192.168.0.0/16'] }),
    ],
  });
});

after(() => teardown(
  async () => assert.equal((await s.stop()).code, 0),
  () => mock.stop(),
  () => slow.stop(),
));

const post = (path, body, headers = {}) => call(s.port, path, { body: JSON.stringify(body), headers });
const chat = (model, extra = {}, headers = {}) => post('/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hi' }], ...extra }, headers);
const served = (r) => r.headers['x-sluice-served-by'];
const failFirst = (tag, opts) => ({ mock: { fail_first: 1, tag, ...opts } });

// The access line of a response, once written (lines go out at the end of a loop turn).
async function accessLine(r) {
  const id = r.headers['x-request-id'];
  const m = await s.waitFor(new RegExp(`INFO  access .*request_id="${id}".*\\n`), `the access line of ${id}`);
  return m[0];
}

const attemptsOf = (line) => line.match(/ attempts="([^"]*)"/)[1].split(', ').map((a) => a.replace(/ \d+ms$/, ''));

test('a 500 fails over to the next target: the caller gets its answer, served-by names it, the log lists both', async () => {
  const before = await scrapeMetrics(s);
  const r = await chat('f500', failFirst('f500', { status: 500 }));
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'f500-b');
  const body = JSON.parse(r.text);
  assert.equal(body.model, 'f500', 'the caller sees the name it sent');
  const line = await accessLine(r);
  assert.deepEqual(attemptsOf(line), ['f500-a 500', 'f500-b 200']);
  assert.match(line, / served_by="f500-b"/);
  assert.match(line, / upstream_model="up-f500-b"/);
  const after = await scrapeMetrics(s);
  const d = (name) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  assert.equal(d('sluice_target_attempts_total{target="f500-a"}'), 1);
  assert.equal(d('sluice_target_failures_total{target="f500-a"}'), 1);
  assert.equal(d('sluice_target_attempts_total{target="f500-b"}'), 1);
  assert.equal(d('sluice_target_failovers_total{target="f500-b"}'), 1);
  assert.equal(d('sluice_target_retries_total{target="f500-a"}'), 0);
});

// The upstream client retries a reused keep-alive connection that dies before any byte once, on
// a fresh one, within the attempt: two resets make sure the attempt itself fails whether the
// connection was reused or not (the second may then hit reset-b, which retries).
test('a reset before the head fails over', async () => {
  const r = await chat('reset', { mock: { fail_first: 2, tag: 'reset', reset_before_headers: true } });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'reset-b');
  const attempts = attemptsOf(await accessLine(r));
  assert.equal(attempts[0], 'reset-a reset');
  assert.equal(attempts.at(-1), 'reset-b 200');
  assert.ok(!attempts.slice(1).some((a) => a.startsWith('reset-a')), attempts.join());
});

test('a target that times out fails over; without configured retries it is not asked again', async () => {
  const r = await chat('timeouts');
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'slow-b');
  assert.deepEqual(attemptsOf(await accessLine(r)), ['slow-a timeout', 'slow-b 200']);
});

test('429: fails over with retry_on_429, and is the caller\'s answer without it', async () => {
  const a = await chat('rl-retry', failFirst('rl-retry', { status: 429, retry_after: 1 }));
  assert.equal(a.status, 200, a.text);
  assert.equal(served(a), 'rl-b');
  await mock.reset();
  const b = await chat('rl-final', failFirst('rl-final', { status: 429, retry_after: 7 }));
  assert.equal(b.status, 429);
  assert.equal(b.headers['retry-after'], '7');
  assert.equal(served(b), undefined);
  assert.equal((await mock.stats()).requests, 1, 'one attempt');
});

test('a 400 is the caller\'s mistake: no failover, no retry', async () => {
  await mock.reset();
  const r = await chat('bad', failFirst('bad', { status: 400, error_message: 'bad temperature' }));
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.text).error.message, 'bad temperature');
  assert.equal((await mock.stats()).requests, 1);
  assert.deepEqual(attemptsOf(await accessLine(r)), ['bad-a 400']);
});

test('fallback_on_statuses makes a 4xx fail over', async () => {
  const r = await chat('fallback', failFirst('fallback', { status: 409 }));
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'fb-b');
});

test('when every target fails, the last failure is the answer', async () => {
  await mock.reset();
  const r = await chat('all-fail', { mock: { status: 503 } });
  assert.equal(r.status, 502);
  assert.equal(JSON.parse(r.text).error.message, 'upstream returned 503');
  // With a target queued the default budget fails over at once; the last target gets
  // upstream.retries (2).
  assert.equal((await mock.stats()).requests, 1 + 3);
  assert.deepEqual(attemptsOf(await accessLine(r)), ['all-a 503', 'all-b 503', 'all-b 503', 'all-b 503']);
});

test('the group\'s retries re-ask a target before failing over', async () => {
  await mock.reset();
  const r = await chat('retried', { mock: { status: 503, fail_first: 3, tag: 'retried' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'rt-b');
  assert.deepEqual(attemptsOf(await accessLine(r)), ['rt-a 503', 'rt-a 503', 'rt-b 503', 'rt-b 200']);
});

test('embeddings, completions and messages fail over too', async () => {
  const e = await post('/v1/embeddings', { model: 'emb', input: 'hello' });
  assert.equal(e.status, 200, e.text);
  assert.equal(served(e), 'emb-b');
  assert.equal(JSON.parse(e.text).data.length, 1);
  assert.deepEqual(attemptsOf(await accessLine(e)), ['emb-a connect', 'emb-b 200']);

  const c = await post('/v1/completions', { model: 'cmp', prompt: 'hi', ...failFirst('cmp', { status: 502 }) });
  assert.equal(c.status, 200, c.text);
  assert.equal(served(c), 'cmp-b');
  assert.equal(JSON.parse(c.text).object, 'text_completion');

  // An Anthropic-family target fails (its own wire), an OpenAI one answers through translation.
  const m = await post('/v1/messages', { model: 'msg', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], ...failFirst('msg', { status: 529 }) },
    { 'anthropic-version': '2023-06-01' });
  assert.equal(m.status, 200, m.text);
  assert.equal(served(m), 'msg-b');
  const msg = JSON.parse(m.text);
  assert.equal(msg.type, 'message');
  assert.equal(msg.model, 'msg');
});

test('a direct model has no served-by header', async () => {
  const r = await chat('plain');
  assert.equal(r.status, 200);
  assert.equal(served(r), undefined);
  assert.deepEqual(attemptsOf(await accessLine(r)), ['plain 200']);
});

test('routing tags pick targets; default-tagged ones otherwise; no match is a 400', async () => {
  assert.equal(served(await chat('tagged')), 'tag-eu');
  assert.equal(served(await chat('tagged', {}, { 'x-sluice-routing-tags': 'us' })), 'tag-us');
  assert.equal(served(await chat('tagged', {}, { 'x-aisix-routing-tags': ' asia, us' })), 'tag-us');
  assert.equal(served(await chat('tagged', {}, { 'x-sluice-routing-tags': 'asia' })), 'tag-eu');
  const r = await chat('tagged', {}, { 'x-sluice-routing-tags': 'asia', 'x-aisix-routing-tags': 'us' });
  assert.equal(served(r), 'tag-eu', 'Sluice\'s header wins');
});

test('allowed_cidrs see the client behind a trusted proxy (proxy.real_ip)', async () => {
  // From 127.0.0.1 (trusted) with no forwarded address: the peer, outside both ranges.
  const out = await chat('lan');
  assert.equal(out.status, 403);
  assert.deepEqual(JSON.parse(out.text).error, {
    message: 'Access denied: your client IP is not allowed to access this model',
    type: 'permission_denied', code: 'ip_restricted',
  });
  const lan = await chat('lan', {}, { 'x-forwarded-for': '203.0.113.9, 10.1.2.3' });
  assert.equal(served(lan), 'lan-a');
  const home = await chat('lan', {}, { 'x-forwarded-for': '192.168.7.7' });
  assert.equal(served(home), 'lan-b', 'lan-a excludes 192.168/16');
  const spoof = await chat('lan', {}, { 'x-forwarded-for': '10.1.2.3, 8.8.8.8' });
  assert.equal(spoof.status, 403, 'the rightmost address is the one the proxy saw');
});
