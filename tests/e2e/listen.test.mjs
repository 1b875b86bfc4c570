// Listeners: workers, ports chosen by the kernel, and the one-line bind errors (address in use,
// privileged port without CAP_NET_BIND_SERVICE) with exit code 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { existsSync } from 'node:fs';
import { startSluice, baseConfig, curl, scrapeMetrics, tempDir, run, SLUICE_BIN, cleanEnv } from './lib/harness.mjs';
import { writeFileSync, chmodSync } from 'node:fs';

function listenOn(port = 0) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

function configOn(addr, extra = '') {
  return baseConfig().replace('  addr: 127.0.0.1:0', `  addr: ${addr}`) + extra;
}

async function runConfig(config) {
  const t = tempDir();
  writeFileSync(t.path('config.yaml'), config);
  const r = await run(SLUICE_BIN, ['--config', t.path('config.yaml')], { env: cleanEnv() });
  t.cleanup();
  return r;
}

test('an address already in use is a one-line error and exit 1', async () => {
  const srv = await listenOn();
  const port = srv.address().port;
  const r = await runConfig(configOn(`127.0.0.1:${port}`));
  srv.close();
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `sluice: proxy listener 127.0.0.1:${port}: bind failed: Address already in use ` +
    '(errno 98); another process is already listening on this address\n');
});

test('a second sluice on the same port fails instead of sharing it through SO_REUSEPORT', async () => {
  const a = await startSluice({ config: baseConfig() });
  const r = await runConfig(configOn(`127.0.0.1:${a.port}`));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^sluice: proxy listener 127\.0\.0\.1:\d+: bind failed: Address already in use/);
  assert.equal((await a.stop()).code, 0);
});

test('the metrics listener reports its own bind error', async () => {
  const srv = await listenOn();
  const port = srv.address().port;
  const cfg = baseConfig({ metrics: true }).replace('      addr: 127.0.0.1:0', `      addr: 127.0.0.1:${port}`);
  const r = await runConfig(cfg);
  srv.close();
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^sluice: metrics listener 127\\.0\\.0\\.1:${port}: bind failed: Address already in use`));
});

test('a port below 1024 without CAP_NET_BIND_SERVICE: EACCES with the capability hint', async (t) => {
  if (process.getuid() !== 0 || !existsSync('/usr/bin/setpriv')) {
    t.skip('needs root (to drop to an unprivileged uid with setpriv)');
    return;
  }
  const dir = tempDir();
  chmodSync(dir.dir, 0o755);
  writeFileSync(dir.path('config.yaml'), configOn('127.0.0.1:80'));
  chmodSync(dir.path('config.yaml'), 0o644);
  // Drop every capability: an unprivileged uid cannot bind :80 (ip_unprivileged_port_start is
  // 1024 on Debian). The binary itself carries no file capability here.
  const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all',
    '--bounding-set=-all', SLUICE_BIN, '--config', dir.path('config.yaml')], { env: cleanEnv() });
  dir.cleanup();
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr, 'sluice: proxy listener 127.0.0.1:80: bind failed: Permission denied (errno 13); ' +
    'ports below 1024 need CAP_NET_BIND_SERVICE (file capability cap_net_bind_service=+ep on the binary, ' +
    'or the container capability)\n');
});

test('proxy.workers sets the number of worker loops; all of them serve', async () => {
  const s = await startSluice({ config: baseConfig({ workers: 3, metrics: true }) });
  assert.match(s.log(), /workers=3/);
  for (let i = 0; i < 30; i++) assert.equal((await curl([s.url('/livez')])).status, 200);
  const m = await scrapeMetrics(s);
  assert.equal(m.get('sluice_workers'), 3);
  assert.equal(m.get('sluice_http_requests_total{code="2xx"}'), 30);
  assert.equal((await s.stop()).code, 0);
});

test('proxy.workers defaults to the CPUs available to the process (affinity aware)', async () => {
  const cfg = baseConfig().replace('  workers: 2\n', '');
  const one = await startSluice({ config: cfg, args: [], env: {} });
  const all = Number(one.log().match(/workers=(\d+)/)[1]);
  assert.equal((await one.stop()).code, 0);
  const nproc = Number((await run('nproc', [])).stdout.trim());
  assert.equal(all, nproc);
  // Pinned to one CPU with taskset, the default follows the affinity mask.
  const t = tempDir();
  writeFileSync(t.path('config.yaml'), cfg);
  const { Proc } = await import('./lib/harness.mjs');
  const p = new Proc('taskset', ['-c', '0', SLUICE_BIN, '--config', t.path('config.yaml')], cleanEnv());
  await p.waitFor(/workers=(\d+)/);
  assert.match(p.log(), /workers=1 /);
  assert.equal((await p.stop()).code, 0);
  t.cleanup();
});

test('IPv6 listen addresses work', async () => {
  const s = await startSluice({ config: configOn('"[::1]:0"') });
  assert.match(s.log(), /listening on http:\/\/\[::1\]:\d+/);
  const r = await curl([`http://[::1]:${s.port}/livez`]);
  assert.equal(r.status, 200);
  assert.equal((await s.stop()).code, 0);
});
