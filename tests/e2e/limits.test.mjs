// Rate limits, concurrency caps, token limits, budgets and policies with the memory backend
// (docs/limits.md): what a caller sees (429 envelopes, Retry-After, x-ratelimit-* headers), what
// the operator sees (access log, metrics), and that slots come back however a request ends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { teardown, eventually } from './lib/harness.mjs';
import { startLimited, providerAndModels, chat, openStream, inOneWindow, metric, sha256 } from './lib/limits.mjs';

const K = {
  rpm: 'sk-rpm-key', tpm: 'sk-tpm-key', budget: 'sk-budget-key', a: 'sk-team-a1', b: 'sk-team-a2',
  free: 'sk-free-key', other: 'sk-other-key', hdr: 'sk-headers-key',
};

function resources(apiBase) {
  return providerAndModels(apiBase, `  - display_name: m
    provider_key: mock
    model_name: up-m
    cost: {input_per_1k: 1, output_per_1k: 2}
  - display_name: slow
    provider_key: mock
    model_name: up-slow
    rate_limit: {concurrency: 3}
  - display_name: mock-*
    provider_key: mock
    model_name: up-*
`) + `api_keys:
  - display_name: rpm
    key_hash: ${sha256(K.rpm)}
    allowed_models: ["*"]
    rate_limit: {rpm: 3, concurrency: 5}
  - display_name: tpm
    key_hash: ${sha256(K.tpm)}
    allowed_models: ["*"]
    rate_limit: {tpm: 100}
  - display_name: budget
    key_hash: ${sha256(K.budget)}
    allowed_models: ["*"]
    budget: {limit_usd: 0.05, window: day}
  - display_name: a1
    key_hash: ${sha256(K.a)}
    allowed_models: ["*"]
    team_id: team-a
    user_id: u1
  - display_name: a2
    key_hash: ${sha256(K.b)}
    allowed_models: ["*"]
    team_id: team-a
    user_id: u2
  - display_name: free
    key_hash: ${sha256(K.free)}
    allowed_models: ["*"]
  - display_name: other
    key_hash: ${sha256(K.other)}
    allowed_models: ["*"]
  - display_name: hdr
    key_hash: ${sha256(K.hdr)}
    allowed_models: ["*"]
    rate_limit: {rpm: 1000, tpm: 100000}
rate_limit_policies:
  - name: team-a-hourly
    scope: team
    scope_ref: team-a
    window: hour
    max_requests: 2
  - name: mock-family
    conditions:
      - {dimension: model_name, operator: "~~", value: "^mock-"}
      - {dimension: api_key, operator: in, value: [free, other]}
    group_by: [api_key]
    limits: {rpd: 1}
  - name: never-enforced
    scope: api_key
    scope_ref: free
    window: day
    max_requests: 1
    schedules:
      - {timezone: UTC, days_of_week: [mon, tue, wed, thu, fri, sat, sun], start_time: "00:00", end_time: "24:00"}
`;
}

let g;
before(async () => { g = await startLimited({ resources }); });
after(() => teardown(() => g?.sluice.stop(), () => g?.mock.stop()));

const RL = 'sluice_ratelimit_rejections_total';

test('a key rpm limit: three calls pass with x-ratelimit-* headers, the fourth gets 429 with Retry-After', async () => {
  await inOneWindow(60, 5);
  const r0 = await metric(g.sluice, `${RL}{layer="api_key",reason="requests"}`);
  for (let i = 0; i < 3; i++) {
    const r = await chat(g.sluice, K.rpm);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-ratelimit-limit-requests'), '3');
    assert.equal(r.headers.get('x-ratelimit-remaining-requests'), String(2 - i));
    assert.match(r.headers.get('x-ratelimit-reset-requests'), /^([1-9]|[1-5]\d|60)s$/);
    // The key's own concurrency: this request still holds its slot while the head goes out.
    assert.equal(r.headers.get('x-ratelimit-limit-concurrent'), '5');
    assert.equal(r.headers.get('x-ratelimit-remaining-concurrent'), '4');
    assert.equal(r.headers.get('x-ratelimit-limit-tokens'), null);
  }
  const r = await chat(g.sluice, K.rpm);
  assert.equal(r.status, 429);
  assert.deepEqual(r.json, { error: { message: 'request limit exceeded (requests)', type: 'rate_limit_exceeded', code: 'rate_limit_exceeded' } });
  const ra = Number(r.headers.get('retry-after'));
  assert.ok(ra >= 1 && ra <= 60, `Retry-After ${ra}`);
  assert.equal(r.headers.get('x-ratelimit-limit-requests'), null);
  await eventually(async () => (await metric(g.sluice, `${RL}{layer="api_key",reason="requests"}`)) === r0 + 1, 'the rejection counted');
  await g.sluice.waitFor(/status=429 .*key="rpm" error="rate_limited" limit="api_key:rpm"/, 'the 429 logged with its limit');
  // Anthropic callers get their own envelope; the limit is the same.
  const m = await chat(g.sluice, K.rpm, { path: '/v1/messages', extra: { max_tokens: 5 } });
  assert.equal(m.status, 429);
  assert.deepEqual(m.json, { type: 'error', error: { type: 'rate_limit_error', message: 'request limit exceeded (requests)' } });
});

