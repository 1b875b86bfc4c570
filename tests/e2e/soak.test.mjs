// Soak under reloads: mixed streaming and non-streaming load from several clients (node's http
// client with keep-alive, plus curl over HTTP/1.1 and HTTP/2 with a new connection per request),
// some of it abandoned mid-flight on purpose, while a SIGHUP every second alternately adds and
// removes a model. Passes when every outcome is one the client may expect, the books balance
// (client, /metrics and the mock agree), and descriptors, threads and RSS do not grow between
// the first and the last minute. SL_SOAK_SECONDS (default 120) sets the length; SL_SOAK_SEED
// the random choices; SL_SOAK_CLIENTS the number of node clients (default 4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { UPSTREAM_KEY } from './lib/gateway.mjs';
import { startMock, scrapeMetrics, eventually, run, sleep } from './lib/harness.mjs';
import { startProxy, fleetResources, call, chatBody, KEY } from './lib/fleet.mjs';
import { procSample, median, metricsDelta, isSanitizedBuild, fmtMiB, MiB } from './lib/probes.mjs';

const SECONDS = Number(process.env.SL_SOAK_SECONDS ?? 120);
const SEED = Number(process.env.SL_SOAK_SEED ?? 20260601);
const CLIENTS = Number(process.env.SL_SOAK_CLIENTS ?? 4);
// "First and last minute"; runs shorter than two minutes compare their halves.
const WINDOW_S = Math.min(60, SECONDS / 2);
// Growth allowed between the two windows' medians. Descriptors: each node client holds at most
// one connection and its upstream call another, and curl one more pair. RSS (release builds):
// allocator arenas still settling after the first minute; a leak of one small object per
// request (~30,000 requests in two minutes) would exceed it. Threads: none.
const FD_TOLERANCE = 2 * (CLIENTS + 1);
const RSS_TOLERANCE = 4 * MiB;

const TOGGLE = 'soak-toggle';

// mulberry32: a small seeded generator, so a run's sequence of choices can be replayed.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const between = (r, lo, hi) => lo + Math.floor(r() * (hi - lo + 1));

const soakModels = (withToggle) => [
  { name: 'soak-chat', provider: 'mock', upstream: 'up-chat' },
  { name: 'soak-embed', provider: 'mock', upstream: 'text-embedding-3-small' },
  ...(withToggle ? [{ name: TOGGLE, provider: 'mock', upstream: 'up-toggle' }] : []),
];

// Tallies of what the clients saw. ok.* and toggle.* are expected outcomes; every other outcome
// lands in unexpected (kind -> count) with the first few examples kept for the failure message.
class Books {
  constructor() {
    this.ok = {}; this.aborted = 0; this.late = 0; this.toggle = { 200: 0, 404: 0 };
    this.probes = { 200: 0, 404: 0 }; this.unexpected = {}; this.examples = [];
  }
  good(kind) { this.ok[kind] = (this.ok[kind] ?? 0) + 1; }
  bad(kind, detail) {
    this.unexpected[kind] = (this.unexpected[kind] ?? 0) + 1;
    if (this.examples.length < 5) this.examples.push(`${kind}: ${String(detail).slice(0, 300)}`);
  }
  get okTotal() { return Object.values(this.ok).reduce((a, b) => a + b, 0); }
}

// Checks one finished response against what its request may get back.
function judge(books, req, status, text) {
  try {
    judgeParsed(books, req, status, text);
  } catch (e) {
    books.bad('unparseable', `${req.kind} ${status}: ${e.message}: ${text}`);
  }
}

function judgeParsed(books, req, status, text) {
  if (req.toggle && status === 404) {
    if (JSON.parse(text).error?.type !== 'model_not_found') return books.bad('toggle_404_body', text);
    return void books.toggle[404]++;
  }
  if (status !== 200) return books.bad(`status_${status}`, `${req.kind}: ${text}`);
  if (req.stream) {
    const ev = text.split('\n\n').filter(Boolean);
    if (ev.some((e) => e.startsWith('event: error'))) return books.bad('stream_error_frame', ev.at(-1));
    if (ev.at(-1) !== 'data: [DONE]') return books.bad('stream_truncated', ev.at(-1));
    const pieces = ev.slice(0, -1).map((e) => JSON.parse(e.slice(6))).map((c) => c.choices[0]?.delta?.content ?? c.choices[0]?.text ?? '');
    if (pieces.join('') !== 't'.repeat(req.chunks)) return books.bad('stream_content', text);
  } else {
    const body = JSON.parse(text);
    if (body.model !== req.model) return books.bad('wrong_model', text);
    if (req.kind === 'embed' && body.data.length !== 2) return books.bad('embed_count', text);
  }
  if (req.toggle) books.toggle[200]++;
  else books.good(req.kind);
}

