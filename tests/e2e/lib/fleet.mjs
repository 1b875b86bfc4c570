// Sluice in front of several upstreams at once (the mock over HTTP and HTTPS, a refused port,
// a hand-written upstream), so one gateway serves every fault a test file needs; resources can
// be swapped atomically and reloaded with SIGHUP.
import http from 'node:http';
import net from 'node:net';
import { renameSync, writeFileSync } from 'node:fs';
import { KEYS, UPSTREAM_KEY, sha256 } from './gateway.mjs';
import { startSluice, baseConfig, tempDir } from './harness.mjs';

// The caller key every fleet accepts, allowed every model.
export const KEY = KEYS.other;

// Fields of a model written as they are (objects and lists as JSON, which YAML reads as flow).
const MODEL_FIELDS = ['timeout', 'stream_timeout', 'retries', 'cooldown', 'cost', 'allowed_cidrs',
  'background_model_check'];

// providers: { name: api_base } or { name: { base, vendor } } (vendor defaults to openai);
// models: [{ name, provider, upstream, timeout?, stream_timeout?, retries?, cooldown?, cost?,
// allowed_cidrs?, background_model_check? }] or model groups [{ name, routing, timeout?,
// stream_timeout?, allowed_cidrs? }].
export function fleetResources(providers, models) {
  const lines = ['_format_version: "1"', 'provider_keys:'];
  for (const [name, p] of Object.entries(providers)) {
    const { base, vendor } = typeof p === 'string' ? { base: p, vendor: 'openai' } : p;
    lines.push(`  - display_name: ${name}`, `    provider: ${vendor ?? 'openai'}`, `    api_key: ${UPSTREAM_KEY}`, `    api_base: ${base}`);
  }
  lines.push('models:');
  for (const m of models) {
    lines.push(`  - display_name: ${m.name}`);
    if (m.routing) lines.push(`    routing: ${JSON.stringify(m.routing)}`);
    else lines.push(`    provider_key: ${m.provider}`, `    model_name: ${m.upstream ?? m.name}`);
    for (const f of MODEL_FIELDS) {
      if (m[f] !== undefined) lines.push(`    ${f}: ${JSON.stringify(m[f])}`);
    }
  }
  lines.push('api_keys:', '  - display_name: fleet', `    key_hash: ${sha256(KEY)}`, '    allowed_models: ["*"]');
  return lines.join('\n') + '\n';
}

// Starts sluice (metrics on) with those resources. proxy: extra lines for the proxy section;
// extra: more top-level YAML. The result also has .resources(providers, models), which swaps
// the file atomically, sends SIGHUP and resolves with the new generation number.
export async function startProxy({ providers, models, workers = 2, proxy = [], extra = '', env = {} }) {
  const dir = tempDir();
  const file = dir.path('resources.yaml');
  writeFileSync(file, fleetResources(providers, models));
  let config = baseConfig({ workers, metrics: true, extra: `resources_file: ${file}\n${extra}` });
  config = config.replace(`  workers: ${workers}\n`, [`  workers: ${workers}`, ...proxy.map((l) => `  ${l}`)].join('\n') + '\n');
  const s = await startSluice({ config, dir, env });
  s.resourcesFile = file;
  s.resources = (p, m) => s.reloadResources(fleetResources(p, m));
  s.reloadResources = async (text) => {
    writeFileSync(`${file}.next`, text);
    renameSync(`${file}.next`, file); // a reload never reads a half-written file
    const mark = s.log().length;
    s.signal('SIGHUP');
    const m = await s.waitFor(/reload: (?:resources file \S+ reloaded: generation (\d+) |(\S+ rejected .*))/, 'the reload', mark);
    if (m[2]) throw new Error(`reload rejected: ${m[2]}\n${s.log().slice(mark)}`);
    return Number(m[1]);
  };
  return s;
}

// A port nothing listens on (bound, then closed).
export function closedPort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// A minimal OpenAI-compatible upstream in this process: records every request (method, path,
// headers, whole body) and answers chat completions with a fixed completion. For bodies the
// mock would refuse or truncate in its log (deep nesting, tens of MiB).
export async function startSink() {
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method, path: req.url, headers: req.headers, body });
      const reply = JSON.stringify({
        id: 'chatcmpl-sink', object: 'chat.completion', created: 0, model: 'sink-upstream',
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply) });
      res.end(reply);
    });
  });
  server.requestTimeout = 0;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, seen, base: `http://127.0.0.1:${server.address().port}/v1`, close: () => new Promise((r) => server.close(r)) };
}

// A raw TCP upstream that reads a request head and answers with `reply`, then closes: for
// malformed responses no real server would send. reply is a string (latin1) or a list of
// strings and pauses (numbers, in ms) written in order.
export async function startRawUpstream(reply) {
  const parts = Array.isArray(reply) ? reply : [reply];
  const server = net.createServer((c) => {
    let got = '', answered = false;
    c.on('data', async (d) => {
      got += d.toString('latin1');
      if (answered || !got.includes('\r\n\r\n')) return;
      answered = true;
      for (const p of parts) {
        if (c.destroyed) return;
        if (typeof p === 'number') await new Promise((r) => setTimeout(r, p));
        else c.write(Buffer.from(p, 'latin1'));
      }
      c.end();
    });
    c.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${server.address().port}/v1`, close: () => new Promise((r) => server.close(r)) };
}

// One request on a fresh connection (node's http client, so bodies may be any bytes).
// Resolves with { status, headers, text } once the response has been read whole.
export function call(port, path, { method = 'POST', body, headers = {}, key = KEY } = {}) {
  return new Promise((resolve, reject) => {
    const h = { 'content-type': 'application/json', ...headers };
    if (key !== null) h.authorization = `Bearer ${key}`;
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: h, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// A chat completion request body (a JSON string) for model, with extra top-level fields.
export const chatBody = (model, extra = {}) =>
  JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra });
