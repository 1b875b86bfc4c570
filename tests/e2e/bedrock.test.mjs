// Amazon Bedrock upstreams through Sluice, with the official SDKs against the project mock, which
// checks every request's SigV4 signature with its own verifier (tests/mock/aws_sigv4.c, not
// Sluice's signer), validates Converse and Claude InvokeModel bodies as Bedrock does, and streams
// AWS event stream frames:
// - OpenAI SDK callers: Converse and ConverseStream (text, tools, images, reasoning, errors,
//   split frames, an exception frame, a bad CRC), embeddings from Titan and Cohere;
// - Claude SDK callers reaching Claude: InvokeModel and InvokeModelWithResponseStream;
// - the credential forms: long-term keys, session tokens, Bedrock API keys (bearer), a wrong
//   secret, and a clock outside AWS's 5-minute window.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startMock, startSluice, baseConfig, tempDir, teardown, scrapeMetrics } from './lib/harness.mjs';
import { sha256 } from './lib/gateway.mjs';

const KEY = 'sk-caller-bedrock-0123456789';
const AKID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const STS_AKID = 'ASIAIOSFODNN7EXAMPLE';
const STS_SECRET = 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY';
const TOKEN = 'IQoJb3JpZ2luX2VjEXAMPLEtoken/fake+session=';
const BEARER = 'ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl';
const CLAUDE_ID = 'us.anthropic.claude-3-5-sonnet-20241022-v2:0';
let mock, skewed, s, oai, claude;

const creds = (akid, secret, extra = {}) => `'${JSON.stringify({ access_key_id: akid, secret_access_key: secret, region: 'us-west-2', ...extra })}'`;

before(async () => {
  mock = await startMock(['--aws-key', `${AKID}:${SECRET}`, '--aws-key', `${STS_AKID}:${STS_SECRET}:${TOKEN}`,
    '--require-key', BEARER]);
  // The same credentials, but the mock's clock is 15 minutes ahead of Sluice's.
  skewed = await startMock(['--aws-key', `${AKID}:${SECRET}`, '--clock-skew-secs', '900']);
  const dir = tempDir();
  writeFileSync(dir.path('resources.yaml'), `_format_version: "1"
provider_keys:
  - display_name: aws
    provider: bedrock
    api_key: ${creds(AKID, SECRET)}
    api_base: ${mock.base}
  - display_name: sts
    adapter: bedrock
    api_key: ${creds(STS_AKID, STS_SECRET, { session_token: TOKEN })}
    api_base: ${mock.base}/
  - display_name: apikey
    provider: bedrock
    api_key: ${BEARER}
    api_base: ${mock.base}
  - display_name: wrong
    provider: bedrock
    api_key: ${creds(AKID, 'not-the-secret')}
    api_base: ${mock.base}
  - display_name: skewed
    provider: bedrock
    api_key: ${creds(AKID, SECRET)}
    api_base: ${skewed.base}
models:
  - display_name: claude
    provider_key: aws
    model_name: ${CLAUDE_ID}
  - display_name: llama
    provider_key: sts
    model_name: meta.llama3-3-70b-instruct-v1:0
  - display_name: nova
    provider_key: apikey
    model_name: amazon.nova-pro-v1:0
  - display_name: wrong
    provider_key: wrong
    model_name: meta.llama3-3-70b-instruct-v1:0
  - display_name: skewed
    provider_key: skewed
    model_name: meta.llama3-3-70b-instruct-v1:0
  - display_name: titan
    provider_key: aws
    model_name: amazon.titan-embed-text-v2:0
  - display_name: cohere
    provider_key: aws
    model_name: cohere.embed-english-v3
api_keys:
  - display_name: caller
    key_hash: ${sha256(KEY)}
    allowed_models: ["*"]
`);
  s = await startSluice({ config: baseConfig({ metrics: true }) + `resources_file: ${dir.path('resources.yaml')}\n`, dir });
  oai = new OpenAI({ baseURL: `http://127.0.0.1:${s.port}/v1`, apiKey: KEY, maxRetries: 0 });
  claude = new Anthropic({ baseURL: `http://127.0.0.1:${s.port}`, apiKey: KEY, maxRetries: 0 });
});

after(() => teardown(() => s?.stop(), () => mock?.stop(), () => skewed?.stop()));

const user = (content) => ({ role: 'user', content });
const chat = (model, extra = {}) => ({ model, messages: [user('Hello')], ...extra });

