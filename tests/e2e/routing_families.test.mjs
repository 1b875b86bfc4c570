// Model groups with Gemini, Vertex AI and Azure OpenAI targets, against the project mock:
// - a Gemini target that fails (JSON and streams) fails over to an OpenAI target, and the caller
//   gets the OpenAI answer in its own dialect (chat, Anthropic, Responses);
// - a Vertex target whose service account the token endpoint refuses fails over too (the attempt
//   is logged as "token"), and alone it is a 502 naming the token endpoint's error;
// - an Azure target with an Entra ID credential serves as a group's second target;
// - background checks of Vertex targets get their access token as requests do (service account
//   and static token).
//
// Every target is on one mock: {fail_first: 1, tag} fails exactly the first attempt of a
// request, whichever target makes it. Cooldowns are off so scenarios cannot steer each other.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startMock, startSluice, baseConfig, tempDir, teardown, run, eventually } from './lib/harness.mjs';
import { call } from './lib/fleet.mjs';
import { sha256, UPSTREAM_KEY } from './lib/gateway.mjs';

const KEY = 'sk-caller-routing-families-0123';
const NO_COOLDOWN = '{"enabled": false}';
const CHECK = '{"enabled": true, "interval_seconds": 3600, "timeout_seconds": 5, "prompt": "ping", "max_tokens": 1, "stale_after_seconds": 3600}';
let mock, s, dir, oai, claude;

async function keyPair(name) {
  const key = dir.path(`${name}.pem`), pub = dir.path(`${name}.pub.pem`);
  let r = await run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key]);
  assert.equal(r.code, 0, r.stderr);
  r = await run('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);
  assert.equal(r.code, 0, r.stderr);
  return { key: readFileSync(key, 'utf8'), pub };
}

const serviceAccount = (privateKey, tokenUri) => JSON.stringify({
  type: 'service_account', project_id: 'proj-rf', private_key_id: 'k1', private_key: privateKey,
  client_email: 'sluice@proj-rf.iam.gserviceaccount.com', client_id: '1', token_uri: tokenUri,
  region: 'us-central1',
}).replace(/'/g, "''");

before(async () => {
  dir = tempDir();
  const good = await keyPair('sa');
  const other = await keyPair('other');
  mock = await startMock(['--require-key', UPSTREAM_KEY, '--oauth-public-key', good.pub,
    '--static-token', 'static-check-token', '--entra-client', 'cid:csecret']);
  const entra = JSON.stringify({ tenant_id: 'contoso.onmicrosoft.com', client_id: 'cid', client_secret: 'csecret', authority_host: mock.base });
  const model = (name, key, upstream, extra = '') =>
    `  - display_name: ${name}\n    provider_key: ${key}\n    model_name: ${upstream}\n    cooldown: ${NO_COOLDOWN}\n${extra}`;
  const group = (name, targets) =>
    `  - display_name: ${name}\n    routing: ${JSON.stringify({ targets: targets.map((m) => ({ model: m })) })}\n`;
  writeFileSync(dir.path('resources.yaml'), `_format_version: "1"
provider_keys:
  - display_name: gem
    provider: gemini
    api_key: ${UPSTREAM_KEY}
    api_base: ${mock.base}/v1beta
  - display_name: oa
    provider: openai
    api_key: ${UPSTREAM_KEY}
    api_base: ${mock.base}/v1
  - display_name: vx-sa
    provider: vertex
    api_key: '${serviceAccount(good.key, `${mock.base}/token`)}'
    api_base: ${mock.base}
  - display_name: vx-refused
    provider: vertex
    api_key: '${serviceAccount(other.key, `${mock.base}/token`)}'
    api_base: ${mock.base}
  - display_name: vx-static
    provider: vertex
    api_key: '{"access_token": "static-check-token", "project": "proj-static", "region": "europe-west4"}'
    api_base: ${mock.base}
  - display_name: az-entra
    provider: azure-openai
    api_key: '${entra}'
    api_base: ${mock.base}
models:
${model('g-a', 'gem', 'gemini-2.5-flash')}${model('o-b', 'oa', 'gpt-4o-mini')}${group('gem-first', ['g-a', 'o-b'])}\
${model('vx-a', 'vx-refused', 'gemini-2.5-flash')}${model('o-c', 'oa', 'gpt-4o-mini')}${group('token-first', ['vx-a', 'o-c'])}\
${model('g-d', 'gem', 'gemini-2.5-flash')}${model('az-e', 'az-entra', 'gpt4o-aad')}${group('gem-azure', ['g-d', 'az-e'])}\
${model('o-f', 'oa', 'gpt-4o-mini')}${model('g-g', 'gem', 'gemini-2.5-pro')}${group('oa-first', ['o-f', 'g-g'])}\
${model('chk-sa', 'vx-sa', 'gemini-2.5-pro', `    background_model_check: ${CHECK}\n`)}\
${model('chk-static', 'vx-static', 'claude-sonnet-4@20250514', `    background_model_check: ${CHECK}\n`)}\
${group('checked', ['chk-sa', 'chk-static'])}\
api_keys:
  - display_name: caller
    key_hash: ${sha256(KEY)}
    allowed_models: ["*"]
`);
  s = await startSluice({ config: baseConfig({ metrics: true }) + `resources_file: ${dir.path('resources.yaml')}\n`, dir });
  oai = new OpenAI({ baseURL: `http://127.0.0.1:${s.port}/v1`, apiKey: KEY, maxRetries: 0 });
  claude = new Anthropic({ baseURL: `http://127.0.0.1:${s.port}`, apiKey: KEY, maxRetries: 0 });
});

after(() => teardown(
  async () => assert.equal((await s?.stop())?.code, 0, 'sluice ran to the end'),
  () => mock?.stop(),
));

const post = (path, body) => call(s.port, path, { body: JSON.stringify(body), key: KEY });
const chat = (model, extra = {}) => post('/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hi' }], ...extra });
const served = (r) => r.headers['x-sluice-served-by'];
const failFirst = (tag, opts) => ({ mock: { fail_first: 1, tag, ...opts } });
// The requests a test's calls made: token fetches and background checks left out.
const paths = async () => (await mock.requests())
  .filter((r) => !r.path.startsWith('/token') && !r.path.includes('/oauth2/') &&
    r.headers['x-request-id'] !== 'background-model-check')
  .map((r) => r.path);

