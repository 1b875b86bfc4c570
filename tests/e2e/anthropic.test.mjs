// Anthropic Messages through Sluice, with the official SDKs against the project mock (which
// speaks both wires and validates Anthropic requests strictly):
// - Claude SDK callers on /v1/messages reaching an Anthropic upstream (passthrough: bytes as they
//   are, model rewritten both ways, anthropic-version/beta passed on);
// - Claude SDK callers reaching an OpenAI-compatible model (translated both ways);
// - OpenAI SDK callers reaching a Claude model through /v1/chat/completions (translated);
// - count_tokens, the Anthropic models list, and errors in Anthropic's envelope and statuses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startMock, startSluice, baseConfig, tempDir, teardown, scrapeMetrics } from './lib/harness.mjs';
import { sha256 } from './lib/gateway.mjs';

const KEY = 'sk-caller-anthropic-0123456789';
const UP_KEY = 'sk-ant-upstream-secret';
let mock, s, claude, oai;

before(async () => {
  mock = await startMock(['--require-key', UP_KEY]);
  const dir = tempDir();
  writeFileSync(dir.path('resources.yaml'), `_format_version: "1"
provider_keys:
  - display_name: anth
    provider: anthropic
    api_key: ${UP_KEY}
    api_base: ${mock.base}/v1
  - display_name: oa
    provider: openai
    api_key: ${UP_KEY}
    api_base: ${mock.base}/v1
models:
  - display_name: claude
    provider_key: anth
    model_name: claude-up-1
  - display_name: gpt
    provider_key: oa
    model_name: gpt-up-1
api_keys:
  - display_name: caller
    key_hash: ${sha256(KEY)}
    allowed_models: ["*"]
`);
  s = await startSluice({ config: baseConfig({ metrics: true }) + `resources_file: ${dir.path('resources.yaml')}\n`, dir });
  claude = new Anthropic({ baseURL: `http://127.0.0.1:${s.port}`, apiKey: KEY, maxRetries: 0 });
  oai = new OpenAI({ baseURL: `http://127.0.0.1:${s.port}/v1`, apiKey: KEY, maxRetries: 0 });
});

after(() => teardown(() => s?.stop(), () => mock?.stop()));

const user = (content) => ({ role: 'user', content });
const base = (model, extra = {}) => ({ model, max_tokens: 256, messages: [user('Hello')], ...extra });

async function lastUpstream() {
  const reqs = await mock.requests();
  return reqs[reqs.length - 1];
}

// Splits an SSE body into events and checks every line is one Sluice may send.
function sse(text) {
  const events = [];
  for (const block of text.split('\n\n')) {
    if (block === '' || block === ':') continue;
    const lines = block.split('\n');
    let name = '', data = '';
    for (const l of lines) {
      if (l.startsWith('event: ')) name = l.slice(7);
      else if (l.startsWith('data: ')) data += l.slice(6);
      else if (l !== ':') assert.fail(`not an SSE line: ${JSON.stringify(l)}`);
    }
    events.push({ name, data });
  }
  return events;
}

test('passthrough: a Claude SDK call reaches the Anthropic upstream with its model, key and version', async () => {
  await mock.reset();
  const msg = await claude.messages.create(base('claude', { mock: { reply: 'Bonjour', cache_read_input_tokens: 7 } }));
  assert.equal(msg.model, 'claude');
  assert.equal(msg.type, 'message');
  assert.deepEqual(msg.content, [{ type: 'text', text: 'Bonjour' }]);
  assert.equal(msg.usage.cache_read_input_tokens, 7);
  const up = await lastUpstream();
  assert.equal(up.path, '/v1/messages');
  assert.equal(up.headers['x-api-key'], UP_KEY);
  assert.equal(up.headers.authorization, undefined, 'the caller credential is never forwarded');
  assert.match(up.headers['anthropic-version'], /^\d{4}-\d{2}-\d{2}$/);
  const sent = JSON.parse(up.body);
  assert.equal(sent.model, 'claude-up-1');
  assert.equal(sent.stream_options, undefined);
  assert.deepEqual(Object.keys(sent).sort(), ['max_tokens', 'messages', 'mock', 'model']);
});

