// The HTTP surface every request sees: health routes, headers, request ids, unknown paths,
// methods, body limits, HTTP/1.1 keep-alive and HTTP/2 (h2c prior knowledge).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSluice, baseConfig, curl, run, scrapeMetrics } from './lib/harness.mjs';
import { exchange, parseResponses } from './lib/raw.mjs';
import { startGateway, stopGateway, KEYS } from './lib/gateway.mjs';
import net from 'node:net';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
let s, version;

before(async () => {
  s = await startSluice({
    config: baseConfig().replace('  workers: 2', '  workers: 2\n  request_body_limit_bytes: 1024'),
  });
  version = s.log().match(/sluice (\S+) listening/)[1];
});
after(async () => {
  const r = await s.stop();
  assert.equal(r.code, 0, s.log());
});

for (const path of ['/livez', '/readyz']) {
  test(`GET ${path} answers 200 ok as text/plain with the standard headers`, async () => {
    const r = await curl([s.url(path)]);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['server'], `sluice/${version}`);
    assert.match(r.headers['x-request-id'], UUID_RE);
  });
}

test('HEAD /livez answers 200 without a body', async () => {
  const r = await curl(['-I', '-o', '/dev/null', s.url('/livez')]);
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], '2');
  assert.equal(r.body, '');
});

test('?verbose lists the checks', async () => {
  const r = await curl([s.url('/readyz?verbose')]);
  assert.equal(r.status, 200);
  assert.equal(r.body, '[+]ping ok\n[+]shutdown ok\n[+]config ok\nreadyz check passed\n');
});

test('a valid caller x-request-id is kept; invalid ones are replaced', async () => {
  const keep = 'req-ABC_123.x:y/z';
  let r = await curl(['-H', `x-request-id: ${keep}`, s.url('/livez')]);
  assert.equal(r.headers['x-request-id'], keep);
  const max = 'a'.repeat(128);
  r = await curl(['-H', `x-request-id: ${max}`, s.url('/livez')]);
  assert.equal(r.headers['x-request-id'], max);
  for (const bad of ['a'.repeat(129), 'has space', 'tab\there', 'caf\u00e9']) {
    r = await curl(['-H', `x-request-id: ${bad}`, s.url('/livez')]);
    assert.match(r.headers['x-request-id'], UUID_RE, `replaced: ${bad}`);
  }
  r = await curl(['-H', 'x-request-id;', s.url('/livez')]); // empty value
  assert.match(r.headers['x-request-id'], UUID_RE);
});

test('request ids are unique', async () => {
  const ids = new Set();
  for (let i = 0; i < 20; i++) ids.add((await curl([s.url('/livez')])).headers['x-request-id']);
  assert.equal(ids.size, 20);
});

test('unknown paths get 404 in the OpenAI error envelope', async () => {
  const r = await curl([s.url('/v1/nothing-here')]);
  assert.equal(r.status, 404);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.headers['server'], `sluice/${version}`);
  assert.match(r.headers['x-request-id'], UUID_RE);
  assert.deepEqual(JSON.parse(r.body), {
    error: { message: 'no route for GET /v1/nothing-here', type: 'invalid_request_error', code: 'not_found' },
  });
});

test('a known path with the wrong method gets 405 with Allow', async () => {
  const r = await curl(['-X', 'DELETE', s.url('/livez')]);
  assert.equal(r.status, 405);
  assert.equal(r.headers['allow'], 'GET, HEAD');
  assert.equal(JSON.parse(r.body).error.code, 'method_not_allowed');
});

test('a body over proxy.request_body_limit_bytes gets 413 in the envelope (content-length)', async () => {
  const r = await curl(['-X', 'POST', '-H', 'content-type: application/json', '--data-binary', 'x'.repeat(1025),
    s.url('/v1/chat/completions')]);
  assert.equal(r.status, 413);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.match(r.headers['x-request-id'], UUID_RE);
  assert.equal(r.headers['server'], `sluice/${version}`);
  assert.deepEqual(JSON.parse(r.body), {
    error: {
      message: 'request body is larger than the limit of 1024 bytes (proxy.request_body_limit_bytes)',
      type: 'invalid_request_error', code: 'request_too_large',
    },
  });
});

