// The OpenAI Responses API through Sluice with the official openai SDK (responses.create,
// responses.stream, function tools, structured output), against
// - a mock that speaks Responses (passthrough: model rewritten both ways, response ids sealed),
// - a chat-only mock (tests/mock --no-responses: the request translated to chat completions),
// - the Anthropic mock (translated through chat; needs the lead's X -> CHAT -> Y composition);
// and the calls on a stored response (retrieve, input_items, delete, cancel, previous_response_id)
// with the id scheme's bindings: another caller key, another provider key, a changed id.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { startMock, startSluice, baseConfig, tempDir, teardown, curl } from './lib/harness.mjs';
import { sha256 } from './lib/gateway.mjs';

const KEY = 'sk-caller-responses-0123456789';
const OTHER = 'sk-other-caller-responses-987';
let mockR, mockC, s, oai, other;

before(async () => {
  [mockR, mockC] = await Promise.all([startMock(), startMock(['--no-responses'])]);
  const dir = tempDir();
  writeFileSync(dir.path('resources.yaml'), `_format_version: "1"
provider_keys:
  - display_name: oa
    provider: openai
    api_key: sk-up-project-one
    api_base: ${mockR.base}/v1
  - display_name: oa2
    provider: openai
    api_key: sk-up-project-two
    api_base: ${mockR.base}/v1
  - display_name: chatonly
    provider: vllm
    api_key: sk-up-chat
    api_base: ${mockC.base}/v1
  - display_name: anth
    provider: anthropic
    api_key: sk-up-anthropic
    api_base: ${mockR.base}
models:
  - display_name: gpt-4o-mini
    provider_key: oa
    model_name: gpt-up-1
  - display_name: gpt-other
    provider_key: oa2
    model_name: gpt-up-2
  - display_name: chat-model
    provider_key: chatonly
    model_name: chat-up-1
  - display_name: claude
    provider_key: anth
    model_name: claude-up-1
api_keys:
  - display_name: caller
    key_hash: ${sha256(KEY)}
    allowed_models: ["*"]
  - display_name: other-caller
    key_hash: ${sha256(OTHER)}
    allowed_models: ["*"]
`);
  s = await startSluice({ config: baseConfig() + `resources_file: ${dir.path('resources.yaml')}\n`, dir });
  oai = new OpenAI({ baseURL: `http://127.0.0.1:${s.port}/v1`, apiKey: KEY, maxRetries: 0 });
  other = new OpenAI({ baseURL: `http://127.0.0.1:${s.port}/v1`, apiKey: OTHER, maxRetries: 0 });
});

after(() => teardown(() => s?.stop(), () => mockR?.stop(), () => mockC?.stop()));

async function lastUpstream(mock) {
  const reqs = await mock.requests();
  return reqs[reqs.length - 1];
}

// The text of a response's message items (the SDK adds output_text only where it parses).
const textOf = (r) => r.output.filter((o) => o.type === 'message').flatMap((o) => o.content).map((c) => c.text ?? '').join('');

const weatherTool = {
  type: 'function', name: 'get_weather', description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};

// ---- passthrough ----

test('passthrough: responses.create goes to /responses with model_name, comes back with the alias and a sealed id', async () => {
  await mockR.reset();
  const r = await oai.responses.create({ model: 'gpt-4o-mini', input: 'Hello', instructions: 'Be brief', mock: { reply: 'Hi there' } });
  assert.equal(r.object, 'response');
  assert.equal(r.model, 'gpt-4o-mini');
  assert.equal(r.output_text, 'Hi there');
  assert.equal(r.status, 'completed');
  assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
  const up = await lastUpstream(mockR);
  assert.equal(up.method, 'POST');
  assert.equal(up.path, '/v1/responses');
  assert.equal(up.headers.authorization, 'Bearer sk-up-project-one');
  const sent = JSON.parse(up.body);
  assert.equal(sent.model, 'gpt-up-1');
  assert.equal(sent.instructions, 'Be brief');
  assert.match(r.id, /^resp_[A-Za-z0-9_-]+$/);
  assert.ok(!r.id.startsWith('resp_mock_'), `the upstream id is sealed, got ${r.id}`);
});

