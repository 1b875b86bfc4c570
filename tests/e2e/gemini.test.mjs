// Gemini API upstreams through Sluice, with the official SDKs against the project mock (which
// validates Gemini requests as Google does: unknown fields, roles, function responses that answer
// the previous turn's calls by name and id, the Schema subset):
// - OpenAI SDK callers on /v1/chat/completions and /v1/embeddings (chat -> generateContent,
//   embeddings -> batchEmbedContents), JSON and streams;
// - Claude SDK callers on /v1/messages and OpenAI SDK callers on /v1/responses (Anthropic or
//   Responses -> chat -> Gemini, composed);
// - errors: Google's envelope into the caller's, RESOURCE_EXHAUSTED as 429 with its retry hint,
//   blocked prompts as 400.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startMock, startSluice, baseConfig, tempDir, teardown, scrapeMetrics } from './lib/harness.mjs';
import { sha256 } from './lib/gateway.mjs';

const KEY = 'sk-caller-gemini-0123456789';
const UP_KEY = 'AIza-upstream-gemini-secret';
let mock, s, oai, claude;

before(async () => {
  mock = await startMock(['--require-key', UP_KEY]);
  const dir = tempDir();
  writeFileSync(dir.path('resources.yaml'), `_format_version: "1"
provider_keys:
  - display_name: gem
    provider: gemini
    api_key: ${UP_KEY}
    api_base: ${mock.base}/v1beta/
models:
  - display_name: gemini
    provider_key: gem
    model_name: gemini-2.5-flash
  - display_name: gemini-embed
    provider_key: gem
    model_name: text-embedding-004
api_keys:
  - display_name: caller
    key_hash: ${sha256(KEY)}
    allowed_models: ["*"]
`);
  s = await startSluice({ config: baseConfig({ metrics: true }) + `resources_file: ${dir.path('resources.yaml')}\n`, dir });
  oai = new OpenAI({ baseURL: `http://127.0.0.1:${s.port}/v1`, apiKey: KEY, maxRetries: 0 });
  claude = new Anthropic({ baseURL: `http://127.0.0.1:${s.port}`, apiKey: KEY, maxRetries: 0 });
});

after(() => teardown(() => s?.stop(), () => mock?.stop()));

async function lastUpstream() {
  const reqs = await mock.requests();
  return reqs[reqs.length - 1];
}

const chat = (extra = {}) => ({ model: 'gemini', messages: [{ role: 'user', content: 'Hello' }], ...extra });

test('chat: the translated request reaches generateContent with the key, field by field', async () => {
  const r = await oai.chat.completions.create({
    model: 'gemini',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: [{ type: 'text', text: 'And now?' }] },
    ],
    temperature: 0.5, top_p: 0.9, max_completion_tokens: 77, stop: ['END'], seed: 7,
    presence_penalty: 0.1, frequency_penalty: 0.2,
    mock: { reply: 'Bonjour', cached_tokens: 3 },
  });
  assert.equal(r.model, 'gemini');
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.content, 'Bonjour');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.usage.prompt_tokens_details.cached_tokens, 3);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  const up = await lastUpstream();
  assert.equal(up.path, '/v1beta/models/gemini-2.5-flash:generateContent');
  assert.equal(up.headers['x-goog-api-key'], UP_KEY);
  assert.equal(up.headers.authorization, undefined, 'the caller credential is never forwarded');
  const sent = JSON.parse(up.body);
  assert.deepEqual(sent.systemInstruction, { parts: [{ text: 'Be brief.' }] });
  assert.deepEqual(sent.contents, [
    { role: 'user', parts: [{ text: 'Hi' }] },
    { role: 'model', parts: [{ text: 'Hello!' }] },
    { role: 'user', parts: [{ text: 'And now?' }] },
  ]);
  assert.deepEqual(sent.generationConfig, {
    temperature: 0.5, topP: 0.9, presencePenalty: 0.1, frequencyPenalty: 0.2, seed: 7,
    maxOutputTokens: 77, stopSequences: ['END'],
  });
  assert.equal(sent.model, undefined, 'the model is in the URL');
});

