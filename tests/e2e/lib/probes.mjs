// Looking at a running process from outside (/proc), and at /metrics as deltas: what the
// hostile-client, upstream-fault and soak tests measure. Linux only.
import { readFileSync, readdirSync } from 'node:fs';
import { SLUICE_BIN, run, scrapeMetrics, eventually } from './harness.mjs';

// Resident memory (bytes), threads and open descriptors of a process.
export function procSample(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'))[1]);
  return { rss: field('VmRSS') * 1024, threads: field('Threads'), fds: readdirSync(`/proc/${pid}/fd`).length };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const MiB = 1024 * 1024;
export const fmtMiB = (b) => `${(b / MiB).toFixed(1)} MiB`;

// True when the binary under test was built with AddressSanitizer. ASan keeps freed memory in
// a quarantine (256 MiB by default) and pads every allocation, so RSS figures from such a build
// bound nothing; tests assert memory bounds on release builds and leaks through LeakSanitizer.
let sanitized;
export function isSanitizedBuild() {
  sanitized ??= readFileSync(SLUICE_BIN).includes('__asan_init');
  return sanitized;
}

// The open-files limits of a process, as [soft, hard].
export function fdLimits(pid = process.pid) {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return line.split(/\s+/).slice(3, 5).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
}

// Makes sure process pid may open at least n descriptors: raises its soft limit (and the hard
// one, which needs root) with prlimit(1) when it is lower. Returns the soft limit now in force.
export async function ensureFdLimit(pid, n) {
  const [soft, hard] = fdLimits(pid);
  if (soft >= n) return soft;
  const want = Math.max(n, hard === Infinity ? n : hard);
  await run('prlimit', ['--pid', String(pid), `--nofile=${want}:${Math.max(want, hard)}`]);
  return fdLimits(pid)[0];
}

// The metric families whose series the tests compare before and after.
export const REQUEST_FAMILIES = ['sluice_requests_total', 'sluice_upstream_errors_total', 'sluice_client_cancelled_total'];

// Series of the given families whose value changed between two scrapes, as {series: delta}.
export function metricsDelta(before, after, families = REQUEST_FAMILIES) {
  const out = {};
  const keys = new Set([...before.keys(), ...after.keys()]);
  for (const k of keys) {
    if (!families.some((f) => k.startsWith(`${f}{`))) continue;
    const d = (after.get(k) ?? 0) - (before.get(k) ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

// Waits until the series delta since `before` equals `expected` exactly (requests are counted
// when h2o frees them, a moment after the client has its response), and returns it. On a
// mismatch that does not settle, fails with the last delta seen.
export async function expectDelta(p, before, expected, families = REQUEST_FAMILIES) {
  const want = JSON.stringify(sortKeys(expected));
  let last;
  try {
    await eventually(async () => {
      last = metricsDelta(before, await scrapeMetrics(p), families);
      return JSON.stringify(sortKeys(last)) === want;
    }, `metrics delta ${want}`);
  } catch {
    throw new Error(`metrics delta:\n  expected ${want}\n  got      ${JSON.stringify(sortKeys(last))}`);
  }
  return last;
}

function sortKeys(o) {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

// Label helpers for the series names scrapeMetrics returns.
export const reqSeries = (route, model, status) => `sluice_requests_total{route="${route}",model="${model}",status="${status}"}`;
export const errSeries = (model, kind) => `sluice_upstream_errors_total{model="${model}",kind="${kind}"}`;
export const cancelSeries = (route, model) => `sluice_client_cancelled_total{route="${route}",model="${model}"}`;