// Draws the next request: route, model, body and whether the client will walk away from it.
function nextRequest(r) {
  const x = r();
  const stream = r() < 0.5;
  const abandon = r() < 0.1;
  if (x < 0.1) {
    return { kind: 'embed', path: '/v1/embeddings', model: 'soak-embed', abandonAfterMs: null,
      body: JSON.stringify({ model: 'soak-embed', input: ['a', 'b'] }) };
  }
  if (x < 0.2) {
    const chunks = between(r, 1, 10);
    return { kind: stream ? 'completions_stream' : 'completions', path: '/v1/completions', model: 'soak-chat', stream, chunks, abandonAfterMs: null,
      body: JSON.stringify({ model: 'soak-chat', prompt: 'p', stream, mock: { chunks, chunk_text: 't' } }) };
  }
  const toggle = x >= 0.8;
  const model = toggle ? TOGGLE : 'soak-chat';
  const chunks = between(r, 1, 20);
  let mock = stream ? { chunks, chunk_text: 't', chunk_interval_ms: between(r, 0, 5) } : { latency_ms: between(r, 0, 20) };
  const walkAway = abandon && !toggle;
  // Abandoned calls are made slow enough to be abandoned mid-flight.
  if (walkAway) mock = stream ? { chunks: 50, chunk_text: 't', chunk_interval_ms: 10 } : { latency_ms: between(r, 60, 150) };
  return { kind: stream ? 'chat_stream' : 'chat', path: '/v1/chat/completions', model, stream, chunks: mock.chunks, toggle,
    abandonAfterMs: walkAway ? between(r, 10, 40) : null, body: chatBody(model, { stream, mock }) };
}

// One request on the client's keep-alive agent. An abandoned one is destroyed after its delay
// (a non-stream still waiting for its response) or at its first event (a stream).
function send(port, agent, req, books) {
  return new Promise((resolve) => {
    let settled = false, answered = false;
    const done = () => { if (!settled) { settled = true; resolve(); } };
    const abandon = () => {
      if (settled) return;
      books.aborted++;
      settled = true;
      hr.destroy();
      resolve();
    };
    const hr = http.request({ host: '127.0.0.1', port, path: req.path, method: 'POST', agent,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' } }, (res) => {
      answered = true;
      const chunks = [];
      if (req.abandonAfterMs !== null && req.stream) res.once('data', abandon);
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        if (settled) return;
        judge(books, req, res.statusCode, Buffer.concat(chunks).toString());
        done();
      });
      res.on('error', (e) => { if (!settled) { books.bad('response_error', e.code); done(); } });
    });
    hr.on('error', (e) => { if (!settled) { books.bad(`socket_${e.code}`, e.message); done(); } });
    hr.end(req.body);
    if (req.abandonAfterMs !== null && !req.stream) {
      setTimeout(() => {
        if (settled) return;
        if (answered) { books.late++; return; } // the response beat us to it: judged normally
        abandon();
      }, req.abandonAfterMs);
    }
  });
}

async function nodeClient(port, r, books, until) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  while (Date.now() < until) await send(port, agent, nextRequest(r), books);
  agent.destroy();
}

