// The response cache with the redis backend (docs/cache.md): two Sluice processes share one
// real redis-server (a miss on one is a hit on the other, entries expire through SET EX), and
// Redis killed then restarted means misses that still answer, logged once per outage and
// counted, then hits again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { startMock, startSluice, baseConfig, tempDir, teardown, eventually } from './lib/harness.mjs';
import { chat, metric, sha256, UPSTREAM_KEY } from './lib/limits.mjs';
import { startRedis } from './lib/redis.mjs';

const KEY = 'sk-cache-redis';
const TTL = 120;

function resources(apiBase) {
  return `_format_version: "1"
provider_keys:
  - display_name: mock
    provider: openai
    api_key: ${UPSTREAM_KEY}
    api_base: ${apiBase}
models:
  - display_name: m
    provider_key: mock
    model_name: up-m
api_keys:
  - display_name: caller
    key_hash: ${sha256(KEY)}
    allowed_models: ["*"]
cache_policies:
  - name: fleet
    backend: redis
    scope: env
    ttl_seconds: ${TTL}
`;
}

let mock, redis, a, b;
before(async () => {
  mock = await startMock(['--require-key', UPSTREAM_KEY]);
  redis = await startRedis();
  const start = async () => {
    const dir = tempDir();
    writeFileSync(dir.path('resources.yaml'), resources(`${mock.base}/v1`));
    return startSluice({
      config: baseConfig({ metrics: true }) + `resources_file: ${dir.path('resources.yaml')}\n` +
        `cache:\n  redis:\n    url: ${redis.url}\n    key_prefix: ct\n    timeout_ms: 300\n`,
      dir,
    });
  };
  a = await start();
  b = await start();
  for (const s of [a, b]) await eventually(async () => (await metric(s, 'sluice_cache_redis_up')) === 1, 'cache.redis ready');
});
after(() => teardown(() => a?.stop(), () => b?.stop(), () => redis?.stop(), () => mock?.stop()));

let seq = 0;
const fresh = () => ({ extra: { messages: [{ role: 'user', content: `r${seq++}-${Date.now()}` }] } });
const calls = async () => (await mock.stats()).requests;

test('a miss on one process is a hit on the other, stored with SET EX', async () => {
  const opts = fresh();
  const c0 = await calls();
  const m0 = await metric(a, 'sluice_cache_requests_total{policy="fleet",result="miss"}');
  const h0 = await metric(b, 'sluice_cache_requests_total{policy="fleet",result="hit"}');
  const first = await chat(a, KEY, opts);
  assert.equal(first.status, 200, first.text);
  assert.equal(first.headers.get('x-sluice-cache'), 'miss');
  // The SET goes out after the reply: wait for it to land.
  await eventually(async () => (await redis.cli('KEYS', 'ct:cache:*')).length >= 1, 'the entry in Redis');
  const second = await chat(b, KEY, opts);
  assert.equal(second.headers.get('x-sluice-cache'), 'hit');
  assert.equal(second.text, first.text);
  assert.equal(await calls(), c0 + 1);
  assert.equal(await metric(a, 'sluice_cache_requests_total{policy="fleet",result="miss"}'), m0 + 1);
  assert.equal(await metric(b, 'sluice_cache_requests_total{policy="fleet",result="hit"}'), h0 + 1);
  for (const k of await redis.cli('KEYS', 'ct:cache:*')) {
    assert.match(k, /^ct:cache:[0-9a-f]{64}$/);
    const ttl = Number((await redis.cli('TTL', k))[0]);
    assert.ok(ttl > 0 && ttl <= TTL, `TTL ${ttl}`);
  }
  // Deleting the entry in Redis is a miss again: nothing is kept in memory.
  for (const k of await redis.cli('KEYS', 'ct:cache:*')) await redis.cli('DEL', k);
  assert.equal((await chat(b, KEY, opts)).headers.get('x-sluice-cache'), 'miss');
});

test('Redis down: requests miss and are answered, logged once per outage and counted; hits again once it is back', async () => {
  const opts = fresh();
  assert.equal((await chat(a, KEY, opts)).headers.get('x-sluice-cache'), 'miss');
  await eventually(async () => (await chat(a, KEY, opts)).headers.get('x-sluice-cache') === 'hit', 'a hit before the outage');
  const e0 = await metric(a, 'sluice_cache_redis_errors_total');
  // The processes' handles are unref'd: keep the loop alive while waiting for the kill.
  const keep = setInterval(() => {}, 1000);
  await redis.kill().finally(() => clearInterval(keep));
  for (let i = 0; i < 5; i++) {
    const r = await chat(a, KEY, opts);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-sluice-cache'), 'miss');
  }
  await eventually(() => /cache: Redis at 127\.0\.0\.1:\d+ is unreachable/.test(a.log()), 'the outage logged');
  assert.equal((a.log().match(/cache: Redis at \S+ is unreachable/g) ?? []).length, 1);
  assert.ok((await metric(a, 'sluice_cache_redis_errors_total')) >= e0 + 5);
  assert.equal(await metric(a, 'sluice_cache_redis_up'), 0);
  await redis.start();
  await eventually(() => /cache: Redis at \S+ is reachable again after [\d.]+ s/.test(a.log()), 'the recovery logged');
  await eventually(async () => (await metric(a, 'sluice_cache_redis_up')) === 1, 'cache.redis ready again');
  // The restarted server is empty: a miss stores, then the other process hits.
  assert.equal((await chat(a, KEY, opts)).headers.get('x-sluice-cache'), 'miss');
  await eventually(async () => (await chat(b, KEY, opts)).headers.get('x-sluice-cache') === 'hit', 'a hit after the outage');
  assert.equal((a.log().match(/cache: Redis at \S+ is unreachable/g) ?? []).length, 1);
});
