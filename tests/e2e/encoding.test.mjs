// Compressed upstream bodies. Sluice asks for `Accept-Encoding: identity`; an upstream that
// compresses anyway (the mock's content_encoding and transfer_encoding_gzip controls) is decoded
// on the fly, JSON and streams alike; a coding Sluice cannot undo, or corrupt data, is a 502
// upstream_decode_error naming why, counted as kind "decode" and logged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, stopGateway, KEYS } from './lib/gateway.mjs';
import { call } from './lib/fleet.mjs';
import { scrapeMetrics } from './lib/harness.mjs';
import { expectDelta, reqSeries, errSeries } from './lib/probes.mjs';

let g;
// One worker: the failure log is rate-limited per worker, and a test below counts its lines.
before(async () => { g = await startGateway({ env: { SLUICE_PROXY__WORKERS: '1' } }); });
after(async () => { assert.equal((await stopGateway(g)).code, 0); });

const REPLY = 'Compressed or not, every byte of this reply must come back to the caller intact.';

const chat = (extra) => call(g.sluice.port, '/v1/chat/completions', {
  key: KEYS.teamA,
  body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...extra }),
});

const events = (text) => text.split('\n\n').filter(Boolean);

// The content deltas of a relayed stream, joined; fails unless it ends with [DONE].
function streamed(r) {
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/event-stream; charset=utf-8');
  const ev = events(r.text);
  assert.equal(ev.at(-1), 'data: [DONE]', r.text.slice(-300));
  const chunks = ev.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)));
  assert.ok(chunks.every((c) => c.model === 'gpt-4o-mini'));
  return chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
}

function errorOf(r) {
  assert.equal(r.headers['content-type'], 'application/json');
  return JSON.parse(r.text).error;
}

test('the upstream is asked for identity: Accept-Encoding: identity', async () => {
  await g.mock.reset();
  const r = await chat({});
  assert.equal(r.status, 200);
  const [seen] = await g.mock.requests();
  assert.equal(seen.headers['accept-encoding'], 'identity');
});

for (const coding of ['gzip', 'x-gzip', 'deflate']) {
  test(`Content-Encoding: ${coding} JSON is decoded: 200, model rewritten to the alias`, async () => {
    const r = await chat({ mock: { content_encoding: coding, reply: REPLY } });
    assert.equal(r.status, 200, r.text);
    const body = JSON.parse(r.text);
    assert.equal(body.model, 'gpt-4o-mini');
    assert.equal(body.choices[0].message.content, REPLY);
    assert.equal(r.headers['content-encoding'], undefined, 'the caller gets identity');
  });
}

test('Transfer-Encoding: gzip, chunked (over a gzip Content-Encoding too) is decoded', async () => {
  for (const mock of [{ transfer_encoding_gzip: true }, { transfer_encoding_gzip: true, content_encoding: 'gzip' }]) {
    const r = await chat({ mock: { ...mock, reply: REPLY } });
    assert.equal(r.status, 200, r.text);
    assert.equal(JSON.parse(r.text).choices[0].message.content, REPLY);
  }
});

test('a 100 KB gzip body, bigger than one decoded piece, arrives whole', async () => {
  const r = await chat({ mock: { content_encoding: 'gzip', reply: 'x', response_bytes: 100000 } });
  assert.equal(r.status, 200);
  const content = JSON.parse(r.text).choices[0].message.content;
  assert.equal(content.length, 100000);
  assert.ok(content.startsWith('x lorem ipsum'));
});

test('gzip and deflate streams: every event arrives, in order, and the stream ends with [DONE]', async () => {
  for (const mock of [{ content_encoding: 'gzip' }, { content_encoding: 'deflate' }, { transfer_encoding_gzip: true },
    { content_encoding: 'gzip', transfer_encoding_gzip: true, split_writes: true }]) {
    const r = await chat({ stream: true, mock: { ...mock, chunks: 40, chunk_text: 'tok ' } });
    assert.equal(streamed(r), 'tok '.repeat(40), JSON.stringify(mock));
  }
});

test('a gzip 4xx keeps its status and its decoded message', async () => {
  const r = await chat({ mock: { content_encoding: 'gzip', status: 429, error_message: 'slow down (gzip)' } });
  assert.equal(r.status, 429);
  assert.equal(errorOf(r).message, 'slow down (gzip)');
});

test('br (not decodable here) is a 502 upstream_decode_error naming it, JSON and stream alike', async () => {
  const before = await scrapeMetrics(g.sluice);
  const mark = g.sluice.log().length;
  for (const stream of [false, true]) {
    const r = await chat({ stream, mock: { content_encoding: 'br' } });
    assert.equal(r.status, 502, 'a stream is refused before its head, not cut after it');
    assert.deepEqual(errorOf(r), {
      message: 'cannot decode the upstream response: unsupported content coding "br"',
      type: 'upstream_decode_error', code: 'upstream_decode_error',
    });
  }
  await expectDelta(g.sluice, before, {
    [reqSeries('chat_completions', 'gpt-4o-mini', '5xx')]: 2, [errSeries('gpt-4o-mini', 'decode')]: 2,
  });
  // Logged once (the second failure falls in the same 10 s window), with the request id.
  const lines = g.sluice.log().slice(mark).split('\n').filter((l) => l.includes('upstream call failed'));
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0], new RegExp(`WARN  upstream call failed: origin=http://127\\.0\\.0\\.1:${g.mock.port} kind=decode `
    + 'detail="unsupported content coding \\\\"br\\\\"" request_id="[0-9a-f-]{36}"$'));
});

test('corrupt gzip is a 502 upstream_decode_error with zlib\'s reason; in a stream, an error frame', async () => {
  const r = await chat({ mock: { content_encoding: 'gzip', corrupt_encoding: true } });
  assert.equal(r.status, 502);
  assert.deepEqual(errorOf(r), {
    message: 'cannot decode the upstream response: corrupt gzip data: incorrect length check',
    type: 'upstream_decode_error', code: 'upstream_decode_error',
  });
});

test('a gzip stream cut short: the events decoded so far are relayed, then an error frame', async () => {
  const s = await chat({ stream: true, mock: { content_encoding: 'gzip', chunks: 3, chunk_text: 'z', disconnect_after_chunks: 3 } });
  assert.equal(s.status, 200);
  const ev = events(s.text);
  const content = ev.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)).choices[0].delta.content ?? '');
  assert.deepEqual(content, ['', 'z', 'z', 'z']);
  assert.match(ev.at(-1), /^event: error\ndata: /);
  assert.equal(JSON.parse(ev.at(-1).split('\ndata: ')[1]).error.type, 'stream_aborted');
});
