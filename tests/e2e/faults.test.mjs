// Upstream faults, each with the status (or in-stream error frame) the caller gets AND the exact
// change it makes to /metrics: sluice_requests_total, sluice_upstream_errors_total{kind} and
// sluice_client_cancelled_total, compared series by series before and after (nothing else may
// move). One gateway fronts every kind of broken upstream: the mock (told per request how to
// misbehave), a refused port, two HTTPS mocks whose certificates must not verify, and a raw
// TCP upstream that answers garbage. Upstream keep-alive is off in that gateway so every call
// opens its own connection; the retry of a dead pooled connection has a test of its own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { UPSTREAM_KEY } from './lib/gateway.mjs';
import { startMock, tempDir, makeCert, run, eventually, scrapeMetrics, teardown } from './lib/harness.mjs';
import { startProxy, startRawUpstream, closedPort, call, chatBody } from './lib/fleet.mjs';
import { expectDelta, reqSeries, errSeries } from './lib/probes.mjs';

const MAX_RESPONSE = 4096;
let mock, tlsUntrusted, tlsWrongName, garbage, bigHead, bigHeadLate, bigEvent, refusedPort, dir, s;

// A self-signed certificate for another name, trusted through upstream.tls.ca_file: the chain
// verifies, the host name does not.
async function certFor(d, name, host) {
  const key = d.path(`${name}.key`), crt = d.path(`${name}.crt`);
  const r = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt,
    '-days', '2', '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`]);
  if (r.code !== 0) throw new Error(r.stderr);
  return { key, crt };
}

before(async () => {
  dir = tempDir();
  const untrusted = await makeCert(dir, 'untrusted');
  const other = await certFor(dir, 'other', 'other.example');
  mock = await startMock(['--require-key', UPSTREAM_KEY]);
  tlsUntrusted = await startMock(['--require-key', UPSTREAM_KEY, '--tls-cert', untrusted.crt, '--tls-key', untrusted.key]);
  tlsWrongName = await startMock(['--require-key', UPSTREAM_KEY, '--tls-cert', other.crt, '--tls-key', other.key]);
  garbage = await startRawUpstream('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: forty\r\n\r\n{}');
  // A response head that grows past the client's 64 KiB cap 1 KiB at a time.
  bigHead = await startRawUpstream(['HTTP/1.1 200 OK\r\nX-Big: ',
    ...Array.from({ length: 80 }, () => ['a'.repeat(1024), 5]).flat(), '\r\nContent-Length: 2\r\n\r\n{}']);
  // The same head, 70 KB, arriving in two reads: an unfinished 60 KB, then the rest at once.
  bigHeadLate = await startRawUpstream(['HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Big: ' + 'a'.repeat(60000), 300,
    'a'.repeat(10000) + '\r\nContent-Length: 2\r\n\r\n{}']);
  // An event stream whose first event is 5 MiB (the relay holds at most 4 MiB of one event).
  bigEvent = await startRawUpstream(['HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n',
    `data: {"choices":[{"delta":{"content":"${'b'.repeat(5 * 1024 * 1024)}"}}]}\n\n`, 'data: [DONE]\n\n']);
  refusedPort = await closedPort();
  const m = (name, provider, extra = {}) => ({ name, provider, upstream: `up-${name}`, ...extra });
  s = await startProxy({
    providers: {
      mock: `${mock.base}/v1`,
      refused: `http://127.0.0.1:${refusedPort}/v1`,
      untrusted: `https://localhost:${tlsUntrusted.port}/v1`,
      wrongname: `https://localhost:${tlsWrongName.port}/v1`,
      garbage: garbage.base,
      bighead: bigHead.base,
      bigheadlate: bigHeadLate.base,
      bigevent: bigEvent.base,
    },
    models: [
      m('ok', 'mock'),
      m('deadline', 'mock', { timeout: 1000 }),
      m('drip', 'mock', { timeout: 30000 }),
      m('stall', 'mock', { stream_timeout: 500 }),
      m('refused', 'refused'),
      m('tls-untrusted', 'untrusted'),
      m('tls-wrong-name', 'wrongname'),
      m('garbage', 'garbage'),
      m('big-head', 'bighead'),
      m('big-head-late', 'bigheadlate'),
      m('big-event', 'bigevent'),
    ],
    // retries: 0 so each fault is one upstream call; retries have their own file (retries.test.mjs).
    extra: `upstream:\n  max_response_bytes: ${MAX_RESPONSE}\n  pool_idle_timeout_secs: 0\n  retries: 0\n  tls:\n    ca_file: ${other.crt}\n`,
  });
});

