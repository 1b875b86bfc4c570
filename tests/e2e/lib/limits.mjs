// Helpers for the rate-limit tests: a gateway in front of the mock with limits in its resources,
// plain fetch calls (status, headers, body), aborted streams, and waits that keep a test's
// requests inside one fixed window.
import { writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { startMock, startSluice, baseConfig, tempDir, sleep, scrapeMetrics } from './harness.mjs';

export const sha256 = (s) => createHash('sha256').update(s).digest('hex');
export const UPSTREAM_KEY = 'upstream-secret';

// resources(apiBase) -> resources.yaml text; config: extra config.yaml text.
export async function startLimited({ resources, config = '', workers = 2, env = {}, mockArgs = [] }) {
  const mock = await startMock(['--require-key', UPSTREAM_KEY, ...mockArgs]);
  const dir = tempDir();
  const file = dir.path('resources.yaml');
  writeFileSync(file, resources(`${mock.base}/v1`));
  const sluice = await startSluice({
    config: baseConfig({ workers, metrics: true }) + `resources_file: ${file}\n` + config, dir, env,
  });
  return { mock, sluice, dir };
}

export function providerAndModels(apiBase, models) {
  return `_format_version: "1"
provider_keys:
  - display_name: mock
    provider: openai
    api_key: ${UPSTREAM_KEY}
    api_base: ${apiBase}
models:
${models}`;
}

// A chat completion through the gateway; resolves with {status, headers (a Headers), body}.
export async function chat(sluice, key, { model = 'm', stream = false, extra = {}, path = '/v1/chat/completions', signal } = {}) {
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'hello there' }], stream, ...extra });
  const res = await fetch(sluice.url(path), {
    method: 'POST', body, signal,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* a stream */ }
  return { status: res.status, headers: res.headers, text, json, bodyLen: Buffer.byteLength(body) };
}

// Starts a stream and resolves once its first event arrived, with .abort() and .finish().
export async function openStream(sluice, key, { model = 'm', extra = {} } = {}) {
  const ctl = new AbortController();
  const res = await fetch(sluice.url('/v1/chat/completions'), {
    method: 'POST', signal: ctl.signal,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello there' }], stream: true, ...extra }),
  });
  if (res.status !== 200) {
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: JSON.parse(text) };
  }
  const reader = res.body.getReader();
  await reader.read();
  return {
    status: 200,
    headers: res.headers,
    abort: () => { ctl.abort(); reader.cancel().catch(() => {}); },
    finish: async () => { for (;;) { const { done } = await reader.read(); if (done) return; } },
  };
}

// Waits until at least `needed` seconds are left in the current fixed window of `secs`
// seconds, so a test's requests all land in one window.
export async function inOneWindow(secs, needed) {
  const left = secs - ((Date.now() / 1000) % secs);
  if (left < needed) await sleep(left * 1000 + 50);
}

export async function metric(sluice, name) {
  return (await scrapeMetrics(sluice)).get(name) ?? 0;
}