test('passthrough: responses.stream relays named events with their sequence numbers; ids and model rewritten', async () => {
  const stream = oai.responses.stream({ model: 'gpt-4o-mini', input: 'Hello', mock: { chunks: 3, chunk_text: 'ab' } });
  const events = [];
  stream.on('event', (e) => events.push(e));
  const final = await stream.finalResponse();
  assert.equal(textOf(final), 'ababab');
  assert.equal(final.model, 'gpt-4o-mini');
  assert.deepEqual(events.map((e) => e.type), [
    'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
    'response.output_text.delta', 'response.output_text.delta', 'response.output_text.delta',
    'response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed',
  ]);
  assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
  assert.equal(events[0].response.id, final.id);
  assert.equal(events[0].response.model, 'gpt-4o-mini');
  assert.ok(!final.id.startsWith('resp_mock_'));
  // The stored response answers for the id the stream gave.
  const got = await oai.responses.retrieve(final.id);
  assert.equal(got.output_text, 'ababab');
});

test('passthrough: a function tool round trip, with the output sent back in input and by previous_response_id', async () => {
  const first = await oai.responses.create({
    model: 'gpt-4o-mini', input: 'Weather in Paris?', tools: [weatherTool],
    mock: { tool_calls: [{ name: 'get_weather', arguments: '{"city":"Paris"}', id: 'call_w1' }] },
  });
  const call = first.output.find((o) => o.type === 'function_call');
  assert.equal(call.name, 'get_weather');
  assert.equal(call.call_id, 'call_w1');
  assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
  const output = { type: 'function_call_output', call_id: call.call_id, output: 'sunny' };
  const second = await oai.responses.create({
    model: 'gpt-4o-mini', tools: [weatherTool], input: [{ role: 'user', content: 'Weather in Paris?' }, ...first.output, output],
    mock: { reply: 'It is sunny' },
  });
  assert.equal(second.output_text, 'It is sunny');
  const third = await oai.responses.create({
    model: 'gpt-4o-mini', tools: [weatherTool], previous_response_id: first.id, input: [output], mock: { reply: 'Sunny!' },
  });
  assert.equal(third.output_text, 'Sunny!');
  assert.equal(third.previous_response_id, first.id, 'the echoed previous_response_id is the sealed one');
  const sent = JSON.parse((await lastUpstream(mockR)).body);
  assert.match(sent.previous_response_id, /^resp_mock_/, 'the upstream gets its own id');
});

test('passthrough: structured output with responses.parse', async () => {
  const City = z.object({ city: z.string(), sunny: z.boolean() });
  const r = await oai.responses.parse({
    model: 'gpt-4o-mini', input: 'Weather?', text: { format: zodTextFormat(City, 'city_weather') },
    mock: { reply: '{"city":"Paris","sunny":true}' },
  });
  assert.deepEqual(r.output_parsed, { city: 'Paris', sunny: true });
  const sent = JSON.parse((await lastUpstream(mockR)).body);
  assert.equal(sent.text.format.type, 'json_schema');
  assert.equal(sent.text.format.name, 'city_weather');
});

