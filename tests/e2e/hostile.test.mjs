// Hostile clients, each with the exact outcome Sluice gives them: slow heads and bodies cut by
// downstream.idle_timeout_secs; heads over h2o's caps refused with h2o's own 400; bodies over
// proxy.request_body_limit_bytes refused before they are read (HTTP/1.1: 413; HTTP/2: the
// stream is reset); nesting, size and UTF-8 limits of request JSON; pipelining; a client that
// stops reading; 10,000 idle connections; HTTP/2 streams opened and reset by the thousand.
// After each, nothing reached the upstream that should not have, and the server still serves.
// Figures are printed as "# ..." lines (node's test runner diagnostics). Tests marked todo
// document bugs (docs/reliability.md) and do not fail the suite.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { UPSTREAM_KEY } from './lib/gateway.mjs';
import { startMock, startSluice, baseConfig, curl, scrapeMetrics, eventually, sleep, teardown } from './lib/harness.mjs';
import { startProxy, startSink, call, chatBody, KEY } from './lib/fleet.mjs';
import { exchange, trickle, parseResponses, H2O_BAD_REQUEST, H2O_MAX_REQLEN, H2O_MAX_HEADERS } from './lib/raw.mjs';
import {
  procSample, ensureFdLimit, isSanitizedBuild, expectDelta, metricsDelta, reqSeries, cancelSeries, fmtMiB, MiB,
} from './lib/probes.mjs';

const IDLE_SECS = 2;
const BODY_LIMIT = 32 * MiB; // the default proxy.request_body_limit_bytes
const TIGHT_LIMIT = 1024;
let mock, rapidMock, sink, s, tight;

before(async () => {
  mock = await startMock(['--require-key', UPSTREAM_KEY]);
  rapidMock = await startMock(['--require-key', UPSTREAM_KEY]);
  sink = await startSink();
  s = await startProxy({
    providers: { mock: `${mock.base}/v1`, rapid: `${rapidMock.base}/v1`, sink: sink.base },
    models: [
      { name: 'gpt-4o-mini', provider: 'mock', upstream: 'mock-gpt' },
      { name: 'rapid', provider: 'rapid', upstream: 'mock-gpt' },
      { name: 'sink-model', provider: 'sink', upstream: 'sink-upstream' },
    ],
    extra: `downstream:\n  idle_timeout_secs: ${IDLE_SECS}\n`,
  });
  // The same upstream behind a 1 KiB body limit, for the limit's edges.
  tight = await startProxy({
    providers: { mock: `${mock.base}/v1` }, models: [{ name: 'gpt-4o-mini', provider: 'mock', upstream: 'mock-gpt' }],
    workers: 1, proxy: [`request_body_limit_bytes: ${TIGHT_LIMIT}`],
  });
});
after(() => teardown(
  async () => assert.equal((await s.stop()).code, 0),
  async () => assert.equal((await tight.stop()).code, 0),
  () => mock.stop(),
  () => rapidMock.stop(),
  () => sink.close(),
));

const auth = `Authorization: Bearer ${KEY}\r\n`;

async function assertServing() {
  const r = await curl([s.url('/livez')]);
  assert.equal(r.status, 200, 'the server still serves');
}

async function assertNothingUpstream() {
  assert.equal((await mock.stats()).requests, 0, 'nothing reached the upstream');
}

const openConnections = async () => (await scrapeMetrics(s)).get('sluice_open_connections');

// ---- slow clients: one timer (downstream.idle_timeout_secs) covers the head and the body ----

test('a connection that never sends a byte is closed after the idle timeout', async () => {
  const r = await exchange(s.port, []);
  assert.equal(r.closed, true);
  assert.equal(r.text, '');
});

