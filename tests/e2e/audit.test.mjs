// Regression tests for the outside audit (issue 9): duplicate member names, SSE rewrites of
// multi-line and named events, the end of an upstream stream, no retry after a 4xx head, media
// types, the alias in every top-level "model", error codes for OpenAI clients, GET
// /v1/models/{id}, and control characters in a model name. A scripted upstream in this process
// answers by the upstream model id each scenario maps to, and counts calls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import OpenAI from 'openai';
import { startSluice, baseConfig, tempDir, teardown } from './lib/harness.mjs';
import { call, chatBody } from './lib/fleet.mjs';
import { sha256 } from './lib/gateway.mjs';

const KEY = 'sk-audit-all-0123456789';
const NARROW = 'sk-audit-narrow-0123456789';
const calls = new Map(); // upstream model -> number of requests

const chunk = (model, content) =>
  JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model, choices: [{ index: 0, delta: { content } }] });

// Each scenario writes a raw response: [status, headers, pieces] where a piece is a string or
// 'CUT' (destroy the socket there).
const SCENARIOS = {
  // One event whose JSON is split over two data lines, model on the second.
  multiline: () => [200, { 'content-type': 'text/event-stream' }, [
    'data: {"id":"c1","object":"chat.completion.chunk",\ndata: "model":"up-multiline","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n',
    'data: [DONE]\n\n']],
  named: () => [200, { 'content-type': 'text/event-stream' }, [
    'event: custom\ndata: {"type":"x","model":"up-named"}\n\n', 'data: [DONE]\n\n']],
  'dup-json': () => [200, { 'content-type': 'application/json' }, [
    '{"id":"x","model":"up-dup-json","object":"chat.completion","choices":[],"model":"up-dup-json"}']],
  'dup-sse': () => [200, { 'content-type': 'text/event-stream' }, [
    'data: {"model":"up-dup-sse","choices":[{"index":0,"delta":{"content":"a"}}],"model":"up-dup-sse"}\n\n', 'data: [DONE]\n\n']],
  'no-model': () => [200, { 'content-type': 'application/json' }, ['{"id":"x","object":"chat.completion","choices":[]}']],
  'lone-cr': () => [200, { 'content-type': 'text/event-stream' }, [
    `data: ${chunk('up-lone-cr', 'a')}\r\r`, `data: ${chunk('up-lone-cr', 'b')}\r\r`, 'data: [DONE]\r\r']],
  'done-no-blank': () => [200, { 'content-type': 'text/event-stream' }, [
    `data: ${chunk('up-done-no-blank', 'a')}\n\n`, 'data: [DONE]']],
  'done-one-lf': () => [200, { 'content-type': 'text/event-stream' }, [
    `data: ${chunk('up-done-one-lf', 'a')}\n\n`, 'data: [DONE]\n']],
  'truly-incomplete': () => [200, { 'content-type': 'text/event-stream' }, [
    `data: ${chunk('up-truly-incomplete', 'a')}\n\n`, `data: ${chunk('up-truly-incomplete', 'b')}\n`]],
  'cut-400': () => [400, { 'content-type': 'application/json', 'content-length': '200' }, ['{"error":{"mess', 'CUT']],
  'media-type': () => [200, { 'content-type': 'Text/Event-Stream; Charset=UTF-8' }, [
    `data: ${chunk('up-media-type', 'a')}\n\n`, 'data: [DONE]\n\n']],
  plain: (model) => [200, { 'content-type': 'application/json' }, [JSON.stringify({
    id: 'x', object: 'chat.completion', model, choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
  })]],
};

let up, s;

function handle(req, res) {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', async () => {
    const model = JSON.parse(body).model;
    calls.set(model, (calls.get(model) ?? 0) + 1);
    const [status, headers, pieces] = SCENARIOS[model.replace(/^up-/, '')](model);
    res.writeHead(status, headers);
    for (const p of pieces) {
      if (p === 'CUT') { res.socket.destroy(); return; }
      res.write(p);
      await new Promise((r) => setTimeout(r, 5));
    }
    res.end();
  });
}