test('a chunked body over the limit gets 413 too', async () => {
  const r = await curl(['-X', 'POST', '-H', 'transfer-encoding: chunked', '--data-binary', '@-',
    s.url('/v1/chat/completions')], { input: 'y'.repeat(4000) });
  assert.equal(r.status, 413);
  assert.equal(JSON.parse(r.body).error.code, 'request_too_large');
});

// The proxied route, so "accepted" means the upstream got it: a valid chat body padded to
// exactly the limit reaches the mock whole, with Content-Length and chunked alike; one byte
// more is refused and nothing reaches the mock.
test('a chat body of exactly the limit reaches the upstream (Content-Length and chunked); one byte more gets 413', async () => {
  const g = await startGateway({ env: { SLUICE_PROXY__REQUEST_BODY_LIMIT_BYTES: '1024' } });
  try {
    const padding = (size) => 'p'.repeat(size - '{"model":"gpt-4o-mini","messages":[{"role":"user","content":""}]}'.length);
    const chatOf = (size) => {
      const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: padding(size) }] });
      assert.equal(body.length, size);
      return body;
    };
    const post = (body, chunked) => curl(['-X', 'POST', '-H', `authorization: Bearer ${KEYS.teamA}`,
      '-H', 'content-type: application/json', ...(chunked ? ['-H', 'transfer-encoding: chunked'] : []),
      '--data-binary', '@-', g.sluice.url('/v1/chat/completions')], { input: body });
    for (const chunked of [false, true]) {
      await g.mock.reset();
      const at = await post(chatOf(1024), chunked);
      assert.equal(at.status, 200, at.body);
      assert.equal(JSON.parse(at.body).model, 'gpt-4o-mini');
      const seen = await g.mock.requests();
      assert.equal(seen.length, 1);
      assert.equal(JSON.parse(seen[0].body).messages[0].content, padding(1024));
      const over = await post(chatOf(1025), chunked);
      assert.equal(over.status, 413, over.body);
      assert.equal(JSON.parse(over.body).error.code, 'request_too_large');
      assert.equal((await g.mock.stats()).requests, 1, 'the body over the limit never reached the upstream');
    }
  } finally {
    assert.equal((await stopGateway(g)).code, 0);
  }
});