test('slowloris: a head trickled one header line at a time is cut; no response, nothing upstream', async () => {
  await mock.reset();
  const r = await trickle(s.port, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}`, 'X-Slow: 1\r\n', 200);
  // Bytes kept arriving, yet the connection was closed: the timer is not re-armed per read.
  assert.equal(r.closed, true, 'the server closed the connection');
  assert.ok(r.units > 0, 'header lines were still arriving');
  assert.equal(r.text, '', 'no response is written');
  await assertNothingUpstream();
  await eventually(async () => (await openConnections()) === 0, 'the connection to be closed');
  await assertServing();
});

for (const [name, framing, unit] of [
  ['Content-Length', 'Content-Length: 100000\r\n', ' '],
  ['chunked', 'Transfer-Encoding: chunked\r\n', '1\r\n \r\n'],
]) {
  test(`a slow ${name} body is cut by the same timer; no response, nothing upstream`, async () => {
    await mock.reset();
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\n${framing}\r\n`;
    const r = await trickle(s.port, head, unit, 200);
    assert.equal(r.closed, true);
    assert.ok(r.units > 0);
    assert.equal(r.text, '');
    await assertNothingUpstream();
    await assertServing();
  });
}

// ---- request heads over h2o's caps (H2O_MAX_REQLEN bytes, H2O_MAX_HEADERS fields) ----

// A head of exactly len bytes: request line, Host, a padding header, the blank line.
function headOfLength(len, { method = 'GET', path = '/livez', extra = '' } = {}) {
  const start = `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${extra}X-Pad: `;
  return start + 'a'.repeat(len - start.length - 4) + '\r\n\r\n';
}

test(`a head of exactly H2O_MAX_REQLEN (${H2O_MAX_REQLEN}) bytes is served`, async () => {
  const head = headOfLength(H2O_MAX_REQLEN);
  assert.equal(head.length, H2O_MAX_REQLEN);
  const [res, ...more] = parseResponses((await exchange(s.port, [head])).text);
  assert.equal(res.status, 200);
  assert.equal(res.body, 'ok');
  assert.equal(more.length, 0);
});

test('a head that reaches H2O_MAX_REQLEN unfinished gets h2o\'s 400 and a close; nothing upstream', async () => {
  await mock.reset();
  const start = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 2\r\nX-Pad: `;
  // Exactly the cap, never terminated: the server must answer without waiting for the rest.
  const r = await exchange(s.port, [start + 'a'.repeat(H2O_MAX_REQLEN - start.length)]);
  assert.equal(r.text, H2O_BAD_REQUEST);
  assert.equal(r.closed, true);
  await assertNothingUpstream();
  await assertServing();
});

test('an over-long request line: h2o\'s 400 and a close once it reaches the cap; a 64 KiB path is routed', async () => {
  await mock.reset();
  const line = 'POST /v1/chat/completions?q=';
  const r = await exchange(s.port, [line + 'q'.repeat(H2O_MAX_REQLEN - line.length)]);
  assert.equal(r.text, H2O_BAD_REQUEST);
  assert.equal(r.closed, true);
  await assertNothingUpstream();
  // Below the cap a long line is a request like any other: here, an unknown path.
  const long = await exchange(s.port, [`GET /${'p'.repeat(65536)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]);
  const [res] = parseResponses(long.text);
  assert.equal(res.status, 404);
  assert.equal(JSON.parse(res.body).error.code, 'not_found');
});

function headWithFields(n, { method = 'GET', path = '/livez', body = '' } = {}) {
  // Host, Connection and Content-Length (when there is a body) count as fields too.
  const fixed = ['Host: x', 'Connection: close', ...(body ? [`Content-Length: ${body.length}`, auth.trim()] : [])];
  const pad = Array.from({ length: n - fixed.length }, (_, i) => `X-F${i}: v`);
  return `${method} ${path} HTTP/1.1\r\n${[...fixed, ...pad].join('\r\n')}\r\n\r\n${body}`;
}

test(`${H2O_MAX_HEADERS} header fields are served; ${H2O_MAX_HEADERS + 1} get h2o's 400 and a close, nothing upstream`, async () => {
  const ok = parseResponses((await exchange(s.port, [headWithFields(H2O_MAX_HEADERS)])).text);
  assert.equal(ok[0].status, 200);
  await mock.reset();
  const body = chatBody('gpt-4o-mini');
  const r = await exchange(s.port, [headWithFields(H2O_MAX_HEADERS + 1, { method: 'POST', path: '/v1/chat/completions', body })]);
  assert.equal(r.text, H2O_BAD_REQUEST);
  assert.equal(r.closed, true);
  await assertNothingUpstream();
  // The same request with one field less goes through.
  const fine = await exchange(s.port, [headWithFields(H2O_MAX_HEADERS, { method: 'POST', path: '/v1/chat/completions', body })]);
  assert.equal(parseResponses(fine.text)[0].status, 200);
});