test('stored responses: retrieve, input_items, delete and cancel reach the provider key that created them', async () => {
  const r = await oai.responses.create({ model: 'gpt-4o-mini', input: [{ role: 'user', content: 'one' }, { role: 'user', content: 'two' }] });
  const got = await oai.responses.retrieve(r.id);
  assert.equal(got.id, r.id);
  assert.equal(got.model, 'gpt-4o-mini');
  let up = await lastUpstream(mockR);
  assert.equal(up.method, 'GET');
  assert.match(up.path, /^\/v1\/responses\/resp_mock_\d+_\d+$/);
  assert.equal(up.headers.authorization, 'Bearer sk-up-project-one');
  const items = await oai.responses.inputItems.list(r.id, { limit: 1, order: 'asc' });
  assert.equal(items.data.length, 1);
  assert.equal(items.data[0].content[0].text, 'one');
  up = await lastUpstream(mockR);
  assert.match(up.path, /\/input_items\?limit=1&order=asc$/);
  await oai.responses.delete(r.id);
  assert.equal((await lastUpstream(mockR)).method, 'DELETE');
  await assert.rejects(oai.responses.retrieve(r.id), (e) => e.status === 404);
  // Only a background response can be cancelled (the upstream says so for the other).
  const bg = await oai.responses.create({ model: 'gpt-4o-mini', input: 'later', background: true });
  const cancelled = await oai.responses.cancel(bg.id);
  assert.equal(cancelled.status, 'cancelled');
  assert.equal(cancelled.id, bg.id);
  await assert.rejects(oai.responses.cancel((await oai.responses.create({ model: 'gpt-4o-mini', input: 'x' })).id), (e) => e.status === 400);
});

test('stored responses: another caller key, a changed id or an upstream id find nothing (404)', async () => {
  const r = await oai.responses.create({ model: 'gpt-4o-mini', input: 'mine' });
  const before = (await mockR.requests()).length;
  await assert.rejects(other.responses.retrieve(r.id), (e) => e.status === 404 && e.code === 'response_not_found');
  await assert.rejects(other.responses.delete(r.id), (e) => e.status === 404);
  const flipped = r.id.slice(0, -1) + (r.id.endsWith('A') ? 'B' : 'A');
  await assert.rejects(oai.responses.retrieve(flipped), (e) => e.status === 404);
  await assert.rejects(oai.responses.retrieve('resp_mock_0_1'), (e) => e.status === 404);
  assert.equal((await mockR.requests()).length, before, 'none of them reached the upstream');
  // The other caller cannot continue it either.
  await assert.rejects(other.responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: r.id }),
    (e) => e.status === 400 && e.code === 'previous_response_not_found');
});

test('previous_response_id must come from the provider key serving the model', async () => {
  const r2 = await oai.responses.create({ model: 'gpt-other', input: 'project two' });
  assert.equal(JSON.parse((await lastUpstream(mockR)).body).model, 'gpt-up-2');
  await assert.rejects(oai.responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: r2.id }),
    (e) => e.status === 400 && e.code === 'previous_response_not_found' && /gpt-4o-mini/.test(e.message));
  const ok = await oai.responses.create({ model: 'gpt-other', input: 'x', previous_response_id: r2.id });
  assert.equal(ok.previous_response_id, r2.id);
  assert.equal((await lastUpstream(mockR)).headers.authorization, 'Bearer sk-up-project-two');
  // A stored call goes to the key in the id, whatever the model would be routed to.
  await oai.responses.retrieve(r2.id);
  assert.equal((await lastUpstream(mockR)).headers.authorization, 'Bearer sk-up-project-two');
});

test('the stored routes answer only their calls', async () => {
  const r = await oai.responses.create({ model: 'gpt-4o-mini', input: 'x' });
  const put = await curl(['-X', 'PUT', '-H', `Authorization: Bearer ${KEY}`, s.url(`/v1/responses/${r.id}`)]);
  assert.equal(put.status, 405);
  assert.match(put.headers.allow, /GET/);
  const bad = await curl(['-X', 'POST', '-H', `Authorization: Bearer ${KEY}`, s.url(`/v1/responses/${r.id}/input_items`)]);
  assert.equal(bad.status, 404);
  const noauth = await curl([s.url(`/v1/responses/${r.id}`)]);
  assert.equal(noauth.status, 401);
});

// ---- translated: a chat-only upstream ----

