// Harness for end-to-end tests: starts the real sluice binary (and the project's mock upstream)
// on 127.0.0.1:0 ports with a generated config, learns the ports from their log lines, and
// drives them with real clients (curl, nghttp, the openai SDK). No timing thresholds: waits are
// bounded only to turn a hang into a failure with the logs attached.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SLUICE_BIN = process.env.SL_TEST_BIN;
export const MOCK_BIN = process.env.SL_TEST_MOCK;
if (!SLUICE_BIN) throw new Error('SL_TEST_BIN is not set (run the e2e tests through ctest)');

// SL_TEST_WRAPPER (opt-in, e.g. "valgrind --error-exitcode=99 ..."; `make valgrind` sets it) is
// split on spaces and put in front of every sluice command; the mock is never wrapped. Waits
// stretch under a wrapper, which slows sluice down many times.
const WRAPPER = (process.env.SL_TEST_WRAPPER ?? '').split(' ').filter(Boolean);
const HANG_MS = WRAPPER.length ? 120000 : 30000;
function sluiceCommand(args) {
  return WRAPPER.length ? [WRAPPER[0], [...WRAPPER.slice(1), SLUICE_BIN, ...args]] : [SLUICE_BIN, args];
}

// Every process a test file starts is killed when the file's process exits, so a failed
// assertion never leaves a server running. Children are unref'd so a leftover one cannot keep
// node (and the test runner) waiting.
const live = new Set();
process.on('exit', () => { for (const p of live) p.signal('SIGKILL'); });

export function tempDir(prefix = 'sluice-e2e-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// An environment without SLUICE_* variables (each would override a config key), plus extra.
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SLUICE_')) env[k] = v;
  return { ...env, ...extra };
}