// curl, one process and one connection per request, HTTP/1.1 and HTTP/2 (h2c) in turn.
async function curlClient(url, r, books, until) {
  for (let i = 0; Date.now() < until; i++) {
    const stream = r() < 0.5;
    const chunks = between(r, 1, 10);
    const req = { kind: `curl_${i % 2 ? 'h2' : 'h1'}${stream ? '_stream' : ''}`, model: 'soak-chat', stream, chunks };
    const body = chatBody('soak-chat', { stream, mock: stream ? { chunks, chunk_text: 't' } : {} });
    const res = await run('curl', ['-sS', '-N', i % 2 ? '--http2-prior-knowledge' : '--http1.1', '-w', '\n%{http_code}',
      '-H', `authorization: Bearer ${KEY}`, '-H', 'content-type: application/json', '-d', body, url]);
    if (res.code !== 0) { books.bad(`curl_exit_${res.code}`, res.stderr); continue; }
    const cut = res.stdout.lastIndexOf('\n');
    judge(books, req, Number(res.stdout.slice(cut + 1)), res.stdout.slice(0, cut));
  }
}

// A SIGHUP every second, alternately without and with the toggled model; after each, a probe
// proves the new generation is serving (bounded wait), so every reload took effect.
async function reloader(s, providers, books, until, reloads) {
  let present = true;
  while (Date.now() < until) {
    const tick = sleep(1000);
    present = !present;
    reloads.generations.push(await s.reloadResources(fleetResources(providers, soakModels(present))));
    await eventually(async () => {
      const r = await call(s.port, '/v1/chat/completions', { body: chatBody(TOGGLE) });
      if (r.status === 200 || r.status === 404) books.probes[r.status]++;
      else books.bad(`probe_status_${r.status}`, r.text);
      return r.status === (present ? 200 : 404);
    }, `generation ${reloads.generations.at(-1)} to serve (${TOGGLE} ${present ? 'added' : 'removed'})`);
    await tick;
  }
}

async function sampler(pid, start, until, samples) {
  while (Date.now() < until) {
    samples.push({ t: (Date.now() - start) / 1000, ...procSample(pid) });
    await sleep(1000);
  }
}

