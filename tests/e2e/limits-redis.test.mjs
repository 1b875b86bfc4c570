// Limits shared by a fleet through a real Redis (docs/limits.md): three Sluice processes with two
// workers each hold one 600 rpm limit within the documented overshoot bound and never refuse
// below it; Redis killed mid-run and restarted (fail open, or 503 with on_error: deny; logged
// once; no stuck slots); token limits with streams; budgets; no concurrency slot leaks after
// 1,000 aborted streams.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { startMock, startSluice, baseConfig, tempDir, teardown, eventually, sleep, scrapeMetrics } from './lib/harness.mjs';
import { providerAndModels, chat, openStream, inOneWindow, sha256, UPSTREAM_KEY } from './lib/limits.mjs';
import { startRedis } from './lib/redis.mjs';

const K = { group: 'sk-group', fleet: 'sk-fleet', outage: 'sk-outage', tpm: 'sk-tpm', budget: 'sk-budget', conc: 'sk-conc' };
// ratelimit_lease.c: a 600 rpm limit leases at most max(1, 600 / 256) = 2 units at a time, so
// six workers overshoot by at most (6 - 1) * (2 - 1) = 5 requests (docs/limits.md).
const FLEET_LIMIT = 600;
const WORKERS = 6;
const LEASE = Math.max(1, Math.floor(FLEET_LIMIT / 256));
const BOUND = (WORKERS - 1) * (LEASE - 1);
// How stale a worker's token and budget counts may be (docs/limits.md): additions reach Redis
// within two flushes, and a count may be SYNC_MS old when a request is checked.
const STALENESS_MS = 2 * 50 + 100;

function resources(apiBase) {
  return providerAndModels(apiBase, `  - display_name: m
    provider_key: mock
    model_name: up-m
    cost: {input_per_1k: 1, output_per_1k: 2}
  - display_name: t1
    provider_key: mock
    model_name: up-t1
    rate_limit: {rpm: 2}
  - display_name: t2
    provider_key: mock
    model_name: up-t2
  - display_name: grp
    routing:
      targets: [{model: t1}, {model: t2}]
`) + `api_keys:
  - display_name: group
    key_hash: ${sha256(K.group)}
    allowed_models: ["*"]
  - display_name: fleet
    key_hash: ${sha256(K.fleet)}
    allowed_models: ["*"]
    rate_limit: {rpm: ${FLEET_LIMIT}}
  - display_name: outage
    key_hash: ${sha256(K.outage)}
    allowed_models: ["*"]
    rate_limit: {rpm: 100000, concurrency: 2}
  - display_name: tpm
    key_hash: ${sha256(K.tpm)}
    allowed_models: ["*"]
    rate_limit: {tpm: 100}
  - display_name: budget
    key_hash: ${sha256(K.budget)}
    allowed_models: ["*"]
    budget: {limit_usd: 0.05, window: month}
  - display_name: conc
    key_hash: ${sha256(K.conc)}
    allowed_models: ["*"]
    rate_limit: {concurrency: 3}
`;
}

let redis, mock, fleet = [], deny;
const dir = tempDir();

async function startNode(onError) {
  const config = baseConfig({ workers: 2, metrics: true }) + `resources_file: ${dir.path('resources.yaml')}\n` +
    `ratelimit:\n  backend: redis\n  redis:\n    url: ${redis.url}\n    on_error: ${onError}\n    timeout_ms: 500\n`;
  const s = await startSluice({ config, dir: tempDir() });
  await eventually(async () => (await scrapeMetrics(s)).get('sluice_ratelimit_redis_up') === 1, 'the node connected to Redis');
  return s;
}

before(async () => {
  redis = await startRedis();
  mock = await startMock(['--require-key', UPSTREAM_KEY, '--threads', '2', '--quiet']);
  writeFileSync(dir.path('resources.yaml'), resources(`${mock.base}/v1`));
  fleet = await Promise.all([startNode('allow'), startNode('allow'), startNode('allow')]);
  deny = await startNode('deny');
});

after(() => teardown(...fleet.map((s) => () => s.stop()), () => deny?.stop(), () => mock?.stop(), () => redis?.stop()));

// Requests spread over the fleet, `width` at a time; resolves with their statuses.
async function burst(key, n, width = 24) {
  const statuses = [];
  let next = 0;
  await Promise.all(Array.from({ length: width }, async (_, lane) => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const r = await chat(fleet[(i + lane) % fleet.length], key);
      if (r.status === 429) assert.ok(Number(r.headers.get('retry-after')) >= 1, 'a 429 without Retry-After');
      statuses.push(r.status);
    }
  }));
  return statuses;
}