before(async () => {
  up = http.createServer(handle);
  await new Promise((r) => up.listen(0, '127.0.0.1', r));
  const dir = tempDir();
  const models = Object.keys(SCENARIOS).map((n) =>
    `  - display_name: ${n}\n    provider_key: up\n    model_name: up-${n}\n    retries: 2`);
  models.push('  - display_name: vendor/model-x\n    provider_key: up\n    model_name: up-plain');
  models.push('  - display_name: hidden\n    provider_key: up\n    model_name: up-plain');
  models.push('  - display_name: wild-*\n    provider_key: up\n    model_name: up-plain');
  writeFileSync(dir.path('resources.yaml'), `_format_version: "1"
provider_keys:
  - display_name: up
    provider: openai
    api_key: upstream-key
    api_base: http://127.0.0.1:${up.address().port}/v1
models:
${models.join('\n')}
api_keys:
  - display_name: all
    key_hash: ${sha256(KEY)}
    allowed_models: ["*"]
  - display_name: narrow
    key_hash: ${sha256(NARROW)}
    allowed_models: ["vendor/*", "plain"]
`);
  s = await startSluice({ config: baseConfig() + `resources_file: ${dir.path('resources.yaml')}\n`, dir });
});

after(() => teardown(() => s?.stop(), () => new Promise((r) => up.close(r))));

const post = (body, key = KEY) => call(s.port, '/v1/chat/completions', { body, key });
const dataLines = (text) => text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));

// Every non-blank line of a stream must be a valid SSE line Sluice emits.
function assertValidSse(text) {
  for (const line of text.split('\n')) {
    if (line === '') continue;
    assert.match(line, /^(data: |event: |:)/, `not an SSE line: ${JSON.stringify(line)}`);
  }
}

test('a repeated top-level member name is refused with 400 naming it; nothing goes upstream', async () => {
  const before = calls.get('up-plain') ?? 0;
  for (const [body, name] of [
    ['{"model":"plain","model":"hidden","messages":[{"role":"user","content":"x"}]}', 'model'],
    ['{"model":"plain","messages":[{"role":"user","content":"x"}],"mod\\u0065l":"hidden"}', 'model'],
    ['{"model":"plain","messages":[],"messages":[{"role":"user","content":"x"}]}', 'messages'],
    ['{"model":"plain","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":false,"include_usage":true}}', 'include_usage'],
  ]) {
    const r = await post(body, NARROW);
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(JSON.parse(r.text).error, {
      message: `request payload is invalid: duplicate key "${name}"`, type: 'invalid_request_error', code: 'invalid_request_error',
    });
  }
  assert.equal(calls.get('up-plain') ?? 0, before);
  // Duplicates inside objects Sluice neither reads nor rewrites are the upstream's business.
  const ok = await post('{"model":"plain","messages":[{"role":"user","role":"user","content":"x"}]}', NARROW);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(calls.get('up-plain'), before + 1);
});

test('a rewritten event with several data lines keeps every line a data line', async () => {
  const r = await post(chatBody('multiline', { stream: true }));
  assert.equal(r.status, 200);
  assertValidSse(r.text);
  const events = r.text.split('\n\n').filter(Boolean);
  const first = events[0].split('\n').map((l) => l.replace(/^data: /, '')).join('\n');
  assert.equal(JSON.parse(first).model, 'multiline');
  assert.equal(events.at(-1), 'data: [DONE]');
});

test('named events, duplicated models and JSON replies all carry the alias', async () => {
  const named = await post(chatBody('named', { stream: true }));
  assert.match(named.text, /^event: custom\ndata: /);
  assert.equal(JSON.parse(dataLines(named.text)[0]).model, 'named');
  assert.doesNotMatch(named.text, /up-named/);

  const dj = await post(chatBody('dup-json'));
  assert.equal(dj.status, 200);
  assert.doesNotMatch(dj.text, /up-dup-json/);
  assert.equal((dj.text.match(/"model":"dup-json"/g) ?? []).length, 2);

  const ds = await post(chatBody('dup-sse', { stream: true }));
  assert.doesNotMatch(ds.text, /up-dup-sse/);
  assert.equal((ds.text.match(/"model":"dup-sse"/g) ?? []).length, 2);

  const nm = await post(chatBody('no-model'));
  assert.equal(nm.status, 200);
  assert.deepEqual(JSON.parse(nm.text), { id: 'x', object: 'chat.completion', choices: [] });
});

