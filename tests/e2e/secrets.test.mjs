// Secrets stay secret: caller keys, provider keys (literal and from ${VAR}), their SHA-256
// digests, admin keys and whole Authorization header values never appear in sluice's log (at
// every observability.log_level), in any response a caller gets (bodies and headers: 200s, 401s,
// 403/404, upstream 4xx echoed back, 502s, 504s, stream error frames), in /metrics, or in what
// `sluice validate` and a failed start print. Every path that handles one is driven: good, bad,
// disabled, expired, malformed and over-long keys by both headers; upstream errors; reloads with
// good and broken resources files that hold secrets literally and through ${VAR}. Also: a
// resources file that other users may read gets a warning naming it and its mode, at start and
// on every reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { startGateway, stopGateway, resourcesYaml, KEYS, UPSTREAM_KEY, sha256 } from './lib/gateway.mjs';
import {
  curl, runSluice, startSluice, spawnSluice, startMock, baseConfig, tempDir, eventually, scrapeMetrics,
} from './lib/harness.mjs';

const ENV_KEY_VAR = 'SL_TEST_SECRET_UPSTREAM';
const UNKNOWN_KEY = 'sk-unknown-caller-7f3a9c1d5e';
const LONG_KEY = `sk-long-${'q7'.repeat(600)}`; // over the 1024-byte cap
const ADMIN_KEY = 'sk-admin-secret-4b8e2d6f0a';
const WRONG_PROVIDER_KEY = 'sk-wrong-provider-key-91c3e5';

// Everything that must never be shown. Digests too: they are in resources.yaml, and a leaked
// line of that file would show them.
const SECRETS = [
  UPSTREAM_KEY, WRONG_PROVIDER_KEY, UNKNOWN_KEY, LONG_KEY.slice(0, 80), ADMIN_KEY,
  ...Object.values(KEYS), ...Object.values(KEYS).map(sha256), sha256(UNKNOWN_KEY),
];

function assertNoSecret(text, where) {
  for (const s of SECRETS) {
    assert.ok(!text.includes(s), `${where} contains the secret ${s.slice(0, 24)}...:\n${text.slice(0, 4000)}`);
  }
}

// The resources file of the gateway, with the provider key taken from the environment.
const viaEnv = (base) => resourcesYaml(base).replace(`api_key: ${UPSTREAM_KEY}`, `api_key: "\${${ENV_KEY_VAR}}"`);

// Broken resources files, each holding secrets where an error message could be tempted to
// quote them. Each is rejected on reload and by `sluice validate`.
function brokenResources(base) {
  const good = viaEnv(base);
  return {
    'api_key of the wrong type': good.replace(`api_key: "\${${ENV_KEY_VAR}}"`, `api_key: [${UPSTREAM_KEY}]`),
    'api_key and secret both set': good.replace(`api_key: "\${${ENV_KEY_VAR}}"`, `api_key: ${UPSTREAM_KEY}\n    secret: ${UPSTREAM_KEY}`),
    'api_key from an unset variable': good.replace(ENV_KEY_VAR, 'SL_TEST_UNSET_VARIABLE'),
    'api_key with a control character': good.replace(ENV_KEY_VAR, 'SL_TEST_SECRET_WITH_CONTROL'),
    'provider from a secret variable': good.replace('provider: openai', 'provider: "${SL_TEST_SECRET_WITH_CONTROL}"'),
    'api_base with the key in user info': good.replace(/api_base: \S+/, `api_base: http://user:${UPSTREAM_KEY}@127.0.0.1:1/v1`),
    'api_base with the key in the query': good.replace(/api_base: (\S+)/, `api_base: $1?key=${UPSTREAM_KEY}`),
    'key_hash holding a plaintext key': good.replace(sha256(KEYS.teamA), KEYS.teamA),
    'key_hash of the wrong type': good.replace(sha256(KEYS.other), `{k: ${KEYS.other}}`),
    'a YAML syntax error on the key line': good.replace(`api_key: "\${${ENV_KEY_VAR}}"`, `api_key: "${UPSTREAM_KEY}`),
    'a YAML syntax error after the key': good.replace('models:', `  - ${KEYS.teamA}\n models:`),
    'a duplicate api_key': good.replace(`api_key: "\${${ENV_KEY_VAR}}"`, `api_key: ${UPSTREAM_KEY}\n    api_key: ${UPSTREAM_KEY}`),
  };
}

const secretEnv = {
  [ENV_KEY_VAR]: UPSTREAM_KEY,
  SL_TEST_SECRET_WITH_CONTROL: `${UPSTREAM_KEY}\u0001`,
};

