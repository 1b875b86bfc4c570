// Reaching upstreams: HTTPS with verification (CA file, IP and DNS names, wrong CA, verify
// off), connection failures, HTTPS_PROXY through a CONNECT tunnel, HTTP_PROXY, NO_PROXY, and a
// graceful drain that lets an in-flight upstream call finish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { startGateway, stopGateway, KEYS } from './lib/gateway.mjs';
import { makeCert, tempDir, sleep, run } from './lib/harness.mjs';
import { call, closedPort } from './lib/fleet.mjs';

const ask = (g, extra = {}) => new OpenAI({ apiKey: KEYS.teamA, baseURL: g.sluice.url('/v1'), maxRetries: 0 })
  .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], ...extra });

async function withTlsMock(fn) {
  const dir = tempDir();
  const cert = await makeCert(dir);
  try { return await fn(cert); } finally { dir.cleanup(); }
}

test('HTTPS upstream verified against upstream.tls.ca_file, by DNS name and by IP', async () => {
  await withTlsMock(async (cert) => {
    for (const host of ['localhost', '127.0.0.1']) {
      const g = await startGateway({ mockArgs: ['--tls-cert', cert.crt, '--tls-key', cert.key],
        configExtra: `upstream:\n  tls:\n    ca_file: ${cert.crt}\n`, apiBaseFor: (mock) => `https://${host}:${mock.port}/v1` });
      const r = await ask(g);
      assert.equal(r.model, 'gpt-4o-mini', host);
      assert.equal((await stopGateway(g)).code, 0);
    }
  });
});

test('an upstream certificate that does not verify is a 502 naming the problem', async () => {
  await withTlsMock(async (cert) => {
    const g = await startGateway({ mockArgs: ['--tls-cert', cert.crt, '--tls-key', cert.key],
      apiBaseFor: (mock) => `https://localhost:${mock.port}/v1` });
    await assert.rejects(ask(g), (e) => {
      assert.equal(e.status, 502);
      assert.equal(e.error.type, 'transport_error');
      assert.match(e.error.message, /TLS handshake with localhost failed: self.signed certificate/);
      return true;
    });
    assert.equal((await stopGateway(g)).code, 0);
  });
});

// A small HTTPS upstream that records the SNI (servername, false for none) of every request.
async function sniUpstream(cert) {
  const seen = [];
  const server = https.createServer({ key: readFileSync(cert.key), cert: readFileSync(cert.crt) }, (req, res) => {
    seen.push(req.socket.servername);
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'sni', object: 'chat.completion', created: 0, model: JSON.parse(body).model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { seen, port: server.address().port, close: () => { server.closeAllConnections(); server.close(); } };
}

test('an IP-literal HTTPS upstream gets no SNI (RFC 6066) and is checked against its IP SAN', async () => {
  await withTlsMock(async (cert) => {
    const up = await sniUpstream(cert); // SAN: DNS:localhost, IP:127.0.0.1
    try {
      for (const host of ['127.0.0.1', 'localhost']) {
        const g = await startGateway({ configExtra: `upstream:\n  tls:\n    ca_file: ${cert.crt}\n`,
          apiBase: `https://${host}:${up.port}/v1` });
        try {
          assert.equal((await ask(g)).model, 'gpt-4o-mini', host);
        } finally { await stopGateway(g); }
      }
      assert.deepEqual(up.seen, [false, 'localhost']);
    } finally { up.close(); }
  });
});

test('an IP-literal upstream whose certificate lacks that IP is refused, naming the mismatch', async () => {
  const dir = tempDir();
  try {
    const key = dir.path('other-ip.key'), crt = dir.path('other-ip.crt');
    const r = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt,
      '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=DNS:127.0.0.1,IP:127.0.0.2']);
    assert.equal(r.code, 0, r.stderr);
    // A DNS SAN spelling the address does not count: an IP literal matches IP SANs only.
    const up = await sniUpstream({ key, crt });
    const g = await startGateway({ configExtra: `upstream:\n  tls:\n    ca_file: ${crt}\n`,
      apiBase: `https://127.0.0.1:${up.port}/v1` });
    try {
      await assert.rejects(ask(g), (e) => {
        assert.equal(e.status, 502);
        assert.equal(e.error.message, 'upstream unreachable: TLS handshake with 127.0.0.1 failed: IP address mismatch');
        return true;
      });
      assert.deepEqual(up.seen, [], 'no request was sent');
    } finally {
      await stopGateway(g);
      up.close();
    }
  } finally { dir.cleanup(); }
});