test('HTTP/1.1 keep-alive serves several requests on one connection', async () => {
  const r = await run('curl', ['-sv', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null',
    s.url('/livez'), s.url('/readyz'), s.url('/livez')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((r.stderr.match(/Re-using existing connection/g) ?? []).length, 2, r.stderr);
  assert.equal((r.stderr.match(/Connected to/g) ?? []).length, 1, r.stderr);
});

test('HTTP/2 with prior knowledge (curl)', async () => {
  const r = await curl(['--http2-prior-knowledge', s.url('/livez')]);
  assert.equal(r.statusLine.startsWith('HTTP/2 200'), true, r.statusLine);
  assert.equal(r.body, 'ok');
  assert.equal(r.headers['server'], `sluice/${version}`);
  assert.match(r.headers['x-request-id'], UUID_RE);
});

test('HTTP/2 with prior knowledge (nghttp), several streams on one connection', async () => {
  const r = await run('nghttp', ['-v', '-n', s.url('/livez'), s.url('/readyz'), s.url('/v1/x')]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal((r.stdout.match(/:status: 200/g) ?? []).length, 2, r.stdout);
  assert.equal((r.stdout.match(/:status: 404/g) ?? []).length, 1, r.stdout);
  assert.equal((r.stdout.match(/recv SETTINGS frame/g) ?? []).length >= 1, true);
});

test('h2load drives HTTP/2 load without errors', async () => {
  const r = await run('h2load', ['-n', '2000', '-c', '4', '-m', '8', s.url('/livez')]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored/);
  assert.match(r.stdout, /status codes: 2000 2xx/);
});

// ---- closing a connection the client is still sending on ----

const TIGHT_LIMIT = 64 * 1024;
const TOO_LARGE = {
  error: {
    message: `request body is larger than the limit of ${TIGHT_LIMIT} bytes (proxy.request_body_limit_bytes)`,
    type: 'invalid_request_error', code: 'request_too_large',
  },
};
const oversized = (size) => Buffer.concat([Buffer.from('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n' +
  `Content-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`), Buffer.alloc(size, 0x78)]);

// A gateway with a 64 KiB body limit and metrics, started for the tests below.
let tight;
async function tightGateway() {
  tight ??= await startSluice({
    config: baseConfig({ metrics: true }).replace('  workers: 2', `  workers: 2\n  request_body_limit_bytes: ${TIGHT_LIMIT}`),
  });
  return tight;
}
after(async () => {
  if (tight) assert.equal((await tight.stop()).code, 0, tight.log());
});

// A caller that sends its whole body at once, as most clients do, is still writing when h2o
// refuses it from its head (Content-Length over the limit). A socket closed with unread input
// answers with a reset, which throws away the 413 the caller has not read yet; so Sluice shuts
// its side and drains the rest of the body before it closes. 1 MiB is the audit's case (on a
// build without the drain some of the 100 fail, how many depends on scheduling); an 8 MiB body
// is still being written when h2o refuses it, every time.
test('a body sent at once past a 64 KiB limit: every caller reads a complete 413, none sees a reset', async () => {
  const g = await tightGateway();
  const before = await scrapeMetrics(g);
  const bad = [];
  for (const [size, tries] of [[1024 * 1024, 100], [8 * 1024 * 1024, 20]]) {
    const wire = oversized(size);
    for (let done = 0; done < tries; done += 10) {
      const results = await Promise.all(Array.from({ length: 10 }, () => exchange(g.port, [wire])));
      for (const r of results) {
        const [res, ...more] = parseResponses(r.text);
        const ok = r.closed && r.error === null && res !== undefined && more.length === 0 && res.status === 413 &&
          res.headers.connection === 'close' && res.body.length === Number(res.headers['content-length']) &&
          JSON.stringify(JSON.parse(res.body)) === JSON.stringify(TOO_LARGE);
        if (!ok) bad.push({ size, error: r.error, closed: r.closed, bytes: r.bytes.length, head: r.text.slice(0, 40) });
      }
    }
  }
  assert.deepEqual(bad, [], `${bad.length} of 120 callers did not read a complete 413`);
  const after = await scrapeMetrics(g);
  const delta = (k) => after.get(k) - before.get(k);
  assert.equal(delta('sluice_http_requests_total{code="4xx"}'), 120);
  assert.equal(delta('sluice_lingering_closes_total'), 120, 'each connection was closed gracefully');
});

// The drain is bounded: a caller still sending past 32 MiB is cut off (after reading its 413),
// and one that neither sends nor closes is closed after 5 s, which it notices on its next write.
test('the drain after a 413 is bounded: 32 MiB, then a reset; a silent caller is closed after a while', async () => {
  const g = await tightGateway();
  const endless = await exchange(g.port, [oversized(64 * 1024 * 1024)]);
  const [res] = parseResponses(endless.text);
  assert.equal(res?.status, 413, endless.text.slice(0, 80));
  assert.ok(['ECONNRESET', 'EPIPE'].includes(endless.error), `cut off, got ${endless.error}`);

  const before = await scrapeMetrics(g);
  const silent = await new Promise((resolve) => {
    const c = net.connect({ port: g.port, host: '127.0.0.1', allowHalfOpen: true });
    let text = '', ended = false, writes = 0, tick;
    c.on('connect', () => c.write(oversized(256 * 1024).subarray(0, 1024)));
    c.on('data', (d) => { text += d.toString('latin1'); });
    // Sluice has shut its side; keep ours open and write a byte now and then, which Sluice
    // drains until it closes the socket (then the write draws a reset).
    c.on('end', () => {
      ended = true;
      tick = setInterval(() => { writes++; c.write('y'); }, 250);
    });
    c.on('error', (e) => { clearInterval(tick); c.destroy(); resolve({ text, ended, writes, error: e.code }); });
  });
  assert.equal(parseResponses(silent.text)[0]?.status, 413);
  assert.equal(silent.ended, true, 'Sluice shut its side after the 413');
  assert.ok(['ECONNRESET', 'EPIPE'].includes(silent.error), `closed by Sluice, got ${silent.error}`);
  assert.ok(silent.writes > 1, 'bytes sent after the 413 were drained for a while');
  const after = await scrapeMetrics(g);
  assert.equal(after.get('sluice_lingering_closes_total') - before.get('sluice_lingering_closes_total'), 1);
});