test('chat-only upstream: responses.create is translated to chat completions and back', async () => {
  await mockC.reset();
  const r = await oai.responses.create({
    model: 'chat-model', instructions: 'Be brief', max_output_tokens: 64, temperature: 0.5,
    input: [{ role: 'user', content: [{ type: 'input_text', text: 'Hello' }] }], mock: { reply: 'Hi!' },
  });
  assert.equal(r.output_text, 'Hi!');
  assert.equal(r.model, 'chat-model');
  assert.equal(r.status, 'completed');
  assert.ok(r.usage.input_tokens > 0);
  assert.equal(r.usage.output_tokens, 8);
  const up = await lastUpstream(mockC);
  assert.equal(up.path, '/v1/chat/completions');
  const sent = JSON.parse(up.body);
  assert.equal(sent.model, 'chat-up-1');
  assert.deepEqual(sent.messages, [{ role: 'system', content: 'Be brief' }, { role: 'user', content: [{ type: 'text', text: 'Hello' }] }]);
  assert.equal(sent.max_tokens, 64);
  assert.equal(sent.temperature, 0.5);
  assert.equal((await mockC.stats()).responses, 0);
});

test('chat-only upstream: responses.stream gets the full event sequence, numbered from 0', async () => {
  const stream = oai.responses.stream({ model: 'chat-model', input: 'Hello', mock: { chunks: 2, chunk_text: 'yo' } });
  const events = [];
  stream.on('event', (e) => events.push(e));
  const final = await stream.finalResponse();
  assert.equal(textOf(final), 'yoyo');
  assert.deepEqual(events.map((e) => e.type), [
    'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
    'response.output_text.delta', 'response.output_text.delta', 'response.output_text.done',
    'response.content_part.done', 'response.output_item.done', 'response.completed',
  ]);
  assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
  assert.equal(final.usage.output_tokens, 2);
  const sent = JSON.parse((await lastUpstream(mockC)).body);
  assert.equal(sent.stream, true);
  assert.deepEqual(sent.stream_options, { include_usage: true });
});

test('chat-only upstream: a function tool round trip, JSON and stream', async () => {
  const mockCall = { tool_calls: [{ name: 'get_weather', arguments: '{"city":"Paris"}', id: 'call_c1' }] };
  const first = await oai.responses.create({ model: 'chat-model', input: 'Weather?', tools: [weatherTool], tool_choice: 'auto', mock: mockCall });
  const call = first.output.find((o) => o.type === 'function_call');
  assert.deepEqual([call.name, call.call_id, call.arguments], ['get_weather', 'call_c1', '{"city":"Paris"}']);
  let sent = JSON.parse((await lastUpstream(mockC)).body);
  assert.deepEqual(sent.tools, [{ type: 'function', function: { name: 'get_weather', description: 'The weather in a city', parameters: weatherTool.parameters, strict: true } }]);
  assert.equal(sent.tool_choice, 'auto');
  const streamed = await oai.responses.stream({ model: 'chat-model', input: 'Weather?', tools: [weatherTool], mock: mockCall }).finalResponse();
  assert.deepEqual(streamed.output.map((o) => [o.type, o.call_id, o.arguments]), [['function_call', 'call_c1', '{"city":"Paris"}']]);
  const second = await oai.responses.create({
    model: 'chat-model', tools: [weatherTool], mock: { reply: 'Sunny' },
    input: [{ role: 'user', content: 'Weather?' }, call, { type: 'function_call_output', call_id: 'call_c1', output: 'sunny, 21C' }],
  });
  assert.equal(second.output_text, 'Sunny');
  sent = JSON.parse((await lastUpstream(mockC)).body);
  assert.deepEqual(sent.messages.slice(1), [
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_c1', content: 'sunny, 21C' },
  ]);
});

test('chat-only upstream: structured output (text.format) becomes response_format', async () => {
  const City = z.object({ city: z.string() });
  const r = await oai.responses.parse({ model: 'chat-model', input: 'Where?', text: { format: zodTextFormat(City, 'where') }, mock: { reply: '{"city":"Lyon"}' } });
  assert.deepEqual(r.output_parsed, { city: 'Lyon' });
  const sent = JSON.parse((await lastUpstream(mockC)).body);
  assert.equal(sent.response_format.type, 'json_schema');
  assert.equal(sent.response_format.json_schema.name, 'where');
  assert.equal(sent.response_format.json_schema.strict, true);
  assert.deepEqual(sent.response_format.json_schema.schema.required, ['city']);
});

