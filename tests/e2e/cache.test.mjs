// The response cache with the memory backend (docs/cache.md): hits and misses, scopes,
// Cache-Control, TTL, purge_generation through a reload, a hit costing no tokens against a tpm
// limit, streams replayed to the official SDKs, cut streams not stored, and the memory bound
// under a flood of distinct requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { teardown, eventually, sleep, curl, runSluice } from './lib/harness.mjs';
import { startLimited, chat, metric, sha256, UPSTREAM_KEY } from './lib/limits.mjs';
import { isSanitizedBuild } from './lib/probes.mjs';

const K = { a: 'sk-cache-a', b: 'sk-cache-b', tpm: 'sk-cache-tpm' };

function resources(apiBase, { purge = 0 } = {}) {
  return `_format_version: "1"
provider_keys:
  - display_name: mock
    provider: openai
    api_key: ${UPSTREAM_KEY}
    api_base: ${apiBase}
  - display_name: anth
    provider: anthropic
    api_key: ${UPSTREAM_KEY}
    api_base: ${apiBase}
models:
  - display_name: m
    provider_key: mock
    model_name: up-m
  - display_name: shared
    provider_key: mock
    model_name: up-shared
  - display_name: short
    provider_key: mock
    model_name: up-short
  - display_name: uncached
    provider_key: mock
    model_name: up-uncached
  - display_name: redisy
    provider_key: mock
    model_name: up-redisy
  - display_name: claude
    provider_key: anth
    model_name: claude-up
api_keys:
  - display_name: a
    key_hash: ${sha256(K.a)}
    allowed_models: ["*"]
  - display_name: b
    key_hash: ${sha256(K.b)}
    allowed_models: ["*"]
  - display_name: tpm
    key_hash: ${sha256(K.tpm)}
    allowed_models: ["*"]
    rate_limit: {tpm: 100000}
cache_policies:
  - name: off
    enabled: false
    applies_to: model:uncached
  - name: shared
    applies_to: model:shared
    scope: env
  - name: short
    applies_to: model:short
    ttl_seconds: 2
  - name: no-redis
    applies_to: model:redisy
    backend: redis
  - name: keep-uncached-out
    applies_to: model:uncached
    enabled: false
  - name: default
    purge_generation: ${purge}
`;
}

let g;
before(async () => { g = await startLimited({ resources }); });
after(() => teardown(() => g?.sluice.stop(), () => g?.mock.stop()));

const REQ = 'sluice_cache_requests_total';
const series = (policy, result) => `${REQ}{policy="${policy}",result="${result}"}`;
const upstreamCalls = async () => (await g.mock.stats()).requests;

// A request unique to this run, so tests never see each other's entries.
let seq = 0;
const fresh = (extra = {}) => ({ extra: { messages: [{ role: 'user', content: `q${seq++}-${Date.now()}` }], ...extra } });

test('a miss is stored, the same request hits without calling the upstream, whatever its member order and spacing', async () => {
  const m0 = await metric(g.sluice, series('default', 'miss'));
  const h0 = await metric(g.sluice, series('default', 'hit'));
  const opts = fresh({ temperature: 0.25 });
  const calls = await upstreamCalls();
  const first = await chat(g.sluice, K.a, opts);
  assert.equal(first.status, 200, first.text);
  assert.equal(first.headers.get('x-sluice-cache'), 'miss');
  const second = await chat(g.sluice, K.a, opts);
  assert.equal(second.status, 200);
  assert.equal(second.headers.get('x-sluice-cache'), 'hit');
  assert.equal(second.text, first.text);
  assert.equal(second.json.model, 'm'); // the caller's alias, as stored
  assert.equal(second.headers.get('content-type'), first.headers.get('content-type'));
  // Reordered members and whitespace: the same key.
  const body = `{ "temperature": 0.25,\n  "messages": ${JSON.stringify(opts.extra.messages)}, "stream": false, "model": "m" }`;
  const res = await fetch(g.sluice.url('/v1/chat/completions'), {
    method: 'POST', body, headers: { authorization: `Bearer ${K.a}`, 'content-type': 'application/json' },
  });
  assert.equal(res.headers.get('x-sluice-cache'), 'hit');
  assert.equal(await res.text(), first.text);
  assert.equal(await upstreamCalls(), calls + 1);
  assert.equal(await metric(g.sluice, series('default', 'miss')), m0 + 1);
  assert.equal(await metric(g.sluice, series('default', 'hit')), h0 + 2);
  await g.sluice.waitFor(/status=200 .*key="a" .*cache="hit"/, 'the hit in the access log');
  // A different sampling field is another key.
  const other = await chat(g.sluice, K.a, { extra: { ...opts.extra, temperature: 0.5 } });
  assert.equal(other.headers.get('x-sluice-cache'), 'miss');
});