async function lastUpstream(m = mock) {
  const reqs = await m.requests();
  return reqs[reqs.length - 1];
}

test('OpenAI SDK, JSON: Converse with a signed request, the model id encoded in the path', async () => {
  await mock.reset();
  const r = await oai.chat.completions.create(chat('claude', {
    messages: [{ role: 'system', content: 'Be brief.' }, user('Hi')], max_tokens: 50, temperature: 0.5,
    stop: ['END'], mock: { reply: 'Hello there', input_tokens: 12, output_tokens: 3, cache_read_input_tokens: 4 },
  }));
  assert.equal(r.model, 'claude');
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.content, 'Hello there');
  assert.equal(r.choices[0].finish_reason, 'stop');
  // inputTokens leaves the cached tokens out, as Anthropic's input_tokens does
  assert.deepEqual(r.usage, { prompt_tokens: 16, completion_tokens: 3, total_tokens: 19, prompt_tokens_details: { cached_tokens: 4 } });
  const up = await lastUpstream();
  assert.equal(up.path, '/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse');
  assert.match(up.headers.authorization, new RegExp(`^AWS4-HMAC-SHA256 Credential=${AKID}/\\d{8}/us-west-2/bedrock/aws4_request, SignedHeaders=accept;content-type;host;x-amz-date, Signature=[0-9a-f]{64}$`));
  // the shared head's Accept is signed with the value sent
  assert.equal(up.headers.accept, 'application/json');
  assert.match(up.headers['x-amz-date'], /^\d{8}T\d{6}Z$/);
  assert.equal(up.headers['x-amz-security-token'], undefined);
  const sent = JSON.parse(up.body);
  assert.deepEqual(sent.system, [{ text: 'Be brief.' }]);
  assert.deepEqual(sent.messages, [{ role: 'user', content: [{ text: 'Hi' }] }]);
  assert.deepEqual(sent.inferenceConfig, { maxTokens: 50, temperature: 0.5, stopSequences: ['END'] });
  assert.equal(sent.model, undefined);
  assert.equal(sent.additionalModelRequestFields.mock.reply, 'Hello there', 'unknown fields go to additionalModelRequestFields');
});

test('OpenAI SDK, stream: ConverseStream frames split across reads become chunks, usage included', async () => {
  const m0 = await scrapeMetrics(s);
  const stream = await oai.chat.completions.create(chat('llama', {
    stream: true, stream_options: { include_usage: true },
    mock: { chunks: 5, chunk_text: 'ab', split_writes: true, input_tokens: 9, output_tokens: 5 },
  }));
  let text = '', finish = null, usage = null, chunks = 0;
  for await (const c of stream) {
    chunks++;
    assert.equal(c.model, 'llama');
    if (c.choices[0]?.delta?.content) text += c.choices[0].delta.content;
    if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
    if (c.usage) usage = c.usage;
  }
  assert.equal(text, 'ababababab');
  assert.equal(finish, 'stop');
  assert.equal(usage.prompt_tokens, 9);
  assert.equal(usage.completion_tokens, 5);
  assert.equal(chunks, 1 + 5 + 1 + 1);
  const up = await lastUpstream();
  assert.equal(up.path, '/model/meta.llama3-3-70b-instruct-v1%3A0/converse-stream');
  // the session token is sent and signed
  assert.equal(up.headers['x-amz-security-token'], TOKEN);
  assert.match(up.headers.authorization, /SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token,/);
  assert.equal(up.headers.accept, 'application/vnd.amazon.eventstream');
  const m1 = await scrapeMetrics(s);
  const d = (k) => (m1.get(k) ?? 0) - (m0.get(k) ?? 0);
  assert.equal(d('sluice_tokens_total{key="caller",model="llama",type="prompt"}'), 9);
  assert.equal(d('sluice_tokens_total{key="caller",model="llama",type="completion"}'), 5);
});

const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

