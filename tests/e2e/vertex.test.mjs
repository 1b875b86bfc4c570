// Vertex AI upstreams through Sluice, against the project mock, whose Google token endpoint
// checks each JWT assertion's RS256 signature with the service account's public key and whose
// Vertex endpoints accept only the tokens it issued (and only while they are valid):
// - a service account key: the token is fetched once and reused across requests and workers,
//   refreshed ahead of its expiry, and fetched once per expiry under load;
// - {access_token, project, region}: the token as it is;
// - Gemini models (generateContent, translated) and Claude models (rawPredict: Anthropic's wire
//   with the model in the URL and anthropic_version in the body), from both SDKs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startMock, startSluice, baseConfig, tempDir, teardown, run, sleep, eventually } from './lib/harness.mjs';
import { sha256 } from './lib/gateway.mjs';

const KEY = 'sk-caller-vertex-0123456789';
const TTL = 10; // seconds: short, so refresh and expiry happen within the file
let mock, s, oai, claude, dir;

async function keyPair(name) {
  const key = dir.path(`${name}.pem`), pub = dir.path(`${name}.pub.pem`);
  let r = await run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key]);
  assert.equal(r.code, 0, r.stderr);
  r = await run('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);
  assert.equal(r.code, 0, r.stderr);
  return { key: readFileSync(key, 'utf8'), pub };
}

// A service account key as gcloud writes it, as one JSON line for YAML.
const serviceAccount = (privateKey, tokenUri, extra = {}) => JSON.stringify({
  type: 'service_account', project_id: 'proj-sa', private_key_id: 'k1', private_key: privateKey,
  client_email: 'sluice@proj-sa.iam.gserviceaccount.com', client_id: '1', token_uri: tokenUri, ...extra,
});

before(async () => {
  dir = tempDir();
  const good = await keyPair('sa');
  const other = await keyPair('other');
  mock = await startMock(['--oauth-public-key', good.pub, '--token-ttl', String(TTL),
    '--token-latency-ms', '300', '--static-token', 'static-operator-token']);
  const sa = serviceAccount(good.key, `${mock.base}/token`, { region: 'us-east5' });
  const wrong = serviceAccount(other.key, `${mock.base}/token`);
  writeFileSync(dir.path('resources.yaml'), `_format_version: "1"
provider_keys:
  - display_name: vx-sa
    provider: vertex
    api_key: '${sa.replace(/'/g, "''")}'
    api_base: ${mock.base}
  - display_name: vx-static
    adapter: vertex
    api_key: '{"access_token": "static-operator-token", "project": "proj-static", "region": "europe-west4"}'
    api_base: ${mock.base}/v1
  - display_name: vx-wrong-key
    provider: vertex
    api_key: '${wrong.replace(/'/g, "''")}'
    api_base: ${mock.base}
models:
  - display_name: gemini-vx
    provider_key: vx-sa
    model_name: gemini-2.5-pro
  - display_name: claude-vx
    provider_key: vx-sa
    model_name: claude-sonnet-4@20250514
  - display_name: gemini-static
    provider_key: vx-static
    model_name: gemini-2.5-flash
  - display_name: gemini-wrong
    provider_key: vx-wrong-key
    model_name: gemini-2.5-flash
api_keys:
  - display_name: caller
    key_hash: ${sha256(KEY)}
    allowed_models: ["*"]
`);
  s = await startSluice({ config: baseConfig({ workers: 2 }) + `resources_file: ${dir.path('resources.yaml')}\n`, dir });
  oai = new OpenAI({ baseURL: `http://127.0.0.1:${s.port}/v1`, apiKey: KEY, maxRetries: 0 });
  claude = new Anthropic({ baseURL: `http://127.0.0.1:${s.port}`, apiKey: KEY, maxRetries: 0 });
});

after(() => teardown(() => s?.stop(), () => mock?.stop()));

const requests = async (match) => (await mock.requests()).filter((r) => r.path.includes(match));
const hello = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'Hello' }], ...extra });