test('a model concurrency cap: a third stream waits for a slot, refused without Retry-After, admitted once one ends', async () => {
  const held = [];
  for (let i = 0; i < 3; i++) {
    const s = await openStream(g.sluice, K.other, { model: 'slow', extra: { mock: { chunks: 50, chunk_interval_ms: 100 } } });
    assert.equal(s.status, 200);
    held.push(s);
  }
  const r = await openStream(g.sluice, K.other, { model: 'slow' });
  assert.equal(r.status, 429);
  assert.deepEqual(r.json.error, { message: 'concurrency limit exceeded', type: 'rate_limit_exceeded', code: 'rate_limit_exceeded' });
  assert.equal(r.headers.get('retry-after'), null);
  held.pop().abort();
  await eventually(async () => (await chat(g.sluice, K.other, { model: 'slow', extra: { mock: { chunks: 1 } } })).status === 200,
    'a slot freed by the caller leaving');
  for (const s of held) s.abort();
});

// Callers that leave at every stage (waiting for the head, mid-stream, between events) must
// give their slot back: after 1,000 of them the cap admits exactly its three streams again.
test('no slot leaks after 1,000 aborted streams', async () => {
  const stages = [{ ttft_ms: 50, chunks: 5 }, { chunks: 40, chunk_interval_ms: 20 }, { chunks: 200, chunk_interval_ms: 1 }];
  let admitted = 0;
  for (let i = 0; i < 1000; i += 10) {
    await Promise.all(Array.from({ length: 10 }, async (_, j) => {
      const mock = stages[(i + j) % stages.length];
      const ctl = new AbortController();
      const early = mock.ttft_ms !== undefined;
      try {
        const p = fetch(g.sluice.url('/v1/chat/completions'), {
          method: 'POST', signal: ctl.signal,
          headers: { authorization: `Bearer ${K.other}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'slow', messages: [{ role: 'user', content: 'x' }], stream: true, mock }),
        });
        if (early) setTimeout(() => ctl.abort(), 10);
        const res = await p;
        if (res.status === 200) {
          admitted++;
          const reader = res.body.getReader();
          await reader.read();
          ctl.abort();
        } else {
          await res.text();
        }
      } catch { /* aborted */ }
    }));
  }
  assert.ok(admitted > 100, `only ${admitted} streams admitted`);
  await eventually(async () => (await metric(g.sluice, 'sluice_in_flight_requests{route="chat_completions"}')) === 0, 'every aborted stream ended');
  const held = [];
  for (let i = 0; i < 3; i++) {
    const s = await openStream(g.sluice, K.other, { model: 'slow', extra: { mock: { chunks: 50, chunk_interval_ms: 100 } } });
    assert.equal(s.status, 200, `stream ${i + 1} of 3 refused: a slot leaked`);
    held.push(s);
  }
  assert.equal((await openStream(g.sluice, K.other, { model: 'slow' })).status, 429);
  for (const s of held) s.abort();
});

test('tpm with streams: tokens count at stream end; the window past its limit refuses the next call', async () => {
  await inOneWindow(60, 10);
  let used = 0, calls = 0;
  // Tokens are checked, not reserved: every call starting while the window is at or under 100
  // runs, and its tokens land when its stream ends.
  while (used <= 100) {
    const r = await chat(g.sluice, K.tpm, { stream: true, extra: { stream_options: { include_usage: true }, mock: { chunks: 20 } } });
    assert.equal(r.status, 200, r.text);
    // A stream's head goes out before its usage is known: the header shows earlier calls' use.
    assert.equal(r.headers.get('x-ratelimit-remaining-tokens'), String(Math.max(100 - used, 0)));
    const last = r.text.split('\n\n').filter((e) => e.includes('"usage":{')).pop();
    used += JSON.parse(last.slice(6)).usage.total_tokens;
    calls++;
  }
  assert.ok(calls >= 2, `${calls} calls`);
  const r = await chat(g.sluice, K.tpm, { stream: true });
  assert.equal(r.status, 429);
  assert.equal(r.json.error.message, 'token limit exceeded (tokens)');
  assert.ok(Number(r.headers.get('retry-after')) >= 1);
});

test('an upstream that reports no usage: tokens are estimated, counted and flagged in the log', async () => {
  const r = await chat(g.sluice, K.other, { stream: true, extra: { mock: { chunks: 6, no_usage: true } } });
  assert.equal(r.status, 200);
  // About one token per event relayed (the terminator included).
  const events = r.text.split('\n\n').filter((e) => e.startsWith('data: ')).length;
  const prompt = Math.ceil(r.bodyLen / 4);
  await g.sluice.waitFor(new RegExp(`key="other" prompt_tokens=${prompt} completion_tokens=${events} tokens_estimated=true`),
    'the estimate logged');
});

test('a budget: spent once the priced calls reach it, then 429 billing_error with the figures', async () => {
  const c0 = await metric(g.sluice, 'sluice_cost_usd_total{key="budget",model="m"}');
  const a = await chat(g.sluice, K.budget);
  assert.equal(a.status, 200);
  const cost = (u) => (u.prompt_tokens * 1 + u.completion_tokens * 2) / 1000;
  const first = cost(a.json.usage);
  await g.sluice.waitFor(new RegExp(`key="budget" prompt_tokens=\\d+ completion_tokens=\\d+ cost_usd=${first.toFixed(9).replace('.', '\\.')}`), 'cost_usd logged');
  let spent = first;
  while (spent < 0.05) {
    const r = await chat(g.sluice, K.budget);
    assert.equal(r.status, 200);
    spent += cost(r.json.usage);
  }
  const r = await chat(g.sluice, K.budget);
  assert.equal(r.status, 429);
  const now = new Date();
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1) / 1000;
  const e = r.json.error;
  assert.equal(e.type, 'billing_error');
  assert.equal(e.code, 'budget_exceeded');
  assert.equal(e.scope, 'api_key');
  assert.equal(e.scope_ref, 'budget');
  assert.equal(e.limit_usd, '0.050000000');
  assert.equal(e.spent_usd, spent.toFixed(9));
  assert.equal(e.period, 'day');
  assert.equal(e.period_resets_at, new Date(midnight * 1000).toISOString().replace('.000', ''));
  assert.ok(Math.abs(e.retry_after_seconds - (midnight - Date.now() / 1000)) < 3);
  assert.equal(r.headers.get('retry-after'), String(e.retry_after_seconds));
  assert.match(e.message, /^api_key budget "budget" exceeded \(\$0\.\d\d of \$0\.05 per day\)\. Resets at \d{4}-\d\d-\d\dT00:00:00Z$/);
  await eventually(async () => Math.abs((await metric(g.sluice, 'sluice_cost_usd_total{key="budget",model="m"}')) - c0 - spent) < 1e-9,
    'sluice_cost_usd_total counts every priced call');
});

test('policies: a team shares one bucket across its keys; a 429 names the policy', async () => {
  await inOneWindow(3600, 5);
  assert.equal((await chat(g.sluice, K.a)).status, 200);
  assert.equal((await chat(g.sluice, K.b)).status, 200);
  const r = await chat(g.sluice, K.a);
  assert.equal(r.status, 429);
  assert.deepEqual(r.json.error, {
    message: "request limit exceeded (requests) (policy 'team-a-hourly')", type: 'rate_limit_exceeded', code: 'rate_limit_exceeded',
    // uuid5 of "rate_limit_policies/team-a-hourly", as the reference derives file ids
    policy: { id: 'c25df8ef-0f00-51e1-beef-d8528e0cd4df', name: 'team-a-hourly' },
  });
  assert.ok(Number(r.headers.get('retry-after')) <= 3600);
});

test('a conditional policy: a regex on model_name, one bucket per key; a suspended policy is not enforced', async () => {
  for (const key of [K.free, K.other]) {
    assert.equal((await chat(g.sluice, key, { model: 'mock-one' })).status, 200);
    const r = await chat(g.sluice, key, { model: 'mock-two' });
    assert.equal(r.status, 429);
    assert.equal(r.json.error.policy.name, 'mock-family');
  }
  // model "m" does not match ^mock-; "never-enforced" is suspended all day, every day.
  for (let i = 0; i < 3; i++) assert.equal((await chat(g.sluice, K.free)).status, 200);
});

test('x-ratelimit-* headers only on chat completions', async () => {
  const c = await chat(g.sluice, K.hdr);
  assert.equal(c.status, 200);
  assert.equal(c.headers.get('x-ratelimit-limit-tokens'), '100000');
  for (const [path, extra] of [['/v1/embeddings', { input: 'x' }], ['/v1/completions', { prompt: 'x' }]]) {
    const r = await chat(g.sluice, K.hdr, { path, extra });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-ratelimit-limit-tokens'), null);
    assert.equal(r.headers.get('x-ratelimit-limit-requests'), null);
  }
});