test('OpenAI SDK, tools: toolConfig out, toolUse back as tool_calls (JSON and stream), results as toolResult', async () => {
  const input = { city: 'Lyon' };
  const r = await oai.chat.completions.create(chat('claude', {
    tools, tool_choice: { type: 'function', function: { name: 'get_weather' } },
    mock: { tool_use: { name: 'get_weather', input, id: 'tooluse_1' } },
  }));
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.equal(r.choices[0].message.content, null);
  const call = r.choices[0].message.tool_calls[0];
  assert.equal(call.id, 'tooluse_1');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), input);
  const sent = JSON.parse((await lastUpstream()).body);
  assert.deepEqual(sent.toolConfig, {
    tools: [{ toolSpec: { name: 'get_weather', description: 'Weather now', inputSchema: { json: tools[0].function.parameters } } }],
    toolChoice: { tool: { name: 'get_weather' } },
  });
  // streamed: the arguments arrive in pieces and join to the input
  const stream = await oai.chat.completions.create(chat('claude', { tools, stream: true, mock: { tool_use: { name: 'get_weather', input } } }));
  let args = '', name = null, finish = null;
  for await (const c of stream) {
    const tc = c.choices[0]?.delta?.tool_calls?.[0];
    if (tc?.function?.name) name = tc.function.name;
    if (tc?.function?.arguments) args += tc.function.arguments;
    if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
  }
  assert.equal(name, 'get_weather');
  assert.deepEqual(JSON.parse(args), input);
  assert.equal(finish, 'tool_calls');
  // the next turn: the mock refuses a toolResult that answers no toolUse, as Bedrock does
  const again = await oai.chat.completions.create({
    model: 'claude', tools,
    messages: [user('Weather?'), r.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '21 C' }],
    mock: { reply: 'It is 21 C.' },
  });
  assert.equal(again.choices[0].message.content, 'It is 21 C.');
  const turn = JSON.parse((await lastUpstream()).body).messages;
  assert.deepEqual(turn[1], { role: 'assistant', content: [{ toolUse: { toolUseId: 'tooluse_1', name: 'get_weather', input } }] });
  assert.deepEqual(turn[2], { role: 'user', content: [{ toolResult: { toolUseId: 'tooluse_1', content: [{ text: '21 C' }] } }] });
  // a tool history without tools is a clear 400 before anything is sent
  await assert.rejects(oai.chat.completions.create({ model: 'claude', messages: [user('x'), r.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '21 C' }] }),
    (e) => e.status === 400 && /tools: required by Bedrock Converse/.test(e.message));
});

test('OpenAI SDK, images and reasoning: data URLs become image bytes; reasoning_effort becomes Claude thinking', async () => {
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
  const r = await oai.chat.completions.create(chat('claude', {
    messages: [user([{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } }])],
    reasoning_effort: 'high', max_completion_tokens: 8192,
    mock: { thinking: 'A tiny picture.', reply: 'A pixel.' },
  }));
  assert.equal(r.choices[0].message.content, 'A pixel.');
  assert.equal(r.choices[0].message.reasoning_content, 'A tiny picture.');
  const sent = JSON.parse((await lastUpstream()).body);
  assert.deepEqual(sent.messages[0].content[1], { image: { format: 'png', source: { bytes: png } } });
  assert.deepEqual(sent.additionalModelRequestFields.thinking, { type: 'enabled', budget_tokens: 4096 });
  assert.equal(sent.inferenceConfig.maxTokens, 8192);
  // an http URL cannot reach Bedrock: a 400 that says so
  await assert.rejects(oai.chat.completions.create(chat('claude', { messages: [user([{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }])] })),
    (e) => e.status === 400 && /Bedrock takes images as bytes/.test(e.message));
});

