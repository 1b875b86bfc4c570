// Instructions per request of sluice's hot path, counted by callgrind through the real binary.
//
// sluice (1 worker, the governed bench configuration: 1,000 caller keys, 100 models, access log
// and metrics on) runs under `valgrind --tool=callgrind` twice: once serving N1 requests and once
// N2, one keep-alive connection, against the mock (not under valgrind). Start-up, the first
// connection and shutdown cost the same in both runs, so (Ir(N2) - Ir(N1)) / (N2 - N1) is the
// cost of one request: parse, auth, route, rewrite, build the upstream request, relay the
// response, access log, metrics. The same per function gives the top costs. Counts repeat to a
// few instructions per request, so a regression shows in review.
//
//   bench/micro.sh [--n1 200] [--n2 1200] [--scenario NAME|all] [--top 25]
//                  [--limits none|keys|models|governed|redis] [--cache none|memory|redis]
//
// Scenarios: chat, stream, large (OpenAI passthrough); anthropic, anthropic-stream (Anthropic
// Messages passthrough); translated, translated-stream (OpenAI chat callers on a Claude model);
// responses, responses-stream (OpenAI Responses passthrough); responses-translated,
// responses-translated-stream (Responses callers on a chat-only upstream); routed (chat to a
// round_robin group of three direct models: its cost over chat); gemini, gemini-stream (the chat
// and stream bodies to a Gemini model, the mock's generateContent: the same request translated
// both ways, to compare with chat and stream).
//
// --limits runs the scenarios with rate limits (bench/workload.mjs LIMITS): on every key,
// on every model, or the whole governed set (keys, budgets, models, costs, two policies) with
// the memory backend, or with the redis backend ("redis": a redis-server is started, not under
// valgrind). Compare with --limits none for the instructions the limits add per request.
//
// --cache memory|redis adds one cache policy (scope env) matching every request, so after the
// first request of a run every one is a hit: the per-request count is a hit's cost (memory: the
// key and the store; redis: the key and one GET round trip). Compare with --cache none (a
// proxied miss) for docs/cache.md's hit-versus-miss figures. Scenarios that are not cached
// (responses*) cost what they cost without it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, openSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPLY, chatBody, anthropicBody, responsesBody, resourcesYaml, sluiceConfig, N_KEYS, CALLER, LIMITS } from './workload.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = process.env.SL_BENCH_BUILD ?? join(ROOT, 'build');
const SLUICE = process.env.SL_MICRO_SLUICE ?? join(BUILD, 'sluice'); // another build to compare
const MOCK = join(BUILD, 'tests/mock/sluice-mock');
const CLIENT = join(BUILD, 'bench/sl-bench-client');

const o = { n1: 200, n2: 1200, scenario: 'all', top: 25, json: null, limits: 'none', cache: 'none' };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = process.argv[i + 1];
  if (a === '--n1') { o.n1 = Number(v); i++; }
  else if (a === '--n2') { o.n2 = Number(v); i++; }
  else if (a === '--scenario') { o.scenario = v; i++; }
  else if (a === '--top') { o.top = Number(v); i++; }
  else if (a === '--json') { o.json = v; i++; }
  else if (a === '--limits' && [...LIMITS, 'redis'].includes(v)) { o.limits = v; i++; }
  else if (a === '--cache' && ['none', 'memory', 'redis'].includes(v)) { o.cache = v; i++; }
  else { console.error(`usage: bench/micro.sh [--n1 N] [--n2 N] [--scenario NAME|all] [--top K] [--json FILE] [--limits ${[...LIMITS, 'redis'].join('|')}] [--cache none|memory|redis]`); process.exit(2); }
}
if (!(o.n2 > o.n1 && o.n1 > 0)) { console.error('micro: need 0 < n1 < n2'); process.exit(2); }

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = new Set();
process.on('exit', () => { for (const c of children) try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ } });

function start(cmd, args, outFile) {
  const fd = openSync(outFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
  children.add(child);
  const p = { child, exited: null, out: () => readFileSync(outFile, 'utf8') };
  child.on('exit', (code, sig) => { p.exited = { code, sig }; children.delete(child); });
  return p;
}

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function waitFor(p, re, what, ms) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const m = p.out().match(re);
    if (m) return m;
    if (p.exited) throw new Error(`${what} exited: ${p.out().slice(-500)}`);
    await sleep(50);
  }
  throw new Error(`${what} not ready after ${ms} ms`);
}

