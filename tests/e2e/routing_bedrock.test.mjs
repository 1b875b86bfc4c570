// Amazon Bedrock targets on the routed pipeline, against the project mock (which checks every
// Bedrock request's SigV4 signature with its own verifier):
// - a group whose Bedrock target fails (JSON, and a stream refused before its first event) fails
//   over to an OpenAI target, and the caller gets the OpenAI answer;
// - the same group's stream served by the Bedrock target: its 200 is held until the first AWS
//   event stream message (decoded from frames split across writes), then relayed as SSE;
// - an OpenAI target that fails over to the Bedrock one: one caller stream, two framings;
// - /v1/responses callers on a Bedrock model, composed Responses -> chat -> Converse (JSON and
//   stream), directly and through the group.
//
// Every target is on one mock: {fail_first: 1, tag} fails exactly the first attempt of a
// request, whichever target makes it. Cooldowns are off so scenarios cannot steer each other.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { startMock, startSluice, baseConfig, tempDir, teardown } from './lib/harness.mjs';
import { call } from './lib/fleet.mjs';
import { sha256 } from './lib/gateway.mjs';

const KEY = 'sk-caller-routing-bedrock-0123';
const AKID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const CLAUDE_ID = 'us.anthropic.claude-3-5-sonnet-20241022-v2:0';
const CONVERSE = '/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse';
const NO_COOLDOWN = '{"enabled": false}';
let mock, s;

before(async () => {
  mock = await startMock(['--aws-key', `${AKID}:${SECRET}`]);
  const dir = tempDir();
  const creds = JSON.stringify({ access_key_id: AKID, secret_access_key: SECRET, region: 'us-west-2' });
  const model = (name, key, upstream) =>
    `  - display_name: ${name}\n    provider_key: ${key}\n    model_name: ${upstream}\n    cooldown: ${NO_COOLDOWN}\n`;
  const group = (name, targets) =>
    `  - display_name: ${name}\n    routing: ${JSON.stringify({ targets: targets.map((m) => ({ model: m })) })}\n`;
  writeFileSync(dir.path('resources.yaml'), `_format_version: "1"
provider_keys:
  - display_name: aws
    provider: bedrock
    api_key: '${creds}'
    api_base: ${mock.base}
  - display_name: oa
    provider: openai
    api_key: sk-upstream
    api_base: ${mock.base}/v1
models:
${model('b-a', 'aws', CLAUDE_ID)}${model('o-b', 'oa', 'gpt-4o-mini')}${group('bed-first', ['b-a', 'o-b'])}\
${model('o-c', 'oa', 'gpt-4o-mini')}${model('b-d', 'aws', CLAUDE_ID)}${group('oa-first', ['o-c', 'b-d'])}\
api_keys:
  - display_name: caller
    key_hash: ${sha256(KEY)}
    allowed_models: ["*"]
`);
  s = await startSluice({ config: baseConfig({ metrics: true }) + `resources_file: ${dir.path('resources.yaml')}\n`, dir });
});

after(() => teardown(
  async () => assert.equal((await s?.stop())?.code, 0, 'sluice ran to the end'),
  () => mock?.stop(),
));

const post = (path, body) => call(s.port, path, { body: JSON.stringify(body), key: KEY });
const chat = (model, extra = {}) => post('/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hi' }], ...extra });
const served = (r) => r.headers['x-sluice-served-by'];
const failFirst = (tag, opts) => ({ mock: { fail_first: 1, tag, ...opts } });
const paths = async () => (await mock.requests()).map((r) => r.path);

async function accessLine(r) {
  const id = r.headers['x-request-id'];
  const m = await s.waitFor(new RegExp(`INFO  access .*request_id="${id}".*\\n`), `the access line of ${id}`);
  return m[0];
}
const attemptsOf = (line) => line.match(/ attempts="([^"]*)"/)[1].split(', ').map((a) => a.replace(/ \d+ms$/, ''));

// The data of each event of an SSE body, [DONE] left out.
const dataOf = (text) => text.split('\n\n').map((e) => e.match(/^data: (.*)$/m)?.[1])
  .filter((d) => d !== undefined && d !== '[DONE]').map((d) => JSON.parse(d));
const eventsOf = (text) => text.split('\n\n').filter(Boolean).map((e) => e.match(/^event: (.*)$/m)?.[1]);

