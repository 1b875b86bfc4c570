// proxy.request_id.accept_headers: which inbound headers a caller may send its own request id
// in. An AISIX config that names x-aisix-request-id keeps the caller's id end to end: in the
// response's x-request-id, in the access log and in the upstream request.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { curl, runSluice, startMock, startSluice, tempDir, teardown } from './lib/harness.mjs';
import { resourcesYaml, KEYS, UPSTREAM_KEY } from './lib/gateway.mjs';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// An AISIX-style config: quoted strings, the admin block switched off, the request id headers
// of an AISIX deployment.
const mock = await startMock(['--require-key', UPSTREAM_KEY]);
const dir = tempDir();
writeFileSync(dir.path('resources.yaml'), resourcesYaml(`${mock.base}/v1`));
const sluice = await startSluice({
  dir,
  config: [
    `resources_file: "${dir.path('resources.yaml')}"`,
    'proxy:',
    '  addr: "127.0.0.1:0"',
    '  workers: 1',
    '  request_id:',
    '    accept_headers: ["x-aisix-request-id", "x-correlation-id"]',
    'admin:',
    '  enabled: false',
    'observability:',
    '  log_level: "info"',
    '  metrics:',
    '    prometheus:',
    '      enabled: false',
    'shutdown:',
    '  min_drain_secs: 0',
    '',
  ].join('\n'),
});
after(() => teardown(() => sluice.stop(), () => mock.stop()));
const g = { sluice, mock };

function chat(headers) {
  const args = ['-H', `authorization: Bearer ${KEYS.teamA}`, '-H', 'content-type: application/json'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push('--data', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }));
  args.push(g.sluice.url('/v1/chat/completions'));
  return curl(args);
}

async function lastUpstreamId() {
  const reqs = await g.mock.requests();
  return reqs[reqs.length - 1].headers['x-request-id'];
}

test('the caller id in a configured header is the response id, the log id and the upstream id', async () => {
  await g.mock.reset();
  const r = await chat({ 'X-AISIX-Request-Id': 'aisix-caller-42' });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['x-request-id'], 'aisix-caller-42');
  assert.equal(await lastUpstreamId(), 'aisix-caller-42');
  await g.sluice.waitFor(/access method="POST" path="\/v1\/chat\/completions" status=200 .*request_id="aisix-caller-42"/,
    'the access line with the caller id');
});

test('the first configured header with a valid id wins; x-request-id is no longer read', async () => {
  let r = await chat({ 'x-correlation-id': 'second', 'x-aisix-request-id': 'first' });
  assert.equal(r.headers['x-request-id'], 'first');
  assert.equal(await lastUpstreamId(), 'first');
  // An invalid value (a space) in the first header falls through to the next one.
  r = await chat({ 'x-aisix-request-id': 'has space', 'x-correlation-id': 'second' });
  assert.equal(r.headers['x-request-id'], 'second');
  assert.equal(await lastUpstreamId(), 'second');
  // x-request-id is not in this config's list: a fresh id is minted.
  r = await chat({ 'x-request-id': 'ignored-id' });
  assert.match(r.headers['x-request-id'], UUID_RE);
  assert.equal(await lastUpstreamId(), r.headers['x-request-id']);
});

test('boot and validate refuse a credential header, naming file, line, key and value', async () => {
  const t = tempDir();
  const f = t.path('config.yaml');
  writeFileSync(f, 'proxy:\n  addr: 127.0.0.1:0\n  request_id:\n    accept_headers:\n      - x-aisix-request-id\n      - authorization\n');
  const want = `sluice: ${f}: 1 error:\n` +
    `${f}:6: proxy.request_id.accept_headers: item 2: "authorization" is refused: it carries ` +
    'credentials, and the request id is echoed to the caller, logged and sent upstream\n';
  for (const args of [['validate', '--config', f], ['--config', f]]) {
    const r = await runSluice(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.equal(r.stderr, want);
  }
  writeFileSync(f, 'proxy:\n  addr: 127.0.0.1:0\n');
  const r = await runSluice(['validate', '--config', f],
    { env: { SLUICE_PROXY__REQUEST_ID__ACCEPT_HEADERS: 'x-aisix-request-id,Cookie' } });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `sluice: ${f}: 1 error:\n` +
    `${f}: environment SLUICE_PROXY__REQUEST_ID__ACCEPT_HEADERS="x-aisix-request-id,Cookie": ` +
    'proxy.request_id.accept_headers: item 2: "Cookie" is refused: it carries credentials, and ' +
    'the request id is echoed to the caller, logged and sent upstream\n');
  t.cleanup();
});