async function accessLine(r) {
  const id = r.headers['x-request-id'];
  const m = await s.waitFor(new RegExp(`INFO  access .*request_id="${id}".*\\n`), `the access line of ${id}`);
  return m[0];
}
const attemptsOf = (line) => line.match(/ attempts="([^"]*)"/)[1].split(', ').map((a) => a.replace(/ \d+ms$/, ''));

// The data of each event of an SSE body, [DONE] left out.
const dataOf = (text) => text.split('\n\n').map((e) => e.match(/^data: (.*)$/m)?.[1])
  .filter((d) => d !== undefined && d !== '[DONE]').map((d) => JSON.parse(d));

// First: the checks run within a second of start-up, before any test resets the mock's log.
test('background checks of Vertex targets carry the access token: a service account\'s, a static one', async () => {
  const checks = await eventually(async () => {
    const seen = (await mock.requests()).filter((r) => r.headers['x-request-id'] === 'background-model-check');
    return seen.length >= 2 && seen;
  }, 'both background checks at the mock');
  const sa = checks.find((r) => r.path.includes('/projects/proj-rf/'));
  assert.equal(sa.path, '/v1/projects/proj-rf/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent');
  assert.match(sa.headers.authorization, /^Bearer mock-token-google-\d+$/);
  const st = checks.find((r) => r.path.includes('/projects/proj-static/'));
  assert.equal(st.path, '/v1/projects/proj-static/locations/europe-west4/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict');
  assert.equal(st.headers.authorization, 'Bearer static-check-token');
  assert.equal(JSON.parse(st.body).anthropic_version, 'vertex-2023-10-16');
  // Both passed: the group serves from its first target.
  const r = await oai.chat.completions.create({ model: 'checked', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(r.model, 'checked');
});

test('a Gemini target that fails over to an OpenAI target: chat JSON and stream', async () => {
  await mock.reset();
  let r = await chat('gem-first', failFirst('gf-json', { status: 500, reply: 'from openai' }));
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'o-b');
  const body = JSON.parse(r.text);
  assert.equal(body.model, 'gem-first');
  assert.equal(body.choices[0].message.content, 'from openai');
  assert.deepEqual(await paths(), ['/v1beta/models/gemini-2.5-flash:generateContent', '/v1/chat/completions']);
  assert.deepEqual(attemptsOf(await accessLine(r)), ['g-a 500', 'o-b 200']);

  // A stream's 200 waits for its first event while another target is queued: Gemini's 503
  // fails over, and the caller sees one clean stream from the OpenAI target.
  await mock.reset();
  r = await chat('gem-first', { stream: true, stream_options: { include_usage: true },
    ...failFirst('gf-stream', { status: 503, reply: 'a b c', chunks: 3 }) });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'o-b');
  assert.match(r.text, /data: \[DONE\]\n\n$/);
  const chunks = dataOf(r.text);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'a b c');
  assert.ok(chunks.every((c) => c.model === 'gem-first'));
  assert.ok(chunks.at(-1).usage.completion_tokens > 0);
  assert.deepEqual(await paths(), ['/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', '/v1/chat/completions']);
  assert.deepEqual(attemptsOf(await accessLine(r)), ['g-a 503', 'o-b 200']);
});