test('passthrough: anthropic-version and anthropic-beta from the caller reach the upstream; default 2023-06-01', async () => {
  const r = await fetch(`http://127.0.0.1:${s.port}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'prompt-caching-2024-07-31', 'content-type': 'application/json' },
    body: JSON.stringify(base('claude')),
  });
  assert.equal(r.status, 200);
  let up = await lastUpstream();
  assert.equal(up.headers['anthropic-version'], '2023-06-01');
  assert.equal(up.headers['anthropic-beta'], 'prompt-caching-2024-07-31');
  // x-api-key authenticates the caller too, and a caller without a version gets the default.
  const r2 = await fetch(`http://127.0.0.1:${s.port}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: JSON.stringify(base('claude')),
  });
  assert.equal(r2.status, 200, await r2.text());
  up = await lastUpstream();
  assert.equal(up.headers['anthropic-version'], '2023-06-01');
  assert.equal(up.headers['anthropic-beta'], undefined);
});

test('passthrough streams: events relayed one by one, model rewritten in message_start, usage logged', async () => {
  const m0 = await scrapeMetrics(s);
  const stream = claude.messages.stream(base('claude', { mock: { chunks: 5, input_tokens: 11, output_tokens: 5 } }));
  const events = [];
  stream.on('streamEvent', (e) => events.push(e.type));
  const final = await stream.finalMessage();
  assert.equal(final.model, 'claude');
  assert.equal(final.stop_reason, 'end_turn');
  assert.equal(events[0], 'message_start');
  assert.equal(events.at(-1), 'message_stop');
  assert.equal(events.filter((e) => e === 'message_stop').length, 1);
  assert.equal(events.filter((e) => e === 'content_block_delta').length, 5);
  const m1 = await scrapeMetrics(s);
  const d = (k) => (m1.get(k) ?? 0) - (m0.get(k) ?? 0);
  assert.equal(d('sluice_tokens_total{key="caller",model="claude",type="prompt"}'), 11);
  assert.equal(d('sluice_tokens_total{key="caller",model="claude",type="completion"}'), 5);
});