test('a stream that ends in a lone CR, or a [DONE] without its blank line, ends normally', async () => {
  for (const name of ['lone-cr', 'done-no-blank', 'done-one-lf']) {
    const r = await post(chatBody(name, { stream: true }));
    assert.equal(r.status, 200);
    assertValidSse(r.text);
    assert.doesNotMatch(r.text, /event: error/, `${name}: ${r.text}`);
    const data = dataLines(r.text);
    assert.equal(data.at(-1), '[DONE]', name);
    assert.equal(data.filter((d) => d === '[DONE]').length, 1, name);
    assert.equal(JSON.parse(data[0]).model, name);
  }
  // Data that truly stopped mid-event is still an error, without [DONE].
  const r = await post(chatBody('truly-incomplete', { stream: true }));
  assert.match(r.text, /event: error\ndata: .*"type":"stream_aborted"/);
  assert.doesNotMatch(r.text, /\[DONE\]/);
});

test('a 4xx head followed by a cut body is final: one attempt, the caller gets that status', async () => {
  const r = await post(chatBody('cut-400'));
  assert.equal(r.status, 400, r.text);
  assert.deepEqual(JSON.parse(r.text).error, { message: 'upstream returned 400', type: 'upstream_error', code: 'upstream_error' });
  assert.equal(calls.get('up-cut-400'), 1);
});

test('media types compare case-insensitively, parameters ignored', async () => {
  const r = await post(chatBody('media-type', { stream: true }));
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/event-stream/);
  assert.equal(dataLines(r.text).at(-1), '[DONE]');
  assert.equal(JSON.parse(dataLines(r.text)[0]).model, 'media-type');
});

test('OpenAI clients find err.code on every error', async () => {
  const sdk = new OpenAI({ baseURL: `http://127.0.0.1:${s.port}/v1`, apiKey: KEY, maxRetries: 0 });
  const cases = [
    [() => sdk.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }), 404, 'model_not_found'],
    [() => new OpenAI({ baseURL: sdk.baseURL, apiKey: 'sk-wrong', maxRetries: 0 }).models.list(), 401, 'invalid_api_key'],
    [() => new OpenAI({ baseURL: sdk.baseURL, apiKey: NARROW, maxRetries: 0 }).chat.completions.create({ model: 'hidden', messages: [{ role: 'user', content: 'x' }] }), 403, 'permission_denied'],
  ];
  for (const [fn, status, code] of cases) {
    await assert.rejects(fn, (e) => {
      assert.equal(e.status, status);
      assert.equal(e.code, code);
      assert.equal(e.type, code);
      return true;
    });
  }
});

test('GET /v1/models/{id}: the model when the caller may use it, else 404 model_not_found', async () => {
  const narrow = new OpenAI({ baseURL: `http://127.0.0.1:${s.port}/v1`, apiKey: NARROW, maxRetries: 0 });
  const m = await narrow.models.retrieve('vendor/model-x'); // the SDK sends vendor%2Fmodel-x
  assert.equal(m.id, 'vendor/model-x');
  assert.equal(m.object, 'model');
  assert.equal(m.owned_by, 'openai');
  assert.equal(typeof m.created, 'number');
  const listed = (await narrow.models.list()).data.map((x) => x.id);
  for (const id of ['hidden', 'nope', 'wild-*', 'wild-thing']) {
    assert.ok(!listed.includes(id));
    await assert.rejects(narrow.models.retrieve(id), (e) => {
      assert.equal(e.status, 404);
      assert.equal(e.code, 'model_not_found');
      assert.equal(e.message, `404 model "${id}" does not exist`);
      return true;
    });
  }
  const all = await call(s.port, '/v1/models/hidden', { method: 'GET', key: KEY });
  assert.equal(all.status, 200);
  assert.equal(JSON.parse(all.text).id, 'hidden');
  const unauth = await call(s.port, '/v1/models/hidden', { method: 'GET', key: 'sk-nope' });
  assert.equal(unauth.status, 401);
});

test('a control character in the model name is a 400 that names it, not a 404', async () => {
  const r = await post('{"model":"plain\\u0000x","messages":[{"role":"user","content":"x"}]}');
  assert.equal(r.status, 400, r.text);
  assert.equal(JSON.parse(r.text).error.message,
    'request payload is invalid: "model" contains a control character (U+0000 at byte 5)');
  const r2 = await post('{"model":"pl\\u001bain","messages":[{"role":"user","content":"x"}]}');
  assert.equal(JSON.parse(r2.text).error.message,
    'request payload is invalid: "model" contains a control character (U+001B at byte 2)');
});