test('chat-only upstream: what needs server-side state is refused with 400 naming the field', async () => {
  const cases = [
    [{ store: true }, /store: true keeps the response/],
    [{ background: true }, /background: true runs the response/],
    [{ previous_response_id: 'resp_abc' }, /previous_response_id: a previous response is kept only/],
    [{ conversation: 'conv_1' }, /conversation: /],
    [{ tools: [{ type: 'web_search' }] }, /tools\[0\]: "web_search" is a tool OpenAI runs/],
    [{ tools: [{ type: 'file_search', vector_store_ids: ['vs'] }] }, /tools\[0\]: "file_search"/],
    [{ input: [{ type: 'item_reference', id: 'msg_1' }] }, /input\[0\]: item_reference points into OpenAI's response store/],
  ];
  const before = (await mockC.requests()).length;
  for (const [extra, re] of cases) {
    await assert.rejects(oai.responses.create({ model: 'chat-model', input: 'x', ...extra }),
      (e) => e.status === 400 && re.test(e.message), JSON.stringify(extra));
  }
  assert.equal((await mockC.requests()).length, before, 'nothing reached the upstream');
  // store: false asks for nothing and is dropped.
  await oai.responses.create({ model: 'chat-model', input: 'x', store: false });
  assert.equal(JSON.parse((await lastUpstream(mockC)).body).store, undefined);
});

test('chat-only upstream: a failure mid-stream ends the stream with response.failed', async () => {
  const stream = await oai.responses.create({ model: 'chat-model', input: 'x', stream: true, mock: { chunks: 4, stream_error_after_chunks: 2 } });
  const types = [];
  let failed;
  for await (const e of stream) {
    types.push(e.type);
    if (e.type === 'response.failed') failed = e;
  }
  assert.equal(types.at(-1), 'response.failed');
  assert.equal(types.filter((t) => t === 'response.output_text.delta').length, 2);
  assert.equal(failed.response.status, 'failed');
  assert.equal(failed.response.error.code, 'server_error');
  assert.equal(failed.sequence_number, types.length - 1);
});

test('upstream errors keep their status: 4xx as sent, 5xx as 502', async () => {
  await assert.rejects(oai.responses.create({ model: 'chat-model', input: 'x', mock: { status: 429 } }), (e) => e.status === 429);
  await assert.rejects(oai.responses.create({ model: 'gpt-4o-mini', input: 'x', mock: { status: 400 } }), (e) => e.status === 400);
  await assert.rejects(oai.responses.create({ model: 'gpt-4o-mini', input: 'x', mock: { status: 503 } }), (e) => e.status === 502);
  // The upstream's own 400 for a parameter it does not know reaches the caller (passthrough).
  await assert.rejects(oai.responses.create({ model: 'gpt-4o-mini', input: 'x', bogus: 1 }), (e) => e.status === 400 && /Unknown parameter: 'bogus'/.test(e.message));
});

// ---- translated: an Anthropic upstream, through chat ----

test('Anthropic upstream: responses.create and responses.stream through chat', async () => {
  const r = await oai.responses.create({ model: 'claude', input: 'Hello', mock: { reply: 'Bonjour' } });
  assert.equal(r.output_text, 'Bonjour');
  assert.equal(r.model, 'claude');
  const up = await lastUpstream(mockR);
  assert.equal(up.path, '/v1/messages');
  assert.equal(JSON.parse(up.body).model, 'claude-up-1');
  const final = await oai.responses.stream({ model: 'claude', input: 'Hello', mock: { chunks: 2, chunk_text: 'ok' } }).finalResponse();
  assert.equal(textOf(final), 'okok');
});