test(`three processes share one ${FLEET_LIMIT} rpm limit: nothing refused below it, at most ${BOUND} over it`, async (t) => {
  await inOneWindow(60, 20);
  const first = await burst(K.fleet, FLEET_LIMIT - 10);
  assert.deepEqual([...new Set(first)], [200], 'a request under the limit was refused');
  const rest = await burst(K.fleet, 100);
  const admitted = first.length + rest.filter((s) => s === 200).length;
  assert.deepEqual([...new Set(rest)].sort(), [200, 429]);
  assert.ok(admitted >= FLEET_LIMIT, `only ${admitted} admitted: a fleet under the limit was refused`);
  assert.ok(admitted <= FLEET_LIMIT + BOUND, `${admitted} admitted: over the bound of ${FLEET_LIMIT} + ${BOUND}`);
  t.diagnostic(`admitted ${admitted} of ${first.length + rest.length} (limit ${FLEET_LIMIT}, bound +${BOUND})`);
  // Every replica used Redis: the window's counter holds what the fleet counted.
  const ws = Math.floor(Date.now() / 60000) * 60;
  const h = await redis.hgetall(`sluice:rl:{k:fleet}:rpm:${ws}`);
  assert.ok(h.c >= FLEET_LIMIT, JSON.stringify(h));
});

test('Redis killed mid-run, then restarted: counted locally meanwhile (or 503 with deny), logged once, no stuck slots', async () => {
  const s0 = fleet[0];
  const held = [await openStream(s0, K.outage, { extra: { mock: { chunks: 100, chunk_interval_ms: 50 } } }),
    await openStream(s0, K.outage, { extra: { mock: { chunks: 100, chunk_interval_ms: 50 } } })];
  assert.deepEqual(held.map((h) => h.status), [200, 200]);
  assert.equal((await chat(s0, K.outage)).status, 429, 'the two slots are held in Redis');
  const marks = fleet.map((s) => s.log().length);
  await redis.kill();
  for (const s of [...fleet, deny]) {
    await eventually(async () => (await scrapeMetrics(s)).get('sluice_ratelimit_redis_up') === 0, 'the outage noticed');
  }
  // Fail open: each process counts on its own (a fresh count: the slots held in Redis are not
  // in this process's counters).
  for (const s of fleet) assert.equal((await chat(s, K.outage)).status, 200);
  const d = await chat(deny, K.outage);
  assert.equal(d.status, 503);
  assert.deepEqual(d.json.error, {
    message: 'rate limits cannot be checked: the shared limit store is unreachable', type: 'api_error', code: 'ratelimit_unavailable',
  });
  const m = await scrapeMetrics(fleet[1]);
  assert.ok(m.get('sluice_ratelimit_redis_fallback_total{decision="allow"}') >= 1);
  assert.ok((await scrapeMetrics(deny)).get('sluice_ratelimit_redis_fallback_total{decision="deny"}') >= 1);
  for (const h of held) h.abort();
  await sleep(500); // reconnection attempts fail meanwhile: still one line per outage
  await redis.start();
  for (const [i, s] of fleet.entries()) {
    await eventually(async () => (await scrapeMetrics(s)).get('sluice_ratelimit_redis_up') === 1, 'reconnected');
    const log = s.log().slice(marks[i]);
    assert.equal(log.match(/ratelimit: Redis at 127\.0\.0\.1:\d+ is unreachable/g)?.length, 1, log);
    assert.match(log, /ratelimit: Redis at 127\.0\.0\.1:\d+ is reachable again after [\d.]+ s/);
  }
  await eventually(async () => (await scrapeMetrics(s0)).get('sluice_in_flight_requests{route="chat_completions"}') === 0, 'streams ended');
  // The restarted Redis is empty and nothing is held anywhere: exactly two slots again, shared.
  const again = [await openStream(fleet[1], K.outage, { extra: { mock: { chunks: 100, chunk_interval_ms: 50 } } }),
    await openStream(fleet[2], K.outage, { extra: { mock: { chunks: 100, chunk_interval_ms: 50 } } })];
  assert.deepEqual(again.map((h) => h.status), [200, 200]);
  assert.equal((await chat(s0, K.outage)).status, 429);
  for (const h of again) h.abort();
});

