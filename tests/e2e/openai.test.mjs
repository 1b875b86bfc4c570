// The official openai SDK against sluice in front of the project's mock upstream: models, chat
// (JSON and stream), completions, embeddings, and every error status as the SDK's typed error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, stopGateway, KEYS, UPSTREAM_KEY } from './lib/gateway.mjs';
import { curl, scrapeMetrics } from './lib/harness.mjs';
import { REQUEST_FAMILIES, expectDelta, reqSeries, errSeries } from './lib/probes.mjs';

let g, client;
const sdk = (apiKey, opts = {}) => new OpenAI({ apiKey, baseURL: g.sluice.url('/v1'), maxRetries: 0, ...opts });

before(async () => {
  g = await startGateway();
  client = sdk(KEYS.teamA);
});
after(async () => {
  const r = await stopGateway(g);
  assert.equal(r.code, 0);
});

test('models.list shows the models the key may use, sorted, without wildcard rows', async () => {
  const page = await client.models.list();
  assert.deepEqual(page.data.map((m) => m.id), ['embed', 'gpt-4o-mini', 'quick-timeout']);
  for (const m of page.data) {
    assert.equal(m.object, 'model');
    assert.equal(m.owned_by, 'openai');
    assert.equal(typeof m.created, 'number');
  }
  const all = await sdk(KEYS.other).models.list();
  assert.deepEqual(all.data.map((m) => m.id), ['embed', 'gpt-4o-mini', 'not-for-team-a', 'quick-timeout']);
});

test('chat completion: the alias comes back, the upstream gets model_name and the provider key', async () => {
  await g.mock.reset();
  const r = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Say hello' }],
    temperature: 0.2,
    user: 'u-42',
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'gpt-4o-mini');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
  const [seen] = await g.mock.requests();
  assert.equal(seen.path, '/v1/chat/completions');
  assert.equal(seen.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
  assert.ok(!JSON.stringify(seen.headers).includes(KEYS.teamA), 'the caller key never goes upstream');
  const body = JSON.parse(seen.body);
  assert.equal(body.model, 'mock-gpt-4o-mini-2024');
  assert.equal(body.temperature, 0.2, 'other fields are forwarded untouched');
  assert.equal(body.user, 'u-42');
  assert.deepEqual(body.messages, [{ role: 'user', content: 'Say hello' }]);
  assert.equal(seen.headers['x-request-id'].length > 0, true);
});

test('chat stream: every delta arrives, each chunk carries the alias, usage when asked', async () => {
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'count' }],
    stream: true,
    stream_options: { include_usage: true },
    mock: { chunks: 12, chunk_text: 'tok ' },
  });
  let text = '', chunks = 0, usage = null;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.model, 'gpt-4o-mini');
    if (chunk.usage) usage = chunk.usage;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, 'tok '.repeat(12));
  assert.equal(chunks, 1 + 12 + 1 + 1); // role, deltas, finish, usage
  assert.equal(usage.completion_tokens, 12);
});

test('chat stream without include_usage: no usage chunk reaches the caller, the upstream was asked anyway', async () => {
  await g.mock.reset();
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true, mock: { chunks: 3 },
  });
  let sawUsage = false, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) sawUsage = true;
  }
  assert.equal(sawUsage, false);
  assert.equal(chunks, 1 + 3 + 1);
  const [seen] = await g.mock.requests();
  assert.deepEqual(JSON.parse(seen.body).stream_options, { include_usage: true });
});

test('the stream helper (runTools-style event API) sees content and the final message', async () => {
  const runner = client.chat.completions.stream({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream_options: { include_usage: true },
    mock: { chunks: 5, chunk_text: 'ab' },
  });
  const deltas = [];
  runner.on('content', (d) => deltas.push(d));
  const final = await runner.finalChatCompletion();
  assert.equal(deltas.join(''), 'ab'.repeat(5));
  assert.equal(final.choices[0].message.content, 'ab'.repeat(5));
  assert.equal(final.model, 'gpt-4o-mini');
  assert.equal(final.usage.completion_tokens, 5);
  assert.ok(final.usage.prompt_tokens > 0);
});