test('scope api_key keeps keys apart; scope env shares entries; a disabled policy is skipped', async () => {
  const opts = fresh();
  assert.equal((await chat(g.sluice, K.a, opts)).headers.get('x-sluice-cache'), 'miss');
  assert.equal((await chat(g.sluice, K.b, opts)).headers.get('x-sluice-cache'), 'miss');
  assert.equal((await chat(g.sluice, K.b, opts)).headers.get('x-sluice-cache'), 'hit');
  const shared = fresh();
  assert.equal((await chat(g.sluice, K.a, { model: 'shared', ...shared })).headers.get('x-sluice-cache'), 'miss');
  const hit = await chat(g.sluice, K.b, { model: 'shared', ...shared });
  assert.equal(hit.headers.get('x-sluice-cache'), 'hit');
  assert.equal(hit.json.model, 'shared');
  // model:uncached only has disabled policies, so the catch-all "default" takes it.
  const u = fresh();
  assert.equal((await chat(g.sluice, K.a, { model: 'uncached', ...u })).headers.get('x-sluice-cache'), 'miss');
  assert.equal((await chat(g.sluice, K.a, { model: 'uncached', ...u })).headers.get('x-sluice-cache'), 'hit');
});

test('a redis policy without cache.redis does not cache (and never falls back to memory)', async () => {
  assert.match(g.sluice.log(), /WARN  \S+resources\.yaml:\d+: cache_policies\[3\] \("no-redis"\): backend redis needs cache\.redis in \S+config\.yaml: requests it matches are not cached \(status disabled\)/);
  const opts = fresh();
  const calls = await upstreamCalls();
  for (let i = 0; i < 2; i++) {
    const r = await chat(g.sluice, K.a, { model: 'redisy', ...opts });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-sluice-cache'), null);
  }
  assert.equal(await upstreamCalls(), calls + 2);
  await g.sluice.waitFor(/model="redisy".*cache="disabled"/, 'disabled in the access log');
  const v = await runSluice(['validate', '--config', g.sluice.configFile]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stderr, /^sluice: \S+resources\.yaml:\d+: cache_policies\[3\] \("no-redis"\): backend redis needs cache\.redis in \S+config\.yaml: requests it matches are not cached \(status disabled\)$/m);
});

test('Cache-Control: no-cache skips the read but stores; no-store skips the write', async () => {
  const b0 = await metric(g.sluice, series('default', 'bypass'));
  const cc = (v) => ({ headers: { 'cache-control': v } });
  const send = (opts, h = {}) => fetch(g.sluice.url('/v1/chat/completions'), {
    method: 'POST',
    body: JSON.stringify({ model: 'm', ...opts.extra }),
    headers: { authorization: `Bearer ${K.a}`, 'content-type': 'application/json', ...h },
  });
  const o1 = fresh();
  let r = await send(o1, cc('no-cache').headers);
  assert.equal(r.headers.get('x-sluice-cache'), 'bypass');
  await r.text();
  r = await send(o1);
  assert.equal(r.headers.get('x-sluice-cache'), 'hit'); // the bypass stored its reply
  await r.text();
  r = await send(o1, cc('max-age=0, No-Cache').headers);
  assert.equal(r.headers.get('x-sluice-cache'), 'bypass');
  await r.text();
  const o2 = fresh();
  r = await send(o2, cc('no-store').headers);
  assert.equal(r.headers.get('x-sluice-cache'), 'miss');
  await r.text();
  r = await send(o2);
  assert.equal(r.headers.get('x-sluice-cache'), 'miss'); // nothing was stored
  await r.text();
  assert.equal(await metric(g.sluice, series('default', 'bypass')), b0 + 2);
});

test('only complete 200 replies are stored: an error is not', async () => {
  const opts = fresh({ mock: { status: 400, error_message: 'nope' } });
  const r1 = await chat(g.sluice, K.a, opts);
  assert.equal(r1.status, 400);
  assert.equal(r1.headers.get('x-sluice-cache'), 'miss');
  const r2 = await chat(g.sluice, K.a, opts);
  assert.equal(r2.status, 400);
  assert.equal(r2.headers.get('x-sluice-cache'), 'miss');
});

