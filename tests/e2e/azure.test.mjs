// Azure OpenAI upstreams through Sluice, against the project mock (which serves Azure's paths:
// api-version required, Azure's content filter results in replies, Entra tokens checked):
// - an api-key resource: deployment path, api-version (default and per key), api-key header;
// - an Entra ID credential: a client-credentials token fetched once, reused, sent as Bearer;
//   a wrong secret is a clear 502 with the token endpoint's own error;
// - chat, streams, embeddings, completions from the OpenAI SDK; the Claude SDK through the
//   chat translation; content_filter; errors with Azure's innererror.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startMock, startSluice, baseConfig, tempDir, teardown } from './lib/harness.mjs';
import { sha256 } from './lib/gateway.mjs';

const KEY = 'sk-caller-azure-0123456789';
const AZ_KEY = 'azure-resource-key-secret';
const CLIENT = 'app-0000-1111';
const SECRET = 'entra-client-secret-value';
let mock, s, oai, claude;

before(async () => {
  mock = await startMock(['--require-key', AZ_KEY, '--entra-client', `${CLIENT}:${SECRET}`,
    '--token-latency-ms', '200']);
  const dir = tempDir();
  const entra = (secret) => JSON.stringify({ tenant_id: 'contoso.onmicrosoft.com', client_id: CLIENT, client_secret: secret, authority_host: mock.base });
  writeFileSync(dir.path('resources.yaml'), `_format_version: "1"
provider_keys:
  - display_name: az
    provider: azure-openai
    api_key: ${AZ_KEY}
    api_base: ${mock.base}/openai/
  - display_name: az-preview
    provider: azure
    api_key: ${AZ_KEY}
    api_base: ${mock.base}
    api_version: 2025-04-01-preview
  - display_name: az-entra
    adapter: azure-openai
    api_key: '${entra(SECRET)}'
    api_base: ${mock.base}
  - display_name: az-entra-bad
    adapter: azure-openai
    api_key: '${entra('not-the-secret')}'
    api_base: ${mock.base}
models:
  - display_name: gpt-az
    provider_key: az
    model_name: gpt4o-prod
  - display_name: emb-az
    provider_key: az
    model_name: embed-small
  - display_name: gpt-preview
    provider_key: az-preview
    model_name: gpt4o-preview
  - display_name: gpt-entra
    provider_key: az-entra
    model_name: gpt4o-aad
  - display_name: gpt-entra-bad
    provider_key: az-entra-bad
    model_name: gpt4o-aad
api_keys:
  - display_name: caller
    key_hash: ${sha256(KEY)}
    allowed_models: ["*"]
`);
  s = await startSluice({ config: baseConfig() + `resources_file: ${dir.path('resources.yaml')}\n`, dir });
  oai = new OpenAI({ baseURL: `http://127.0.0.1:${s.port}/v1`, apiKey: KEY, maxRetries: 0 });
  claude = new Anthropic({ baseURL: `http://127.0.0.1:${s.port}`, apiKey: KEY, maxRetries: 0 });
});

after(() => teardown(() => s?.stop(), () => mock?.stop()));

async function lastUpstream() {
  const reqs = await mock.requests();
  return reqs[reqs.length - 1];
}
const hello = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'Hello' }], ...extra });

test('chat: the deployment path, api-version and api-key header; content filter results pass through', async () => {
  const r = await oai.chat.completions.create(hello('gpt-az', { mock: { reply: 'Hi there' } }));
  assert.equal(r.model, 'gpt-az');
  assert.equal(r.choices[0].message.content, 'Hi there');
  assert.equal(r.prompt_filter_results[0].content_filter_results.hate.filtered, false);
  assert.equal(r.choices[0].content_filter_results.violence.severity, 'safe');
  const up = await lastUpstream();
  assert.equal(up.path, '/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21');
  assert.equal(up.headers['api-key'], AZ_KEY);
  assert.equal(up.headers.authorization, undefined);
  assert.equal(JSON.parse(up.body).model, 'gpt4o-prod');
});

test('a per-key api_version; streams with Azure\'s prompt-filter chunk; legacy completions', async () => {
  await oai.chat.completions.create(hello('gpt-preview'));
  assert.equal((await lastUpstream()).path, '/openai/deployments/gpt4o-preview/chat/completions?api-version=2025-04-01-preview');
  const stream = await oai.chat.completions.create(hello('gpt-az', { stream: true, mock: { chunks: 3, reply: 'a b c' } }));
  let text = '', sawFilter = false;
  for await (const c of stream) {
    if (c.prompt_filter_results) sawFilter = true;
    text += c.choices[0]?.delta.content ?? '';
  }
  assert.equal(text, 'a b c');
  assert.ok(sawFilter, 'Azure\'s first chunk (no choices, prompt_filter_results) reached the caller');
  const c = await oai.completions.create({ model: 'gpt-az', prompt: 'Say', mock: { reply: 'done' } });
  assert.equal(c.choices[0].text, 'done');
  assert.equal((await lastUpstream()).path, '/openai/deployments/gpt4o-prod/completions?api-version=2024-10-21');
});