// ---- bodies over proxy.request_body_limit_bytes ----

const TOO_LARGE = {
  error: {
    message: `request body is larger than the limit of ${BODY_LIMIT} bytes (proxy.request_body_limit_bytes)`,
    type: 'invalid_request_error', code: 'request_too_large',
  },
};

// h2o is given the limit plus one byte (so chunked and Content-Length bodies of exactly the limit
// are treated alike); anything longer than that is refused before its first byte is read, and a
// body of exactly limit + 1 is read and refused by Sluice (next test).
test('Content-Length over the limit: 413 in the envelope before any body byte is sent; closed; nothing upstream', async () => {
  await mock.reset();
  for (const len of [BODY_LIMIT + 2, 1024 * MiB]) {
    const r = await exchange(s.port, [`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: ${len}\r\n\r\n`]);
    assert.equal(r.closed, true);
    const [res, ...more] = parseResponses(r.text);
    assert.equal(res.status, 413, String(len));
    assert.equal(res.headers.connection, 'close');
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(res.body), TOO_LARGE);
    assert.equal(more.length, 0);
  }
  await assertNothingUpstream();
});

test('a chunked body that passes the limit: 413 at once, the rest never awaited; closed; nothing upstream', async () => {
  await mock.reset();
  const n = BODY_LIMIT + 1;
  // One chunk announcing more than is sent, so the body never ends: the answer cannot come from
  // reading it whole.
  const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\n${(n + 4096).toString(16)}\r\n`;
  const r = await exchange(s.port, [Buffer.concat([Buffer.from(head), Buffer.alloc(n, 0x20)])]);
  assert.equal(r.closed, true);
  const [res] = parseResponses(r.text);
  assert.equal(res.status, 413);
  assert.equal(res.headers.connection, 'close');
  assert.deepEqual(JSON.parse(res.body), TOO_LARGE);
  await assertNothingUpstream();
  await assertServing();
});

// h2o 2.2.5 refuses a chunked body once it has *reached* max_request_entity_size (>=), while a
// Content-Length body of exactly the limit is accepted (>); Sluice passes the limit through.
test('Content-Length of exactly the limit plus one byte: read, then 413 in the envelope; nothing upstream', async () => {
  await mock.reset();
  const n = BODY_LIMIT + 1;
  const r = await exchange(s.port, [Buffer.concat([Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: ${n}\r\n\r\n`), Buffer.alloc(n, 0x20)])]);
  const [res] = parseResponses(r.text);
  assert.equal(res.status, 413);
  assert.equal(res.headers.connection, 'close');
  assert.deepEqual(JSON.parse(res.body), TOO_LARGE);
  await assertNothingUpstream();
});

test('a chunked body of exactly the limit is accepted, like a Content-Length body of the limit', async () => {
    const body = 'x'.repeat(TIGHT_LIMIT);
    const cl = await exchange(tight.port, [`POST /v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${TIGHT_LIMIT}\r\n\r\n${body}`]);
    assert.equal(parseResponses(cl.text)[0].status, 404, 'Content-Length: reaches routing');
    const ch = await exchange(tight.port, [`POST /v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n${TIGHT_LIMIT.toString(16)}\r\n${body}\r\n0\r\n\r\n`]);
    assert.equal(parseResponses(ch.text)[0].status, 404, 'chunked: should reach routing too');
  });

// HTTP/2 bodies are checked by h2o's HTTP/2 layer, which has no 413: it resets the stream.
function h2exchange(port, body, c) {
  return new Promise((resolve) => {
    const st = c.request({ ':method': 'POST', ':path': '/v1/chat/completions', authorization: `Bearer ${KEY}`, 'content-type': 'application/json' });
    let status = null, text = '';
    st.on('response', (h) => { status = h[':status']; });
    st.on('data', (d) => { text += d; });
    st.on('error', () => {});
    st.on('close', () => resolve({ status, text, rstCode: st.rstCode }));
    st.end(body);
  });
}

