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
models:
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