// Every response a caller can provoke, as "status line + headers + body" text.
async function driveTraffic(g) {
  const seen = [];
  const url = (p) => g.sluice.url(p);
  const post = async (path, headers, body) => {
    const args = ['-X', 'POST', '-H', 'content-type: application/json'];
    for (const h of headers) args.push('-H', h);
    const r = await curl([...args, '-d', typeof body === 'string' ? body : JSON.stringify(body), url(path)]);
    seen.push(`${r.statusLine}\n${JSON.stringify(r.headers)}\n${r.body}`);
    return r;
  };
  const bearer = (k) => [`authorization: Bearer ${k}`];
  const chat = (extra = {}) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...extra });

  // Good keys, both headers, every route, JSON and streams.
  assert.equal((await post('/v1/chat/completions', bearer(KEYS.teamA), chat())).status, 200);
  assert.equal((await post('/v1/chat/completions', [`x-api-key: ${KEYS.teamA}`], chat())).status, 200);
  assert.equal((await post('/v1/chat/completions', bearer(KEYS.teamA), chat({ stream: true, stream_options: { include_usage: true } }))).status, 200);
  assert.equal((await post('/v1/completions', bearer(KEYS.other), { model: 'gpt-4o-mini', prompt: 'x', stream: true })).status, 200);
  assert.equal((await post('/v1/embeddings', bearer(KEYS.teamA), { model: 'embed', input: 'x' })).status, 200);
  const models = await curl(['-H', `authorization: Bearer ${KEYS.teamA}`, url('/v1/models')]);
  assert.equal(models.status, 200);
  seen.push(`${JSON.stringify(models.headers)}\n${models.body}`);

  // Every kind of bad credential: 401, and the body never quotes what was sent.
  const bad = [
    bearer(UNKNOWN_KEY), bearer(KEYS.disabled), bearer(KEYS.expired), bearer(LONG_KEY),
    [`authorization: Basic ${Buffer.from(`user:${UNKNOWN_KEY}`).toString('base64')}`],
    [`authorization: ${UNKNOWN_KEY}`], [`authorization: bearer ${UNKNOWN_KEY}`],
    [`authorization: Bearer ${UNKNOWN_KEY} ${KEYS.teamA}`], [`x-api-key: ${UNKNOWN_KEY}`],
    [`authorization: Bearer ${UNKNOWN_KEY}`, `x-api-key: ${KEYS.teamA}`],
  ];
  for (const h of bad) {
    for (const path of ['/v1/chat/completions', '/v1/embeddings']) {
      const r = await post(path, h, chat());
      assert.equal(r.status, 401, `${h} on ${path}`);
      assert.equal(JSON.parse(r.body).error.type, 'invalid_api_key');
    }
    const m = await curl(['-H', h[0], url('/v1/models')]);
    assert.equal(m.status, 401);
    seen.push(`${JSON.stringify(m.headers)}\n${m.body}`);
  }

  // 403, 404, 400: the key is known, the request is not allowed or not valid.
  assert.equal((await post('/v1/chat/completions', bearer(KEYS.teamA), chat({ model: 'not-for-team-a' }))).status, 403);
  assert.equal((await post('/v1/chat/completions', bearer(KEYS.teamA), chat({ model: 'no-such-model' }))).status, 404);
  assert.equal((await post('/v1/chat/completions', bearer(KEYS.teamA), `{"model": "${KEYS.teamA}",`)).status, 400);

  // Upstream failures. The mock shows the upstream got the provider key; the responses must not
  // carry it, even when the upstream puts it in response headers.
  await g.mock.reset();
  const leakyHeaders = { 'x-upstream-authorization': `Bearer ${UPSTREAM_KEY}`, 'x-echo-key': UPSTREAM_KEY };
  const upstreamErrors = [
    { status: 401 }, { status: 403, error_message: 'no access' }, { status: 429, retry_after: 3 },
    { status: 400, headers: leakyHeaders }, { status: 500 }, { status: 503, error_body: `key ${UPSTREAM_KEY}` },
    { reset_before_headers: true }, { invalid_json: true }, { headers: leakyHeaders },
  ];
  for (const mock of upstreamErrors) {
    await post('/v1/chat/completions', bearer(KEYS.teamA), chat({ mock }));
    await post('/v1/chat/completions', bearer(KEYS.teamA), chat({ stream: true, mock }));
  }
  const streamCut = await post('/v1/chat/completions', bearer(KEYS.teamA), chat({ stream: true, mock: { chunks: 4, disconnect_after_chunks: 2 } }));
  assert.match(streamCut.body, /event: error/);
  const timedOut = await post('/v1/chat/completions', bearer(KEYS.teamA), chat({ model: 'quick-timeout', mock: { latency_ms: 2000 } }));
  assert.equal(timedOut.status, 504);
  const upstreamSaw = await g.mock.requests();
  assert.ok(upstreamSaw.length > 0);
  for (const r of upstreamSaw) {
    assert.equal(r.headers.authorization, `Bearer ${UPSTREAM_KEY}`, 'the upstream gets the provider key');
    for (const k of Object.values(KEYS)) assert.ok(!JSON.stringify(r).includes(k), 'no caller key goes upstream');
  }
  return seen;
}