test('embeddings through the deployment', async () => {
  const e = await oai.embeddings.create({ model: 'emb-az', input: ['x', 'y'] });
  assert.equal(e.data.length, 2);
  assert.equal(e.model, 'emb-az');
  assert.equal((await lastUpstream()).path, '/openai/deployments/embed-small/embeddings?api-version=2024-10-21');
});

test('Entra ID: one client-credentials token for concurrent requests, reused, sent as Bearer', async () => {
  await mock.reset();
  const all = await Promise.all(Array.from({ length: 20 }, () => oai.chat.completions.create(hello('gpt-entra'))));
  assert.equal(all.length, 20);
  const st = await mock.stats();
  assert.equal(st.token_requests, 1);
  assert.equal(st.tokens, 1);
  const reqs = await mock.requests();
  const tok = reqs.find((r) => r.path.endsWith('/oauth2/v2.0/token'));
  assert.equal(tok.path, '/contoso.onmicrosoft.com/oauth2/v2.0/token');
  const form = new URLSearchParams(tok.body);
  assert.equal(form.get('grant_type'), 'client_credentials');
  assert.equal(form.get('client_id'), CLIENT);
  assert.equal(form.get('client_secret'), SECRET);
  assert.equal(form.get('scope'), 'https://cognitiveservices.azure.com/.default');
  const calls = reqs.filter((r) => r.path.includes('/deployments/gpt4o-aad/'));
  assert.equal(calls.length, 20);
  for (const c of calls) {
    assert.equal(c.headers.authorization, 'Bearer mock-token-entra-1');
    assert.equal(c.headers['api-key'], undefined);
  }
  await oai.chat.completions.create(hello('gpt-entra'));
  assert.equal((await mock.stats()).tokens, 1);
});

test('a refused client secret is a 502 carrying the token endpoint\'s error, never the secret', async () => {
  await assert.rejects(oai.chat.completions.create(hello('gpt-entra-bad')), (e) => {
    assert.equal(e.status, 502);
    assert.equal(e.error.code, 'upstream_auth_failed');
    assert.match(e.error.message, /answered 401: invalid_client: AADSTS7000215: Invalid client secret provided/);
    assert.doesNotMatch(e.error.message, /not-the-secret/);
    return true;
  });
  const log = s.log();
  assert.match(log, /provider key "az-entra-bad": access token refresh failed/);
  assert.doesNotMatch(log, /not-the-secret|entra-client-secret-value/);
});

test('Claude SDK callers through the chat translation; content_filter becomes refusal', async () => {
  const msg = await claude.messages.create({ model: 'gpt-az', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }], mock: { reply: 'Moin' } });
  assert.deepEqual(msg.content, [{ type: 'text', text: 'Moin' }]);
  const final = await claude.messages.stream({ model: 'gpt-entra', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }], mock: { chunks: 2, reply: 'ab' } }).finalMessage();
  assert.deepEqual(final.content, [{ type: 'text', text: 'ab' }]);
  const cf = await oai.chat.completions.create(hello('gpt-az', { mock: { finish_reason: 'content_filter' } }));
  assert.equal(cf.choices[0].finish_reason, 'content_filter');
  const refused = await claude.messages.create({ model: 'gpt-az', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }], mock: { finish_reason: 'content_filter' } });
  assert.equal(refused.stop_reason, 'refusal');
});

test('errors: Azure\'s body with innererror in the caller\'s envelope', async () => {
  const body = JSON.stringify({ error: { message: 'The response was filtered due to the prompt triggering Azure OpenAI\'s content management policy.', type: null, param: 'prompt', code: 'content_filter', status: 400, innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: { hate: { filtered: true, severity: 'high' } } } } });
  await assert.rejects(oai.chat.completions.create(hello('gpt-az', { mock: { status: 400, error_body: body } })), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.error.code, 'content_filter');
    assert.match(e.error.message, /content management policy/);
    return true;
  });
  await assert.rejects(oai.chat.completions.create(hello('gpt-az', { mock: { status: 429, retry_after: 2 } })), (e) => {
    assert.equal(e.status, 429);
    assert.equal(e.headers.get('retry-after'), '2');
    return true;
  });
  await assert.rejects(oai.chat.completions.create(hello('gpt-az', { mock: { status: 500 } })), (e) => e.status === 502);
});