test('a service account: one signed JWT for many concurrent requests across workers, then reuse', async () => {
  await mock.reset();
  // The token endpoint answers after 300 ms, so every request of the burst needs the token
  // while the one fetch is in flight: single flight, on whichever worker started it.
  const burst = await Promise.all(Array.from({ length: 40 }, () =>
    fetch(`http://127.0.0.1:${s.port}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', connection: 'close' },
      body: JSON.stringify(hello('gemini-vx')),
    }).then(async (r) => [r.status, await r.text()])));
  for (const [status, body] of burst) assert.equal(status, 200, body);
  let st = await mock.stats();
  assert.equal(st.token_requests, 1);
  assert.equal(st.tokens, 1);
  assert.equal(st.token_errors, 0);
  const tok = await requests('/token');
  assert.equal(tok[0].headers['content-type'], 'application/x-www-form-urlencoded');
  assert.match(tok[0].body, /^grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=[\w-]+\.[\w-]+\.[\w-]+$/);
  const claims = JSON.parse(Buffer.from(tok[0].body.split('.')[1], 'base64url'));
  assert.equal(claims.iss, 'sluice@proj-sa.iam.gserviceaccount.com');
  assert.equal(claims.aud, `${mock.base}/token`);
  assert.equal(claims.scope, 'https://www.googleapis.com/auth/cloud-platform');
  assert.equal(claims.exp - claims.iat, 3600);
  // Later requests reuse it.
  for (let i = 0; i < 5; i++) await oai.chat.completions.create(hello('gemini-vx'));
  st = await mock.stats();
  assert.equal(st.tokens, 1);
  const calls = await requests(':generateContent');
  assert.ok(calls.length >= 45);
  assert.ok(calls.every((c) => c.headers.authorization === 'Bearer mock-token-google-1'));
  assert.equal(calls[0].path, '/v1/projects/proj-sa/locations/us-east5/publishers/google/models/gemini-2.5-pro:generateContent');
});

test('refresh: ahead of expiry, in the background and once, while a burst goes on with the old token', async () => {
  // Start from an expired token: the next request waits for a new one (token A).
  await sleep(TTL * 1000 + 300);
  await mock.reset();
  const asked = Date.now(); // Sluice asks for A after this, and counts A's life from its asking
  await oai.chat.completions.create(hello('gemini-vx'));
  const a = (await requests(':generateContent')).at(-1).headers.authorization;
  assert.equal((await mock.stats()).tokens, 1);
  // In the last quarter of A's life (before its last tenth): the request that notices starts a
  // refresh and is served with A at once, and so is a burst on both workers meanwhile. Aim at
  // the middle of that window, counted from when Sluice asked, whatever the requests took.
  await sleep(asked + TTL * 1000 * 0.825 - Date.now());
  await oai.chat.completions.create(hello('gemini-vx'));
  assert.equal((await requests(':generateContent')).at(-1).headers.authorization, a,
    'the request that started the refresh went on with the current token');
  const burst = await Promise.all(Array.from({ length: 30 }, () =>
    fetch(`http://127.0.0.1:${s.port}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', connection: 'close' },
      body: JSON.stringify(hello('gemini-vx')),
    }).then((r) => r.status)));
  assert.deepEqual([...new Set(burst)], [200]);
  // The refresh is under way already, well before A's end (a gateway that refreshed only on
  // expiry would not have asked yet).
  assert.equal((await mock.stats()).token_requests, 2);
  // One refresh, and B in use afterwards.
  await eventually(async () => {
    await oai.chat.completions.create(hello('gemini-vx'));
    return (await requests(':generateContent')).at(-1).headers.authorization !== a;
  }, 'the refreshed token in use');
  const st = await mock.stats();
  assert.equal(st.token_requests, 2);
  assert.equal(st.tokens, 2);
});