after(() => teardown(
  async () => assert.equal((await s.stop()).code, 0),
  ...[mock, tlsUntrusted, tlsWrongName].map((p) => () => p.stop()),
  ...[garbage, bigHead, bigHeadLate, bigEvent].map((u) => () => u.close()),
  () => dir.cleanup(),
));

const chat = (model, extra) => call(s.port, '/v1/chat/completions', { body: chatBody(model, extra) });
const stream = (model, mockOpts) => chat(model, { stream: true, mock: mockOpts });

function errorOf(r) {
  assert.equal(r.headers['content-type'], 'application/json');
  return JSON.parse(r.text).error;
}

// The SSE events of a relayed stream, in order.
const events = (text) => text.split('\n\n').filter(Boolean);

// The last event must be an error frame; returns its error object.
function errorFrame(text) {
  const ev = events(text);
  assert.ok(!ev.includes('data: [DONE]'), 'no [DONE] after a failure');
  const last = ev.at(-1);
  assert.match(last, /^event: error\ndata: /);
  return JSON.parse(last.slice('event: error\ndata: '.length)).error;
}

const chatReq = (model, status) => reqSeries('chat_completions', model, status);

// ---- the upstream cannot be reached ----

test('refused connection: 502 transport_error naming the OS reason; kind connect', async () => {
  const before = await scrapeMetrics(s);
  for (const r of [await chat('refused'), await stream('refused')]) {
    assert.equal(r.status, 502);
    assert.deepEqual(errorOf(r), {
      message: `upstream unreachable: cannot connect to 127.0.0.1:${refusedPort}: Connection refused`, type: 'transport_error', code: 'transport_error',
    });
  }
  await expectDelta(s, before, { [chatReq('refused', '5xx')]: 2, [errSeries('refused', 'connect')]: 2 });
});

test('TLS certificate that does not verify (verify on): 502 transport_error; kind tls', async () => {
  const before = await scrapeMetrics(s);
  const untrusted = await chat('tls-untrusted');
  assert.equal(untrusted.status, 502);
  assert.deepEqual(errorOf(untrusted), {
    message: 'upstream unreachable: TLS handshake with localhost failed: self-signed certificate', type: 'transport_error', code: 'transport_error',
  });
  // Signed by a trusted CA (upstream.tls.ca_file), but for another host name.
  const wrong = await chat('tls-wrong-name');
  assert.equal(wrong.status, 502);
  assert.deepEqual(errorOf(wrong), {
    message: 'upstream unreachable: TLS handshake with localhost failed: hostname mismatch', type: 'transport_error', code: 'transport_error',
  });
  assert.equal((await tlsUntrusted.stats()).requests + (await tlsWrongName.stats()).requests, 0, 'no request was sent');
  await expectDelta(s, before, {
    [chatReq('tls-untrusted', '5xx')]: 1, [errSeries('tls-untrusted', 'tls')]: 1,
    [chatReq('tls-wrong-name', '5xx')]: 1, [errSeries('tls-wrong-name', 'tls')]: 1,
  });
});

// ---- the connection breaks ----