test('the same group for Claude SDK and Responses callers: translated to Gemini, then to chat or Responses', async () => {
  await mock.reset();
  const m = await claude.messages.create({ model: 'gem-first', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }],
    ...failFirst('gf-claude', { status: 500, reply: 'bonjour' }) });
  assert.equal(m.model, 'gem-first');
  assert.deepEqual(m.content, [{ type: 'text', text: 'bonjour' }]);
  assert.deepEqual(await paths(), ['/v1beta/models/gemini-2.5-flash:generateContent', '/v1/chat/completions']);

  // The group's second target is OpenAI with the Responses API: the first attempt goes to Gemini
  // through chat, the failover to /responses as it is.
  await mock.reset();
  const r = await post('/v1/responses', { model: 'gem-first', input: 'hi', ...failFirst('gf-resp', { status: 500, reply: 'hallo' }) });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'o-b');
  const body = JSON.parse(r.text);
  assert.equal(body.object, 'response');
  assert.equal(body.model, 'gem-first');
  assert.equal(body.output.find((o) => o.type === 'message').content[0].text, 'hallo');
  assert.deepEqual(await paths(), ['/v1beta/models/gemini-2.5-flash:generateContent', '/v1/responses']);
});

test('an OpenAI target that fails over to a Gemini one: a Responses caller is translated for the second only', async () => {
  await mock.reset();
  const r = await post('/v1/responses', { model: 'oa-first', input: 'hi', stream: true,
    ...failFirst('of-resp', { status: 500, reply: 'x y', chunks: 2 }) });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'g-g');
  const events = r.text.split('\n\n').filter(Boolean).map((e) => e.match(/^event: (.*)$/m)?.[1]);
  assert.equal(events[0], 'response.created');
  assert.equal(events.at(-1), 'response.completed');
  const done = JSON.parse(r.text.split('\n\n').filter(Boolean).at(-1).match(/^data: (.*)$/m)[1]);
  assert.equal(done.response.model, 'oa-first');
  assert.equal(done.response.output[0].content[0].text, 'x y');
  assert.deepEqual(await paths(), ['/v1/responses', '/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse']);
  assert.deepEqual(attemptsOf(await accessLine(r)), ['o-f 500', 'g-g 200']);
});

test('a prompt Gemini blocks is the caller\'s answer: no failover, 400', async () => {
  await mock.reset();
  const r = await chat('gem-first', { mock: { block_reason: 'SAFETY' } });
  assert.equal(r.status, 400, r.text);
  assert.equal(JSON.parse(r.text).error.code, 'prompt_blocked');
  assert.deepEqual(await paths(), ['/v1beta/models/gemini-2.5-flash:generateContent']);
  const line = await accessLine(r);
  assert.deepEqual(attemptsOf(line), ['g-a refused']);
});

test('a Vertex target without a token fails over; alone it is a 502 with the token endpoint\'s error', async () => {
  await mock.reset();
  const r = await chat('token-first', { mock: { reply: 'served anyway' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'o-c');
  assert.equal(JSON.parse(r.text).choices[0].message.content, 'served anyway');
  assert.deepEqual(await paths(), ['/v1/chat/completions'], 'the Vertex target was never sent a request');
  assert.equal((await mock.stats()).token_errors, 1);
  assert.deepEqual(attemptsOf(await accessLine(r)), ['vx-a token', 'o-c 200']);
  const alone = await chat('vx-a');
  assert.equal(alone.status, 502, alone.text);
  const err = JSON.parse(alone.text).error;
  assert.equal(err.code, 'upstream_auth_failed');
  assert.match(err.message, /invalid_grant/);
});

test('an Azure OpenAI target with an Entra ID credential takes over from a failing Gemini one', async () => {
  await mock.reset();
  const r = await chat('gem-azure', failFirst('ga', { status: 500, reply: 'from azure' }));
  assert.equal(r.status, 200, r.text);
  assert.equal(served(r), 'az-e');
  assert.equal(JSON.parse(r.text).choices[0].message.content, 'from azure');
  const sent = (await mock.requests()).filter((q) => q.path.includes('/deployments/'));
  assert.equal(sent.length, 1);
  assert.equal(sent[0].path, '/openai/deployments/gpt4o-aad/chat/completions?api-version=2024-10-21');
  assert.match(sent[0].headers.authorization, /^Bearer mock-token-entra-\d+$/);
  assert.deepEqual(attemptsOf(await accessLine(r)), ['g-d 500', 'az-e 200']);
});
