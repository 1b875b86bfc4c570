// Checks deploy/systemd/sluice.service: the capability settings contract.sh scenario (f)
// models (ambient CAP_NET_BIND_SERVICE, the same bounding set, no_new_privs), the drain and
// reload wiring, and systemd's own offline verdicts (`systemd-analyze verify` and
// `security --offline`) when systemd-analyze is installed. Run: node --test tests/container/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const unitFile = join(repo, 'deploy', 'systemd', 'sluice.service');
const text = readFileSync(unitFile, 'utf8');
const BIN = process.env.SL_TEST_BIN ?? join(repo, 'build', 'sluice');

// [Section] -> key -> [values] (a key may repeat).
function parseUnit(src) {
  const units = {};
  let section = null;
  for (const raw of src.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const m = line.match(/^\[(\w+)\]$/);
    if (m) { section = units[m[1]] = {}; continue; }
    const i = line.indexOf('=');
    assert.ok(section && i > 0, `unit line outside a section or without '=': ${line}`);
    (section[line.slice(0, i)] ??= []).push(line.slice(i + 1));
  }
  return units;
}
const svc = parseUnit(text).Service;
const one = (k) => { assert.equal(svc[k]?.length, 1, `${k} set once`); return svc[k][0]; };

test('the only privilege is CAP_NET_BIND_SERVICE, ambient, under no_new_privs', () => {
  assert.equal(one('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
  assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE');
  assert.equal(one('NoNewPrivileges'), 'yes');
  assert.ok(!['root', '0'].includes(one('User')), 'runs as an unprivileged user');
  // A private user namespace's capabilities do not cover the host's network namespace.
  assert.equal(svc.PrivateUsers, undefined);
  assert.equal(svc.PrivateNetwork, undefined);
});

test('starts sluice with a config, reloads with SIGHUP, stops with a drain that fits', () => {
  assert.match(one('ExecStart'), /^\/usr\/local\/bin\/sluice --config \/etc\/sluice\/config\.yaml$/);
  assert.match(one('ExecReload'), /kill -HUP \$MAINPID$/);
  assert.equal(one('KillSignal'), 'SIGTERM');
  // Longer than shutdown.min_drain_secs' default (30 s) plus time for requests to finish.
  assert.ok(Number(one('TimeoutStopSec')) > 30);
  for (const k of ['ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'RestrictSUIDSGID',
    'MemoryDenyWriteExecute', 'SystemCallFilter', 'RestrictAddressFamilies']) {
    assert.ok(svc[k], `${k} is set`);
  }
});

function withBuiltBinary(t, fn) {
  const probe = spawnSync('systemd-analyze', ['--version']);
  if (probe.error) { t.skip('systemd-analyze not installed'); return; }
  if (!existsSync(BIN)) { t.skip(`${BIN} not built`); return; }
  // verify checks that ExecStart exists: point it at the built binary.
  const tmp = mkdtempSync(join(tmpdir(), 'sluice-unit-'));
  try {
    const unit = join(tmp, 'sluice.service');
    writeFileSync(unit, text.replaceAll('/usr/local/bin/sluice', BIN));
    fn(unit);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

test('systemd-analyze verify accepts the unit', (t) => withBuiltBinary(t, (unit) => {
  const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stderr.trim(), '', 'no warnings');
}));

test('systemd-analyze security rates the unit OK (exposure at most 2.0 of 10)', (t) => withBuiltBinary(t, (unit) => {
  const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', unit], { encoding: 'utf8' });
  const m = r.stdout.match(/Overall exposure level for \S+: ([\d.]+) (\w+)/);
  assert.ok(m, r.stdout + r.stderr);
  assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} ${m[2]}`);
}));