test('errors: x-amzn-ErrorType mapped to statuses and codes; ModelNotReady retried; signature and clock problems said plainly', async () => {
  const cases = [
    [{ status: 429 }, OpenAI.RateLimitError, 429, 'ThrottlingException'],
    [{ status: 400, error_message: 'messages: bad' }, OpenAI.BadRequestError, 400, 'ValidationException'],
    [{ status: 403, error_type: 'AccessDeniedException' }, OpenAI.PermissionDeniedError, 403, 'AccessDeniedException'],
    [{ status: 403, error_type: 'UnrecognizedClientException' }, OpenAI.AuthenticationError, 401, 'UnrecognizedClientException'],
    [{ status: 404, error_type: 'ResourceNotFoundException' }, OpenAI.NotFoundError, 404, 'ResourceNotFoundException'],
    [{ status: 503 }, OpenAI.InternalServerError, 502, undefined],
  ];
  for (const [m, cls, status, code] of cases) {
    await assert.rejects(oai.chat.completions.create(chat('claude', { mock: m })), (e) => {
      assert.ok(e instanceof cls, `${JSON.stringify(m)}: ${e.constructor.name}`);
      assert.equal(e.status, status);
      if (code) assert.equal(e.code, code);
      return true;
    });
  }
  // ModelNotReadyException comes as 429 but is worth a retry: the second attempt succeeds
  await mock.reset();
  const ok = await oai.chat.completions.create(chat('claude', { mock: { status: 429, error_type: 'ModelNotReadyException', fail_first: 1, tag: 'nr', reply: 'ready' } }));
  assert.equal(ok.choices[0].message.content, 'ready');
  assert.equal((await mock.requests()).length, 2);
  // a wrong secret: the mock's own verifier refuses the signature, as AWS would
  await assert.rejects(oai.chat.completions.create(chat('wrong')), (e) => {
    assert.equal(e.status, 403);
    assert.equal(e.code, 'InvalidSignatureException');
    assert.match(e.message, /^403 The request signature we calculated does not match/);
    return true;
  });
  // Sluice's clock 15 minutes behind AWS's: refused, and the caller is told why in plain words
  await assert.rejects(oai.chat.completions.create(chat('skewed')), (e) => {
    assert.equal(e.status, 403);
    assert.equal(e.code, 'InvalidSignatureException');
    assert.match(e.message, /clock of the host running Sluice differs from AWS's by more than 5 minutes/);
    return true;
  });
});

test('stream failures: an exception frame is the caller\'s error; a bad CRC ends the stream and is counted', async () => {
  const m0 = await scrapeMetrics(s);
  const stream = await oai.chat.completions.create(chat('claude', { stream: true, mock: { chunks: 4, stream_error_after_chunks: 2, error_type: 'throttlingException', error_message: 'Too many tokens' } }));
  let text = '';
  await assert.rejects(async () => {
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  }, (e) => /Too many tokens/.test(e.message));
  assert.ok(text.length > 0, 'the deltas before the exception arrived');
  const bad = await oai.chat.completions.create(chat('claude', { stream: true, mock: { chunks: 4, corrupt_crc_after_chunks: 1, split_writes: true } }));
  await assert.rejects(async () => {
    for await (const c of bad) void c;
  }, (e) => /upstream event stream is corrupt: message \d+ at offset \d+: message CRC/.test(e.message));
  const m1 = await scrapeMetrics(s);
  const d = (k) => (m1.get(k) ?? 0) - (m0.get(k) ?? 0);
  assert.equal(d('sluice_upstream_errors_total{model="claude",kind="eventstream_crc"}'), 1);
});

test('Claude SDK to Claude: InvokeModel with Anthropic\'s own body, bedrock-2023-05-31 and the betas', async () => {
  const msg = await claude.messages.create({
    model: 'claude', max_tokens: 64, messages: [user('Hi')], top_k: 5,
    mock: { reply: 'Bonjour', cache_read_input_tokens: 2 },
  }, { headers: { 'anthropic-beta': 'token-efficient-tools-2025-02-19, interleaved-thinking-2025-05-14' } });
  assert.equal(msg.model, 'claude');
  assert.deepEqual(msg.content, [{ type: 'text', text: 'Bonjour' }]);
  assert.equal(msg.usage.cache_read_input_tokens, 2);
  const up = await lastUpstream();
  assert.equal(up.path, `/model/${encodeURIComponent(CLAUDE_ID)}/invoke`);
  assert.equal(up.headers.accept, 'application/json');
  assert.match(up.headers.authorization, /SignedHeaders=accept;content-type;host;x-amz-date,/);
  const sent = JSON.parse(up.body);
  assert.equal(sent.model, undefined);
  assert.equal(sent.stream, undefined);
  assert.equal(sent.anthropic_version, 'bedrock-2023-05-31');
  assert.deepEqual(sent.anthropic_beta, ['token-efficient-tools-2025-02-19', 'interleaved-thinking-2025-05-14']);
  assert.equal(sent.top_k, 5, 'Anthropic-native fields survive');
});

test('Claude SDK to Claude, stream: base64 chunks decoded into Anthropic events, thinking and tools intact', async () => {
  const m0 = await scrapeMetrics(s);
  const input = { city: 'Lyon' };
  const events = [];
  const stream = claude.messages.stream({
    model: 'claude', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [user('Weather?')],
    tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
    mock: { chunks: 3, thinking: 'Lyon it is.', tool_use: { name: 'get_weather', input }, input_tokens: 21, output_tokens: 7, split_writes: true },
  });
  stream.on('streamEvent', (e) => events.push(e.type));
  const final = await stream.finalMessage();
  assert.equal(final.model, 'claude');
  assert.equal(final.stop_reason, 'tool_use');
  assert.equal(final.content[0].type, 'thinking');
  assert.equal(final.content[0].thinking, 'Lyon it is.');
  assert.ok(final.content[0].signature.length > 0);
  assert.deepEqual(final.content.find((b) => b.type === 'tool_use').input, input);
  assert.equal(events[0], 'message_start');
  assert.equal(events.at(-1), 'message_stop');
  assert.equal(events.filter((e) => e === 'message_stop').length, 1);
  const up = await lastUpstream();
  assert.equal(up.path, `/model/${encodeURIComponent(CLAUDE_ID)}/invoke-with-response-stream`);
  assert.equal(up.headers['x-amzn-bedrock-accept'], 'application/json');
  const m1 = await scrapeMetrics(s);
  const d = (k) => (m1.get(k) ?? 0) - (m0.get(k) ?? 0);
  assert.equal(d('sluice_tokens_total{key="caller",model="claude",type="prompt"}'), 21);
  assert.equal(d('sluice_tokens_total{key="caller",model="claude",type="completion"}'), 7);
  // an exception frame ends the Claude SDK's stream with Anthropic's error
  const r = await fetch(`http://127.0.0.1:${s.port}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude', max_tokens: 64, stream: true, messages: [user('Hi')], mock: { chunks: 4, stream_error_after_chunks: 1, error_type: 'serviceUnavailableException' } }),
  });
  const text = await r.text();
  assert.match(text, /event: error\ndata: \{"type":"error","error":\{"type":"overloaded_error","message":"sluice-mock: injected stream error"\}\}\n\n$/);
  assert.ok(!text.includes('message_stop'));
});

test('a Bedrock API key goes as a bearer token, unsigned', async () => {
  const r = await oai.chat.completions.create(chat('nova', { mock: { reply: 'nova here' } }));
  assert.equal(r.choices[0].message.content, 'nova here');
  const up = await lastUpstream();
  assert.equal(up.path, '/model/amazon.nova-pro-v1%3A0/converse');
  assert.equal(up.headers.authorization, `Bearer ${BEARER}`);
  assert.equal(up.headers['x-amz-date'], undefined);
});

test('embeddings: Titan and Cohere through InvokeModel, in OpenAI\'s shape (base64 as the SDK asks)', async () => {
  const t = await oai.embeddings.create({ model: 'titan', input: 'hello', dimensions: 256 });
  assert.equal(t.model, 'titan');
  assert.equal(t.data.length, 1);
  assert.equal(t.data[0].embedding.length, 256);
  assert.ok(t.usage.prompt_tokens > 0);
  let up = await lastUpstream();
  assert.equal(up.path, '/model/amazon.titan-embed-text-v2%3A0/invoke');
  assert.deepEqual(JSON.parse(up.body), { inputText: 'hello', dimensions: 256 });
  const floats = await oai.embeddings.create({ model: 'cohere', input: ['a', 'b', 'c'], encoding_format: 'float' });
  assert.deepEqual(floats.data.map((d) => d.index), [0, 1, 2]);
  up = await lastUpstream();
  assert.deepEqual(JSON.parse(up.body), { texts: ['a', 'b', 'c'], input_type: 'search_document' });
  const b64 = await oai.embeddings.create({ model: 'cohere', input: ['a', 'b', 'c'] });
  for (let i = 0; i < 3; i++) {
    assert.equal(b64.data[i].embedding.length, floats.data[i].embedding.length);
    b64.data[i].embedding.forEach((x, j) => assert.ok(Math.abs(x - floats.data[i].embedding[j]) < 1e-6));
  }
  await assert.rejects(oai.embeddings.create({ model: 'titan', input: ['a', 'b'] }),
    (e) => e.status === 400 && /Titan Text Embeddings embed one text per request/.test(e.message));
});

test('no AWS secret or Bedrock API key reaches Sluice\'s log', async () => {
  const log = s.log();
  for (const secret of [SECRET, STS_SECRET, TOKEN, BEARER]) assert.ok(!log.includes(secret), 'a secret in the log');
});