test('reset before the response head: 502 transport_error, JSON and stream alike; kind reset', async () => {
  await mock.reset();
  const before = await scrapeMetrics(s);
  for (const extra of [{}, { stream: true }]) {
    const r = await chat('ok', { ...extra, mock: { reset_before_headers: true } });
    assert.equal(r.status, 502);
    assert.deepEqual(errorOf(r), { message: 'upstream unreachable: connection closed before the response head', type: 'transport_error', code: 'transport_error' });
  }
  assert.equal((await mock.stats()).requests, 2, 'one upstream call each (retries: 0; a fresh connection gets no stale-connection retry)');
  await expectDelta(s, before, { [chatReq('ok', '5xx')]: 2, [errSeries('ok', 'reset')]: 2 });
});

test('reset mid-stream: 200, then an event: error frame (stream_aborted), no [DONE]; kind reset', async () => {
  await mock.reset();
  const before = await scrapeMetrics(s);
  const r = await stream('ok', { chunks: 6, chunk_text: 'w', disconnect_after_chunks: 2 });
  assert.equal(r.status, 200);
  const contents = events(r.text).filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)).choices[0].delta.content);
  assert.deepEqual(contents, ['', 'w', 'w'], 'the role chunk and the two deltas sent before the cut');
  assert.deepEqual(errorFrame(r.text), {
    message: 'upstream stream failed: connection closed in the middle of the response body', type: 'stream_aborted', code: 'stream_aborted',
  });
  assert.equal((await mock.stats()).streams_disconnected, 1);
  await expectDelta(s, before, { [chatReq('ok', '2xx')]: 1, [errSeries('ok', 'reset')]: 1 });
});

test('malformed response framing: 502 upstream_decode_error; kind protocol', async () => {
  const before = await scrapeMetrics(s);
  const r = await chat('garbage');
  assert.equal(r.status, 502);
  assert.deepEqual(errorOf(r), {
    message: 'upstream sent an invalid response: response framing cannot be trusted', type: 'upstream_decode_error', code: 'upstream_decode_error',
  });
  await expectDelta(s, before, { [chatReq('garbage', '5xx')]: 1, [errSeries('garbage', 'protocol')]: 1 });
});

test('a response head past 64 KiB: 502 upstream_decode_error; kind too_large', async () => {
  const before = await scrapeMetrics(s);
  const r = await chat('big-head');
  assert.equal(r.status, 502);
  assert.deepEqual(errorOf(r), { message: 'upstream sent an invalid response: response head larger than 64 KiB', type: 'upstream_decode_error', code: 'upstream_decode_error' });
  await expectDelta(s, before, { [chatReq('big-head', '5xx')]: 1, [errSeries('big-head', 'too_large')]: 1 });
});

test('a response head past 64 KiB is refused however it is split into reads', async () => {
  const r = await chat('big-head-late');
  assert.equal(r.status, 502, `got ${r.status} ${r.text}`);
  assert.equal(errorOf(r).message, 'upstream sent an invalid response: response head larger than 64 KiB');
});

test('a stream event over 4 MiB: 200, then an event: error frame; kind too_large', async () => {
  const before = await scrapeMetrics(s);
  const r = await stream('big-event', {});
  assert.equal(r.status, 200);
  assert.ok(r.text.length < 4096, 'nothing of the oversized event was relayed');
  assert.deepEqual(errorFrame(r.text), { message: 'upstream stream failed: event larger than 4 MiB', type: 'stream_aborted', code: 'stream_aborted' });
  await expectDelta(s, before, { [chatReq('big-event', '2xx')]: 1, [errSeries('big-event', 'too_large')]: 1 });
});

// ---- slow upstreams ----