test('chat streams: Gemini events become chunks, and the caller gets [DONE] and usage', async () => {
  const m0 = await scrapeMetrics(s);
  const stream = await oai.chat.completions.create(chat({ stream: true, stream_options: { include_usage: true }, mock: { chunks: 4, reply: 'one two three four' } }));
  let text = '', finish = null, usage = null, chunks = 0;
  for await (const c of stream) {
    chunks++;
    assert.equal(c.model, 'gemini');
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      text += ch.delta.content ?? '';
      finish = ch.finish_reason ?? finish;
    }
  }
  assert.equal(text, 'one two three four');
  assert.equal(finish, 'stop');
  assert.ok(usage && usage.completion_tokens === 4, JSON.stringify(usage));
  assert.equal(chunks, 1 + 4 + 1 + 1); // role, four deltas, finish, usage
  const up = await lastUpstream();
  assert.equal(up.path, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
  const m1 = await scrapeMetrics(s);
  assert.equal((m1.get('sluice_tokens_total{key="caller",model="gemini",type="completion"}') ?? 0) -
    (m0.get('sluice_tokens_total{key="caller",model="gemini",type="completion"}') ?? 0), 4);
});

test('tools: declarations with the schema subset, a call, and its result with a stable id', async () => {
  const tools = [{
    type: 'function',
    function: {
      name: 'get_weather', description: 'Weather for a city', strict: true,
      parameters: {
        $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', additionalProperties: false,
        properties: { city: { type: 'string', format: 'email', description: 'City' }, units: { type: ['string', 'null'], enum: ['c', 'f'] } },
        required: ['city'],
      },
    },
  }, { type: 'function', function: { name: 'ping' } }];
  const first = await oai.chat.completions.create(chat({
    tools, tool_choice: { type: 'function', function: { name: 'get_weather' } },
    mock: { tool_calls: [{ name: 'get_weather', arguments: '{"city":"Lyon"}' }] },
  }));
  const call = first.choices[0].message.tool_calls[0];
  assert.equal(first.choices[0].finish_reason, 'tool_calls');
  assert.equal(first.choices[0].message.content, null);
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Lyon' });
  assert.match(call.id, /^call_/);
  let sent = JSON.parse((await lastUpstream()).body);
  assert.deepEqual(sent.tools, [{ functionDeclarations: [
    { name: 'get_weather', description: 'Weather for a city', parameters: {
      type: 'OBJECT', properties: { city: { type: 'STRING', description: 'City' }, units: { nullable: true, type: 'STRING', enum: ['c', 'f'] } },
      required: ['city'] } },
    { name: 'ping' },
  ] }]);
  assert.deepEqual(sent.toolConfig, { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } });
  // The round trip: the mock checks that the response answers the call by name and id.
  const second = await oai.chat.completions.create(chat({
    tools,
    messages: [{ role: 'user', content: 'Weather?' }, first.choices[0].message,
      { role: 'tool', tool_call_id: call.id, content: '{"temp":21}' }],
    mock: { reply: 'It is 21.' },
  }));
  assert.equal(second.choices[0].message.content, 'It is 21.');
  sent = JSON.parse((await lastUpstream()).body);
  assert.deepEqual(sent.contents[1], { role: 'model', parts: [{ functionCall: { id: call.id, name: 'get_weather', args: { city: 'Lyon' } } }] });
  assert.deepEqual(sent.contents[2], { role: 'user', parts: [{ functionResponse: { id: call.id, name: 'get_weather', response: { temp: 21 } } }] });
});