// Reloads: the good file again, then each broken one (rejected), then the good one.
async function driveReloads(g) {
  const reloads = async (result) => (await scrapeMetrics(g.sluice)).get(`sluice_config_reloads_total{result="${result}"}`) ?? 0;
  const reload = async (text, result) => {
    const before = await reloads(result);
    g.sluice.writeResources(text);
    g.sluice.signal('SIGHUP');
    await eventually(async () => (await reloads(result)) > before, `a reload with result ${result}`);
  };
  await reload(viaEnv(g.sluice.apiBase), 'success');
  for (const text of Object.values(brokenResources(g.sluice.apiBase))) await reload(text, 'failure');
  // A provider key the upstream refuses: its 401 reaches the caller without either key.
  await reload(resourcesYaml(g.sluice.apiBase).replace(UPSTREAM_KEY, WRONG_PROVIDER_KEY), 'success');
  const r = await curl(['-X', 'POST', '-H', `authorization: Bearer ${KEYS.teamA}`, '-d',
    JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }), g.sluice.url('/v1/chat/completions')]);
  assert.equal(r.status, 401);
  assert.equal(JSON.parse(r.body).error.type, 'upstream_error');
  await reload(viaEnv(g.sluice.apiBase), 'success');
  return `${r.statusLine}\n${JSON.stringify(r.headers)}\n${r.body}`;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// startGateway waits for the INFO line that names the port; below info there is none, so pick
// the ports first and wait for /livez.
async function startQuietGateway(options) {
  const mock = await startMock(['--require-key', UPSTREAM_KEY]);
  const dir = tempDir();
  const apiBase = `${mock.base}/v1`;
  const [port, metricsPort] = [await freePort(), await freePort()];
  writeFileSync(dir.path('resources.yaml'), resourcesYaml(apiBase));
  const config = baseConfig({ metrics: true })
    .replace('addr: 127.0.0.1:0', `addr: 127.0.0.1:${port}`)
    .replace('addr: 127.0.0.1:0', `addr: 127.0.0.1:${metricsPort}`) +
    `resources_file: ${dir.path('resources.yaml')}\n${options.configExtra}`;
  writeFileSync(dir.path('config.yaml'), config);
  const sluice = spawnSluice(['--config', dir.path('config.yaml')], options.env);
  Object.assign(sluice, {
    dir, port, metricsPort, apiBase, scheme: 'http',
    url: (path) => `http://127.0.0.1:${port}${path}`,
    writeResources: (text) => writeFileSync(dir.path('resources.yaml'), text),
  });
  await eventually(async () => {
    if (sluice.child.exitCode !== null) throw new Error(`sluice exited:\n${sluice.log()}`);
    return (await curl(['-s', sluice.url('/livez')])).status === 200;
  }, 'sluice to answer /livez');
  return { mock, sluice, dir };
}

for (const level of ['error', 'warn', 'info', 'debug', 'trace']) {
  test(`log_level ${level}: no secret in logs, responses or metrics, across traffic and reloads`, async () => {
    const options = {
      configExtra: `admin:\n  admin_keys: ["${ADMIN_KEY}"]\n`,
      env: { SLUICE_OBSERVABILITY__LOG_LEVEL: level, ...secretEnv },
    };
    const g = level === 'error' || level === 'warn' ? await startQuietGateway(options) : await startGateway(options);
    try {
      const seen = await driveTraffic(g);
      seen.push(await driveReloads(g));
      seen.push(...await driveTraffic(g));
      const metrics = await curl([`http://127.0.0.1:${g.sluice.metricsPort}/metrics`]);
      assert.equal(metrics.status, 200);
      for (const [i, s] of seen.entries()) assertNoSecret(s, `response ${i}`);
      assertNoSecret(metrics.body, '/metrics');
      if (level !== 'error') {
        assert.match(g.sluice.log(), /WARN  reload: .* rejected with \d+ error/);
      }
      if (level === 'info' || level === 'debug' || level === 'trace') {
        assert.match(g.sluice.log(), /INFO  access method="POST" path="\/v1\/chat\/completions" status=401/);
      }
    } finally {
      const r = await stopGateway(g);
      assertNoSecret(g.sluice.log(), `the log at ${level}`);
      assert.equal(r.code, 0);
    }
  });
}