test('a stream that stalls: event: error (timeout) after stream_timeout of silence; kind stream_idle', async () => {
  await mock.reset();
  const before = await scrapeMetrics(s);
  const r = await stream('stall', { chunks: 5, chunk_text: 'z', stall_after_chunks: 1 });
  assert.equal(r.status, 200);
  assert.deepEqual(errorFrame(r.text), { message: 'upstream stream timed out: nothing received for 500 ms', type: 'timeout', code: 'timeout' });
  await eventually(async () => (await mock.stats()).active === 0, 'the stalled upstream transfer to be dropped');
  assert.equal((await mock.stats()).streams_aborted, 1);
  // Silent before the head: no stream has started, so it is a plain 504.
  const silent = await stream('stall', { latency_ms: 5000 });
  assert.equal(silent.status, 504);
  assert.deepEqual(errorOf(silent), {
    message: 'upstream request timed out: nothing received for 500 ms', type: 'timeout', code: 'timeout',
  });
  await expectDelta(s, before, {
    [chatReq('stall', '2xx')]: 1, [chatReq('stall', '5xx')]: 1, [errSeries('stall', 'stream_idle')]: 2,
  });
});

test('a slow drip within the deadline completes intact; no error counted', async () => {
  await mock.reset();
  const before = await scrapeMetrics(s);
  const reply = 'dripped, one byte at a time';
  const r = await chat('drip', { mock: { reply, drip_ms: 2 } });
  assert.equal(r.status, 200);
  const body = JSON.parse(r.text);
  assert.equal(body.choices[0].message.content, reply);
  assert.equal(body.model, 'drip');
  await expectDelta(s, before, { [chatReq('drip', '2xx')]: 1 });
});

test('a drip past the model deadline: 504 timeout although bytes keep coming; kind timeout', async () => {
  await mock.reset();
  const before = await scrapeMetrics(s);
  // About 3.3 KB (under upstream.max_response_bytes) at 100 ms a byte takes over 5 minutes,
  // far longer than eventually() waits below; the model's timeout is 1000 ms for the whole
  // call. Only Sluice dropping the upstream call can end the drip in time.
  const r = await chat('deadline', { mock: { drip_ms: 100, response_bytes: 3000 } });
  assert.equal(r.status, 504);
  assert.deepEqual(errorOf(r), {
    message: 'upstream request timed out: no complete response within 1000 ms', type: 'timeout', code: 'timeout',
  });
  await eventually(async () => (await mock.stats()).active === 0, 'the drip to be abandoned upstream');
  assert.equal((await mock.stats()).requests, 1);
  // The same deadline when nothing at all comes back.
  const silent = await chat('deadline', { mock: { latency_ms: 5000 } });
  assert.equal(silent.status, 504);
  await expectDelta(s, before, { [chatReq('deadline', '5xx')]: 2, [errSeries('deadline', 'timeout')]: 2 });
});

// ---- bad bodies ----

test('invalid JSON in a 2xx: 502 upstream_decode_error naming the byte; kind decode', async () => {
  const before = await scrapeMetrics(s);
  const r = await chat('ok', { mock: { invalid_json: true } });
  assert.equal(r.status, 502);
  const e = errorOf(r);
  assert.equal(e.type, 'upstream_decode_error');
  assert.match(e.message, /^upstream returned invalid JSON: .+ at byte \d+$/);
  await expectDelta(s, before, { [chatReq('ok', '5xx')]: 1, [errSeries('ok', 'decode')]: 1 });
});

test('invalid JSON inside stream events is relayed as received (events are not judged); no error counted', async () => {
  const before = await scrapeMetrics(s);
  const r = await stream('ok', { chunks: 3, invalid_json: true });
  assert.equal(r.status, 200);
  const ev = events(r.text);
  assert.equal(ev.at(-1), 'data: [DONE]');
  assert.ok(ev.slice(0, -1).some((e) => { try { JSON.parse(e.slice(6)); return false; } catch { return true; } }),
    'the truncated events reach the caller as they came');
  await expectDelta(s, before, { [chatReq('ok', '2xx')]: 1 });
});

