// Smoke test of sluice-mock, the project's mock OpenAI upstream: every endpoint's shape, SSE
// framing, each per-request "mock" control, the control endpoints, auth and TLS. Drives the
// binary named by SL_TEST_MOCK with curl and node's http module only.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

const MOCK = process.env.SL_TEST_MOCK;
const KEY = 'sk-test-key';
const AUTH = `Authorization: Bearer ${KEY}`;

// Starts the mock on an ephemeral port and resolves once it printed its listening line(s).
function startMock(args = []) {
  const proc = spawn(MOCK, ['--listen', '127.0.0.1:0', '--quiet', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`mock did not start: ${stderr}`)), 10000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^sluice-mock listening on (https?):\/\/([^\s]+):(\d+)\n/);
      if (!m) return;
      clearTimeout(timer);
      const port = Number(m[3]);
      resolve({
        proc,
        port,
        url: `${m[1]}://${m[2]}:${port}`,
        firstLine: m[0],
        // SIGTERM must end the process promptly with 0 (and no leaks under ASan).
        async stop() {
          proc.kill('SIGTERM');
          const t0 = Date.now();
          const res = await exited;
          return { ...res, ms: Date.now() - t0, stderr };
        },
      });
    });
    proc.on('exit', (code) => reject(new Error(`mock exited early (${code}): ${stderr}`)));
  });
}