test('HTTP/2: a body over the limit: stream refused (RST_STREAM REFUSED_STREAM), nothing upstream, the connection serves on', async () => {
  await mock.reset();
  const c = http2.connect(`http://127.0.0.1:${tight.port}`);
  try {
    const r = await h2exchange(tight.port, chatBody('gpt-4o-mini', { pad: 'p'.repeat(TIGHT_LIMIT) }), c);
    assert.equal(r.status, null, 'no response head');
    assert.equal(r.rstCode, http2.constants.NGHTTP2_REFUSED_STREAM);
    await assertNothingUpstream();
    const ok = await h2exchange(tight.port, chatBody('gpt-4o-mini'), c);
    assert.equal(ok.status, 200);
  } finally {
    c.close();
  }
});

test('HTTP/2: a body over the limit gets 413 in the envelope, like HTTP/1.1',
  { todo: 'h2o 2.2.5 answers an oversized HTTP/2 body with RST_STREAM(REFUSED_STREAM), which clients retry; see docs/reliability.md' }, async () => {
    const c = http2.connect(`http://127.0.0.1:${tight.port}`);
    try {
      const r = await h2exchange(tight.port, chatBody('gpt-4o-mini', { pad: 'p'.repeat(TIGHT_LIMIT) }), c);
      assert.equal(r.status, 413);
      assert.equal(JSON.parse(r.text).error.code, 'request_too_large');
    } finally {
      c.close();
    }
  });

// ---- request JSON: nesting, size, UTF-8 ----

// A chat body whose "extra" member nests arrays so the document is `depth` levels deep in all
// (the top-level object is level 1). Returns the body and the offset of its deepest '['.
function nested(depth) {
  const prefix = `{"model":"sink-model","messages":[{"role":"user","content":"x"}],"extra":`;
  const k = depth - 1;
  return { body: `${prefix}${'['.repeat(k)}${']'.repeat(k)}}`, deepest: prefix.length + k - 1 };
}

test('JSON nested 128 levels deep is accepted and forwarded intact; 129 levels get 400 naming the byte', async () => {
  const seen = sink.seen.length;
  const ok = nested(128);
  const r = await call(s.port, '/v1/chat/completions', { body: ok.body });
  assert.equal(r.status, 200, r.text);
  assert.equal(JSON.parse(r.text).model, 'sink-model');
  assert.equal(sink.seen.length, seen + 1);
  assert.equal(sink.seen.at(-1).body.toString(), ok.body.replace('"model":"sink-model"', '"model":"sink-upstream"'));

  const deep = nested(129);
  const bad = await call(s.port, '/v1/chat/completions', { body: deep.body });
  assert.equal(bad.status, 400);
  assert.deepEqual(JSON.parse(bad.text).error, {
    message: `request payload is invalid: nesting too deep at byte ${deep.deepest}`, type: 'invalid_request_error', code: 'invalid_request_error',
  });
  assert.equal(sink.seen.length, seen + 1, 'the 129-level body was not forwarded');
  // A body nested far deeper costs no more: the scan stops at level 129.
  const abyss = `{"model":"sink-model","messages":[${'['.repeat(1000000)}`;
  const worse = await call(s.port, '/v1/chat/completions', { body: abyss });
  assert.equal(worse.status, 400);
  assert.match(JSON.parse(worse.text).error.message, /^request payload is invalid: nesting too deep at byte \d+$/);
});

test('huge JSON within the limit (~31 MiB, 250,000 messages) is forwarded byte for byte', async () => {
  const msg = { role: 'user', content: 'y'.repeat(100) };
  const messages = Array.from({ length: 250000 }, () => msg);
  const body = JSON.stringify({ model: 'sink-model', messages });
  assert.ok(body.length < BODY_LIMIT && body.length > 30 * MiB, String(body.length));
  const r = await call(s.port, '/v1/chat/completions', { body });
  assert.equal(r.status, 200, r.text.slice(0, 300));
  const got = sink.seen.at(-1).body;
  assert.equal(got.length, body.length + '"sink-upstream"'.length - '"sink-model"'.length);
  assert.ok(got.equals(Buffer.from(body.replace('"model":"sink-model"', '"model":"sink-upstream"'))));
});