// Collects a child's output lines and lets a test wait for a line matching a pattern.
class Output {
  constructor() { this.text = ''; this.waiters = []; }
  push(chunk) {
    this.text += chunk;
    this.waiters = this.waiters.filter((w) => !this.tryResolve(w));
  }
  tryResolve(w) {
    const m = this.text.slice(w.from).match(w.re);
    if (!m) return false;
    w.resolve(m);
    return true;
  }
  wait(re, what, from = 0) {
    return new Promise((resolve, reject) => {
      const w = { re, resolve, from };
      if (this.tryResolve(w)) return;
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}; output so far:\n${this.text}`)), HANG_MS);
      w.resolve = (m) => { clearTimeout(t); resolve(m); };
      this.waiters.push(w);
    });
  }
  lines() { return this.text.split('\n').filter(Boolean); }
}

function sanitizerReport(text) {
  const m = text.match(/(ERROR: (AddressSanitizer|LeakSanitizer)[\s\S]*|runtime error:[^\n]*)/);
  return m ? m[0].slice(0, 4000) : null;
}

export class Proc {
  constructor(bin, args, env) {
    this.out = new Output();
    this.child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (d) => this.out.push(d));
    this.child.stderr.on('data', (d) => this.out.push(d));
    live.add(this);
    this.child.unref();
    this.child.stdout.unref();
    this.child.stderr.unref();
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': it comes after stdout and stderr are drained, so a test that
      // waited for the exit sees every line the process wrote.
      this.child.on('close', (code, signal) => { live.delete(this); resolve({ code, signal }); });
    });
  }
  get pid() { return this.child.pid; }
  log() { return this.out.text; }
  waitFor(re, what = String(re), from = 0) { return this.out.wait(re, what, from); }
  signal(sig) { this.child.kill(sig); }
  async waitExit() {
    let t;
    const timeout = new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`process did not exit; output:\n${this.log()}`)), HANG_MS);
    });
    try { return await Promise.race([this.exited, timeout]); } finally { clearTimeout(t); }
  }
  // Stops the process (SIGKILL if it does not exit) and fails on sanitizer reports. With sig
  // null it only waits for an exit already under way.
  async stop(sig = 'SIGTERM') {
    if (sig !== null && this.child.exitCode === null && this.child.signalCode === null) this.signal(sig);
    let res;
    try { res = await this.waitExit(); } catch (e) { this.signal('SIGKILL'); await this.exited; throw e; }
    const report = sanitizerReport(this.log());
    if (report) throw new Error(`sanitizer report:\n${report}`);
    return res;
  }
}

// Writes config.yaml (a string) into dir and starts sluice on it. Resolves once it logs that it
// listens, with .port (proxy) and .metricsPort (when metrics are enabled).
export async function startSluice({ config, env = {}, args = [], dir } = {}) {
  const t = dir ?? tempDir();
  const file = t.path('config.yaml');
  writeFileSync(file, config);
  const p = new Proc(...sluiceCommand(args.length ? args : ['--config', file]), cleanEnv(env));
  p.dir = t;
  p.configFile = file;
  const m = await Promise.race([
    p.waitFor(/sluice \S+ listening on (https?):\/\/\S*:(\d+)/, 'sluice to listen'),
    p.exited.then((r) => { throw new Error(`sluice exited early (${JSON.stringify(r)}):\n${p.log()}`); }),
  ]);
  p.scheme = m[1];
  p.port = Number(m[2]);
  const mm = p.log().match(/metrics listening on http:\/\/[^\s]*:(\d+)/);
  if (mm) p.metricsPort = Number(mm[1]);
  const tm = p.log().match(/listening on http:\/\/\S+ https:\/\/\S*:(\d+)/);
  if (tm) p.tlsPort = Number(tm[1]);
  p.url = (path) => `${p.scheme}://127.0.0.1:${p.port}${path}`;
  return p;
}

// Starts sluice (under SL_TEST_WRAPPER, if set) without waiting for anything: for tests that
// cannot wait for the "listening" line, e.g. at log_level warn.
export function spawnSluice(args, env = {}) {
  return new Proc(...sluiceCommand(args), cleanEnv(env));
}

// Runs sluice to completion (validate, bad configs, usage errors).
export function runSluice(args, { env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const [bin, argv] = sluiceCommand(args);
    execFile(bin, argv, { env: cleanEnv(env), timeout: HANG_MS }, (err, stdout, stderr) => {
      const report = sanitizerReport(stderr);
      if (report) { reject(new Error(`sanitizer report:\n${report}`)); return; }
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

// A minimal config.yaml for tests; extra is appended verbatim (YAML text).
export function baseConfig({ workers = 2, metrics = false, extra = '' } = {}) {
  return [
    'proxy:',
    '  addr: 127.0.0.1:0',
    `  workers: ${workers}`,
    'observability:',
    '  log_level: info',
    '  metrics:',
    '    prometheus:',
    `      enabled: ${metrics}`,
    '      addr: 127.0.0.1:0',
    'shutdown:',
    '  min_drain_secs: 0',
    extra,
  ].join('\n') + '\n';
}

// Runs curl and parses the last response (status, lower-cased headers, body). args are extra
// curl arguments; the URL is last.
export function curl(args, { input } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile('curl', ['-sS', '-D', '-', '--max-time', '30', ...args],
      { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const text = stdout.toString('latin1');
        const res = { code: err ? err.code : 0, stderr: stderr.toString() };
        // With -D - the header blocks come first (one per response, e.g. 100 Continue).
        let rest = text, head = null;
        while (/^HTTP\/[\d.]+ \d+/.test(rest)) {
          const end = rest.indexOf('\r\n\r\n');
          if (end < 0) break;
          head = rest.slice(0, end);
          rest = rest.slice(end + 4);
        }
        if (head === null) { resolve({ ...res, status: 0, headers: {}, body: text }); return; }
        const [statusLine, ...lines] = head.split('\r\n');
        const headers = {};
        for (const l of lines) {
          const i = l.indexOf(':');
          const k = l.slice(0, i).trim().toLowerCase();
          const v = l.slice(i + 1).trim();
          headers[k] = headers[k] !== undefined ? `${headers[k]}, ${v}` : v;
        }
        resolve({ ...res, status: Number(statusLine.split(' ')[1]), statusLine, headers,
          body: Buffer.from(rest, 'latin1').toString('utf8') });
      });
    // curl may exit before reading stdin (it has nothing to read when input is empty); a late
    // EPIPE on that pipe is not an error of the test.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
    child.on('error', reject);
  });
}

// Runs a command and returns {code, stdout, stderr}.
export function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: HANG_MS, maxBuffer: 64 << 20, ...opts }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

// Runs every teardown step even when an earlier one fails, then rethrows the first failure.
// An after() hook that stopped at its first failed assertion would leave the other servers
// running, and their open handles would keep the test file alive until ctest's timeout.
export async function teardown(...steps) {
  const errors = [];
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, errors.map((e) => e.message).join('\n'));
}

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// Fetches /metrics text and returns a map of "name{labels}" -> number.
export async function scrapeMetrics(p) {
  const r = await curl([`http://127.0.0.1:${p.metricsPort}/metrics`]);
  const m = new Map();
  for (const line of r.body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

// Starts the project's mock upstream; resolves with .port, .url(path), .stats(), .requests().
export async function startMock(args = []) {
  if (!MOCK_BIN) throw new Error('SL_TEST_MOCK is not set (run the e2e tests through ctest)');
  const p = new Proc(MOCK_BIN, ['--listen', '127.0.0.1:0', ...args], cleanEnv());
  const m = await Promise.race([
    p.waitFor(/sluice-mock listening on (https?):\/\/127\.0\.0\.1:(\d+)/, 'the mock to listen'),
    p.exited.then((r) => { throw new Error(`mock exited early (${JSON.stringify(r)}):\n${p.log()}`); }),
  ]);
  p.scheme = m[1];
  p.port = Number(m[2]);
  p.base = `${p.scheme}://127.0.0.1:${p.port}`;
  const ctl = async (path, method = 'GET') => {
    const r = await curl(['-k', '-X', method, `${p.base}${path}`]);
    return JSON.parse(r.body);
  };
  p.stats = () => ctl('/_mock/stats');
  p.requests = () => ctl('/_mock/requests');
  p.reset = () => ctl('/_mock/reset', 'POST');
  return p;
}

// Waits until check() resolves truthy (polling), or fails with what() after the hang limit.
export async function eventually(check, what) {
  const end = Date.now() + HANG_MS;
  let last;
  while (Date.now() < end) {
    last = await check();
    if (last) return last;
    await sleep(50);
  }
  throw new Error(`never happened: ${what} (last: ${JSON.stringify(last)})`);
}

// A throwaway self-signed certificate for "localhost" and 127.0.0.1 (never committed).
export async function makeCert(dir, name = 'server') {
  const key = dir.path(`${name}.key`), crt = dir.path(`${name}.crt`);
  const r = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
    '-out', crt, '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  if (r.code !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { key, crt };
}
