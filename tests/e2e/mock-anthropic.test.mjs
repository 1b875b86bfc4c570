// sluice-mock as an Anthropic Messages upstream, driven by the official @anthropic-ai/sdk client
// (JSON replies, streams, tool use, thinking, errors, count_tokens) and by raw fetch for the strict
// request validation; and the OpenAI additions translation tests need (tool_calls,
// reasoning_content, finish reasons, token details, in-stream errors) through the openai SDK.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const MOCK = process.env.SL_TEST_MOCK;
const KEY = 'sk-ant-test';

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
      const m = out.match(/^sluice-mock listening on (http:\/\/[^\s]+)\n/);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        url: m[1],
        async stop() {
          proc.kill('SIGTERM');
          return { ...(await exited), stderr };
        },
      });
    });
    proc.on('exit', (code) => reject(new Error(`mock exited early (${code}): ${stderr}`)));
  });
}

const user = (content) => ({ role: 'user', content });
const base = { model: 'claude-mock-1', max_tokens: 1024, messages: [user('Hello')] };

// POSTs a raw body to an Anthropic path; returns status, headers and the parsed (or raw) body.
// A header given as undefined is not sent.
async function post(url, path, body, headers = {}) {
  const all = { 'content-type': 'application/json', 'x-api-key': KEY, 'anthropic-version': '2023-06-01', ...headers };
  const res = await fetch(url + path, {
    method: 'POST',
    headers: Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)),
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

// Splits an Anthropic SSE body into [{event, data}] and checks each event's framing.
function sseEvents(text) {
  return text.split(/\r?\n\r?\n/).filter((e) => e.length > 0).map((e) => {
    const m = e.match(/^event: ([a-z_]+)\r?\ndata: (.*)$/s);
    assert.ok(m, `bad event: ${JSON.stringify(e)}`);
    const data = JSON.parse(m[2]);
    assert.equal(data.type, m[1]);
    return { event: m[1], data };
  });
}

async function stats(url) {
  return (await fetch(`${url}/_mock/stats`)).json();
}

async function waitStats(url, pred, ms = 5000) {
  const t0 = Date.now();
  for (;;) {
    const s = await stats(url);
    if (pred(s) || Date.now() - t0 > ms) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('sluice-mock: Anthropic Messages', { skip: MOCK ? false : 'SL_TEST_MOCK is not set' }, () => {
  let mock;
  let client;

  before(async () => {
    mock = await startMock();
    client = new Anthropic({ apiKey: KEY, baseURL: mock.url, maxRetries: 0 });
  });

  after(async () => {
    const res = await mock.stop();
    assert.equal(res.code, 0, `exit ${res.code}/${res.signal}: ${res.stderr}`);
  });

  test('the SDK parses a JSON reply: text, ids, usage with cache tokens', async () => {
    const { data: msg, response } = await client.messages.create({
      ...base, mock: { reply: 'Bonjour "x"', cache_creation_input_tokens: 5, cache_read_input_tokens: 7 },
    }).withResponse();
    assert.match(msg.id, /^msg_mock_\d+_\d+$/);
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.equal(msg.model, 'claude-mock-1');
    assert.deepEqual(msg.content, [{ type: 'text', text: 'Bonjour "x"' }]);
    assert.equal(msg.stop_reason, 'end_turn');
    assert.equal(msg.stop_sequence, null);
    assert.equal(msg.usage.output_tokens, 8);
    assert.equal(msg.usage.cache_creation_input_tokens, 5);
    assert.equal(msg.usage.cache_read_input_tokens, 7);
    assert.deepEqual(msg.usage.cache_creation, { ephemeral_5m_input_tokens: 5, ephemeral_1h_input_tokens: 0 });
    assert.ok(msg.usage.input_tokens >= 1);
    assert.match(response.headers.get('request-id'), /^req_mock_\d+_\d+$/);
    assert.equal(msg._request_id, response.headers.get('request-id'));
    // The 2026-10-21 SDK sends its key as a bearer token and its own version.
    const reqs = await (await fetch(`${mock.url}/_mock/requests`)).json();
    const last = reqs.at(-1);
    assert.equal(last.path, '/v1/messages');
    assert.equal(last.headers.authorization, `Bearer ${KEY}`);
    assert.equal(last.headers['anthropic-version'], '2026-10-21');
  });

  test('messages.stream() accumulates text into finalMessage(); the raw events are exact', async () => {
    const stream = client.messages.stream({ ...base, mock: { chunks: 4 } });
    let text = '';
    stream.on('text', (d) => (text += d));
    const final = await stream.finalMessage();
    const plain = await client.messages.create(base);
    assert.equal(final.content[0].text, plain.content[0].text);
    assert.equal(text, plain.content[0].text);
    assert.equal(final.usage.output_tokens, 4);
    assert.equal(final.stop_reason, 'end_turn');

    const raw = await post(mock.url, '/v1/messages', { ...base, stream: true, mock: { chunks: 2 } });
    assert.equal(raw.status, 200);
    assert.match(raw.headers.get('content-type'), /^text\/event-stream/);
    assert.match(raw.headers.get('request-id'), /^req_mock_/);
    const ev = sseEvents(raw.text);
    assert.deepEqual(ev.map((e) => e.event), ['message_start', 'content_block_start', 'ping',
      'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta',
      'message_stop']);
    const start = ev[0].data.message;
    assert.deepEqual(start.content, []);
    assert.equal(start.stop_reason, null);
    assert.equal(start.usage.output_tokens, 1);
    assert.deepEqual(ev[1].data, { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    assert.equal(ev[3].data.delta.type, 'text_delta');
    assert.deepEqual(ev[6].data.delta, { stop_reason: 'end_turn', stop_sequence: null, stop_details: null });
    assert.equal(ev[6].data.usage.output_tokens, 2);
    assert.equal(ev[6].data.usage.input_tokens, start.usage.input_tokens);
  });

  test('tool use: JSON input, and a stream whose input_json_delta pieces the SDK accumulates', async () => {
    const input = { city: 'Paris, Île-de-France', days: [1, 2], opts: { metric: true } };
    const tools = [{ name: 'get_weather', description: 'd', input_schema: { type: 'object' } }];
    const msg = await client.messages.create({
      ...base, tools, mock: { tool_use: { name: 'get_weather', input } },
    });
    assert.equal(msg.stop_reason, 'tool_use');
    assert.equal(msg.content.length, 1);
    assert.equal(msg.content[0].type, 'tool_use');
    assert.equal(msg.content[0].id, 'toolu_mock_0');
    assert.deepEqual(msg.content[0].input, input);

    const stream = client.messages.stream({
      ...base, tools,
      mock: { reply: 'Let me check.', tool_use: [{ name: 'get_weather', input, id: 'toolu_A' }, { name: 'noop' }] },
    });
    const pieces = [];
    stream.on('inputJson', (d) => pieces.push(d));
    const final = await stream.finalMessage();
    assert.deepEqual(final.content.map((b) => b.type), ['text', 'tool_use', 'tool_use']);
    assert.equal(final.content[0].text, 'Let me check.');
    assert.deepEqual(final.content[1].input, input);
    assert.equal(final.content[1].id, 'toolu_A');
    assert.deepEqual(final.content[2].input, {});
    assert.ok(pieces.length >= 4, `${pieces.length} input_json_delta pieces`);
    assert.equal(pieces.join(''), JSON.stringify(input) + JSON.stringify({}));
    assert.equal(final.stop_reason, 'tool_use');
  });

  test('thinking: requested by the request or by mock.thinking, with a signature it accepts back', async () => {
    const thinking = { type: 'enabled', budget_tokens: 1024 };
    const msg = await client.messages.create({ ...base, max_tokens: 2048, thinking });
    assert.equal(msg.content[0].type, 'thinking');
    assert.ok(msg.content[0].thinking.length > 0);
    assert.match(msg.content[0].signature, /^[A-Za-z0-9+/]+=*$/);
    assert.equal(msg.content[1].type, 'text');

    const stream = client.messages.stream({
      ...base, max_tokens: 2048, thinking,
      mock: { thinking: 'First, the weather.', chunks: 3, tool_use: { name: 'get_weather', input: { c: 1 } } },
    });
    let thought = '';
    let signature = '';
    stream.on('thinking', (d) => (thought += d));
    stream.on('signature', (s) => (signature = s));
    const final = await stream.finalMessage();
    assert.equal(thought, 'First, the weather.');
    assert.deepEqual(final.content.map((b) => b.type), ['thinking', 'tool_use']);
    assert.equal(final.content[0].thinking, 'First, the weather.');
    assert.equal(final.content[0].signature, signature);

    // The next turn sends the thinking and tool_use blocks back with a tool_result: accepted.
    const tools = [{ name: 'get_weather', input_schema: { type: 'object' } }];
    const next = await client.messages.create({
      ...base, max_tokens: 2048, thinking, tools,
      messages: [user('Weather?'), { role: 'assistant', content: final.content },
        user([{ type: 'tool_result', tool_use_id: final.content[1].id, content: 'sunny' }])],
    });
    assert.equal(next.stop_reason, 'end_turn');
    // A thinking block whose signature the mock did not issue is refused, as the API does.
    const forged = structuredClone(final.content);
    forged[0].thinking += ' (edited)';
    await assert.rejects(client.messages.create({
      ...base, max_tokens: 2048, thinking, tools,
      messages: [user('Weather?'), { role: 'assistant', content: forged },
        user([{ type: 'tool_result', tool_use_id: final.content[1].id, content: 'sunny' }])],
    }), (e) => e instanceof Anthropic.BadRequestError && /signature/.test(e.message));
  });

  test('stop_reason, stop_sequence and usage overrides', async () => {
    const a = await client.messages.create({ ...base, mock: { stop_reason: 'max_tokens', output_tokens: 1024, input_tokens: 99 } });
    assert.equal(a.stop_reason, 'max_tokens');
    assert.equal(a.usage.output_tokens, 1024);
    assert.equal(a.usage.input_tokens, 99);
    const b = await client.messages.create({ ...base, stop_sequences: ['END'], mock: { stop_sequence: 'END' } });
    assert.equal(b.stop_reason, 'stop_sequence');
    assert.equal(b.stop_sequence, 'END');
    const c = await client.messages.stream({ ...base, mock: { stop_reason: 'refusal' } }).finalMessage();
    assert.equal(c.stop_reason, 'refusal');
    const bad = await post(mock.url, '/v1/messages', { ...base, mock: { stop_reason: 'stop_sequence' } });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /mock\.stop_reason/);
  });

  test('errors raise the SDK error class of each status, in Anthropic\'s envelope', async () => {
    const cases = [
      [400, Anthropic.BadRequestError, 'invalid_request_error'],
      [401, Anthropic.AuthenticationError, 'authentication_error'],
      [403, Anthropic.PermissionDeniedError, 'permission_error'],
      [404, Anthropic.NotFoundError, 'not_found_error'],
      [413, Anthropic.ContentTooLargeError, 'request_too_large'],
      [429, Anthropic.RateLimitError, 'rate_limit_error'],
      [500, Anthropic.InternalServerError, 'api_error'],
      [529, Anthropic.OverloadedError, 'overloaded_error'],
    ];
    for (const [status, cls, type] of cases) {
      const err = await client.messages.create({ ...base, mock: { status } }).then(
        () => assert.fail(`status ${status} resolved`), (e) => e);
      assert.ok(err instanceof cls, `${status}: ${err?.constructor?.name}`);
      assert.equal(err.status, status);
      assert.equal(err.error.type, 'error');
      assert.equal(err.error.error.type, type);
      assert.match(err.error.request_id, /^req_mock_/);
      assert.equal(err.requestID, err.error.request_id);
    }
    const custom = await post(mock.url, '/v1/messages', {
      ...base, stream: true, mock: { status: 529, error_message: 'Busy', retry_after: 3 },
    });
    assert.equal(custom.status, 529);
    assert.equal(custom.headers.get('retry-after'), '3');
    assert.deepEqual(custom.json.error, { type: 'overloaded_error', message: 'Busy' });
    const typed = await post(mock.url, '/v1/messages', {
      ...base, mock: { status: 400, error_type: 'billing_error', error_message: 'pay up' },
    });
    assert.deepEqual(typed.json.error, { type: 'billing_error', message: 'pay up' });
  });

  test('the SDK retries a 529 and gives up after maxRetries', async () => {
    const retrying = new Anthropic({ apiKey: KEY, baseURL: mock.url, maxRetries: 2 });
    const before = await stats(mock.url);
    await assert.rejects(retrying.messages.create({
      ...base, mock: { status: 529, headers: { 'retry-after-ms': 5 } },
    }), Anthropic.OverloadedError);
    const s = await stats(mock.url);
    assert.equal(s.messages - before.messages, 3);
    assert.equal(s.errors_injected - before.errors_injected, 3);
  });

  test('an in-band error event after N deltas fails the SDK stream', async () => {
    const stream = client.messages.stream({ ...base, mock: { chunks: 6, stream_error_after_chunks: 2 } });
    let text = '';
    stream.on('text', (d) => (text += d));
    const err = await stream.finalMessage().then(() => assert.fail('resolved'), (e) => e);
    assert.ok(err instanceof Anthropic.APIError, err?.constructor?.name);
    assert.equal(err.error.error.type, 'overloaded_error');
    assert.equal(err.error.error.message, 'Overloaded');
    assert.ok(text.length > 0);

    const raw = await post(mock.url, '/v1/messages', { ...base, stream: true, mock: { chunks: 6, stream_error_after_chunks: 2 } });
    const ev = sseEvents(raw.text);
    assert.deepEqual(ev.map((e) => e.event), ['message_start', 'content_block_start', 'ping',
      'content_block_delta', 'content_block_delta', 'error']);
    assert.deepEqual(ev.at(-1).data, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  });

  test('stream faults apply to Anthropic streams: crlf, split writes, disconnect', async () => {
    const crlf = await post(mock.url, '/v1/messages', { ...base, stream: true, mock: { chunks: 2, crlf: true } });
    assert.equal(crlf.text.replace(/\r\n/g, '').includes('\n'), false);
    assert.equal(sseEvents(crlf.text).length, 8);
    const split = await client.messages.stream({ ...base, mock: { chunks: 3, split_writes: true } }).finalMessage();
    assert.equal(split.content[0].text, (await client.messages.create(base)).content[0].text);
    const before = await stats(mock.url);
    await assert.rejects(client.messages.stream({
      ...base, mock: { chunks: 5, disconnect_after_chunks: 2 },
    }).finalMessage());
    const s = await waitStats(mock.url, (x) => x.streams_disconnected > before.streams_disconnected);
    assert.equal(s.streams_disconnected, before.streams_disconnected + 1);
  });

  test('count_tokens: a deterministic count equal to input_tokens of the same prompt', async () => {
    const prompt = { model: 'claude-mock-1', system: 'Be brief.', messages: [user('How many tokens?')] };
    const count = await client.messages.countTokens(prompt);
    assert.deepEqual(Object.keys(count), ['input_tokens']);
    const again = await client.messages.countTokens(prompt);
    assert.equal(count.input_tokens, again.input_tokens);
    const msg = await client.messages.create({ ...prompt, max_tokens: 10 });
    assert.equal(count.input_tokens, msg.usage.input_tokens);
    const longer = await client.messages.countTokens({ ...prompt, messages: [user('x'.repeat(400))] });
    assert.ok(longer.input_tokens > count.input_tokens);
    assert.equal((await client.messages.countTokens({ ...prompt, mock: { input_tokens: 42 } })).input_tokens, 42);
    const bad = await post(mock.url, '/v1/messages/count_tokens', { ...prompt, max_tokens: 5 });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.message, 'max_tokens: Extra inputs are not permitted');
    const s = await stats(mock.url);
    assert.ok(s.count_tokens >= 5);
  });

  test('auth, version and method: Anthropic\'s errors', async () => {
    const noKey = await post(mock.url, '/v1/messages', base, { 'x-api-key': undefined });
    assert.equal(noKey.status, 401);
    assert.deepEqual(noKey.json.error, { type: 'authentication_error', message: 'x-api-key header is required' });
    assert.equal(noKey.json.type, 'error');
    assert.equal(noKey.json.request_id, noKey.headers.get('request-id'));
    const bearer = await post(mock.url, '/v1/messages', base, { 'x-api-key': undefined, authorization: `Bearer ${KEY}` });
    assert.equal(bearer.status, 200);
    const emptyKey = await post(mock.url, '/v1/messages', base, { 'x-api-key': '', authorization: `Bearer ${KEY}` });
    assert.equal(emptyKey.status, 200);
    const noVersion = await post(mock.url, '/v1/messages', base, { 'anthropic-version': undefined });
    assert.equal(noVersion.status, 400);
    assert.equal(noVersion.json.error.message, 'anthropic-version: header is required');
    const badVersion = await post(mock.url, '/v1/messages', base, { 'anthropic-version': '2024-02-30' });
    assert.equal(badVersion.status, 400);
    assert.equal(badVersion.json.error.message, 'anthropic-version: "2024-02-30" is not a valid version');
    const get = await fetch(`${mock.url}/v1/messages`, { headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' } });
    assert.equal(get.status, 405);
    assert.equal((await get.json()).error.type, 'invalid_request_error');
    const notJson = await post(mock.url, '/v1/messages', '{"model":');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json.error.type, 'invalid_request_error');
    // Any API prefix works; anthropic-beta is recorded.
    const prefixed = await post(mock.url, '/anthropic/v1/messages', base, { 'anthropic-beta': 'x-2025-01-01' });
    assert.equal(prefixed.status, 200);
    const reqs = await (await fetch(`${mock.url}/_mock/requests`)).json();
    assert.equal(reqs.at(-1).headers['anthropic-beta'], 'x-2025-01-01');
  });

  test('API versions: 2026-10-21 refuses sampling parameters, 2023-06-01 range-checks them', async () => {
    const withTemp = { ...base, temperature: 0.5 };
    const v2026 = await post(mock.url, '/v1/messages', withTemp, { 'anthropic-version': '2026-10-21' });
    assert.equal(v2026.status, 400);
    assert.equal(v2026.json.error.message, 'temperature: Extra inputs are not permitted');
    await assert.rejects(client.messages.create({ ...base, top_k: 5 }), Anthropic.BadRequestError);
    assert.equal((await post(mock.url, '/v1/messages', withTemp)).status, 200);
    const hot = await post(mock.url, '/v1/messages', { ...base, temperature: 1.5 });
    assert.equal(hot.json.error.message, 'temperature: Input should be less than or equal to 1');
  });

  test('strict validation rejects each malformed shape with the API\'s kind of message', async () => {
    const tools = [{ name: 'f', input_schema: { type: 'object' } }];
    const toolUse = { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] };
    const cases = [
      [{ max_tokens: 5, messages: [user('x')] }, 'model: Field required'],
      [{ model: 'm', messages: [user('x')] }, 'max_tokens: Field required'],
      [{ model: 'm', max_tokens: 5 }, 'messages: Field required'],
      [{ ...base, response_format: { type: 'json' } }, 'response_format: Extra inputs are not permitted'],
      [{ ...base, messages: [{ role: 'system', content: 'x' }] }, "messages.0.role: Input should be 'user' or 'assistant'"],
      [{ ...base, messages: [user('')] }, 'messages.0: all messages must have non-empty content except for the optional final assistant message'],
      [{ ...base, system: [{ type: 'text', text: 's', cache_control: { type: 'ephemeral', ttl: '2h' } }] }, "system.0.cache_control.ephemeral.ttl: Input should be '5m' or '1h'"],
      [{ ...base, system: [{ type: 'image', source: {} }] }, "system.0.type: Input should be 'text'"],
      [{ ...base, messages: [user([{ type: 'image_url', image_url: { url: 'x' } }])] }, "messages.0.content.0: Input tag 'image_url' found using 'type' does not match any of the expected tags"],
      [{ ...base, messages: [user([{ type: 'image', source: { type: 'base64', media_type: 'image/tiff', data: 'AA==' } }])] }, 'messages.0.content.0.image.source.base64.media_type:'],
      [{ ...base, messages: [user([{ type: 'document', source: { type: 'url' } }])] }, 'messages.0.content.0.document.source.url.url: Field required'],
      [{ ...base, messages: [user('q'), { role: 'assistant', content: [{ type: 'thinking', thinking: 't' }] }] }, 'messages.1.content.0.thinking.signature: Field required'],
      [{ ...base, messages: [user('q'), { role: 'assistant', content: [{ type: 'redacted_thinking' }] }] }, 'messages.1.content.0.redacted_thinking.data: Field required'],
      [{ ...base, messages: [user([{ type: 'tool_result', tool_use_id: 'toolu_9', content: 'r' }])] }, 'messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9.'],
      [{ ...base, tools, messages: [user('q'), toolUse, user([{ type: 'tool_result', tool_use_id: 'toolu_2' }])] }, 'messages.2.content.0: unexpected `tool_use_id`'],
      [{ ...base, tools, messages: [user('q'), toolUse, user('next')] }, 'messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1.'],
      [{ ...base, tools: [{ name: 'f', parameters: { type: 'object' } }] }, 'tools.0.custom.parameters: Extra inputs are not permitted'],
      [{ ...base, tools: [{ name: 'f' }] }, 'tools.0.custom.input_schema: Field required'],
      [{ ...base, tools: [{ type: 'function', function: { name: 'f' } }] }, "tools.0: Input tag 'function' found using 'type'"],
      [{ ...base, tools, tool_choice: 'auto' }, 'tool_choice: Input should be a valid dictionary'],
      [{ ...base, tools, tool_choice: { type: 'required' } }, "tool_choice: Input tag 'required' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'"],
      [{ ...base, tools, tool_choice: { type: 'tool' } }, 'tool_choice.tool.name: Field required'],
      [{ ...base, tools, tool_choice: { type: 'tool', name: 'g' } }, "tool_choice.tool.name: Tool 'g' not found in provided tools"],
      [{ ...base, thinking: { type: 'enabled', budget_tokens: 512 } }, 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024'],
      [{ ...base, thinking: { type: 'enabled', budget_tokens: 1024 } }, '`max_tokens` must be greater than `thinking.budget_tokens`.'],
      [{ ...base, thinking: { type: 'enabled' } }, 'thinking.enabled.budget_tokens: Field required'],
      [{ ...base, thinking: { budget_tokens: 2000 } }, "thinking: Unable to extract tag using discriminator 'type'"],
      [{ ...base, stop_sequences: 'END' }, 'stop_sequences: Input should be a valid list'],
      [{ ...base, stop_sequences: ['a', 2] }, 'stop_sequences.1: Input should be a valid string'],
      [{ ...base, max_tokens: '5' }, 'max_tokens: Input should be a valid integer'],
      [{ ...base, mock: { tool_calls: [{ name: 'f', arguments: '{}' }] } }, 'mock.tool_calls: only for OpenAI chat completions'],
      [{ ...base, mock: [] }, 'mock: expected an object'],
    ];
    for (const [body, want] of cases) {
      const r = await post(mock.url, '/v1/messages', body);
      assert.equal(r.status, 400, `${want}: ${r.text}`);
      assert.equal(r.json.type, 'error');
      assert.equal(r.json.error.type, 'invalid_request_error');
      assert.ok(r.json.error.message.startsWith(want), `want "${want}", got "${r.json.error.message}"`);
    }
  });
});

describe('sluice-mock: Anthropic with --require-key', { skip: MOCK ? false : 'SL_TEST_MOCK is not set' }, () => {
  test('only that key is accepted: x-api-key or bearer', async () => {
    const m = await startMock(['--require-key', 'sk-provider']);
    try {
      const wrong = new Anthropic({ apiKey: 'sk-other', baseURL: m.url, maxRetries: 0 });
      const err = await wrong.messages.create(base).then(() => assert.fail('resolved'), (e) => e);
      assert.ok(err instanceof Anthropic.AuthenticationError);
      assert.deepEqual(err.error.error, { type: 'authentication_error', message: 'invalid x-api-key' });
      const right = new Anthropic({ apiKey: 'sk-provider', baseURL: m.url, maxRetries: 0 });
      assert.equal((await right.messages.create(base)).type, 'message');
      assert.equal((await post(m.url, '/v1/messages', base, { 'x-api-key': 'sk-provider' })).status, 200);
      // x-api-key wins over a bearer token when both are sent.
      const both = await post(m.url, '/v1/messages', base, { 'x-api-key': 'sk-other', authorization: 'Bearer sk-provider' });
      assert.equal(both.status, 401);
    } finally {
      assert.equal((await m.stop()).code, 0);
    }
  });
});

describe('sluice-mock: OpenAI additions for translation tests', { skip: MOCK ? false : 'SL_TEST_MOCK is not set' }, () => {
  let mock;
  let openai;
  const chat = { model: 'gpt-mock', messages: [{ role: 'user', content: 'hi' }] };
  const calls = [
    { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' },
    { name: 'lookup', arguments: '{"q":"é"}', id: 'call_given' },
  ];

  before(async () => {
    mock = await startMock();
    openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${mock.url}/v1`, maxRetries: 0 });
  });

  after(async () => {
    assert.equal((await mock.stop()).code, 0);
  });

  test('tool_calls in a JSON reply: content null, finish_reason tool_calls', async () => {
    const r = await openai.chat.completions.create({ ...chat, mock: { tool_calls: calls } });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.content, null);
    assert.deepEqual(c.message.tool_calls, [
      { id: 'call_mock_0', type: 'function', function: calls[0] && { name: 'get_weather', arguments: calls[0].arguments } },
      { id: 'call_given', type: 'function', function: { name: 'lookup', arguments: calls[1].arguments } },
    ]);
    const both = await openai.chat.completions.create({ ...chat, mock: { tool_calls: calls, reply: 'Checking.' } });
    assert.equal(both.choices[0].message.content, 'Checking.');
    assert.equal(both.choices[0].message.tool_calls.length, 2);
  });

  test('tool_calls in a stream: the SDK helper accumulates them; the raw deltas have the real shape', async () => {
    const stream = openai.chat.completions.stream({ ...chat, stream_options: { include_usage: true }, mock: { tool_calls: calls } });
    const final = await stream.finalChatCompletion();
    const msg = final.choices[0].message;
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    assert.equal(msg.tool_calls.length, 2);
    assert.equal(msg.tool_calls[0].id, 'call_mock_0');
    assert.equal(msg.tool_calls[0].function.name, 'get_weather');
    assert.equal(msg.tool_calls[0].function.arguments, calls[0].arguments);
    assert.equal(msg.tool_calls[1].id, 'call_given');
    assert.equal(msg.tool_calls[1].function.arguments, calls[1].arguments);
    assert.ok(final.usage.completion_tokens > 0);

    const raw = await openai.chat.completions.create({ ...chat, stream: true, mock: { tool_calls: calls } });
    const deltas = [];
    for await (const chunk of raw) deltas.push(chunk.choices[0].delta);
    assert.deepEqual(deltas[0], { role: 'assistant', content: null, refusal: null });
    assert.deepEqual(deltas[1].tool_calls, [{ index: 0, id: 'call_mock_0', type: 'function', function: { name: 'get_weather', arguments: '' } }]);
    const args0 = deltas.filter((d) => d.tool_calls?.[0].index === 0 && !d.tool_calls[0].id);
    assert.ok(args0.length >= 2, `${args0.length} argument pieces`);
    for (const d of args0) assert.deepEqual(Object.keys(d.tool_calls[0]), ['index', 'function']);
    assert.equal(args0.map((d) => d.tool_calls[0].function.arguments).join(''), calls[0].arguments);
    assert.ok(deltas.some((d) => d.tool_calls?.[0].index === 1 && d.tool_calls[0].id === 'call_given'));
    assert.deepEqual(deltas.at(-1), {});
  });

  test('reasoning_content before the content, in JSON and in streams', async () => {
    const r = await openai.chat.completions.create({ ...chat, mock: { reasoning_content: 'Think first.', reply: 'Answer.' } });
    assert.equal(r.choices[0].message.reasoning_content, 'Think first.');
    assert.equal(r.choices[0].message.content, 'Answer.');
    const s = await openai.chat.completions.create({
      ...chat, stream: true, mock: { reasoning_content: 'Think first.', reply: 'Answer.', chunks: 3 },
    });
    const order = [];
    let reasoning = '';
    let content = '';
    for await (const chunk of s) {
      const d = chunk.choices[0]?.delta ?? {};
      if (d.reasoning_content !== undefined) { reasoning += d.reasoning_content; order.push('r'); }
      if (d.content) { content += d.content; order.push('c'); }
    }
    assert.equal(reasoning, 'Think first.');
    assert.equal(content, 'Answer.');
    assert.equal(order.join(''), 'rrrccc');
  });

  test('finish_reason overrides and token details', async () => {
    for (const reason of ['length', 'content_filter']) {
      const r = await openai.chat.completions.create({ ...chat, mock: { finish_reason: reason } });
      assert.equal(r.choices[0].finish_reason, reason);
      const f = await openai.chat.completions.stream({ ...chat, mock: { finish_reason: reason } }).finalChatCompletion();
      assert.equal(f.choices[0].finish_reason, reason);
    }
    const u = await openai.chat.completions.create({ ...chat, mock: { cached_tokens: 3, reasoning_tokens: 2 } });
    assert.equal(u.usage.prompt_tokens_details.cached_tokens, 3);
    assert.equal(u.usage.completion_tokens_details.reasoning_tokens, 2);
    const plain = await openai.chat.completions.create(chat);
    assert.equal('prompt_tokens_details' in plain.usage, false);
  });

  test('stream_error_after_chunks: an in-stream error event, then the end', async () => {
    const s = await openai.chat.completions.create({ ...chat, stream: true, mock: { chunks: 5, stream_error_after_chunks: 2 } });
    let content = '';
    const err = await (async () => {
      for await (const chunk of s) content += chunk.choices[0]?.delta?.content ?? '';
    })().then(() => assert.fail('resolved'), (e) => e);
    assert.ok(err instanceof OpenAI.APIError, err?.constructor?.name);
    assert.match(err.message, /server had an error/);
    assert.ok(content.length > 0);
    const raw = await fetch(`${mock.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: 'Bearer k' },
      body: JSON.stringify({ ...chat, stream: true, mock: { chunks: 5, stream_error_after_chunks: 2 } }),
    });
    const events = (await raw.text()).split('\n\n').filter(Boolean);
    assert.equal(events.length, 1 + 2 + 1);
    assert.deepEqual(JSON.parse(events.at(-1).slice(6)).error.type, 'server_error');
  });

  test('options of the other provider are refused', async () => {
    await assert.rejects(openai.chat.completions.create({ ...chat, mock: { thinking: 'x' } }),
      (e) => e instanceof OpenAI.BadRequestError && /mock\.thinking: only for Anthropic/.test(e.message));
    await assert.rejects(openai.completions.create({ model: 'm', prompt: 'p', mock: { tool_calls: calls } }),
      (e) => e instanceof OpenAI.BadRequestError && /mock\.tool_calls: only for chat completions/.test(e.message));
  });
});