test('upstream.tls.verify: false accepts any certificate', async () => {
  await withTlsMock(async (cert) => {
    const g = await startGateway({ mockArgs: ['--tls-cert', cert.crt, '--tls-key', cert.key],
      configExtra: 'upstream:\n  tls:\n    verify: false\n', apiBaseFor: (mock) => `https://localhost:${mock.port}/v1` });
    assert.equal((await ask(g)).model, 'gpt-4o-mini');
    await stopGateway(g);
  });
});

test('a refused connection is a 502 with the OS reason', async () => {
  const closed = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  const g = await startGateway({ apiBase: `http://127.0.0.1:${closed}/v1` });
  await assert.rejects(ask(g), (e) => {
    assert.equal(e.status, 502);
    assert.equal(e.error.message, `upstream unreachable: cannot connect to 127.0.0.1:${closed}: Connection refused`);
    return true;
  });
  await stopGateway(g);
});

// A CONNECT proxy that records what it was asked and relays bytes.
function connectProxy() {
  const seen = [];
  const server = net.createServer((c) => {
    c.once('data', (buf) => {
      const line = buf.toString('latin1').split('\r\n')[0];
      seen.push(line);
      const [host, port] = line.split(' ')[1].split(':');
      const up = net.connect(Number(port), host === 'localhost' ? '127.0.0.1' : host, () => {
        c.write('HTTP/1.1 200 Connection established\r\n\r\n');
        c.pipe(up);
        up.pipe(c);
      });
      up.on('error', () => c.destroy());
      c.on('error', () => up.destroy());
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, seen, port: server.address().port })));
}

test('HTTPS_PROXY tunnels https upstreams through CONNECT; NO_PROXY bypasses it', async () => {
  await withTlsMock(async (cert) => {
    const proxy = await connectProxy();
    const env = { HTTPS_PROXY: `http://127.0.0.1:${proxy.port}` };
    const g = await startGateway({ mockArgs: ['--tls-cert', cert.crt, '--tls-key', cert.key], env,
      configExtra: `upstream:\n  tls:\n    ca_file: ${cert.crt}\n`, apiBaseFor: (mock) => `https://localhost:${mock.port}/v1` });
    assert.equal((await ask(g)).model, 'gpt-4o-mini');
    assert.deepEqual(proxy.seen, [`CONNECT localhost:${g.mock.port} HTTP/1.1`]);
    assert.match(g.sluice.log(), new RegExp(`outbound proxy: https=http://127\\.0\\.0\\.1:${proxy.port} http=none`));
    await stopGateway(g);
    const g2 = await startGateway({ mockArgs: ['--tls-cert', cert.crt, '--tls-key', cert.key],
      env: { ...env, NO_PROXY: 'localhost' }, configExtra: `upstream:\n  tls:\n    ca_file: ${cert.crt}\n`,
      apiBaseFor: (mock) => `https://localhost:${mock.port}/v1` });
    assert.equal((await ask(g2)).model, 'gpt-4o-mini');
    assert.equal(proxy.seen.length, 1, 'NO_PROXY: no second CONNECT');
    await stopGateway(g2);
    proxy.server.close();
  });
});

// A proxy that answers everything with 407 and keeps what it was sent.
async function authProxy() {
  const seen = [];
  const server = net.createServer((c) => {
    c.once('data', (buf) => {
      seen.push(buf.toString('latin1'));
      c.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="egress"\r\n'
        + 'Content-Length: 0\r\n\r\n');
    });
    c.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { seen, port: server.address().port, close: () => server.close() };
}

const chatVia = (g) => call(g.sluice.port, '/v1/chat/completions', { key: KEYS.teamA,
  body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }) });

