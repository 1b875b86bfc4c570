// Rate limits on model groups (docs/limits.md, Routing targets): the group's own limit is
// checked once at the gate; each attempt on a target reserves that target's own limits, a
// target whose limits refuse is failed over without being blamed (no failure, no cooldown), and
// the caller gets the limit's 429 when no target is left. The served target prices the request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { teardown } from './lib/harness.mjs';
import { startLimited, providerAndModels, chat, inOneWindow, metric, sha256 } from './lib/limits.mjs';

const KEY = 'sk-routing-limits';

function resources(apiBase) {
  return providerAndModels(apiBase, `  - display_name: t1
    provider_key: mock
    model_name: up-t1
    rate_limit: {rpm: 2}
    cost: {input_per_1k: 1, output_per_1k: 1}
  - display_name: t2
    provider_key: mock
    model_name: up-t2
    rate_limit: {rpm: 1}
    cost: {input_per_1k: 1000, output_per_1k: 1000}
  - display_name: t3
    provider_key: mock
    model_name: up-t3
  - display_name: grp
    routing:
      targets: [{model: t1}, {model: t2}]
  - display_name: capped
    rate_limit: {rpm: 1}
    routing:
      targets: [{model: t3}]
`) + `api_keys:
  - display_name: caller
    key_hash: ${sha256(KEY)}
    allowed_models: ["*"]
`;
}

// Upstream calls the mock received for an upstream model id.
async function upstreamCalls(model) {
  const reqs = await g.mock.requests();
  return reqs.filter((q) => { try { return JSON.parse(q.body).model === model; } catch { return false; } }).length;
}

let g;
before(async () => { g = await startLimited({ resources, workers: 1 }); });
after(() => teardown(() => g?.sluice.stop(), () => g?.mock.stop()));

test('a group: each target reserves its own rpm per attempt; a refused target fails over, unblamed; none left gives the 429', async () => {
  await inOneWindow(60, 8);
  const fail0 = await metric(g.sluice, 'sluice_target_failures_total{target="t1"}');
  const served = [];
  for (let i = 0; i < 3; i++) {
    const r = await chat(g.sluice, KEY, { model: 'grp' });
    assert.equal(r.status, 200, r.text);
    served.push(r.headers.get('x-sluice-served-by'));
  }
  // t1 allows two a minute; the third request is refused by t1's limit and served by t2.
  assert.deepEqual(served, ['t1', 't1', 't2']);
  await g.sluice.waitFor(/served_by="t2".*attempts="t1 rate_limited \d+ms, t2 200 \d+ms"|attempts="t1 rate_limited \d+ms, t2 200 \d+ms".*served_by="t2"/,
    'the refused attempt logged');
  // Priced by the target that answered (t2 costs 1000x t1): the mock's reply has usage.
  await g.sluice.waitFor(/served_by="t2"[^\n]*cost_usd=[1-9]|cost_usd=[1-9][^\n]*served_by="t2"/, 't2 priced the request');
  // Both targets' limits are spent: the caller gets the target's 429 with Retry-After.
  const r = await chat(g.sluice, KEY, { model: 'grp' });
  assert.equal(r.status, 429, r.text);
  assert.deepEqual(r.json, { error: { message: 'request limit exceeded (requests)', type: 'rate_limit_exceeded', code: 'rate_limit_exceeded' } });
  const ra = Number(r.headers.get('retry-after'));
  assert.ok(ra >= 1 && ra <= 60, `Retry-After ${ra}`);
  await g.sluice.waitFor(/status=429 [^\n]*limit="model:rpm"[^\n]*attempts="t1 rate_limited \d+ms, t2 rate_limited \d+ms"/, 'the 429 logged with both attempts');
  // A limit is not the target's failure: no failure counted, no cooldown.
  assert.equal(await metric(g.sluice, 'sluice_target_failures_total{target="t1"}'), fail0);
  assert.equal(await metric(g.sluice, 'sluice_target_cooldown{target="t1"}'), 0);
  assert.equal(await upstreamCalls('up-t1'), 2);
  assert.equal(await upstreamCalls('up-t2'), 1);
});

test("a group's own rate_limit is checked once at the gate, before any target", async () => {
  await inOneWindow(60, 5);
  const before = await upstreamCalls('up-t3');
  const a = await chat(g.sluice, KEY, { model: 'capped' });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.headers.get('x-sluice-served-by'), 't3');
  const b = await chat(g.sluice, KEY, { model: 'capped' });
  assert.equal(b.status, 429, b.text);
  await g.sluice.waitFor(/status=429 [^\n]*model="capped"[^\n]*limit="model:rpm"/, 'refused at the gate');
  assert.equal(await upstreamCalls('up-t3'), before + 1);
});
