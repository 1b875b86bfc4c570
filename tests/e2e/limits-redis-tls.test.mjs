// The redis backend over TLS with a password (rediss://, docs/configuration.md ratelimit.redis):
// two Sluice processes share one limit through a real redis-server that speaks only TLS and
// requires AUTH; a server certificate Sluice cannot verify is refused (503 with on_error: deny),
// never spoken to in clear or unverified.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { startMock, startSluice, baseConfig, tempDir, teardown, eventually, scrapeMetrics, makeCert, Proc, cleanEnv, run } from './lib/harness.mjs';
import { providerAndModels, chat, inOneWindow, sha256, UPSTREAM_KEY } from './lib/limits.mjs';
import { REDIS_SERVER, REDIS_CLI } from './lib/redis.mjs';

const KEY = 'sk-tls-fleet';
const PASSWORD = 'tls-redis-pass-7c1e';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

const dir = tempDir();
let redis, port, cert, other, mock;
const nodes = [];

async function startNode(ca, onError = 'allow') {
  const config = baseConfig({ workers: 1, metrics: true }) + `resources_file: ${dir.path('resources.yaml')}\n` +
    `ratelimit:\n  backend: redis\n  redis:\n    url: rediss://:${PASSWORD}@localhost:${port}/2\n` +
    `    tls: {ca_file: ${ca}}\n    on_error: ${onError}\n    timeout_ms: 500\n    connect_timeout_ms: 500\n`;
  const s = await startSluice({ config, dir: tempDir() });
  nodes.push(s);
  return s;
}

const redisUp = async (s) => (await scrapeMetrics(s)).get('sluice_ratelimit_redis_up');

before(async () => {
  if (!REDIS_SERVER || !REDIS_CLI) throw new Error('redis-server and redis-cli are required (scripts/deps.sh test installs redis-server)');
  cert = await makeCert(dir, 'redis');
  other = await makeCert(dir, 'stranger'); // a CA that did not sign the server's certificate
  port = await freePort();
  redis = new Proc(REDIS_SERVER, ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
    '--tls-cert-file', cert.crt, '--tls-key-file', cert.key, '--tls-ca-cert-file', cert.crt,
    '--tls-auth-clients', 'no', '--requirepass', PASSWORD, '--save', '', '--appendonly', 'no'], cleanEnv());
  await redis.waitFor(/Ready to accept connections/, 'redis-server (TLS) to start');
  mock = await startMock(['--require-key', UPSTREAM_KEY, '--quiet']);
  writeFileSync(dir.path('resources.yaml'), providerAndModels(`${mock.base}/v1`, `  - display_name: m
    provider_key: mock
    model_name: up-m
`) + `api_keys:
  - display_name: tls
    key_hash: ${sha256(KEY)}
    allowed_models: ["*"]
    rate_limit: {rpm: 4}
`);
});

after(() => teardown(...nodes.map((s) => () => s.stop()), () => mock?.stop(), async () => { if (redis) { redis.signal('SIGTERM'); await redis.exited; } }));

test('rediss:// with a password: two processes share one 4 rpm limit, counted in database 2', async () => {
  const a = await startNode(cert.crt), b = await startNode(cert.crt);
  await eventually(async () => (await redisUp(a)) === 1 && (await redisUp(b)) === 1, 'both nodes connected over TLS');
  await inOneWindow(60, 5);
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push((await chat(i % 2 ? b : a, KEY)).status);
  // A 4 rpm limit leases one unit at a time: exactly four pass across the two processes.
  assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
  const ws = Math.floor(Date.now() / 60000) * 60;
  const r = await run(REDIS_CLI, ['--tls', '--cacert', cert.crt, '-p', String(port), '-a', PASSWORD, '--no-auth-warning',
    '-n', '2', '--raw', 'HGET', `sluice:rl:{k:tls}:rpm:${ws}`, 'c']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Number(r.stdout.trim()) >= 4, `the window in database 2: ${r.stdout}`);
  // The url carried the password: it never reaches the log.
  assert.ok(!a.log().includes(PASSWORD) && !b.log().includes(PASSWORD), 'the Redis password was logged');
});

test('a server certificate that does not verify: never used; on_error: deny answers 503', async () => {
  const s = await startNode(other.crt, 'deny');
  await s.waitFor(/ratelimit: Redis at localhost:\d+ is unreachable \([^)]*\)/, 'the failed TLS handshake logged');
  assert.equal(await redisUp(s), 0);
  const r = await chat(s, KEY);
  assert.equal(r.status, 503, r.text);
  assert.equal(r.json.error.code, 'ratelimit_unavailable');
  assert.ok(!s.log().includes(PASSWORD), 'the Redis password was logged');
});