test('wildcard models substitute the captured text into model_name', async () => {
  await g.mock.reset();
  const r = await client.chat.completions.create({ model: 'mock-large-v2', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(r.model, 'mock-large-v2');
  const [seen] = await g.mock.requests();
  assert.equal(JSON.parse(seen.body).model, 'upstream-large-v2');
});

test('legacy completions, JSON and stream', async () => {
  const r = await client.completions.create({ model: 'gpt-4o-mini', prompt: 'Once upon' });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.model, 'gpt-4o-mini');
  assert.ok(r.choices[0].text.length > 0);
  const stream = await client.completions.create({ model: 'gpt-4o-mini', prompt: 'x', stream: true, mock: { chunks: 4, chunk_text: 'z' } });
  let text = '';
  for await (const c of stream) {
    assert.equal(c.model, 'gpt-4o-mini');
    text += c.choices[0]?.text ?? '';
  }
  assert.equal(text, 'zzzz');
});

test('embeddings (the SDK asks for base64 and decodes it)', async () => {
  const r = await client.embeddings.create({ model: 'embed', input: ['alpha', 'beta'] });
  assert.equal(r.model, 'embed');
  assert.equal(r.data.length, 2);
  assert.equal(r.data[0].embedding.length, 8);
  assert.notDeepEqual(r.data[0].embedding, r.data[1].embedding);
});

async function rejects(promise, Klass, check) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Klass, `expected ${Klass.name}, got ${err?.constructor?.name}: ${err?.message}`);
    check?.(err);
    return true;
  });
}

const chat = (c, extra = {}) => c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], ...extra });

test('401 for unknown, disabled and expired keys, with the reference codes', async () => {
  await rejects(chat(sdk('sk-nobody')), OpenAI.AuthenticationError, (e) => {
    assert.equal(e.status, 401);
    assert.equal(e.error.type, 'invalid_api_key');
    assert.equal(e.error.message, 'invalid API key');
  });
  await rejects(chat(sdk(KEYS.disabled)), OpenAI.AuthenticationError, (e) => assert.equal(e.code, 'api_key_disabled'));
  await rejects(chat(sdk(KEYS.expired)), OpenAI.AuthenticationError, (e) => assert.equal(e.code, 'api_key_expired'));
  const r = await curl(['-X', 'POST', '-H', 'content-type: application/json', '-d', '{}', g.sluice.url('/v1/chat/completions')]);
  assert.equal(r.status, 401);
  assert.match(JSON.parse(r.body).error.message, /missing or malformed Authorization header/);
  const viaXApiKey = await curl(['-X', 'POST', '-H', `x-api-key: ${KEYS.teamA}`, '-d',
    '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}', g.sluice.url('/v1/chat/completions')]);
  assert.equal(viaXApiKey.status, 200);
});

test('403 for a model outside allowed_models; 404 for an unknown model', async () => {
  await rejects(chat(client, { model: 'not-for-team-a' }), OpenAI.PermissionDeniedError, (e) => {
    assert.equal(e.error.type, 'permission_denied');
    assert.equal(e.error.message, 'API key "team-a" is not allowed to use model "not-for-team-a"');
  });
  await rejects(chat(client, { model: 'no-such-model' }), OpenAI.NotFoundError, (e) => {
    assert.equal(e.error.type, 'model_not_found');
  });
});

test('400 for malformed JSON and missing fields, with the reference prefix', async () => {
  await rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }), OpenAI.BadRequestError, (e) => {
    assert.equal(e.error.message, 'request payload is invalid: "messages" must be a non-empty array');
  });
  await rejects(client.chat.completions.create({ messages: [{ role: 'user', content: 'x' }] }), OpenAI.BadRequestError, (e) => {
    assert.equal(e.error.message, 'request payload is invalid: missing field "model"');
  });
  const r = await curl(['-X', 'POST', '-H', `authorization: Bearer ${KEYS.teamA}`, '-d', '{"model": "x",', g.sluice.url('/v1/chat/completions')]);
  assert.equal(r.status, 400);
  assert.match(JSON.parse(r.body).error.message, /^request payload is invalid: .* at byte \d+$/);
});