test('a proxy 407 is final: one CONNECT, a 502 saying so, logged with the request id and no credentials', async () => {
  const proxy = await authProxy();
  // The origin is never reached: the proxy refuses the tunnel first.
  const g = await startGateway({ env: { HTTPS_PROXY: `http://egress:pa%40ss@127.0.0.1:${proxy.port}` },
    apiBase: 'https://upstream.example:443/v1' });
  try {
    const r = await chatVia(g);
    assert.equal(r.status, 502);
    assert.deepEqual(JSON.parse(r.text).error, {
      message: `upstream unreachable: egress proxy http://127.0.0.1:${proxy.port} demanded authentication (407) `
        + 'for CONNECT to upstream.example; it refused the credentials in the proxy URL',
      type: 'transport_error', code: 'proxy_auth_required',
    });
    assert.equal(proxy.seen.length, 1, 'upstream.retries (2) does not apply to a 407');
    assert.match(proxy.seen[0], /^CONNECT upstream\.example:443 HTTP\/1\.1\r\n/);
    // user:password percent-decoded before encoding: egress:pa@ss
    assert.match(proxy.seen[0], /\r\nProxy-Authorization: Basic ZWdyZXNzOnBhQHNz\r\n/);
    // The access line is the request's last; the failure line came before the reply.
    await g.sluice.waitFor(/path="\/v1\/chat\/completions" status=502 /, 'the access line');
    const line = g.sluice.log().split('\n').find((l) => l.includes('upstream call failed'));
    assert.match(line, new RegExp(`WARN  upstream call failed: origin=https://upstream\\.example:443 kind=proxy_auth `
      + `proxy=http://127\\.0\\.0\\.1:${proxy.port} detail=".*" request_id="${r.headers['x-request-id']}"$`));
    for (const secret of ['pa%40ss', 'pa@ss', 'ZWdyZXNzOnBhQHNz']) assert.ok(!g.sluice.log().includes(secret), secret);
  } finally {
    await stopGateway(g);
    proxy.close();
  }
});

test('a proxy that refuses the connection: a 502 naming the proxy, not retried', async () => {
  const port = await closedPort();
  const g = await startGateway({ env: { HTTPS_PROXY: `http://user:secret@127.0.0.1:${port}`,
    SLUICE_OBSERVABILITY__LOG_LEVEL: 'debug' }, apiBase: 'https://upstream.example:443/v1' });
  try {
    const r = await chatVia(g);
    assert.equal(r.status, 502);
    assert.deepEqual(JSON.parse(r.text).error, {
      message: `upstream unreachable: cannot connect to proxy http://127.0.0.1:${port}: Connection refused`,
      type: 'transport_error', code: 'transport_error',
    });
    await g.sluice.waitFor(/path="\/v1\/chat\/completions" status=502 /, 'the access line');
    assert.doesNotMatch(g.sluice.log(), /retrying upstream call/);
    assert.match(g.sluice.log(), /upstream call failed: origin=https:\/\/upstream\.example:443 kind=proxy_unreachable /);
    assert.ok(!g.sluice.log().includes('secret'));
  } finally {
    await stopGateway(g);
  }
});

test('HTTP_PROXY carries plain-http upstreams as absolute-form requests', async () => {
  const lines = [];
  const fwd = http.createServer((req, res) => {
    lines.push(`${req.method} ${req.url}`);
    const u = new URL(req.url);
    const up = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise((r) => fwd.listen(0, '127.0.0.1', r));
  const g = await startGateway({ env: { HTTP_PROXY: `127.0.0.1:${fwd.address().port}` } });
  assert.equal((await ask(g)).model, 'gpt-4o-mini');
  assert.deepEqual(lines, [`POST http://127.0.0.1:${g.mock.port}/v1/chat/completions`]);
  await stopGateway(g);
  fwd.close();
});

test('SIGTERM: an in-flight upstream call finishes before exit', async () => {
  const g = await startGateway();
  const pending = ask(g, { mock: { latency_ms: 1500 } });
  await sleep(300);
  g.sluice.signal('SIGTERM');
  const r = await pending;
  assert.equal(r.model, 'gpt-4o-mini');
  const exit = await g.sluice.stop(null);
  assert.equal(exit.code, 0);
  assert.match(g.sluice.log(), /path="\/v1\/chat\/completions" status=200[\s\S]*sluice shut down cleanly/);
  await g.mock.stop();
});