test('an upstream that echoes the provider key in its error message does not leak it to the caller', async () => {
  const g = await startGateway();
  try {
    const r = await curl(['-X', 'POST', '-H', `authorization: Bearer ${KEYS.teamA}`, '-d', JSON.stringify({
      model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }],
      mock: { status: 401, error_message: `Incorrect API key provided: ${UPSTREAM_KEY}` },
    }), g.sluice.url('/v1/chat/completions')]);
    assert.equal(r.status, 401);
    assertNoSecret(r.body, 'the 401 body');
    assert.equal(JSON.parse(r.body).error.message, 'Incorrect API key provided: [redacted]');
  } finally {
    await stopGateway(g);
  }
});

test('sluice validate and a failed start print errors without the secrets in the files', async () => {
  const t = tempDir();
  try {
    const base = 'http://127.0.0.1:1/v1';
    const files = brokenResources(base);
    for (const [what, text] of Object.entries(files)) {
      writeFileSync(t.path('resources.yaml'), text);
      const r = await runSluice(['validate', '--resources', t.path('resources.yaml')], { env: secretEnv });
      assert.equal(r.code, 1, what);
      assert.match(r.stderr, /error/, what);
      assertNoSecret(r.stdout + r.stderr, `validate (${what})`);
    }
    // A good file validates; its keys are not printed either.
    writeFileSync(t.path('resources.yaml'), viaEnv(base));
    const ok = await runSluice(['validate', '--resources', t.path('resources.yaml')], { env: secretEnv });
    assert.equal(ok.code, 0, ok.stderr);
    assertNoSecret(ok.stdout + ok.stderr, 'validate (good file)');
    // config.yaml: admin keys of the wrong shape, and a start that fails on a broken resources file.
    writeFileSync(t.path('resources.yaml'), files['api_key of the wrong type']);
    const config = baseConfig() + `resources_file: ${t.path('resources.yaml')}\nadmin:\n  admin_keys: ["${ADMIN_KEY}", [${ADMIN_KEY}]]\n`;
    writeFileSync(t.path('config.yaml'), config);
    const v = await runSluice(['validate', '--config', t.path('config.yaml')], { env: secretEnv });
    assert.equal(v.code, 1);
    assert.match(v.stderr, /admin\.admin_keys: item 2/);
    assertNoSecret(v.stdout + v.stderr, 'validate --config');
    writeFileSync(t.path('config.yaml'), baseConfig() + `resources_file: ${t.path('resources.yaml')}\n`);
    const start = await runSluice(['--config', t.path('config.yaml')], { env: secretEnv });
    assert.equal(start.code, 1);
    assert.match(start.stderr, /api_key: expected a non-empty string, got a list/);
    assertNoSecret(start.stdout + start.stderr, 'a failed start');
  } finally {
    t.cleanup();
  }
});

test('a resources file other users may read or write gets a warning naming it and its mode, at start and on reload', async () => {
  const t = tempDir();
  const mock = 'http://127.0.0.1:1/v1';
  const file = t.path('resources.yaml');
  writeFileSync(file, resourcesYaml(mock));
  chmodSync(file, 0o644);
  const warning = (mode, how = 'readable') =>
    `WARN  resources file ${file} is ${how} by other users (mode ${mode}); it holds provider keys: restrict it to the owner (chmod 600)`;
  const p = await startSluice({ config: baseConfig({ metrics: true }) + `resources_file: ${file}\n`, dir: t });
  try {
    assert.ok(p.log().includes(warning('0644')), p.log());
    assertNoSecret(p.log(), 'the start-up log');
    const hup = async (mode) => {
      chmodSync(file, mode);
      const mark = p.log().length;
      p.signal('SIGHUP');
      await p.waitFor(/reload: resources file .* reloaded: generation/, 'the reload', mark);
      return p.log().slice(mark);
    };
    assert.ok(!(await hup(0o600)).includes('other users'), 'a private file gets no warning');
    assert.ok((await hup(0o640)).includes(warning('0640')));
    assert.ok((await hup(0o620)).includes(warning('0620', 'writable')));
    assert.ok(!(await hup(0o400)).includes('other users'));
  } finally {
    const r = await p.stop();
    t.cleanup();
    assert.equal(r.code, 0);
  }
});