test(`soak: ${SECONDS} s of mixed load, client disconnects and a reload every second`, { timeout: (SECONDS + 240) * 1000 }, async () => {
  const mock = await startMock(['--require-key', UPSTREAM_KEY, '--quiet']);
  const providers = { mock: `${mock.base}/v1` };
  const s = await startProxy({ providers, models: soakModels(true), extra: 'upstream:\n  pool_idle_timeout_secs: 1\n' });
  try {
    const idle = procSample(s.pid);
    const m0 = await scrapeMetrics(s);
    const books = new Books();
    const reloads = { generations: [] };
    const samples = [];
    const start = Date.now();
    const until = start + SECONDS * 1000;
    const r = rng(SEED);
    await Promise.all([
      ...Array.from({ length: CLIENTS }, () => nodeClient(s.port, rng(Math.floor(r() * 2 ** 32)), books, until)),
      curlClient(s.url('/v1/chat/completions'), rng(Math.floor(r() * 2 ** 32)), books, until),
      reloader(s, providers, books, until, reloads),
      sampler(s.pid, start, until, samples),
    ]);
    const elapsed = (Date.now() - start) / 1000;

    // Quiet again: every client connection closed, upstream pools idle out (1 s), the mock done.
    const st = await eventually(async () => {
      const x = await mock.stats();
      return x.active === 0 && x.streams_started === x.streams_completed + x.streams_aborted + x.streams_disconnected && x;
    }, 'the mock to finish every upstream call');
    // Sampled before the scrape below, whose connection is one more descriptor for a moment.
    const quiet = await eventually(() => { const x = procSample(s.pid); return x.fds === idle.fds && x; },
      `descriptors back to ${idle.fds}`);
    const m1 = await scrapeMetrics(s);

    const delta = metricsDelta(m0, m1);
    const sum = (re) => Object.entries(delta).filter(([k]) => re.test(k)).reduce((a, [, v]) => a + v, 0);
    const total2xx = sum(/^sluice_requests_total\{.*status="2xx"/);
    const total4xx = sum(/^sluice_requests_total\{.*status="4xx"/);
    const other = sum(/^sluice_requests_total\{.*status="(?![24]xx)/);
    const cancelled = sum(/^sluice_client_cancelled_total/);
    const upstreamErrors = Object.fromEntries(Object.entries(delta).filter(([k]) => k.startsWith('sluice_upstream_errors_total')));

    const first = samples.filter((x) => x.t < WINDOW_S);
    const last = samples.filter((x) => x.t >= elapsed - WINDOW_S);
    const med = (xs, k) => median(xs.map((x) => x[k]));
    const fig = {
      fds: [med(first, 'fds'), med(last, 'fds')], threads: [med(first, 'threads'), med(last, 'threads')],
      rss: [med(first, 'rss'), med(last, 'rss')],
    };
    const clientTotal = books.okTotal + books.toggle[200] + books.toggle[404] + books.aborted +
      Object.values(books.unexpected).reduce((a, b) => a + b, 0);
    console.log(`# soak: ${elapsed.toFixed(0)} s, seed ${SEED}, ${CLIENTS} node clients + curl, ${reloads.generations.length} reloads ` +
      `(generations ${reloads.generations[0]}..${reloads.generations.at(-1)})`);
    console.log(`# requests: ${clientTotal} by the clients (${(clientTotal / elapsed).toFixed(0)}/s) + ` +
      `${books.probes[200] + books.probes[404]} reload probes; ok ${JSON.stringify(books.ok)}`);
    console.log(`# ${TOGGLE}: ${books.toggle[200]} served, ${books.toggle[404]} got 404 while removed; abandoned by the client: ` +
      `${books.aborted} (sluice counted ${cancelled} as 499; ${books.late} more finished before the client could leave)`);
    console.log(`# unexpected: ${JSON.stringify(books.unexpected)}; upstream errors: ${JSON.stringify(upstreamErrors)}; ` +
      `metrics 2xx ${total2xx}, 4xx ${total4xx}, other ${other}`);
    console.log(`# mock: ${st.requests} requests, streams ${st.streams_started} = ${st.streams_completed} completed + ` +
      `${st.streams_aborted} aborted + ${st.streams_disconnected} cut`);
    console.log(`# first vs last ${WINDOW_S} s (medians of ${first.length} and ${last.length} samples): fds ${fig.fds[0]} -> ${fig.fds[1]}, ` +
      `threads ${fig.threads[0]} -> ${fig.threads[1]}, RSS ${fmtMiB(fig.rss[0])} -> ${fmtMiB(fig.rss[1])}; ` +
      `idle before ${idle.fds} fds / ${fmtMiB(idle.rss)}, idle after ${quiet.fds} fds / ${fmtMiB(quiet.rss)}`);

    assert.deepEqual(books.unexpected, {}, books.examples.join('\n'));
    assert.ok(books.okTotal > 0 && books.toggle[200] > 0, 'load ran');
    assert.deepEqual(upstreamErrors, {}, 'no upstream call failed');
    assert.equal(other, 0, 'no 1xx, 3xx or 5xx');
    // Every 4xx is a 404 for the removed model (clients and probes) or a 499 for a client that left.
    assert.equal(total4xx, books.toggle[404] + books.probes[404] + cancelled);
    // Every 2xx was seen by a client, except calls a client left after sluice had answered.
    const seen2xx = books.okTotal + books.toggle[200] + books.probes[200];
    assert.ok(total2xx >= seen2xx && total2xx <= seen2xx + books.aborted, `2xx ${total2xx} vs ${seen2xx} seen, ${books.aborted} abandoned`);
    assert.ok(cancelled <= books.aborted);
    assert.equal(st.streams_disconnected, 0);
    assert.deepEqual(reloads.generations, reloads.generations.map((_, i) => 2 + i), 'each SIGHUP made the next generation');
    assert.ok(!/rejected/.test(s.log()), 'no reload was rejected');
    // No growth between the first and the last minute; back to idle exactly once quiet.
    assert.equal(fig.threads[1], fig.threads[0], 'threads');
    assert.ok(fig.fds[1] <= fig.fds[0] + FD_TOLERANCE, `fds ${fig.fds[0]} -> ${fig.fds[1]}`);
    assert.equal(quiet.fds, idle.fds);
    assert.equal(quiet.threads, idle.threads);
    if (!isSanitizedBuild()) assert.ok(fig.rss[1] <= fig.rss[0] + RSS_TOLERANCE, `RSS ${fmtMiB(fig.rss[0])} -> ${fmtMiB(fig.rss[1])}`);
  } finally {
    assert.equal((await s.stop()).code, 0);
    await mock.stop();
  }
});