test('invalid UTF-8 in a string: 400 naming the first bad byte; nothing forwarded', async () => {
  const seen = sink.seen.length;
  const prefix = Buffer.from('{"model":"sink-model","messages":[{"role":"user","content":"ok ');
  for (const [what, bytes] of [
    ['a stray continuation byte', [0x80]],
    ['an overlong form of "/"', [0xc0, 0xaf]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['a truncated sequence', [0xe2, 0x82]],
    ['a byte that never occurs (0xFF)', [0xff]],
  ]) {
    const body = Buffer.concat([prefix, Buffer.from(bytes), Buffer.from('"}]}')]);
    const r = await call(s.port, '/v1/chat/completions', { body });
    assert.equal(r.status, 400, what);
    assert.equal(JSON.parse(r.text).error.message, `request payload is invalid: invalid UTF-8 in string at byte ${prefix.length}`, what);
  }
  // Valid multi-byte text (2, 3 and 4 bytes) passes.
  const fine = await call(s.port, '/v1/chat/completions', { body: chatBody('sink-model', { messages: [{ role: 'user', content: 'é € 𝄞' }] }) });
  assert.equal(fine.status, 200);
  assert.equal(sink.seen.length, seen + 1);
});

// ---- pipelining ----

test('pipelined requests on one connection are answered in order, each in full', async () => {
  await mock.reset();
  const req = (method, path, id, body = '', extra = '') =>
    `${method} ${path} HTTP/1.1\r\nHost: x\r\n${auth}X-Request-Id: ${id}\r\n${extra}` +
    (body ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : '') + `\r\n${body}`;
  const slow = chatBody('gpt-4o-mini', { mock: { latency_ms: 300, reply: 'slow one' } });
  const streamed = chatBody('gpt-4o-mini', { stream: true, mock: { chunks: 3, chunk_text: 's' } });
  const fast = chatBody('gpt-4o-mini', { mock: { reply: 'fast one' } });
  // All five in one write: the slow upstream call in the middle must not let later answers overtake it.
  const r = await exchange(s.port, [
    req('GET', '/livez', 'p1') + req('POST', '/v1/chat/completions', 'p2', slow) +
    req('POST', '/v1/chat/completions', 'p3', streamed) + req('POST', '/v1/chat/completions', 'p4', fast) +
    req('GET', '/v1/models', 'p5', '', 'Connection: close\r\n'),
  ]);
  assert.equal(r.closed, true);
  const res = parseResponses(r.text);
  assert.deepEqual(res.map((x) => x.headers['x-request-id']), ['p1', 'p2', 'p3', 'p4', 'p5']);
  assert.deepEqual(res.map((x) => x.status), [200, 200, 200, 200, 200]);
  assert.equal(res[0].body, 'ok');
  assert.equal(JSON.parse(res[1].body).choices[0].message.content, 'slow one');
  assert.match(res[2].body, /"content":"s"[\s\S]*data: \[DONE\]\n\n$/);
  assert.equal(JSON.parse(res[3].body).choices[0].message.content, 'fast one');
  assert.equal(JSON.parse(res[4].body).object, 'list');
  assert.deepEqual((await mock.requests()).map((x) => x.headers['x-request-id']), ['p2', 'p3', 'p4']);
});

// Sluice keeps reading an HTTP/1.1 socket while a request is handled (server/http.c
// keep_reading): what arrives meanwhile waits in the connection's buffer, up to 64 KiB, then the
// socket is left unread until h2o takes it up after the response. Here ~150 KiB of pipelined
// requests arrive while the first waits a second for its upstream.
test('pipelined requests that arrive while an earlier one is handled wait their turn, past 64 KiB too', async () => {
  await mock.reset();
  const req = (id, body, extra = '') =>
    `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}X-Request-Id: ${id}\r\n${extra}` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const slow = chatBody('gpt-4o-mini', { mock: { latency_ms: 1000, reply: 'first' } });
  const big = (i) => chatBody('gpt-4o-mini', { mock: { reply: `next ${i}` }, messages: [{ role: 'user', content: 'y'.repeat(50000) }] });
  const later = [1, 2, 3].map((i) => req(`q${i}`, big(i), i === 3 ? 'Connection: close\r\n' : '')).join('');
  const r = await exchange(s.port, [req('q0', slow), 200, later]);
  assert.equal(r.closed, true);
  const res = parseResponses(r.text);
  assert.deepEqual(res.map((x) => x.headers['x-request-id']), ['q0', 'q1', 'q2', 'q3']);
  assert.deepEqual(res.map((x) => x.status), [200, 200, 200, 200]);
  assert.deepEqual(res.map((x) => JSON.parse(x.body).choices[0].message.content), ['first', 'next 1', 'next 2', 'next 3']);
  const seen = await mock.requests();
  assert.deepEqual(seen.map((x) => x.headers['x-request-id']), ['q0', 'q1', 'q2', 'q3']);
  await assertServing();
});

// ---- a client that stops reading ----

// Each upstream read is bounded by the upstream socket's receive buffer (256 KiB) and the relay
// pauses the upstream past 256 KiB pending, so a stream whose client stopped reading holds a
// few hundred KiB of Sluice's memory; h2o 2.2 has no send timeout, so Sluice gives such a client
// downstream.idle_timeout_secs and then cancels the upstream call and drops the connection.
// ASan's quarantine keeps freed memory in RSS, so the bound is only asserted in normal builds.
const STALLED_STREAM_MAX = isSanitizedBuild() ? Infinity : 3 * MiB;

test('a client that stops reading a stream: bounded memory, then the stream is cut after the idle timeout', async () => {
  await mock.reset();
  const N = 10;
  const before = procSample(s.pid).rss;
  const socks = [];
  try {
    for (let i = 0; i < N; i++) {
      const body = chatBody('gpt-4o-mini', { stream: true, mock: { chunks: 1000000, chunk_text: 'z'.repeat(4000) } });
      const c = net.connect(s.port, '127.0.0.1');
      c.on('error', () => {});
      await new Promise((r) => c.on('connect', r));
      c.pause(); // never read: the socket buffers fill, then Sluice must hold back
      c.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: ${body.length}\r\n\r\n${body}`);
      socks.push(c);
    }
    await eventually(async () => (await mock.stats()).active === N, 'every stream running upstream');
    await sleep(1500); // let the buffers fill up
    const perStream = (procSample(s.pid).rss - before) / N;
    console.log(`# a stream whose client stopped reading holds ${fmtMiB(perStream)} in Sluice`);
    assert.ok(perStream <= STALLED_STREAM_MAX, `${fmtMiB(perStream)} per stream`);
    // The clients still hold their sockets open without reading: the idle timeout ends it.
    await eventually(async () => (await mock.stats()).active === 0, 'the stalled streams to be cancelled upstream');
    assert.equal((await mock.stats()).streams_aborted, N);
    await eventually(() => (s.log().match(/status=499[^\n]*error="client_stalled"/g) ?? []).length === N,
      'ten 499 access lines with error="client_stalled"');
  } finally {
    for (const c of socks) c.destroy();
  }
});

// ---- 10,000 idle connections ----

const IDLE_CONNS = 10000;
// Documented bound on what one idle keep-alive connection may cost Sluice in RSS (measured:
// about 1 KiB in the release build, 2.7 KiB under ASan, which pads every allocation); kernel
// socket buffers are not part of a process's RSS. See docs/reliability.md.
const BYTES_PER_IDLE_CONN_MAX = isSanitizedBuild() ? 16 * 1024 : 8 * 1024;

// Opens one connection, sends a request, waits for its response, and leaves it open.
function openIdle(port) {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.write('GET /livez HTTP/1.1\r\nHost: x\r\n\r\n'));
    let got = '';
    c.on('data', (d) => {
      got += d;
      if (got.endsWith('\r\n\r\nok')) resolve(c);
    });
    c.on('error', reject);
  });
}