// Runs curl; resolves with its exit code and output (never rejects on a curl error).
function curl(args, opts = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    execFile('curl', ['-sS', ...args], { maxBuffer: 64 << 20, ...opts }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

// Parses `curl -i` output into status, lower-case headers and body (the last response head).
function parseHttp(raw) {
  let rest = raw;
  for (;;) {
    const cut = rest.indexOf('\r\n\r\n');
    assert.ok(cut > 0, `no response head in: ${raw.slice(0, 200)}`);
    const lines = rest.slice(0, cut).split('\r\n');
    const status = Number(lines[0].split(' ')[1]);
    rest = rest.slice(cut + 4);
    if (status === 100) continue;
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    return { status, headers, body: rest };
  }
}

// POSTs body (a string, or an object sent as JSON) with curl -i; auth null sends no key.
async function post(base, p, body, extra = [], auth = AUTH) {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  const authArgs = auth ? ['-H', auth] : [];
  const r = await curl(['-i', '-X', 'POST', ...authArgs, '-H', 'Content-Type: application/json',
    '--data-binary', data, ...extra, base + p]);
  assert.equal(r.code, 0, r.stderr);
  return parseHttp(r.stdout);
}

async function get(base, p, extra = ['-H', AUTH]) {
  const r = await curl(['-i', ...extra, base + p]);
  assert.equal(r.code, 0, r.stderr);
  return parseHttp(r.stdout);
}

// Splits an SSE body into the data payloads of its events.
function sseData(body) {
  return body
    .split(/\r?\n\r?\n/)
    .filter((e) => e.length > 0)
    .map((e) => {
      assert.match(e, /^data: /);
      return e.slice(6);
    });
}

function chunks(body) {
  const data = sseData(body);
  assert.equal(data.at(-1), '[DONE]');
  return data.slice(0, -1).map((d) => JSON.parse(d));
}

async function stats(base) {
  return JSON.parse((await get(base, '/_mock/stats', [])).body);
}

// Polls /_mock/stats until pred holds (counters move after the client is gone).
async function waitStats(base, pred, ms = 5000) {
  const t0 = Date.now();
  for (;;) {
    const s = await stats(base);
    if (pred(s) || Date.now() - t0 > ms) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A raw request with node's http client, recording when the head and each body read arrived.
function timedRequest(base, p, body) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
    const data = JSON.stringify(body);
    const req = http.request(base + p, {
      method: 'POST',
      agent: false,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json',
        'content-length': Buffer.byteLength(data) },
    }, (res) => {
      const headAt = ms();
      const reads = [];
      res.on('data', (d) => reads.push({ at: ms(), text: d.toString('utf8') }));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, headAt, reads,
        body: reads.map((r) => r.text).join('') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

describe('sluice-mock', { skip: MOCK ? false : 'SL_TEST_MOCK is not set' }, () => {
  let mock;
  let base;

  before(async () => {
    mock = await startMock();
    base = mock.url;
  });

  after(async () => {
    const res = await mock.stop();
    assert.equal(res.code, 0, `exit ${res.code}/${res.signal}: ${res.stderr}`);
  });

  test('prints one flushed listening line', () => {
    assert.match(mock.firstLine, /^sluice-mock listening on http:\/\/127\.0\.0\.1:\d+\n$/);
    assert.ok(mock.port > 0);
  });

  test('GET /v1/models lists models', async () => {
    const r = await get(base, '/v1/models');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /application\/json/);
    const j = JSON.parse(r.body);
    assert.equal(j.object, 'list');
    assert.ok(j.data.length >= 3);
    for (const m of j.data) {
      assert.equal(m.object, 'model');
      assert.equal(typeof m.id, 'string');
    }
  });

  test('chat completion (non-stream) has the OpenAI shape', async () => {
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
    const r = await post(base, '/v1/chat/completions', body);
    assert.equal(r.status, 200);
    const j = JSON.parse(r.body);
    assert.equal(j.object, 'chat.completion');
    assert.match(j.id, /^chatcmpl-/);
    assert.equal(typeof j.created, 'number');
    assert.equal(typeof j.system_fingerprint, 'string');
    assert.equal(j.model, 'gpt-4o-mini');
    assert.equal(j.choices[0].message.role, 'assistant');
    assert.match(j.choices[0].message.content, /sluice-mock/);
    assert.equal(j.choices[0].finish_reason, 'stop');
    const bytes = Buffer.byteLength(JSON.stringify(body));
    assert.equal(j.usage.prompt_tokens, Math.max(1, Math.floor(bytes / 4)));
    assert.equal(j.usage.completion_tokens, 8);
    assert.equal(j.usage.total_tokens, j.usage.prompt_tokens + j.usage.completion_tokens);
  });

  test('any api prefix works and the model is echoed exactly', async () => {
    const model = 'my/odd "model" \u00e9';
    const r = await post(base, '/openai/deployments/x/v1/chat/completions', { model });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).model, model);
  });

  test('chat stream: role chunk, content deltas, finish, [DONE]', async () => {
    const r = await post(base, '/v1/chat/completions',
      { model: 'm1', stream: true, mock: { chunks: 4 } });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/event-stream/);
    const c = chunks(r.body);
    assert.equal(c.length, 1 + 4 + 1);
    assert.equal(c[0].choices[0].delta.role, 'assistant');
    for (const x of c) {
      assert.equal(x.object, 'chat.completion.chunk');
      assert.equal(x.model, 'm1');
      assert.equal(x.id, c[0].id);
      assert.equal(typeof x.system_fingerprint, 'string');
      assert.equal('usage' in x, false);
    }
    const text = c.slice(1, 5).map((x) => x.choices[0].delta.content).join('');
    const plain = JSON.parse((await post(base, '/v1/chat/completions', { model: 'm1' })).body);
    assert.equal(text, plain.choices[0].message.content);
    assert.equal(c[5].choices[0].finish_reason, 'stop');
    assert.deepEqual(c[5].choices[0].delta, {});
  });

  test('chat stream with include_usage ends with a usage-only chunk', async () => {
    const r = await post(base, '/v1/chat/completions', {
      model: 'm', stream: true, stream_options: { include_usage: true },
      mock: { chunks: 3, chunk_text: 'ab' },
    });
    const c = chunks(r.body);
    assert.equal(c.length, 1 + 3 + 1 + 1);
    const u = c.at(-1);
    assert.deepEqual(u.choices, []);
    assert.equal(u.usage.completion_tokens, 3);
    assert.ok(u.usage.prompt_tokens >= 1);
    for (const x of c.slice(0, -1)) assert.equal(x.usage, null);
    assert.deepEqual(c.slice(1, 4).map((x) => x.choices[0].delta.content), ['ab', 'ab', 'ab']);
  });

  test('legacy completions: JSON and SSE', async () => {
    const j = JSON.parse((await post(base, '/v1/completions', { model: 'inst', prompt: 'x' })).body);
    assert.equal(j.object, 'text_completion');
    assert.equal(j.model, 'inst');
    assert.equal(typeof j.choices[0].text, 'string');
    assert.equal(j.choices[0].finish_reason, 'stop');
    assert.equal(j.usage.completion_tokens, 8);
    const r = await post(base, '/v1/completions', {
      model: 'inst', prompt: 'x', stream: true, stream_options: { include_usage: true },
      mock: { chunks: 2, chunk_text: 'z' },
    });
    const c = chunks(r.body);
    assert.equal(c.length, 2 + 1 + 1);
    assert.equal(c[0].object, 'text_completion');
    assert.equal(c[0].choices[0].text, 'z');
    assert.equal(c[2].choices[0].finish_reason, 'stop');
    assert.deepEqual(c[3].choices, []);
    assert.equal(c[3].usage.completion_tokens, 2);
  });

  test('embeddings: one deterministic vector per input', async () => {
    const one = JSON.parse((await post(base, '/v1/embeddings', { model: 'e', input: 'hello' })).body);
    assert.equal(one.object, 'list');
    assert.equal(one.model, 'e');
    assert.equal(one.data.length, 1);
    assert.equal(one.data[0].object, 'embedding');
    assert.equal(one.data[0].index, 0);
    assert.equal(one.data[0].embedding.length, 8);
    assert.ok(one.usage.prompt_tokens >= 1);
    const many = JSON.parse((await post(base, '/v1/embeddings',
      { model: 'e', input: ['hello', 'world', 'hello'] })).body);
    assert.equal(many.data.length, 3);
    assert.deepEqual(many.data.map((d) => d.index), [0, 1, 2]);
    assert.deepEqual(many.data[0].embedding, one.data[0].embedding);
    assert.deepEqual(many.data[2].embedding, one.data[0].embedding);
    assert.notDeepEqual(many.data[1].embedding, one.data[0].embedding);
    const dims = JSON.parse((await post(base, '/v1/embeddings',
      { model: 'e', input: 'a', mock: { dimensions: 3 } })).body);
    assert.equal(dims.data[0].embedding.length, 3);
    const b64 = JSON.parse((await post(base, '/v1/embeddings',
      { model: 'e', input: 'hello', encoding_format: 'base64' })).body);
    const raw = Buffer.from(b64.data[0].embedding, 'base64');
    assert.equal(raw.length, 8 * 4);
    for (let i = 0; i < 8; i++) {
      assert.ok(Math.abs(raw.readFloatLE(4 * i) - one.data[0].embedding[i]) < 1e-6);
    }
  });

  test('401 without a bearer token, in the OpenAI error shape', async () => {
    const r = await post(base, '/v1/chat/completions', { model: 'm' }, [], null);
    assert.equal(r.status, 401);
    const e = JSON.parse(r.body).error;
    assert.equal(typeof e.message, 'string');
    assert.equal(e.type, 'invalid_request_error');
    assert.equal((await get(base, '/v1/models', [])).status, 401);
  });

  test('malformed JSON gets a 400 error envelope', async () => {
    for (const bad of ['{"model":', 'not json', '["model"]', '{"model":"m"} x', '']) {
      const r = await post(base, '/v1/chat/completions', bad);
      assert.equal(r.status, 400, bad);
      const e = JSON.parse(r.body).error;
      assert.equal(e.type, 'invalid_request_error');
      assert.ok('code' in e && 'param' in e && 'message' in e);
    }
    const bad = await post(base, '/v1/chat/completions', { model: 'm', mock: { chunkz: 1 } });
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).error.message, /chunkz/);
  });

  test('mock.status returns an OpenAI error with defaults or the given fields', async () => {
    const r = await post(base, '/v1/chat/completions', { model: 'm', mock: { status: 429 } });
    assert.equal(r.status, 429);
    const e = JSON.parse(r.body).error;
    assert.equal(e.code, 'rate_limit_exceeded');
    assert.equal(typeof e.message, 'string');
    const r2 = await post(base, '/v1/chat/completions', {
      model: 'm', stream: true,
      mock: { status: 503, error_message: 'down', error_type: 'server_error', error_code: 'x1' },
    });
    assert.equal(r2.status, 503);
    assert.match(r2.headers['content-type'], /application\/json/);
    assert.deepEqual(JSON.parse(r2.body), {
      error: { message: 'down', type: 'server_error', param: null, code: 'x1' },
    });
    const r3 = await post(base, '/v1/embeddings',
      { model: 'm', input: 'a', mock: { status: 400, error_body: 'raw <body>' } });
    assert.equal(r3.status, 400);
    assert.equal(r3.body, 'raw <body>');
  });

  test('mock.retry_after and mock.headers add response headers', async () => {
    const r = await post(base, '/v1/chat/completions', {
      model: 'm', mock: { status: 429, retry_after: 7, headers: { 'X-Mock-A': 'one', 'x-n': 5 } },
    });
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '7');
    assert.equal(r.headers['x-mock-a'], 'one');
    assert.equal(r.headers['x-n'], '5');
    const ok = await post(base, '/v1/chat/completions', { model: 'm', mock: { headers: { 'x-ok': 'y' } } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-ok'], 'y');
  });

  test('mock.reply, response_bytes, no_usage and invalid_json', async () => {
    const a = JSON.parse((await post(base, '/v1/chat/completions',
      { model: 'm', mock: { reply: 'Bonjour "x"\n' } })).body);
    assert.equal(a.choices[0].message.content, 'Bonjour "x"\n');
    const b = JSON.parse((await post(base, '/v1/chat/completions',
      { model: 'm', mock: { response_bytes: 20000 } })).body);
    assert.equal(Buffer.byteLength(b.choices[0].message.content), 20000);
    const c = JSON.parse((await post(base, '/v1/chat/completions',
      { model: 'm', mock: { no_usage: true } })).body);
    assert.equal('usage' in c, false);
    const s = await post(base, '/v1/chat/completions', {
      model: 'm', stream: true, stream_options: { include_usage: true }, mock: { no_usage: true },
    });
    assert.ok(chunks(s.body).every((x) => !('usage' in x)));
    const d = await post(base, '/v1/chat/completions', { model: 'm', mock: { invalid_json: true } });
    assert.equal(d.status, 200);
    assert.throws(() => JSON.parse(d.body));
  });

  test('mock.crlf ends every SSE line with CRLF', async () => {
    const r = await post(base, '/v1/chat/completions',
      { model: 'm', stream: true, mock: { chunks: 2, crlf: true } });
    assert.ok(r.body.endsWith('data: [DONE]\r\n\r\n'));
    assert.equal(r.body.replace(/\r\n/g, '').includes('\n'), false);
    assert.equal(chunks(r.body).length, 4);
  });

  test('mock.split_writes delivers each event in several reads', async () => {
    const r = await timedRequest(base, '/v1/chat/completions',
      { model: 'm', stream: true, mock: { chunks: 3, split_writes: true, crlf: true } });
    assert.equal(r.status, 200);
    const events = sseData(r.body);
    assert.equal(events.length, 1 + 3 + 1 + 1);
    assert.ok(r.reads.length >= 2 * events.length,
      `${r.reads.length} reads for ${events.length} events`);
    assert.ok(r.reads.some((x) => x.text === '\n'), 'a CRLF split between CR and LF');
  });

  test('mock.ttft_ms sends the head first and delays the first chunk', async () => {
    const r = await timedRequest(base, '/v1/chat/completions',
      { model: 'm', stream: true, mock: { ttft_ms: 300, chunks: 2 } });
    assert.ok(r.headAt < 250, `head after ${r.headAt} ms`);
    assert.ok(r.reads[0].at >= 290, `first chunk after ${r.reads[0].at} ms`);
  });

  test('mock.chunk_interval_ms paces the deltas', async () => {
    const r = await timedRequest(base, '/v1/chat/completions',
      { model: 'm', stream: true, mock: { chunks: 4, chunk_interval_ms: 100 } });
    assert.equal(chunks(r.body).length, 6);
    // h2o arms a timer from the loop's clock as of its last poll, so a loaded machine can make
    // each gap a few ms short; 250 ms still tells three gaps from two (or none).
    const span = r.reads.at(-1).at - r.reads[0].at;
    assert.ok(span >= 250, `three 100 ms gaps, got ${span} ms from first to last read`);
  });

  test('mock.latency_ms delays the response head', async () => {
    const r = await timedRequest(base, '/v1/chat/completions', { model: 'm', mock: { latency_ms: 300 } });
    assert.equal(r.status, 200);
    assert.ok(r.headAt >= 290, `head after ${r.headAt} ms`);
    JSON.parse(r.body);
  });

  test('mock.drip_ms sends the body a byte at a time', async () => {
    const r = await timedRequest(base, '/v1/chat/completions',
      { model: 'm', mock: { drip_ms: 2, reply: 'drip' } });
    assert.equal(JSON.parse(r.body).choices[0].message.content, 'drip');
    assert.ok(r.reads.length > 20, `${r.reads.length} reads`);
  });

  test('mock.disconnect_after_chunks cuts the stream without [DONE]', async () => {
    const before = await stats(base);
    const r = await curl(['-N', '-H', AUTH, '--data-binary',
      JSON.stringify({ model: 'm', stream: true, mock: { chunks: 5, disconnect_after_chunks: 2 } }),
      `${base}/v1/chat/completions`]);
    assert.notEqual(r.code, 0, 'curl sees a broken transfer');
    const events = r.stdout.split('\n\n').filter((e) => e.startsWith('data: '));
    assert.equal(events.length, 1 + 2);
    assert.equal(r.stdout.includes('[DONE]'), false);
    const s = await waitStats(base, (x) => x.streams_disconnected > before.streams_disconnected);
    assert.equal(s.streams_disconnected, before.streams_disconnected + 1);
  });

  test('mock.reset_before_headers resets the connection', async () => {
    const r = await curl(['-H', AUTH, '--data-binary',
      JSON.stringify({ model: 'm', mock: { reset_before_headers: true } }),
      `${base}/v1/chat/completions`]);
    // 56: failure receiving (connection reset); 52: empty reply.
    assert.ok([52, 56].includes(r.code), `curl exit ${r.code}: ${r.stderr}`);
  });

  test('a client that leaves a stalled stream is counted in streams_aborted', async () => {
    const before = await stats(base);
    const r = await curl(['-N', '-m', '1', '-H', AUTH, '--data-binary',
      JSON.stringify({ model: 'm', stream: true, mock: { chunks: 5, stall_after_chunks: 2 } }),
      `${base}/v1/chat/completions`]);
    assert.equal(r.code, 28, 'curl timed out');
    assert.equal(r.stdout.split('\n\n').filter((e) => e.startsWith('data: ')).length, 3);
    const s = await waitStats(base, (x) => x.streams_aborted > before.streams_aborted);
    assert.equal(s.streams_aborted, before.streams_aborted + 1);
    assert.equal(s.active, before.active);
  });

  test('HTTP/2 (prior knowledge) streams too', async () => {
    const r = await curl(['--http2-prior-knowledge', '-w', '\n%{http_version}', '-H', AUTH,
      '--data-binary', JSON.stringify({ model: 'm', stream: true, mock: { chunks: 2 } }),
      `${base}/v1/chat/completions`]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.endsWith('\n2'));
    assert.equal(chunks(r.stdout.slice(0, -2)).length, 4);
    // The head goes out before ttft_ms on HTTP/2 as well.
    const t = await curl(['--http2-prior-knowledge', '-o', '/dev/null', '-w',
      '%{time_starttransfer} %{time_total}', '-H', AUTH, '--data-binary',
      JSON.stringify({ model: 'm', stream: true, mock: { ttft_ms: 300, chunks: 1 } }),
      `${base}/v1/chat/completions`]);
    const [head, total] = t.stdout.split(' ').map(Number);
    assert.ok(head < 0.25 && total >= 0.29, t.stdout);
  });

  test('stats, requests and reset', async () => {
    const reset = await curl(['-X', 'POST', `${base}/_mock/reset`]);
    assert.equal(JSON.parse(reset.stdout).ok, true);
    const zero = await stats(base);
    for (const k of ['requests', 'chat', 'completions', 'embeddings', 'models', 'streams_started',
      'streams_completed', 'streams_aborted', 'bytes_in']) assert.equal(zero[k], 0, k);
    assert.equal(zero.active, 0);
    assert.deepEqual(JSON.parse((await get(base, '/_mock/requests', [])).body), []);

    const body = JSON.stringify({ model: 'm', stream: true, mock: { chunks: 1 } });
    await post(base, '/v1/chat/completions', body, ['-H', 'X-Trace: t1']);
    await post(base, '/v1/completions', { model: 'm', prompt: 'p' });
    await post(base, '/v1/embeddings', { model: 'm', input: 'p' });
    await get(base, '/v1/models');
    const s = await waitStats(base, (x) => x.streams_completed === 1);
    assert.equal(s.requests, 4);
    assert.equal(s.chat, 1);
    assert.equal(s.completions, 1);
    assert.equal(s.embeddings, 1);
    assert.equal(s.models, 1);
    assert.equal(s.streams_started, 1);
    assert.equal(s.streams_completed, 1);
    assert.ok(s.bytes_in >= Buffer.byteLength(body));

    const reqs = JSON.parse((await get(base, '/_mock/requests', [])).body);
    assert.equal(reqs.length, 4);
    assert.equal(reqs[0].method, 'POST');
    assert.equal(reqs[0].path, '/v1/chat/completions');
    assert.equal(reqs[0].body, body);
    assert.equal(reqs[0].headers.authorization, `Bearer ${KEY}`);
    assert.equal(reqs[0].headers['x-trace'], 't1');
    assert.match(reqs[0].headers.host, /^127\.0\.0\.1:\d+$/);
    assert.equal(reqs[3].method, 'GET');
    assert.equal(reqs[3].body, '');
  });

  test('the request log keeps the last 64 and truncates bodies to 64 KiB', async () => {
    await curl(['-X', 'POST', `${base}/_mock/reset`]);
    const big = JSON.stringify({ model: 'm', pad: 'x'.repeat(70000) });
    await post(base, '/v1/chat/completions', big);
    for (let i = 0; i < 64; i++) await get(base, `/v1/models?i=${i}`);
    const reqs = JSON.parse((await get(base, '/_mock/requests', [])).body);
    assert.equal(reqs.length, 64);
    assert.equal(reqs[0].path, '/v1/models?i=0');
    await curl(['-X', 'POST', `${base}/_mock/reset`]);
    await post(base, '/v1/chat/completions', big);
    const one = JSON.parse((await get(base, '/_mock/requests', [])).body);
    assert.equal(Buffer.byteLength(one[0].body), 64 * 1024);
  });
});