// Runs sluice under callgrind for n requests; returns the callgrind output file.
// Path and body file of each scenario.
const SCENARIOS = {
  chat: ['/v1/chat/completions', 'chat.json'],
  stream: ['/v1/chat/completions', 'stream.json'],
  large: ['/v1/chat/completions', 'large.json'],
  anthropic: ['/v1/messages', 'anthropic.json'],
  'anthropic-stream': ['/v1/messages', 'anthropic-stream.json'],
  translated: ['/v1/chat/completions', 'translated.json'],
  'translated-stream': ['/v1/chat/completions', 'translated-stream.json'],
  responses: ['/v1/responses', 'responses.json'],
  'responses-stream': ['/v1/responses', 'responses-stream.json'],
  'responses-translated': ['/v1/responses', 'responses-translated.json'],
  'responses-translated-stream': ['/v1/responses', 'responses-translated-stream.json'],
  routed: ['/v1/chat/completions', 'routed.json'],
  gemini: ['/v1/chat/completions', 'gemini.json'],
  'gemini-stream': ['/v1/chat/completions', 'gemini-stream.json'],
};

async function profile(dir, name, n, body, key) {
  const out = join(dir, `callgrind.${name}.${n}.out`);
  const p = start('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, '--dump-instr=no',
    '--dump-line=no', SLUICE, '--config', join(dir, 'sluice.yaml')], join(dir, `sluice.${name}.${n}.log`));
  const m = await waitFor(p, /sluice \S+ listening on http:\/\/\S*:(\d+)/, 'sluice under valgrind', 120000);
  const r = await run(CLIENT, ['--port', m[1], '--path', SCENARIOS[name][0], '--body', body,
    '--header', `Authorization: Bearer ${key}`, '--requests', String(n)]);
  const res = JSON.parse(r.stdout);
  if (res.ok !== n) throw new Error(`${res.ok} of ${n} requests succeeded: ${r.stdout}`);
  p.child.kill('SIGTERM');
  for (let i = 0; i < 600 && !p.exited; i++) await sleep(100);
  if (!p.exited) throw new Error('sluice did not exit after SIGTERM');
  if (!existsSync(out)) throw new Error(`no callgrind output: ${p.out().slice(-500)}`);
  return out;
}

// Self cost per function: "function (file or object)" -> Ir, from callgrind_annotate's table.
async function functions(file) {
  const r = await run('callgrind_annotate', ['--threshold=100', '--inclusive=no', '--auto=no', file]);
  const fns = new Map();
  const objs = new Map();
  let total = 0, inTable = false;
  for (const line of r.stdout.split('\n')) {
    const t = line.match(/^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?PROGRAM TOTALS/);
    if (t) total = Number(t[1].replace(/,/g, ''));
    if (/^Ir\s+file:function/.test(line)) { inTable = true; continue; }
    if (!inTable) continue;
    if (/^-{10}/.test(line)) { if (fns.size) break; continue; }
    const m = line.match(/^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*?)(?:\s+\[([^\]]*)\])?\s*$/);
    if (!m || !m[2]) continue;
    const i = m[2].lastIndexOf(':');
    const src = m[2].slice(0, i), fn = m[2].slice(i + 1);
    const where = (src === '???' && m[3] ? m[3] : src).split('/').pop();
    // Inlined code is reported under the header it came from; merge it into its function.
    const key = fn.startsWith('0x') ? `${fn} (${where})` : fn;
    if (!objs.has(key)) objs.set(key, where);
    fns.set(key, (fns.get(key) ?? 0) + Number(m[1].replace(/,/g, '')));
  }
  return { total, fns: new Map([...fns].map(([k, v]) => [k.startsWith('0x') ? k : `${k} (${objs.get(k)})`, v])) };
}

async function scenario(dir, name, body, key) {
  const a = await functions(await profile(dir, name, o.n1, body, key));
  const b = await functions(await profile(dir, name, o.n2, body, key));
  const dn = o.n2 - o.n1;
  const per = (b.total - a.total) / dn;
  const rows = [];
  for (const [fn, ir] of b.fns) rows.push([fn, (ir - (a.fns.get(fn) ?? 0)) / dn]);
  rows.sort((x, y) => y[1] - x[1]);
  return { per, rows, totals: [a.total, b.total] };
}