test(`${IDLE_CONNS} idle keep-alive connections are held with bounded memory and closed cleanly`, async () => {
  const need = IDLE_CONNS + 1000;
  assert.ok(await ensureFdLimit(process.pid, need) >= need, `this test needs ${need} descriptors in node (ulimit -n)`);
  const held = await startSluice({
    config: baseConfig({ metrics: true, extra: 'downstream:\n  idle_timeout_secs: 600\n' }),
  });
  const conns = [];
  try {
    assert.ok(await ensureFdLimit(held.pid, need) >= need, `sluice needs ${need} descriptors (ulimit -n)`);
    for (let i = 0; i < 200; i++) await curl([held.url('/livez')]); // warm both workers up
    await sleep(200);
    const before = procSample(held.pid);
    for (let i = 0; i < IDLE_CONNS; i += 250) {
      conns.push(...await Promise.all(Array.from({ length: Math.min(250, IDLE_CONNS - i) }, () => openIdle(held.port))));
    }
    await eventually(async () => (await scrapeMetrics(held)).get('sluice_open_connections') === IDLE_CONNS, 'all connections open');
    const withConns = procSample(held.pid);
    assert.equal(withConns.fds, before.fds + IDLE_CONNS, 'one descriptor per connection');
    const perConn = (withConns.rss - before.rss) / IDLE_CONNS;
    // Still serving with all of them open.
    assert.equal((await curl([held.url('/livez')])).status, 200);

    for (const c of conns) c.destroy();
    await eventually(async () => (await scrapeMetrics(held)).get('sluice_open_connections') === 0, 'all connections closed');
    await eventually(() => procSample(held.pid).fds === before.fds, 'every descriptor released');
    const afterClose = procSample(held.pid);
    console.log(`# ${IDLE_CONNS} idle connections: RSS before ${fmtMiB(before.rss)}, with ${fmtMiB(withConns.rss)}, ` +
      `after close ${fmtMiB(afterClose.rss)}; ${Math.round(perConn)} bytes per connection ` +
      `(bound ${BYTES_PER_IDLE_CONN_MAX}); fds ${before.fds} -> ${withConns.fds} -> ${afterClose.fds}; threads ${withConns.threads}`);
    assert.ok(perConn <= BYTES_PER_IDLE_CONN_MAX, `${Math.round(perConn)} bytes per idle connection`);
    assert.equal(afterClose.threads, before.threads);
  } finally {
    for (const c of conns) c.destroy();
    assert.equal((await held.stop()).code, 0);
  }
});