describe('sluice-mock options', { skip: MOCK ? false : 'SL_TEST_MOCK is not set' }, () => {
  test('--require-key accepts only that key', async () => {
    const m = await startMock(['--require-key', 'sk-provider']);
    try {
      const bad = await post(m.url, '/v1/chat/completions', { model: 'm' });
      assert.equal(bad.status, 401);
      assert.equal(JSON.parse(bad.body).error.code, 'invalid_api_key');
      const good = await post(m.url, '/v1/chat/completions', { model: 'm' }, [],
        'Authorization: Bearer sk-provider');
      assert.equal(good.status, 200);
    } finally {
      assert.equal((await m.stop()).code, 0);
    }
  });

  test('CLI defaults: --reply, --chunks, --latency-ms, --threads', async () => {
    const m = await startMock(['--reply', 'pong', '--chunks', '2', '--latency-ms', '100',
      '--threads', '2', '--listen', '127.0.0.1:0']);
    try {
      const t0 = Date.now();
      const j = JSON.parse((await post(m.url, '/v1/chat/completions', { model: 'm' })).body);
      assert.ok(Date.now() - t0 >= 95);
      assert.equal(j.choices[0].message.content, 'pong');
      assert.equal(j.usage.completion_tokens, 2);
      const s = chunks((await post(m.url, '/v1/chat/completions', { model: 'm', stream: true })).body);
      assert.deepEqual(s.slice(1, 3).map((x) => x.choices[0].delta.content), ['po', 'ng']);
      for (let i = 0; i < 8; i++) await get(m.url, '/v1/models');
      assert.equal((await stats(m.url)).models, 8);
    } finally {
      const res = await m.stop();
      assert.equal(res.code, 0, res.stderr);
      assert.ok(res.ms < 3000, `exit took ${res.ms} ms`);
    }
  });

  test('bad arguments exit 2 with a message', () => {
    for (const args of [['--threads', '0'], ['--bogus'], ['--listen', 'nope'], ['--tls-cert', 'x'],
      ['--chunks', '-1'], ['extra']]) {
      const r = spawnSync(MOCK, args, { encoding: 'utf8' });
      assert.equal(r.status, 2, `${args}: ${r.stderr}`);
      assert.match(r.stderr, /^sluice-mock: /);
    }
  });

  test('a port in use is an error (exit 1), even for SO_REUSEPORT workers', async () => {
    const m = await startMock(['--threads', '2']);
    try {
      for (const threads of ['1', '2']) {
        const r = spawnSync(MOCK, ['--listen', `127.0.0.1:${m.port}`, '--threads', threads],
          { encoding: 'utf8', timeout: 5000 });
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, /Address already in use/);
      }
    } finally {
      assert.equal((await m.stop()).code, 0);
    }
  });

  test('TLS with a throwaway self-signed certificate, HTTP/1.1 and h2 via ALPN', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-mock-tls-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
      'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert],
    { encoding: 'utf8' });
    assert.equal(gen.status, 0, gen.stderr);
    const m = await startMock(['--tls-cert', cert, '--tls-key', key]);
    try {
      assert.match(m.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      for (const [flag, ver] of [['--http1.1', '1.1'], ['--http2', '2']]) {
        const r = await curl(['--cacert', cert, flag, '-w', '\n%{http_version}', '-H', AUTH,
          '--data-binary', JSON.stringify({ model: 'tls', stream: true, mock: { chunks: 2 } }),
          `${m.url}/v1/chat/completions`]);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(r.stdout.endsWith(`\n${ver}`), r.stdout.slice(-20));
        assert.equal(chunks(r.stdout.slice(0, r.stdout.lastIndexOf('\n'))).length, 4);
      }
      // The server refuses TLS 1.1 even from a client willing to speak it.
      const sClient = (v, extra = []) => spawnSync('openssl', ['s_client', '-connect',
        `127.0.0.1:${m.port}`, v, ...extra], { input: '', encoding: 'utf8' }).status;
      assert.equal(sClient('-tls1_2'), 0);
      assert.notEqual(sClient('-tls1_1', ['-cipher', 'DEFAULT@SECLEVEL=0']), 0);
    } finally {
      assert.equal((await m.stop()).code, 0);
    }
  });
});