test('an entry answers for ttl_seconds, then misses', async () => {
  const opts = fresh();
  assert.equal((await chat(g.sluice, K.a, { model: 'short', ...opts })).headers.get('x-sluice-cache'), 'miss');
  assert.equal((await chat(g.sluice, K.a, { model: 'short', ...opts })).headers.get('x-sluice-cache'), 'hit');
  await sleep(2100);
  assert.equal((await chat(g.sluice, K.a, { model: 'short', ...opts })).headers.get('x-sluice-cache'), 'miss');
});

test('a hit costs no tokens against a tpm limit and records the tokens saved', async () => {
  const opts = fresh();
  const miss = await chat(g.sluice, K.tpm, opts);
  assert.equal(miss.headers.get('x-sluice-cache'), 'miss');
  const used = miss.json.usage.total_tokens;
  const remaining = Number(miss.headers.get('x-ratelimit-remaining-tokens'));
  const saved0 = await metric(g.sluice, 'sluice_cache_tokens_saved_total{policy="default"}');
  const tok = 'sluice_tokens_total{key="tpm",model="m",type="prompt"}';
  await eventually(async () => (await metric(g.sluice, tok)) === miss.json.usage.prompt_tokens, 'the miss counted');
  for (let i = 0; i < 3; i++) {
    const hit = await chat(g.sluice, K.tpm, opts);
    assert.equal(hit.headers.get('x-sluice-cache'), 'hit');
    assert.equal(Number(hit.headers.get('x-ratelimit-remaining-tokens')), remaining);
  }
  assert.equal(await metric(g.sluice, 'sluice_cache_tokens_saved_total{policy="default"}'), saved0 + 3 * used);
  assert.equal(await metric(g.sluice, tok), miss.json.usage.prompt_tokens);
});

test('purge_generation bumped by a reload forgets the entries', async () => {
  const opts = fresh();
  assert.equal((await chat(g.sluice, K.a, opts)).headers.get('x-sluice-cache'), 'miss');
  assert.equal((await chat(g.sluice, K.a, opts)).headers.get('x-sluice-cache'), 'hit');
  const file = g.dir.path('resources.yaml');
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, resources(`${g.mock.base}/v1`, { purge: 1 }));
  assert.notEqual(readFileSync(file, 'utf8'), text);
  const reloads = (g.sluice.log().match(/reload: resources file \S+ reloaded/g) ?? []).length;
  g.sluice.signal('SIGHUP');
  await eventually(() => (g.sluice.log().match(/reload: resources file \S+ reloaded/g) ?? []).length === reloads + 1, 'the reload');
  assert.equal((await chat(g.sluice, K.a, opts)).headers.get('x-sluice-cache'), 'miss');
  assert.equal((await chat(g.sluice, K.a, opts)).headers.get('x-sluice-cache'), 'hit');
});