// ---- HTTP/2: streams opened and reset by the thousand ----

function h2connect() {
  return new Promise((resolve, reject) => {
    const c = http2.connect(`http://127.0.0.1:${s.port}`);
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

function h2chat(c, body, end = true) {
  const st = c.request({ ':method': 'POST', ':path': '/v1/chat/completions', authorization: `Bearer ${KEY}`, 'content-type': 'application/json' });
  st.on('error', () => {}); // a cancelled stream reports its own RST_STREAM
  if (end) st.end(body);
  return st;
}

function h2get(c, body) {
  return new Promise((resolve, reject) => {
    const st = h2chat(c, body);
    let status, text = '';
    st.on('response', (h) => { status = h[':status']; });
    st.on('data', (d) => { text += d; });
    st.on('end', () => resolve({ status, text }));
    st.on('error', reject);
  });
}

const ROUND = 100; // h2o's SETTINGS_MAX_CONCURRENT_STREAMS

// ROUND streams per round: every upstream call is seen running, then every stream is reset.
async function resetRounds(c, rounds) {
  for (let i = 0; i < rounds; i++) {
    const base = await mock.stats();
    const streams = Array.from({ length: ROUND }, (_, j) => h2chat(c, chatBody('gpt-4o-mini', {
      stream: true, mock: j % 2 ? { ttft_ms: 600000 } : { latency_ms: 600000 },
    })));
    await eventually(async () => (await mock.stats()).active === ROUND, `${ROUND} upstream calls running (round ${i})`);
    assert.equal((await mock.stats()).requests - base.requests, ROUND);
    for (const st of streams) st.close(http2.constants.NGHTTP2_CANCEL);
    await eventually(async () => (await mock.stats()).active === 0, `the upstream calls of round ${i} cancelled`);
  }
}

test('HTTP/2: 1,000 streams reset while their upstream calls run: every call is cancelled, memory returns, serving goes on', async () => {
  const model = 'gpt-4o-mini';
  await mock.reset();
  const c = await h2connect();
  const m0 = await scrapeMetrics(s);
  const rss0 = procSample(s.pid).rss;
  await resetRounds(c, 10);
  // The mock notices a departed client on its next poll (~50 ms): wait for its books to close.
  const st = await eventually(async () => {
    const x = await mock.stats();
    return x.streams_aborted + x.streams_completed + x.streams_disconnected === x.streams_started && x;
  }, 'every upstream stream accounted for');
  assert.equal(st.requests, 1000);
  assert.equal(st.streams_started, 1000);
  assert.equal(st.streams_aborted, 1000, 'the mock saw every upstream call abandoned');
  assert.equal(st.streams_completed, 0);
  assert.equal(st.active, 0);
  // Each reset request is a 499 (client cancelled); no upstream error is blamed for it.
  await expectDelta(s, m0, {
    [reqSeries('chat_completions', model, '4xx')]: 1000, [cancelSeries('chat_completions', model)]: 1000,
  });
  const rss1 = procSample(s.pid).rss;

  // Rapid reset: 1,000 streams each reset as soon as its request is written (HEADERS, DATA,
  // RST_STREAM back to back), without waiting for anything. How far each gets (router,
  // upstream connect, upstream request) is a race; whatever started must be cancelled. A request
  // sluice wrote just before cancelling may reach its upstream late, so these go to a mock of
  // their own.
  const m1 = await scrapeMetrics(s);
  for (let i = 0; i < 1000; i++) {
    const st = h2chat(c, null, false);
    st.end(chatBody('rapid', { stream: true, mock: { ttft_ms: 600000 } }), () => st.close(http2.constants.NGHTTP2_CANCEL));
  }
  await eventually(async () => (await scrapeMetrics(s)).get('sluice_in_flight_requests{route="chat_completions"}') === 0,
    'every reset request finished');
  const st2 = await eventually(async () => {
    const x = await rapidMock.stats();
    return x.active === 0 && x.streams_aborted + x.streams_completed + x.streams_disconnected === x.streams_started && x;
  }, 'every upstream call that started to be cancelled and accounted for');
  const m2 = await scrapeMetrics(s);
  const cancelled = (m2.get(cancelSeries('chat_completions', 'rapid')) ?? 0) - (m1.get(cancelSeries('chat_completions', 'rapid')) ?? 0);
  assert.equal(st2.streams_completed, 0);
  assert.equal(st2.streams_disconnected, 0);
  assert.ok(st2.requests <= cancelled && cancelled <= 1000, `upstream saw ${st2.requests}, sluice cancelled ${cancelled}`);
  assert.deepEqual(Object.keys(metricsDelta(m1, m2)).sort(),
    [cancelSeries('chat_completions', 'rapid'), reqSeries('chat_completions', 'rapid', '4xx')], 'only 499s, no upstream error');
  assert.equal(m2.get(reqSeries('chat_completions', 'rapid', '4xx')) - (m1.get(reqSeries('chat_completions', 'rapid', '4xx')) ?? 0), cancelled);

  // A third round like the first: memory used by the first is reused, not added to.
  await resetRounds(c, 10);
  const rss2 = procSample(s.pid).rss;
  console.log(`# HTTP/2 resets: RSS ${fmtMiB(rss0)} before, ${fmtMiB(rss1)} after 1,000 reset calls, ` +
    `${fmtMiB(rss2)} after 1,000 rapid resets (${st2.requests} reached the upstream, ${cancelled} counted as cancelled) ` +
    'and 1,000 more reset calls');
  // 2,000 more reset streams between the two samples: 4 MiB would be 2 KiB kept per stream.
  // (ASan quarantines freed memory, so there RSS only grows; LeakSanitizer checks at exit.)
  if (!isSanitizedBuild()) assert.ok(rss2 - rss1 <= 4 * MiB, `RSS grew by ${fmtMiB(rss2 - rss1)} across repeated rounds`);

  // The same connection and a new one still serve.
  const again = await h2get(c, chatBody(model, { mock: { reply: 'still here' } }));
  assert.equal(again.status, 200);
  assert.equal(JSON.parse(again.text).choices[0].message.content, 'still here');
  c.close();
  const fresh = await h2connect();
  assert.equal((await h2get(fresh, chatBody(model))).status, 200);
  fresh.close();
});