test('tools stream, and a thought signature rides in the id across the round trip', async () => {
  const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }];
  const stream = await oai.chat.completions.create(chat({
    tools, stream: true,
    mock: { tool_calls: [{ name: 'lookup', arguments: '{"q":"x"}', id: 'fc-1' }], thought_signature: 'c2lnbmF0dXJl' },
  }));
  const calls = [];
  let finish = null;
  for await (const c of stream) {
    for (const tc of c.choices[0]?.delta.tool_calls ?? []) calls.push(tc);
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(calls.length, 1);
  assert.equal(calls[0].id, 'fc-1__thought__c2lnbmF0dXJl');
  await oai.chat.completions.create(chat({
    tools,
    messages: [{ role: 'user', content: 'Find x' },
      { role: 'assistant', content: null, tool_calls: [{ id: calls[0].id, type: 'function', function: calls[0].function }] },
      { role: 'tool', tool_call_id: calls[0].id, content: 'found' }],
  }));
  const sent = JSON.parse((await lastUpstream()).body);
  assert.deepEqual(sent.contents[1].parts, [{ functionCall: { id: 'fc-1', name: 'lookup', args: { q: 'x' } }, thoughtSignature: 'c2lnbmF0dXJl' }]);
  assert.deepEqual(sent.contents[2].parts, [{ functionResponse: { id: 'fc-1', name: 'lookup', response: { content: 'found' } } }]);
});

test('images as inlineData and fileData; structured output as responseSchema', async () => {
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
  const r = await oai.chat.completions.create(chat({
    messages: [{ role: 'user', content: [
      { type: 'text', text: 'What is this?' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${png}`, detail: 'low' } },
      { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
    ] }],
    response_format: { type: 'json_schema', json_schema: { name: 'answer', strict: true, schema: {
      type: 'object', properties: { label: { type: 'string' }, score: { $ref: '#/$defs/score' } },
      required: ['label', 'score'], additionalProperties: false, $defs: { score: { type: 'number', minimum: 0 } },
    } } },
    mock: { reply: '{"label":"pixel","score":1}' },
  }));
  assert.deepEqual(JSON.parse(r.choices[0].message.content), { label: 'pixel', score: 1 });
  const sent = JSON.parse((await lastUpstream()).body);
  assert.deepEqual(sent.contents[0].parts, [
    { text: 'What is this?' },
    { inlineData: { mimeType: 'image/png', data: png } },
    { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/cat.jpg' } },
  ]);
  assert.deepEqual(sent.generationConfig, { responseMimeType: 'application/json', responseSchema: {
    type: 'OBJECT', required: ['label', 'score'],
    properties: { label: { type: 'STRING' }, score: { type: 'NUMBER', minimum: 0 } },
  } });
});

test('reasoning_effort asks for thoughts, which come back as reasoning_content; n gives choices', async () => {
  const r = await oai.chat.completions.create(chat({ reasoning_effort: 'low', n: 2, mock: { reasoning_content: 'Let me think.', reasoning_tokens: 5 } }));
  assert.equal(r.choices.length, 2);
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
  assert.equal(r.choices[1].message.reasoning_content, 'Let me think.');
  assert.equal(r.usage.completion_tokens_details.reasoning_tokens, 5);
  const sent = JSON.parse((await lastUpstream()).body);
  assert.deepEqual(sent.generationConfig, { candidateCount: 2, thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } });
});

test('embeddings: batchEmbedContents, as floats or as the SDK\'s default base64', async () => {
  const r = await oai.embeddings.create({ model: 'gemini-embed', input: ['alpha', 'beta'], dimensions: 4 });
  assert.equal(r.data.length, 2);
  assert.equal(r.data[1].index, 1);
  assert.equal(r.data[0].embedding.length, 4, 'the SDK decoded the base64 floats');
  assert.equal(r.model, 'gemini-embed');
  let up = await lastUpstream();
  assert.equal(up.path, '/v1beta/models/text-embedding-004:batchEmbedContents');
  assert.deepEqual(JSON.parse(up.body), { requests: [
    { model: 'models/text-embedding-004', content: { parts: [{ text: 'alpha' }] }, outputDimensionality: 4 },
    { model: 'models/text-embedding-004', content: { parts: [{ text: 'beta' }] }, outputDimensionality: 4 },
  ] });
  const f = await oai.embeddings.create({ model: 'gemini-embed', input: 'gamma', encoding_format: 'float', dimensions: 3 });
  assert.equal(f.data[0].embedding.length, 3);
  const raw = JSON.parse((await lastUpstream()).body);
  assert.equal(raw.requests.length, 1);
  // The same vector both ways: base64 float32 is the float list.
  const b = await oai.embeddings.create({ model: 'gemini-embed', input: 'gamma', dimensions: 3 });
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(b.data[0].embedding[i] - f.data[0].embedding[i]) < 1e-6);
});

test('Claude SDK callers reach Gemini through chat: text, stream and tool use', async () => {
  const msg = await claude.messages.create({ model: 'gemini', max_tokens: 100, system: 'Be brief.', messages: [{ role: 'user', content: 'Hi' }], mock: { reply: 'Hallo' } });
  assert.equal(msg.model, 'gemini');
  assert.deepEqual(msg.content, [{ type: 'text', text: 'Hallo' }]);
  assert.equal(msg.stop_reason, 'end_turn');
  let sent = JSON.parse((await lastUpstream()).body);
  assert.deepEqual(sent.systemInstruction, { parts: [{ text: 'Be brief.' }] });
  assert.deepEqual(sent.generationConfig, { maxOutputTokens: 100 });
  const final = await claude.messages.stream({ model: 'gemini', max_tokens: 50, messages: [{ role: 'user', content: 'Count' }], mock: { chunks: 3, reply: 'a b c' } }).finalMessage();
  assert.deepEqual(final.content, [{ type: 'text', text: 'a b c' }]);
  const tools = [{ name: 'calc', description: 'c', input_schema: { type: 'object', properties: { x: { type: 'integer' } } } }];
  const t = await claude.messages.create({ model: 'gemini', max_tokens: 50, tools, messages: [{ role: 'user', content: 'Calc' }], mock: { tool_calls: [{ name: 'calc', arguments: '{"x":2}' }] } });
  assert.equal(t.stop_reason, 'tool_use');
  const use = t.content.find((b) => b.type === 'tool_use');
  assert.deepEqual(use.input, { x: 2 });
  const back = await claude.messages.create({ model: 'gemini', max_tokens: 50, tools, messages: [
    { role: 'user', content: 'Calc' }, { role: 'assistant', content: t.content },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '4' }] },
  ], mock: { reply: 'Four' } });
  assert.deepEqual(back.content, [{ type: 'text', text: 'Four' }]);
  sent = JSON.parse((await lastUpstream()).body);
  assert.equal(sent.contents[2].parts[0].functionResponse.name, 'calc');
});

test('Responses callers reach Gemini through chat: JSON, a stream, a tool call and its result', async () => {
  const r = await oai.responses.create({ model: 'gemini', instructions: 'Be brief.', input: 'Hi',
    max_output_tokens: 64, temperature: 0.2, mock: { reply: 'Salut', cached_tokens: 2 } });
  assert.equal(r.object, 'response');
  assert.equal(r.model, 'gemini');
  assert.equal(r.status, 'completed');
  assert.equal(r.output_text, 'Salut');
  assert.equal(r.usage.input_tokens_details.cached_tokens, 2);
  assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
  let up = await lastUpstream();
  assert.equal(up.path, '/v1beta/models/gemini-2.5-flash:generateContent');
  assert.equal(up.headers['x-goog-api-key'], UP_KEY);
  let sent = JSON.parse(up.body);
  assert.deepEqual(sent.systemInstruction, { parts: [{ text: 'Be brief.' }] });
  assert.deepEqual(sent.contents, [{ role: 'user', parts: [{ text: 'Hi' }] }]);
  assert.equal(sent.generationConfig.maxOutputTokens, 64);
  assert.equal(sent.generationConfig.temperature, 0.2);

  const stream = await oai.responses.create({ model: 'gemini', input: 'Count', stream: true, mock: { chunks: 3, reply: 'un deux trois' } });
  let deltas = '', completed = null;
  const types = [];
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'response.output_text.delta') deltas += ev.delta;
    if (ev.type === 'response.completed') completed = ev.response;
  }
  assert.equal(types[0], 'response.created');
  assert.equal(types.at(-1), 'response.completed');
  assert.equal(deltas, 'un deux trois');
  assert.equal(completed.output_text ?? completed.output[0].content[0].text, 'un deux trois');
  assert.equal(completed.model, 'gemini');
  assert.ok(completed.usage.output_tokens > 0);
  assert.equal((await lastUpstream()).path, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');

  const tools = [{ type: 'function', name: 'weather', description: 'w', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];
  const t = await oai.responses.create({ model: 'gemini', input: 'Weather in Paris?', tools,
    mock: { tool_calls: [{ name: 'weather', arguments: '{"city":"Paris"}' }] } });
  const fc = t.output.find((o) => o.type === 'function_call');
  assert.equal(fc.name, 'weather');
  assert.deepEqual(JSON.parse(fc.arguments), { city: 'Paris' });
  sent = JSON.parse((await lastUpstream()).body);
  assert.equal(sent.tools[0].functionDeclarations[0].name, 'weather');
  // Its result goes back as a functionResponse answering the call (the mock checks the pairing).
  const back = await oai.responses.create({ model: 'gemini', tools, input: [
    { role: 'user', content: 'Weather in Paris?' },
    { type: 'function_call', call_id: fc.call_id, name: 'weather', arguments: fc.arguments },
    { type: 'function_call_output', call_id: fc.call_id, output: 'sunny' },
  ], mock: { reply: 'It is sunny.' } });
  assert.equal(back.output_text, 'It is sunny.');
  up = await lastUpstream();
  sent = JSON.parse(up.body);
  assert.equal(sent.contents[1].parts[0].functionCall.name, 'weather');
  assert.equal(sent.contents[2].parts[0].functionResponse.name, 'weather');
});

test('errors: Google\'s envelope in the caller\'s, 429 with the retry hint, a blocked prompt is a 400', async () => {
  await assert.rejects(oai.chat.completions.create(chat({ mock: { status: 400, error_message: 'bad field' } })), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.error.message, 'bad field');
    assert.equal(e.error.code, 'INVALID_ARGUMENT');
    return true;
  });
  const r = await fetch(`http://127.0.0.1:${s.port}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(chat({ mock: { status: 429, retry_after: 37, error_message: 'Quota exceeded' } })),
  });
  assert.equal(r.status, 429);
  assert.equal(r.headers.get('retry-after'), '37', 'RetryInfo.retryDelay becomes Retry-After');
  const body = await r.json();
  assert.equal(body.error.message, 'Quota exceeded');
  assert.equal(body.error.code, 'RESOURCE_EXHAUSTED');
  await assert.rejects(claude.messages.create({ model: 'gemini', max_tokens: 10, messages: [{ role: 'user', content: 'x' }], mock: { status: 429 } }), (e) => {
    assert.ok(e instanceof Anthropic.RateLimitError);
    assert.equal(e.error.error.type, 'rate_limit_error');
    return true;
  });
  await assert.rejects(oai.chat.completions.create(chat({ mock: { block_reason: 'SAFETY' } })), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.error.code, 'prompt_blocked');
    assert.match(e.error.message, /blockReason SAFETY/);
    return true;
  });
  // In a stream the block arrives after the 200: an error event, and no [DONE].
  const st = await fetch(`http://127.0.0.1:${s.port}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(chat({ stream: true, mock: { block_reason: 'PROHIBITED_CONTENT' } })),
  });
  const text = await st.text();
  assert.match(text, /blockReason PROHIBITED_CONTENT/);
  assert.doesNotMatch(text, /\[DONE\]/);
  // A request Gemini cannot be given is a 400 naming the field, before any upstream call.
  await assert.rejects(oai.chat.completions.create(chat({ logprobs: true })), (e) => {
    assert.equal(e.status, 400);
    assert.match(e.error.message, /logprobs/);
    return true;
  });
  // 5xx collapse to 502; a finish reason of SAFETY is content_filter.
  await assert.rejects(oai.chat.completions.create(chat({ mock: { status: 503 } })), (e) => e.status === 502);
  const cf = await oai.chat.completions.create(chat({ mock: { gemini_finish_reason: 'SAFETY' } }));
  assert.equal(cf.choices[0].finish_reason, 'content_filter');
});
