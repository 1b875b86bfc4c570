// Signals: graceful drain on SIGTERM/SIGINT (health turns 503 at once, requests are still served
// for shutdown.min_drain_secs with Connection: close, then listeners close and in-flight work
// finishes before exit 0), a second signal exits at once, SIGHUP re-checks without disturbing
// traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { startSluice, baseConfig, curl, scrapeMetrics, sleep } from './lib/harness.mjs';

function drainConfig(secs, extra = '') {
  return baseConfig({ metrics: true, extra }).replace('  min_drain_secs: 0', `  min_drain_secs: ${secs}`);
}

// A POST whose body trickles in at 1 KiB/s; resolves with curl's parsed response.
function slowUpload(s, bytes) {
  return curl(['--limit-rate', '1k', '-X', 'POST', '--data-binary', '@-', s.url('/v1/slow-upload')],
    { input: 'z'.repeat(bytes) });
}

test('SIGTERM drains: 503 health, Connection: close, window, then in-flight uploads finish', async () => {
  const s = await startSluice({ config: drainConfig(2) });
  const upload = slowUpload(s, 5000); // still arriving when the drain window ends
  await sleep(300);
  const mark = s.log().length;
  s.signal('SIGTERM');
  await s.waitFor(/received SIGTERM: draining/, 'drain start', mark);

  for (const path of ['/livez', '/readyz']) {
    const r = await curl([s.url(path)]);
    assert.equal(r.status, 503, path);
    assert.equal(r.body, 'shutting down');
    assert.equal(r.headers['connection'], 'close');
  }
  const v = await curl([s.url('/readyz?verbose')]);
  assert.match(v.body, /\[-\]shutdown failed: draining\n/);
  // New requests are still served inside the window, and told to close their connection.
  const during = await curl([s.url('/v1/during-drain')]);
  assert.equal(during.status, 404);
  assert.equal(during.headers['connection'], 'close');
  assert.equal((await scrapeMetrics(s)).get('sluice_draining'), 1);

  await s.waitFor(/drain window over: listeners closed/, 'listeners to close', mark);
  const refused = await curl([s.url('/livez')]);
  assert.notEqual(refused.code, 0, 'new connections are refused once listeners close');

  const up = await upload;
  assert.equal(up.status, 404, 'the upload that was in flight got its full response');
  assert.equal(JSON.parse(up.body).error.code, 'not_found');
  const r = await s.stop();
  assert.equal(r.code, 0);
  const tail = s.log().slice(mark);
  assert.match(tail, /sluice shut down cleanly/);
  // The clean-shutdown line comes after the upload's access line.
  assert.ok(tail.indexOf('path="/v1/slow-upload"') < tail.indexOf('sluice shut down cleanly'), tail);
});

test('SIGINT drains like SIGTERM', async () => {
  const s = await startSluice({ config: drainConfig(0) });
  const r = await s.stop('SIGINT');
  assert.equal(r.code, 0);
  assert.match(s.log(), /received SIGINT: draining/);
  assert.match(s.log(), /sluice shut down cleanly/);
});

test('a second SIGTERM exits at once', async () => {
  const s = await startSluice({ config: drainConfig(600) });
  const upload = slowUpload(s, 60000);
  await sleep(200);
  s.signal('SIGTERM');
  await s.waitFor(/received SIGTERM: draining/);
  s.signal('SIGTERM');
  const r = await s.waitExit();
  assert.equal(r.code, 1);
  assert.match(s.log(), /second SIGTERM: exiting now with \d+ request\(s\) in flight/);
  await upload; // the connection was cut
});

test('idle keep-alive connections do not hold up shutdown', async () => {
  const s = await startSluice({ config: drainConfig(0) });
  const sock = net.connect(s.port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  sock.write('GET /livez HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((r) => sock.once('data', r));
  const closed = new Promise((r) => sock.on('close', r));
  sock.on('error', () => {});
  const res = await s.stop();
  assert.equal(res.code, 0);
  await closed;
});

test('SIGHUP re-checks config.yaml and keeps serving', async () => {
  const s = await startSluice({ config: drainConfig(0) });
  let mark = s.log().length;
  s.signal('SIGHUP');
  await s.waitFor(/reload: \S+ is valid/, 'reload ok', mark);
  assert.equal((await curl([s.url('/livez')])).status, 200);

  writeFileSync(s.configFile, 'proxy:\n  addr: 127.0.0.1:0\n  workers: many\n');
  mark = s.log().length;
  s.signal('SIGHUP');
  await s.waitFor(/reload: \S+ has 1 error\(s\); the running configuration is unchanged/, 'reload error', mark);
  await s.waitFor(/proxy\.workers: expected an integer/, 'the error itself', mark);
  assert.equal((await curl([s.url('/livez')])).status, 200);
  assert.equal((await s.stop()).code, 0);
});