test('passthrough: tool use and thinking reach the Claude SDK intact, JSON and stream', async () => {
  const tools = [{ name: 'get_weather', description: 'w', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
  const input = { city: 'Lyon', units: ['c'] };
  const msg = await claude.messages.create(base('claude', { tools, mock: { tool_use: { name: 'get_weather', input } } }));
  assert.equal(msg.stop_reason, 'tool_use');
  assert.deepEqual(msg.content.find((b) => b.type === 'tool_use').input, input);
  const final = await claude.messages.stream(base('claude', {
    max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, tools,
    mock: { thinking: 'Consider Lyon.', tool_use: { name: 'get_weather', input } },
  })).finalMessage();
  assert.equal(final.content[0].type, 'thinking');
  assert.equal(final.content[0].thinking, 'Consider Lyon.');
  assert.ok(final.content[0].signature.length > 0);
  assert.deepEqual(final.content.find((b) => b.type === 'tool_use').input, input);
});

test('errors on /v1/messages come in Anthropic\'s envelope with the SDK\'s error classes', async () => {
  const cases = [
    [() => claude.messages.create(base('nope')), Anthropic.NotFoundError, 404, 'not_found_error'],
    [() => new Anthropic({ baseURL: claude.baseURL, apiKey: 'sk-wrong', maxRetries: 0 }).messages.create(base('claude')), Anthropic.AuthenticationError, 401, 'authentication_error'],
    [() => claude.messages.create(base('claude', { mock: { status: 400, error_message: 'bad thing' } })), Anthropic.BadRequestError, 400, 'invalid_request_error'],
    [() => claude.messages.create(base('claude', { mock: { status: 429, retry_after: 3 } })), Anthropic.RateLimitError, 429, 'rate_limit_error'],
    [() => claude.messages.create(base('claude', { mock: { status: 529 } })), Anthropic.InternalServerError, 529, 'overloaded_error'],
    [() => claude.messages.create(base('claude', { mock: { status: 500 } })), Anthropic.InternalServerError, 502, 'api_error'],
  ];
  for (const [fn, cls, status, type] of cases) {
    await assert.rejects(fn, (e) => {
      assert.ok(e instanceof cls, `${status}: ${e.constructor.name}`);
      assert.equal(e.status, status);
      assert.equal(e.error.type, 'error');
      assert.equal(e.error.error.type, type);
      return true;
    });
  }
  // The upstream's own message is kept for a 4xx, and 429 keeps Retry-After.
  const r = await fetch(`http://127.0.0.1:${s.port}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
    body: JSON.stringify(base('claude', { mock: { status: 429, retry_after: 3, error_message: 'slow down' } })),
  });
  assert.equal(r.status, 429);
  assert.equal(r.headers.get('retry-after'), '3');
  assert.deepEqual(await r.json(), { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } });
  const bad = await fetch(`http://127.0.0.1:${s.port}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: '{"model":"claude","model":"x","messages":[1]}',
  });
  assert.equal(bad.status, 400);
  assert.deepEqual(await bad.json(), { type: 'error', error: { type: 'invalid_request_error', message: 'request payload is invalid: duplicate key "model"' } });
});

test('an in-band stream error reaches the Claude SDK as an error, with no message_stop after it', async () => {
  const r = await fetch(`http://127.0.0.1:${s.port}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
    body: JSON.stringify(base('claude', { stream: true, mock: { chunks: 4, stream_error_after_chunks: 2 } })),
  });
  const events = sse(await r.text());
  assert.equal(events.at(-1).name, 'error');
  assert.equal(JSON.parse(events.at(-1).data).error.type, 'overloaded_error');
  assert.ok(!events.some((e) => e.name === 'message_stop'));
});

test('count_tokens: passed through for Anthropic models, a clear 400 for others', async () => {
  const n = await claude.messages.countTokens({ model: 'claude', messages: [user('count me')] });
  assert.equal(typeof n.input_tokens, 'number');
  assert.ok(n.input_tokens > 0);
  assert.equal((await lastUpstream()).path, '/v1/messages/count_tokens');
  await assert.rejects(claude.messages.countTokens({ model: 'gpt', messages: [user('x')] }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.error.error.type, 'invalid_request_error');
    assert.equal(e.error.error.message,
      'count_tokens is supported for Anthropic models only: model "gpt" is served by the openai provider family');
    return true;
  });
});

test('GET /v1/models answers Anthropic SDKs in Anthropic\'s list shape', async () => {
  const page = await claude.models.list();
  assert.deepEqual(page.data.map((m) => m.id), ['claude', 'gpt']);
  for (const m of page.data) {
    assert.equal(m.type, 'model');
    assert.equal(m.display_name, m.id);
    assert.equal(m.created_at, '1970-01-01T00:00:00Z');
  }
  const raw = await fetch(`http://127.0.0.1:${s.port}/v1/models`, { headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' } });
  const body = await raw.json();
  assert.equal(body.has_more, false);
  assert.equal(body.first_id, 'claude');
  assert.equal(body.last_id, 'gpt');
  const one = await claude.models.retrieve('claude');
  assert.equal(one.id, 'claude');
  await assert.rejects(claude.models.retrieve('nope'), Anthropic.NotFoundError);
  // Without anthropic-version the OpenAI shape stays.
  const list = await oai.models.list();
  assert.equal(list.data[0].object, 'model');
});

// ---- translation both ways ----

test('translated: an OpenAI SDK call reaches a Claude model (JSON): text, usage with cache, stop reasons', async () => {
  const r = await oai.chat.completions.create({
    model: 'claude', max_tokens: 100,
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }],
    mock: { reply: 'Salut', input_tokens: 20, output_tokens: 3, cache_read_input_tokens: 8, cache_creation_input_tokens: 2 },
  });
  assert.equal(r.model, 'claude');
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.content, 'Salut');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.usage.prompt_tokens, 30);
  assert.equal(r.usage.completion_tokens, 3);
  assert.equal(r.usage.prompt_tokens_details.cached_tokens, 8);
  const up = await lastUpstream();
  assert.equal(up.path, '/v1/messages');
  const sent = JSON.parse(up.body);
  assert.equal(sent.model, 'claude-up-1');
  assert.equal(sent.system, 'Be brief.');
  assert.deepEqual(sent.messages, [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }]);
  assert.equal(sent.max_tokens, 100);
  const len = await oai.chat.completions.create({ model: 'claude', messages: [user('x')], mock: { stop_reason: 'max_tokens' } });
  assert.equal(len.choices[0].finish_reason, 'length');
});