async function main() {
  for (const bin of [SLUICE, MOCK, CLIENT]) if (!existsSync(bin)) { console.error(`micro: ${bin} missing (make build)`); process.exit(2); }
  if ((await run('sh', ['-c', 'command -v valgrind && command -v callgrind_annotate'])).code !== 0) {
    console.error('micro: valgrind is not installed (scripts/deps.sh bench)');
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), 'sluice-micro-'));
  const mock = start(MOCK, ['--listen', '127.0.0.1:0', '--quiet', '--reply', REPLY, '--chunks', '64'], join(dir, 'mock.log'));
  const port = Number((await waitFor(mock, /listening on http:\/\/127\.0\.0\.1:(\d+)/, 'mock', 10000))[1]);
  // Fixed keys so runs are comparable (the key's hash decides nothing but must be stable).
  const keys = Array.from({ length: N_KEYS }, (_, i) => `sk-bench-${i}-${'0'.repeat(24)}`);
  let redisUrl = null, redis = null;
  if (o.limits === 'redis' || o.cache === 'redis') {
    const rport = 20000 + (process.pid % 20000);
    redis = start('redis-server', ['--port', String(rport), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], join(dir, 'redis.log'));
    redisUrl = `redis://127.0.0.1:${rport}`;
    await sleep(300);
  }
  const limits = o.limits === 'redis' ? 'governed' : o.limits;
  writeFileSync(join(dir, 'resources.yaml'), resourcesYaml(port, port, keys, { gemini: true, limits, cache: o.cache }));
  writeFileSync(join(dir, 'sluice.yaml'), sluiceConfig(dir, o.limits === 'redis' ? redisUrl : null,
    o.cache === 'redis' ? redisUrl : null));
  writeFileSync(join(dir, 'chat.json'), chatBody('bench-42'));
  writeFileSync(join(dir, 'stream.json'), chatBody('bench-42', { stream: true }));
  writeFileSync(join(dir, 'large.json'), chatBody('bench-42', {}, 120 * 1024));
  writeFileSync(join(dir, 'anthropic.json'), anthropicBody('claude-bench'));
  writeFileSync(join(dir, 'anthropic-stream.json'), anthropicBody('claude-bench', { stream: true }));
  writeFileSync(join(dir, 'translated.json'), chatBody('claude-bench'));
  writeFileSync(join(dir, 'translated-stream.json'), chatBody('claude-bench', { stream: true }));
  writeFileSync(join(dir, 'responses.json'), responsesBody('bench-42'));
  writeFileSync(join(dir, 'responses-stream.json'), responsesBody('bench-42', { stream: true }));
  writeFileSync(join(dir, 'responses-translated.json'), responsesBody('chat-only-bench'));
  writeFileSync(join(dir, 'responses-translated-stream.json'), responsesBody('chat-only-bench', { stream: true }));
  writeFileSync(join(dir, 'routed.json'), chatBody('bench-routed'));
  writeFileSync(join(dir, 'gemini.json'), chatBody('gemini-bench'));
  writeFileSync(join(dir, 'gemini-stream.json'), chatBody('gemini-bench', { stream: true }));
  const names = o.scenario === 'all' ? Object.keys(SCENARIOS) : [o.scenario];
  if (!names.every((n) => SCENARIOS[n])) { console.error(`micro: unknown scenario ${o.scenario}`); process.exit(2); }
  const result = {};
  for (const name of names) {
    process.stderr.write(`micro: ${name}: callgrind runs of ${o.n1} and ${o.n2} requests\n`);
    result[name] = await scenario(dir, name, join(dir, SCENARIOS[name][1]), keys[CALLER]);
  }
  mock.child.kill('SIGTERM');
  redis?.child.kill('SIGTERM'); // a live child keeps node running
  for (const name of names) {
    const r = result[name];
    const unit = name === 'gemini-stream' ? 'stream (64 Gemini events, 67 chunks out)'
      : name.endsWith('stream') ? 'stream (64 chunks)'
      : { large: 'request (120 KiB chat, ~1 KiB reply)',
        routed: 'request (1 KiB chat to a round_robin group of 3, ~1 KiB reply)' }[name] ??
        'request (1 KiB chat, ~1 KiB reply)';
    console.log(`\n${name}: ${Math.round(r.per).toLocaleString('en-US')} instructions per ${unit}` +
      `  [Ir ${r.totals[0].toLocaleString('en-US')} @ ${o.n1}, ${r.totals[1].toLocaleString('en-US')} @ ${o.n2}]`);
    console.log('\n| Ir/req | share | function (object) |\n|--:|--:|---|');
    for (const [fn, ir] of r.rows.slice(0, o.top)) {
      console.log(`| ${Math.round(ir).toLocaleString('en-US')} | ${((100 * ir) / r.per).toFixed(1)} % | ${fn.replace(/\|/g, '\\|')} |`);
    }
  }
  if (o.json) {
    mkdirSync(dirname(o.json), { recursive: true });
    writeFileSync(o.json, JSON.stringify(Object.fromEntries(Object.entries(result).map(([k, v]) =>
      [k, { ir_per_request: v.per, totals: v.totals, top: v.rows.slice(0, 60) }])), null, 1));
  }
  if (!process.env.SL_MICRO_KEEP) rmSync(dir, { recursive: true, force: true });
  else console.error(`micro: kept ${dir}`);
}

main().catch((e) => { console.error(`micro: ${e.stack ?? e}`); process.exit(1); });