// Token counts reach other workers within STALENESS_MS; calls starting while the window is at or
// under its limit all run (they are checked, not reserved).
test('tpm with streams across processes', async () => {
  await inOneWindow(60, 15);
  let used = 0, calls = 0;
  while (used <= 100) {
    const r = await chat(fleet[calls % 3], K.tpm, { stream: true, extra: { stream_options: { include_usage: true }, mock: { chunks: 20 } } });
    assert.equal(r.status, 200, r.text);
    used += JSON.parse(r.text.split('\n\n').filter((e) => e.includes('"usage":{')).pop().slice(6)).usage.total_tokens;
    calls++;
    const ws = Math.floor(Date.now() / 60000) * 60;
    await eventually(async () => Number((await redis.cli('GET', `sluice:rl:{k:tpm}:tpm:${ws}`))[0] ?? 0) === used, 'the tokens reached Redis');
    await sleep(STALENESS_MS);
  }
  assert.ok(calls >= 2, `${calls} calls`);
  for (const s of fleet) {
    const r = await chat(s, K.tpm, { stream: true });
    assert.equal(r.status, 429);
    assert.equal(r.json.error.message, 'token limit exceeded (tokens)');
  }
});

test('a budget across processes: refused everywhere once spent', async () => {
  let spent = 0, i = 0;
  const periodKey = () => {
    const now = new Date();
    return `sluice:rl:{k:budget}:usd:${(now.getUTCFullYear() - 1970) * 12 + now.getUTCMonth()}`;
  };
  while (spent < 0.05) {
    const r = await chat(fleet[i++ % 3], K.budget);
    assert.equal(r.status, 200, r.text);
    spent += (r.json.usage.prompt_tokens + 2 * r.json.usage.completion_tokens) / 1000;
    const want = Math.round(spent * 1e9);
    await eventually(async () => Number((await redis.cli('GET', periodKey()))[0] ?? 0) === want, 'the spend reached Redis');
    await sleep(STALENESS_MS);
  }
  for (const s of fleet) {
    const r = await chat(s, K.budget);
    assert.equal(r.status, 429);
    assert.equal(r.json.error.code, 'budget_exceeded');
    assert.equal(r.json.error.spent_usd, spent.toFixed(9));
    assert.equal(r.json.error.period, 'month');
  }
});

test('no concurrency slot leaks in Redis after 1,000 aborted streams across the fleet', async () => {
  const stages = [{ ttft_ms: 50, chunks: 5 }, { chunks: 40, chunk_interval_ms: 20 }, { chunks: 200, chunk_interval_ms: 1 }];
  let admitted = 0;
  for (let i = 0; i < 1000; i += 12) {
    await Promise.all(Array.from({ length: Math.min(12, 1000 - i) }, async (_, j) => {
      const mockOpts = stages[(i + j) % stages.length];
      const s = fleet[(i + j) % 3];
      const ctl = new AbortController();
      try {
        const p = fetch(s.url('/v1/chat/completions'), {
          method: 'POST', signal: ctl.signal,
          headers: { authorization: `Bearer ${K.conc}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true, mock: mockOpts }),
        });
        if (mockOpts.ttft_ms !== undefined) setTimeout(() => ctl.abort(), 10);
        const res = await p;
        if (res.status === 200) {
          admitted++;
          await res.body.getReader().read();
          ctl.abort();
        } else {
          await res.text();
        }
      } catch { /* aborted */ }
    }));
  }
  assert.ok(admitted > 100, `only ${admitted} admitted`);
  for (const s of fleet) {
    await eventually(async () => (await scrapeMetrics(s)).get('sluice_in_flight_requests{route="chat_completions"}') === 0, 'streams ended');
  }
  await eventually(async () => Object.values(await redis.hgetall('sluice:rl:{k:conc}:conc')).every((v) => v === 0),
    'every worker gave its slots back to Redis');
  const held = [];
  for (let i = 0; i < 3; i++) {
    const h = await openStream(fleet[i], K.conc, { extra: { mock: { chunks: 100, chunk_interval_ms: 50 } } });
    assert.equal(h.status, 200, `stream ${i + 1} of 3 refused: a slot leaked`);
    held.push(h);
  }
  for (const s of fleet) assert.equal((await chat(s, K.conc)).status, 429);
  for (const h of held) h.abort();
});

test("a group's target limit shared by the fleet: each attempt waits on Redis for its own lease; the third call fails over", async () => {
  await inOneWindow(60, 5);
  const served = [];
  // One call per process: each worker holds no lease yet, so each attempt waits on Redis.
  for (let i = 0; i < 3; i++) {
    const r = await chat(fleet[i], K.group, { model: 'grp' });
    assert.equal(r.status, 200, r.text);
    served.push(r.headers.get('x-sluice-served-by'));
  }
  assert.deepEqual(served, ['t1', 't1', 't2']);
  await fleet[2].waitFor(/attempts="t1 rate_limited \d+ms, t2 200 \d+ms"/, 'the refused attempt logged');
});