test('translated: OpenAI tool calls and streams against a Claude model', async () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const input = { city: 'Lyon' };
  const r = await oai.chat.completions.create({ model: 'claude', messages: [user('weather?')], tools, mock: { tool_use: { name: 'get_weather', input, id: 'toolu_1' } } });
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  const call = r.choices[0].message.tool_calls[0];
  assert.equal(call.id, 'toolu_1');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), input);
  // The tool result goes back; the mock checks tool_use/tool_result pairing strictly.
  const r2 = await oai.chat.completions.create({
    model: 'claude', tools,
    messages: [user('weather?'), r.choices[0].message, { role: 'tool', tool_call_id: 'toolu_1', content: '14 C' }],
  });
  assert.equal(r2.choices[0].message.role, 'assistant');
  // A stream: content deltas, a tool call assembled from argument pieces, usage, [DONE].
  const stream = await oai.chat.completions.create({
    model: 'claude', messages: [user('weather?')], tools, stream: true, stream_options: { include_usage: true },
    mock: { reply: 'Checking.', chunks: 3, tool_use: { name: 'get_weather', input, id: 'toolu_2' }, input_tokens: 9, output_tokens: 7 },
  });
  let text = '', args = '', name = '', finish = null, usage = null;
  for await (const ch of stream) {
    assert.equal(ch.model, 'claude');
    if (ch.usage) usage = ch.usage;
    const d = ch.choices[0]?.delta;
    if (d?.content) text += d.content;
    for (const tc of d?.tool_calls ?? []) { if (tc.function?.name) name = tc.function.name; args += tc.function?.arguments ?? ''; }
    if (ch.choices[0]?.finish_reason) finish = ch.choices[0].finish_reason;
  }
  assert.equal(text, 'Checking.');
  assert.equal(name, 'get_weather');
  assert.deepEqual(JSON.parse(args), input);
  assert.equal(finish, 'tool_calls');
  assert.equal(usage.prompt_tokens, 9);
  assert.equal(usage.completion_tokens, 7);
});

test('translated: an upstream in-band error mid-stream reaches the OpenAI caller as an error frame', async () => {
  const r = await fetch(`http://127.0.0.1:${s.port}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude', messages: [user('x')], stream: true, mock: { chunks: 4, stream_error_after_chunks: 2 } }),
  });
  const text = await r.text();
  const events = sse(text);
  assert.equal(events.at(-1).name, 'error');
  assert.equal(JSON.parse(events.at(-1).data).error.type, 'overloaded_error');
  assert.doesNotMatch(text, /\[DONE\]/);
});

test('translated: a Claude SDK call reaches an OpenAI-compatible model: text, tools, thinking, usage', async () => {
  const msg = await claude.messages.create(base('gpt', {
    system: [{ type: 'text', text: 'Be brief.' }],
    mock: { reply: 'Hi there', cached_tokens: 4 },
  }));
  assert.equal(msg.model, 'gpt');
  assert.equal(msg.type, 'message');
  assert.deepEqual(msg.content, [{ type: 'text', text: 'Hi there' }]);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.usage.cache_read_input_tokens, 4);
  const up = await lastUpstream();
  assert.equal(up.path, '/v1/chat/completions');
  assert.equal(up.headers.authorization, `Bearer ${UP_KEY}`);
  const sent = JSON.parse(up.body);
  assert.equal(sent.model, 'gpt-up-1');
  assert.deepEqual(sent.messages[0], { role: 'system', content: 'Be brief.' });
  const tools = [{ name: 'get_weather', description: 'w', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
  const t = await claude.messages.create(base('gpt', { tools, mock: { tool_calls: [{ name: 'get_weather', arguments: '{"city":"Lyon"}', id: 'call_9' }] } }));
  assert.equal(t.stop_reason, 'tool_use');
  const tu = t.content.find((b) => b.type === 'tool_use');
  assert.equal(tu.id, 'call_9');
  assert.deepEqual(tu.input, { city: 'Lyon' });
  const final = await claude.messages.stream(base('gpt', {
    max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 },
    mock: { reasoning_content: 'Think first.', chunk_text: 'ab', chunks: 3 },
  })).finalMessage();
  assert.equal(final.content[0].type, 'thinking');
  assert.equal(final.content[0].thinking, 'Think first.');
  assert.equal(final.content.find((b) => b.type === 'text').text, 'ababab');
  assert.equal(JSON.parse((await lastUpstream()).body).reasoning_effort, 'low');
});

test('translated: an upstream mid-stream error reaches the Claude SDK caller as an error event', async () => {
  const r = await fetch(`http://127.0.0.1:${s.port}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
    body: JSON.stringify(base('gpt', { stream: true, mock: { chunks: 4, stream_error_after_chunks: 2 } })),
  });
  const events = sse(await r.text());
  assert.equal(events.at(-1).name, 'error');
  assert.equal(JSON.parse(events.at(-1).data).type, 'error');
  assert.ok(!events.some((e) => e.name === 'message_stop'));
});