test('a Bedrock target that fails over to an OpenAI target: chat JSON and stream', async () => {
  await mock.reset();
  let r = await chat('bed-first', failFirst('bf-json', { status: 500, reply: 'from openai' }));
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'o-b');
  const body = JSON.parse(r.text);
  assert.equal(body.model, 'bed-first');
  assert.equal(body.choices[0].message.content, 'from openai');
  assert.deepEqual(await paths(), [CONVERSE, '/v1/chat/completions']);
  assert.deepEqual(attemptsOf(await accessLine(r)), ['b-a 500', 'o-b 200']);
  // the Bedrock attempt was signed (the mock refuses an unsigned one with a 403, not a 500)
  assert.match((await mock.requests())[0].headers.authorization, /^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\//);

  // A stream's 200 waits for its first event while another target is queued: Bedrock's
  // ServiceUnavailableException (503) fails over, and the caller sees one clean SSE stream.
  await mock.reset();
  r = await chat('bed-first', { stream: true, stream_options: { include_usage: true },
    ...failFirst('bf-stream', { status: 503, reply: 'a b c', chunks: 3 }) });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'o-b');
  assert.match(r.text, /data: \[DONE\]\n\n$/);
  const chunks = dataOf(r.text);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'a b c');
  assert.ok(chunks.every((c) => c.model === 'bed-first'));
  assert.deepEqual(await paths(), [`${CONVERSE}-stream`, '/v1/chat/completions']);
  assert.deepEqual(attemptsOf(await accessLine(r)), ['b-a 503', 'o-b 200']);
});

test('the group\'s stream served by its Bedrock target: held until the first event stream message, then relayed', async () => {
  await mock.reset();
  const r = await chat('bed-first', { stream: true, stream_options: { include_usage: true },
    mock: { chunks: 4, chunk_text: 'ab', split_writes: true, input_tokens: 9, output_tokens: 4 } });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'b-a');
  assert.match(r.headers['content-type'], /^text\/event-stream/);
  assert.match(r.text, /data: \[DONE\]\n\n$/);
  const chunks = dataOf(r.text);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'abababab');
  assert.equal(chunks.filter((c) => c.choices[0]?.finish_reason === 'stop').length, 1);
  assert.deepEqual(chunks.at(-1).usage, { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13, prompt_tokens_details: { cached_tokens: 0 } });
  assert.deepEqual(await paths(), [`${CONVERSE}-stream`]);
  assert.deepEqual(attemptsOf(await accessLine(r)), ['b-a 200']);
});

test('an OpenAI target that fails over to a Bedrock one: the caller\'s stream comes from AWS event stream frames', async () => {
  await mock.reset();
  const r = await chat('oa-first', { stream: true, ...failFirst('of-stream', { status: 500, chunks: 2, chunk_text: 'xy' }) });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'b-d');
  assert.match(r.text, /data: \[DONE\]\n\n$/);
  const chunks = dataOf(r.text);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'xyxy');
  assert.ok(chunks.every((c) => c.model === 'oa-first'));
  assert.deepEqual(await paths(), ['/v1/chat/completions', `${CONVERSE}-stream`]);
  assert.deepEqual(attemptsOf(await accessLine(r)), ['o-c 500', 'b-d 200']);
});

test('Responses callers on a Bedrock model: Responses -> chat -> Converse, JSON and stream', async () => {
  await mock.reset();
  let r = await post('/v1/responses', { model: 'b-a', instructions: 'Be brief.', input: 'hi', max_output_tokens: 40,
    mock: { reply: 'Hello from Bedrock', input_tokens: 7, output_tokens: 3 } });
  assert.equal(r.status, 200, r.text);
  const body = JSON.parse(r.text);
  assert.equal(body.object, 'response');
  assert.equal(body.model, 'b-a');
  assert.equal(body.status, 'completed');
  assert.equal(body.output.find((o) => o.type === 'message').content[0].text, 'Hello from Bedrock');
  assert.equal(body.usage.input_tokens, 7);
  assert.equal(body.usage.output_tokens, 3);
  const [up] = await mock.requests();
  assert.equal(up.path, CONVERSE);
  const sent = JSON.parse(up.body);
  assert.deepEqual(sent.system, [{ text: 'Be brief.' }]);
  assert.deepEqual(sent.messages, [{ role: 'user', content: [{ text: 'hi' }] }]);
  assert.equal(sent.inferenceConfig.maxTokens, 40);

  await mock.reset();
  r = await post('/v1/responses', { model: 'b-a', input: 'hi', stream: true, mock: { chunks: 3, chunk_text: 'z', split_writes: true } });
  assert.equal(r.status, 200, r.text);
  const events = eventsOf(r.text);
  assert.equal(events[0], 'response.created');
  assert.equal(events.at(-1), 'response.completed');
  const done = JSON.parse(r.text.split('\n\n').filter(Boolean).at(-1).match(/^data: (.*)$/m)[1]);
  assert.equal(done.response.model, 'b-a');
  assert.equal(done.response.output[0].content[0].text, 'zzz');
  assert.deepEqual(await paths(), [`${CONVERSE}-stream`]);
});

test('a Responses caller on the group: the Bedrock target fails, the OpenAI one serves /responses as it is', async () => {
  await mock.reset();
  const r = await post('/v1/responses', { model: 'bed-first', input: 'hi', ...failFirst('bf-resp', { status: 500, reply: 'hallo' }) });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'o-b');
  const body = JSON.parse(r.text);
  assert.equal(body.model, 'bed-first');
  assert.equal(body.output.find((o) => o.type === 'message').content[0].text, 'hallo');
  assert.deepEqual(await paths(), [CONVERSE, '/v1/responses']);
  assert.deepEqual(attemptsOf(await accessLine(r)), ['b-a 500', 'o-b 200']);
});