test('a static access token goes as it is; api_base with a pasted /v1 reaches the same path', async () => {
  await mock.reset();
  const r = await oai.chat.completions.create(hello('gemini-static', { mock: { reply: 'static' } }));
  assert.equal(r.choices[0].message.content, 'static');
  const up = (await requests(':generateContent')).at(-1);
  assert.equal(up.path, '/v1/projects/proj-static/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent');
  assert.equal(up.headers.authorization, 'Bearer static-operator-token');
  assert.equal((await mock.stats()).token_requests, 0);
});

test('a JWT signed with another key is refused by the token endpoint: a clear 502', async () => {
  await assert.rejects(oai.chat.completions.create(hello('gemini-wrong')), (e) => {
    assert.equal(e.status, 502);
    assert.equal(e.error.code, 'upstream_auth_failed');
    assert.match(e.error.message, /token endpoint .* answered 400: invalid_grant: Invalid JWT Signature/);
    return true;
  });
});

test('Claude on Vertex: rawPredict with the model in the URL and anthropic_version in the body', async () => {
  await mock.reset();
  const msg = await claude.messages.create({ model: 'claude-vx', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }], mock: { reply: 'Salut' } });
  assert.equal(msg.model, 'claude-vx');
  assert.deepEqual(msg.content, [{ type: 'text', text: 'Salut' }]);
  let up = (await requests(':rawPredict')).at(-1);
  assert.equal(up.path, '/v1/projects/proj-sa/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict');
  assert.match(up.headers.authorization, /^Bearer mock-token-google-\d+$/);
  let sent = JSON.parse(up.body);
  assert.equal(sent.anthropic_version, 'vertex-2023-10-16');
  assert.equal(sent.model, undefined);
  assert.equal(sent.max_tokens, 64);
  // Streams: streamRawPredict, Anthropic's events back to the Claude SDK.
  const final = await claude.messages.stream({ model: 'claude-vx', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }], mock: { chunks: 3, reply: 'x y z' } }).finalMessage();
  assert.deepEqual(final.content, [{ type: 'text', text: 'x y z' }]);
  assert.equal(final.model, 'claude-vx');
  up = (await requests(':streamRawPredict')).at(-1);
  sent = JSON.parse(up.body);
  assert.equal(sent.stream, true);
  assert.equal(sent.model, undefined);
  // An OpenAI SDK caller reaches the same model through the chat -> Anthropic translation.
  const r = await oai.chat.completions.create(hello('claude-vx', { max_tokens: 20, mock: { reply: 'translated' } }));
  assert.equal(r.choices[0].message.content, 'translated');
  sent = JSON.parse((await requests(':rawPredict')).at(-1).body);
  assert.equal(sent.anthropic_version, 'vertex-2023-10-16');
  assert.equal(sent.model, undefined);
  const stream = await oai.chat.completions.create(hello('claude-vx', { stream: true, mock: { chunks: 2, reply: 'ab' } }));
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  assert.equal(text, 'ab');
});

test('Gemini on Vertex from both SDKs, streams and errors', async () => {
  const stream = await oai.chat.completions.create(hello('gemini-vx', { stream: true, mock: { chunks: 3, reply: 'a b c' } }));
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  assert.equal(text, 'a b c');
  assert.equal((await requests(':streamGenerateContent')).at(-1).path,
    '/v1/projects/proj-sa/locations/us-east5/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse');
  const msg = await claude.messages.create({ model: 'gemini-vx', max_tokens: 30, messages: [{ role: 'user', content: 'Hi' }], mock: { reply: 'Hoi' } });
  assert.deepEqual(msg.content, [{ type: 'text', text: 'Hoi' }]);
  await assert.rejects(oai.chat.completions.create(hello('gemini-vx', { mock: { status: 429, retry_after: 9, error_message: 'Resource exhausted' } })), (e) => {
    assert.equal(e.status, 429);
    assert.equal(e.headers.get('retry-after'), '9');
    assert.equal(e.error.code, 'RESOURCE_EXHAUSTED');
    return true;
  });
  await assert.rejects(oai.embeddings.create({ model: 'gemini-vx', input: 'x' }), (e) => {
    assert.equal(e.status, 400);
    assert.match(e.error.message, /cannot serve \/v1\/embeddings/);
    return true;
  });
});