test('streams: a miss is teed and a hit replays a stream the openai SDK parses, usage included', async () => {
  const sdk = new OpenAI({ apiKey: K.a, baseURL: g.sluice.url('/v1'), maxRetries: 0 });
  const params = { model: 'm', messages: fresh().extra.messages, stream: true, stream_options: { include_usage: true }, mock: { chunks: 6 } };
  const read = async () => {
    const { data, response } = await sdk.chat.completions.create(params).withResponse();
    let text = '', usage = null, model = null;
    for await (const chunk of data) {
      model = chunk.model;
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    return { text, usage, model, cache: response.headers.get('x-sluice-cache'), ctype: response.headers.get('content-type') };
  };
  const calls = await upstreamCalls();
  const a = await read();
  const b = await read();
  assert.equal(a.cache, 'miss');
  assert.equal(b.cache, 'hit');
  assert.match(b.ctype, /^text\/event-stream/);
  assert.ok(a.text.length > 0);
  assert.deepEqual(b, { ...a, cache: 'hit' });
  assert.equal(b.model, 'm');
  assert.ok(b.usage.completion_tokens > 0);
  assert.equal(await upstreamCalls(), calls + 1);
  // The JSON form of the same request is another entry.
  const json = await chat(g.sluice, K.a, { extra: { messages: params.messages, mock: params.mock } });
  assert.equal(json.headers.get('x-sluice-cache'), 'miss');
});

test('streams: a hit replays an Anthropic stream the @anthropic-ai/sdk parses, through message_stop', async () => {
  const claude = new Anthropic({ baseURL: `http://127.0.0.1:${g.sluice.port}`, apiKey: K.a, maxRetries: 0 });
  const params = { model: 'claude', max_tokens: 64, messages: fresh().extra.messages, mock: { chunks: 4 } };
  const read = async () => {
    const stream = claude.messages.stream(params);
    const events = [];
    stream.on('streamEvent', (e) => events.push(e.type));
    const final = await stream.finalMessage();
    return { final, events };
  };
  const a = await read();
  const calls = await upstreamCalls();
  const b = await read();
  assert.equal(await upstreamCalls(), calls);
  assert.deepEqual(b.final, a.final);
  assert.equal(b.final.model, 'claude');
  assert.ok(b.final.usage.output_tokens > 0);
  assert.equal(b.events.at(-1), 'message_stop');
  assert.deepEqual(b.events, a.events);
});

test('over HTTP/2 a stored stream and a stored JSON reply are replayed whole', async () => {
  for (const stream of [true, false]) {
    const body = JSON.stringify({ model: 'm', stream, ...fresh({ mock: { chunks: 5 } }).extra });
    const send = () => curl(['--http2-prior-knowledge', '-X', 'POST', '-H', `authorization: Bearer ${K.a}`,
      '-H', 'content-type: application/json', '--data-binary', '@-', g.sluice.url('/v1/chat/completions')], { input: body });
    const a = await send();
    const b = await send();
    assert.match(a.statusLine, /^HTTP\/2 200/);
    assert.equal(a.headers['x-sluice-cache'], 'miss');
    assert.equal(b.headers['x-sluice-cache'], 'hit');
    assert.equal(b.body, a.body);
    if (stream) assert.match(b.body, /data: \[DONE\]\n\n$/);
  }
});

test('a stream cut before its end is not stored, nor one carrying an in-band error (Anthropic too)', async () => {
  for (const mock of [{ chunks: 6, disconnect_after_chunks: 3 }, { chunks: 6, stream_error_after_chunks: 2 }]) {
    const opts = fresh({ stream: true, mock });
    for (let i = 0; i < 2; i++) {
      const r = await chat(g.sluice, K.a, { stream: true, ...opts });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-sluice-cache'), 'miss', JSON.stringify(mock));
      if (mock.disconnect_after_chunks) assert.doesNotMatch(r.text, /\[DONE\]/);
      else assert.match(r.text, /^data: \{"error":/m);
    }
  }
  const opts = fresh({ stream: true, max_tokens: 32, mock: { chunks: 6, stream_error_after_chunks: 2 } });
  for (let i = 0; i < 2; i++) {
    const r = await chat(g.sluice, K.a, { model: 'claude', path: '/v1/messages', stream: true, ...opts });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-sluice-cache'), 'miss');
    assert.match(r.text, /^event: error$/m);
  }
});

test('the memory bound holds under a flood of distinct requests', async (t) => {
  const BOUND = 2 * 1024 * 1024;
  const small = await startLimited({ resources, config: `cache:\n  memory:\n    max_bytes: ${BOUND}\n` });
  try {
    const rss = () => Number(readFileSync(`/proc/${small.sluice.child.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)[1]) * 1024;
    // Warm up the workers' allocators and pools before measuring.
    for (let i = 0; i < 16; i++) await chat(small.sluice, K.a, fresh({ mock: { response_bytes: 30000 } }));
    const before = rss();
    const N = 1200, SIZE = 30000; // about 36 MB of replies through a 2 MiB cache
    for (let i = 0; i < N; i += 8) {
      await Promise.all(Array.from({ length: 8 }, async () => {
        const r = await chat(small.sluice, K.a, fresh({ mock: { response_bytes: SIZE } }));
        assert.equal(r.headers.get('x-sluice-cache'), 'miss');
      }));
    }
    const bytes = await metric(small.sluice, 'sluice_cache_bytes');
    const entries = await metric(small.sluice, 'sluice_cache_entries');
    const evictions = await metric(small.sluice, 'sluice_cache_evictions_total');
    assert.ok(bytes <= BOUND, `${bytes} bytes held`);
    assert.ok(entries > 0);
    assert.equal(entries + evictions, N + 16); // every reply was stored, then evicted or kept
    // RSS grows by at most the bound plus a stated overhead (16 MiB: allocator arenas and
    // fragmentation of two workers), far below the 36 MB that went through. Not under ASan,
    // whose quarantine keeps freed memory on purpose.
    const grown = rss() - before;
    t.diagnostic(`held ${bytes} bytes in ${entries} entries, ${evictions} evictions, RSS grew by ${grown} bytes`);
    if (!isSanitizedBuild()) assert.ok(grown < BOUND + 16 * 1024 * 1024, `RSS grew by ${grown} bytes`);
  } finally {
    await teardown(() => small.sluice.stop(), () => small.mock.stop());
  }
});