test(`a response over upstream.max_response_bytes (${MAX_RESPONSE}): 502 response_too_large; kind too_large; streams are not capped`, async () => {
  const before = await scrapeMetrics(s);
  const big = await chat('ok', { mock: { response_bytes: 2 * MAX_RESPONSE } });
  assert.equal(big.status, 502);
  assert.deepEqual(errorOf(big), {
    message: `upstream response is larger than ${MAX_RESPONSE} bytes (upstream.max_response_bytes)`,
    type: 'upstream_error', code: 'response_too_large',
  });
  const under = await chat('ok', { mock: { response_bytes: MAX_RESPONSE / 2 } });
  assert.equal(under.status, 200);
  assert.equal(JSON.parse(under.text).choices[0].message.content.length, MAX_RESPONSE / 2);
  // A stream many times the cap is relayed whole: the cap is for bodies held in memory.
  const long = await stream('ok', { chunks: 100, chunk_text: 'x'.repeat(200) });
  assert.equal(long.status, 200);
  assert.equal(events(long.text).at(-1), 'data: [DONE]');
  await expectDelta(s, before, { [chatReq('ok', '5xx')]: 1, [chatReq('ok', '2xx')]: 2, [errSeries('ok', 'too_large')]: 1 });
});

// ---- error statuses ----

test('5xx: 502 upstream_error "upstream returned N", the upstream body withheld; kind status_5xx', async () => {
  const before = await scrapeMetrics(s);
  for (const status of [500, 502, 503, 504]) {
    for (const extra of [{}, { stream: true }]) {
      const r = await chat('ok', { ...extra, mock: { status, error_message: 'internal detail' } });
      assert.equal(r.status, 502);
      assert.deepEqual(errorOf(r), { message: `upstream returned ${status}`, type: 'upstream_error', code: 'upstream_error' });
    }
  }
  await expectDelta(s, before, { [chatReq('ok', '5xx')]: 8, [errSeries('ok', 'status_5xx')]: 8 });
});

test('429 with Retry-After: status, message, code and Retry-After kept; kind status_4xx', async () => {
  const before = await scrapeMetrics(s);
  for (const retryAfter of [7, 'Wed, 21 Oct 2037 07:28:00 GMT']) {
    const r = await chat('ok', { mock: { status: 429, retry_after: retryAfter, error_message: 'slow down', error_code: 'rate_limit_exceeded' } });
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], String(retryAfter));
    assert.deepEqual(errorOf(r), { message: 'slow down', type: 'upstream_error', code: 'rate_limit_exceeded' });
  }
  await expectDelta(s, before, { [chatReq('ok', '4xx')]: 2, [errSeries('ok', 'status_4xx')]: 2 });
});

test('after all of it: no upstream transfer left running, the gateway serves', async () => {
  await eventually(async () => (await mock.stats()).active === 0, 'no upstream transfer running');
  const before = await scrapeMetrics(s);
  const r = await chat('ok');
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.text).model, 'ok');
  await expectDelta(s, before, { [chatReq('ok', '2xx')]: 1 });
});

// ---- a pooled connection that turns out to be dead ----

test('reset before the head on a reused keep-alive connection: retried once on a fresh one, then 502; one error counted', async () => {
  const pooled = await startProxy({
    providers: { mock: `${mock.base}/v1` }, models: [{ name: 'ok', provider: 'mock', upstream: 'up-ok' }], workers: 1,
    extra: 'upstream:\n  retries: 0\n',
  });
  try {
    assert.equal((await call(pooled.port, '/v1/chat/completions', { body: chatBody('ok') })).status, 200); // parks a connection
    await mock.reset();
    const before = await scrapeMetrics(pooled);
    const r = await call(pooled.port, '/v1/chat/completions', { body: chatBody('ok', { mock: { reset_before_headers: true } }) });
    assert.equal(r.status, 502);
    assert.equal(errorOf(r).message, 'upstream unreachable: connection closed before the response head');
    // The reused connection died before any response byte, which is what a keep-alive
    // connection the upstream timed out looks like: the call is sent once more, on a new one.
    assert.equal((await mock.stats()).requests, 2);
    await expectDelta(pooled, before, { [chatReq('ok', '5xx')]: 1, [errSeries('ok', 'reset')]: 1 });
  } finally {
    await pooled.stop();
  }
});
