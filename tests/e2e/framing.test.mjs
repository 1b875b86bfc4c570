// Requests whose framing a proxy in front of Sluice could read differently are refused with
// 400 and a closed connection, and never reach the upstream; connections beyond
// proxy.max_connections are refused politely with 503.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, stopGateway, KEYS } from './lib/gateway.mjs';
import { scrapeMetrics, eventually, startSluice, baseConfig } from './lib/harness.mjs';

let g;
before(async () => { g = await startGateway(); });
after(async () => { assert.equal((await stopGateway(g)).code, 0); });

// Sends raw bytes and collects everything until the server closes the connection.
function raw(port, text) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    s.on('data', (d) => { got += d; });
    s.on('end', () => resolve(got));
    s.on('error', reject);
    s.setTimeout(10000, () => { s.destroy(); resolve(got + '[timeout]'); });
  });
}

const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
const head = (extra) => `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEYS.teamA}\r\n${extra}\r\n`;

for (const [name, framing, payload] of [
  ['Content-Length and Transfer-Encoding', `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n`,
    `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`],
  ['a repeated Content-Length', `Content-Length: ${body.length}\r\nContent-Length: ${body.length}\r\n`, body],
]) {
  test(`${name}: 400, connection closed, nothing sent upstream`, async () => {
    await g.mock.reset();
    const out = await raw(g.sluice.port, head(framing) + payload + head(`Content-Length: ${body.length}\r\n`) + body);
    assert.match(out, /^HTTP\/1\.1 400 /);
    assert.match(out, /Connection: close/i);
    assert.match(out, /"code":"ambiguous_framing"/);
    assert.equal((out.match(/HTTP\/1\.1 /g) ?? []).length, 1, 'the pipelined request after it was not served');
    assert.equal((await g.mock.stats()).requests, 0);
  });
}

test('malformed chunked encoding: 400 in the envelope, connection closed, nothing sent upstream', async () => {
  await g.mock.reset();
  const out = await raw(g.sluice.port, head('Transfer-Encoding: chunked\r\n') + 'zz\r\nnot hex\r\n0\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 400 /);
  assert.match(out, /Connection: close/i);
  assert.match(out, /"message":"request payload is invalid: broken chunked-encoding"/);
  assert.equal((await g.mock.stats()).requests, 0);
});

test('proxy.max_connections: the connection over the limit gets 503 and is closed', async () => {
  const s = await startSluice({ config: baseConfig({ metrics: true }).replace('  workers: 2', '  workers: 2\n  max_connections: 3') });
  const held = [];
  for (let i = 0; i < 3; i++) {
    const c = net.connect(s.port, '127.0.0.1');
    await new Promise((r) => c.on('connect', r));
    c.on('error', () => {});
    held.push(c);
  }
  await eventually(async () => (await scrapeMetrics(s)).get('sluice_open_connections') === 3, 'three open connections');
  const out = await raw(s.port, 'GET /livez HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  assert.match(out, /Retry-After: 1\r\n/);
  assert.match(out, /"code":"too_many_connections"/);
  assert.equal((await scrapeMetrics(s)).get('sluice_connections_refused_total'), 1);
  held[0].destroy();
  await eventually(async () => (await scrapeMetrics(s)).get('sluice_open_connections') === 2, 'a slot to free up');
  const ok = await raw(s.port, 'GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(ok, /^HTTP\/1\.1 200 OK/);
  for (const c of held) c.destroy();
  assert.equal((await s.stop()).code, 0);
});