// A conversation shaped like Claude Code's: system blocks with cache_control, tools, a tool
// round trip, thinking, streaming; the same script against a Claude model (passthrough) and an
// OpenAI-compatible one (translated).
for (const model of ['claude', 'gpt']) {
  test(`a Claude Code-style conversation on ${model}`, async () => {
    const system = [
      { type: 'text', text: 'You are Claude Code, a coding agent.', cache_control: { type: 'ephemeral' } },
      { type: 'text', text: 'Work in /repo. Be terse.' },
    ];
    const tools = [
      { name: 'Read', description: 'Read a file', input_schema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] } },
      { name: 'Bash', description: 'Run a command', input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] } },
    ];
    const history = [user([{ type: 'text', text: 'What does main.c do?', cache_control: { type: 'ephemeral' } }])];
    const turn1 = model === 'claude'
      ? { thinking: 'Read it first.', tool_use: { name: 'Read', input: { path: 'main.c' }, id: 'toolu_r1' } }
      : { reasoning_content: 'Read it first.', tool_calls: [{ name: 'Read', arguments: '{"path":"main.c"}', id: 'toolu_r1' }] };
    const first = await claude.messages.stream({
      model, max_tokens: 4096, system, tools, messages: history, thinking: { type: 'enabled', budget_tokens: 2048 }, mock: turn1,
    }).finalMessage();
    assert.equal(first.model, model);
    assert.equal(first.stop_reason, 'tool_use');
    const use = first.content.find((b) => b.type === 'tool_use');
    assert.equal(use.name, 'Read');
    assert.deepEqual(use.input, { path: 'main.c' });
    history.push({ role: 'assistant', content: first.content });
    history.push(user([{ type: 'tool_result', tool_use_id: use.id, content: 'int main(void) { return 0; }' }]));
    const second = await claude.messages.stream({
      model, max_tokens: 4096, system, tools, messages: history, thinking: { type: 'enabled', budget_tokens: 2048 },
      mock: { reply: 'It returns 0.', chunks: 4 },
    }).finalMessage();
    assert.equal(second.stop_reason, 'end_turn');
    assert.equal(second.content.filter((b) => b.type === 'text').map((b) => b.text).join(''), 'It returns 0.');
    const up = JSON.parse((await lastUpstream()).body);
    if (model === 'claude') {
      // Passthrough: the cache_control blocks and the thinking block (with its signature) went
      // back to Anthropic as they were.
      assert.deepEqual(up.system, system);
      assert.equal(up.messages[1].content[0].type, 'thinking');
    } else {
      // Translated: the tool round trip became an assistant tool call and a tool message.
      const toolMsg = up.messages.find((m) => m.role === 'tool');
      assert.equal(toolMsg.tool_call_id, use.id);
      assert.equal(up.messages.find((m) => m.tool_calls).tool_calls[0].function.name, 'Read');
    }
  });
}