test('413 for a body over proxy.request_body_limit_bytes, as the SDK sees it', async () => {
  const small = await startGateway({ env: { SLUICE_PROXY__REQUEST_BODY_LIMIT_BYTES: '4096' } });
  const c = new OpenAI({ apiKey: KEYS.teamA, baseURL: small.sluice.url('/v1'), maxRetries: 0 });
  await rejects(c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }),
    OpenAI.APIError, (e) => {
      assert.equal(e.status, 413);
      assert.equal(e.error.code, 'request_too_large');
      assert.equal(e.error.message, 'request body is larger than the limit of 4096 bytes (proxy.request_body_limit_bytes)');
    });
  assert.equal((await small.mock.stats()).requests, 0, 'nothing reached the upstream');
  await stopGateway(small);
});

test('upstream 4xx keep their status and message; 429 keeps Retry-After', async () => {
  await rejects(chat(client, { mock: { status: 429, retry_after: 7, error_message: 'slow down', error_code: 'rate_limit_exceeded' } }),
    OpenAI.RateLimitError, (e) => {
      assert.equal(e.status, 429);
      assert.equal(e.error.message, 'slow down');
      assert.equal(e.error.type, 'upstream_error');
      assert.equal(e.code, 'rate_limit_exceeded');
      assert.equal(e.headers.get('retry-after'), '7');
    });
  await rejects(chat(client, { mock: { status: 400, error_message: 'bad temperature', error_code: 'invalid_value' } }),
    OpenAI.BadRequestError, (e) => assert.equal(e.error.message, 'bad temperature'));
});

test('upstream 5xx becomes 502 upstream_error without the upstream body', async () => {
  await rejects(chat(client, { mock: { status: 503, error_message: 'internal detail' } }), OpenAI.InternalServerError, (e) => {
    assert.equal(e.status, 502);
    assert.equal(e.error.type, 'upstream_error');
    assert.equal(e.error.message, 'upstream returned 503');
  });
});

test('a model timeout becomes 504; a reset before headers becomes 502', async () => {
  await rejects(chat(client, { model: 'quick-timeout', mock: { latency_ms: 3000 } }), OpenAI.APIError, (e) => {
    assert.equal(e.status, 504);
    assert.equal(e.error.type, 'timeout');
  });
  await rejects(chat(client, { mock: { reset_before_headers: true } }), OpenAI.InternalServerError, (e) => {
    assert.equal(e.status, 502);
    assert.equal(e.error.type, 'transport_error');
  });
  await rejects(chat(client, { mock: { invalid_json: true } }), OpenAI.InternalServerError, (e) => {
    assert.equal(e.status, 502);
    assert.equal(e.error.type, 'upstream_decode_error');
  });
});

// Exact deltas around calls made here, so double counting or a missed series fails.
test('metrics: each call counted once, by model: requests, tokens, time to first token, upstream errors', async () => {
  const M = 'gpt-4o-mini';
  const families = [...REQUEST_FAMILIES, 'sluice_tokens_total', 'sluice_time_to_first_token_seconds_count',
    'sluice_request_duration_seconds_count'];
  const before = await scrapeMetrics(g.sluice);
  const a = await chat(client, { mock: { chunks: 5 } });
  const b = await chat(client, { mock: { chunks: 7 } });
  const stream = await client.chat.completions.create({
    model: M, messages: [{ role: 'user', content: 'x' }], stream: true, stream_options: { include_usage: true }, mock: { chunks: 3 },
  });
  let usage = null;
  for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
  await rejects(chat(client, { mock: { status: 503 } }), OpenAI.InternalServerError);
  assert.deepEqual([a.usage.completion_tokens, b.usage.completion_tokens, usage.completion_tokens], [5, 7, 3]);
  await expectDelta(g.sluice, before, {
    [reqSeries('chat_completions', M, '2xx')]: 3,
    [reqSeries('chat_completions', M, '5xx')]: 1,
    [errSeries(M, 'status_5xx')]: 1,
    [`sluice_tokens_total{model="${M}",type="completion"}`]: 5 + 7 + 3,
    [`sluice_tokens_total{model="${M}",type="prompt"}`]: a.usage.prompt_tokens + b.usage.prompt_tokens + usage.prompt_tokens,
    [`sluice_time_to_first_token_seconds_count{route="chat_completions",model="${M}"}`]: 1,
    [`sluice_request_duration_seconds_count{route="chat_completions",model="${M}"}`]: 4,
  }, families);
});
