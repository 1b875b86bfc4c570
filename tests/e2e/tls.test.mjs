// The TLS listener: HTTPS on proxy.addr (TLS 1.2+, ALPN h2 and http/1.1), or TLS on
// proxy.tls.addr next to plain HTTP on proxy.addr, certificate rotation on SIGHUP, and a bad
// certificate on reload keeping the old one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { startSluice, baseConfig, curl, run, makeCert, tempDir } from './lib/harness.mjs';

function tlsConfig(cert, extra = '') {
  return baseConfig().replace('  workers: 2', `  workers: 2\n  tls:\n    cert_file: ${cert.crt}\n    key_file: ${cert.key}${extra}`);
}

async function peerSerial(port) {
  const r = await run('sh', ['-c', `echo | openssl s_client -connect 127.0.0.1:${port} -servername localhost 2>/dev/null | openssl x509 -noout -serial`]);
  return r.stdout.trim();
}

test('HTTPS on proxy.addr: HTTP/1.1 and HTTP/2 by ALPN, TLS 1.2 and 1.3, nothing older', async () => {
  const dir = tempDir();
  const cert = await makeCert(dir);
  const s = await startSluice({ config: tlsConfig(cert), dir });
  assert.equal(s.scheme, 'https');
  const url = `https://localhost:${s.port}/livez`;
  const h1 = await curl(['--cacert', cert.crt, '--http1.1', url]);
  assert.equal(h1.status, 200);
  assert.equal(h1.body, 'ok');
  const h2 = await curl(['--cacert', cert.crt, '--http2', url]);
  assert.ok(h2.statusLine.startsWith('HTTP/2 200'), h2.statusLine);
  for (const v of ['1.2', '1.3']) {
    const r = await curl(['--cacert', cert.crt, `--tlsv${v}`, '--tls-max', v, url]);
    assert.equal(r.status, 200, `TLS ${v}`);
  }
  const old = await curl(['--cacert', cert.crt, '--tlsv1.1', '--tls-max', '1.1', url]);
  assert.notEqual(old.code, 0, 'TLS 1.1 is refused');
  const plain = await curl([`http://127.0.0.1:${s.port}/livez`]);
  assert.notEqual(plain.status, 200, 'no plaintext on a TLS listener');
  assert.equal((await s.stop()).code, 0);
});

test('proxy.tls.addr: TLS there, plain HTTP stays on proxy.addr', async () => {
  const dir = tempDir();
  const cert = await makeCert(dir);
  const s = await startSluice({ config: tlsConfig(cert, '\n    addr: 127.0.0.1:0'), dir });
  assert.equal(s.scheme, 'http');
  assert.ok(s.tlsPort > 0);
  assert.equal((await curl([s.url('/livez')])).status, 200);
  const r = await curl(['--cacert', cert.crt, `https://localhost:${s.tlsPort}/readyz`]);
  assert.equal(r.status, 200);
  assert.equal((await s.stop()).code, 0);
});

test('SIGHUP rotates the certificate; a bad one on reload keeps the old and says why', async () => {
  const dir = tempDir();
  const cert = await makeCert(dir);
  const next = await makeCert(dir, 'next');
  const s = await startSluice({ config: tlsConfig(cert), dir });
  const first = await peerSerial(s.port);
  assert.match(first, /^serial=/);
  copyFileSync(next.crt, cert.crt);
  copyFileSync(next.key, cert.key);
  let mark = s.log().length;
  s.signal('SIGHUP');
  await s.waitFor(/reload: TLS certificate reloaded from /, 'the rotation', mark);
  const second = await peerSerial(s.port);
  assert.notEqual(second, first);
  // A key that does not match the certificate: refused, the rotated certificate stays.
  const other = await makeCert(dir, 'other');
  copyFileSync(other.key, cert.key);
  mark = s.log().length;
  s.signal('SIGHUP');
  await s.waitFor(/reload: TLS certificate not reloaded: the private key \S+ does not match the certificate \S+; the current certificate stays in use/, 'the refusal', mark);
  assert.equal(await peerSerial(s.port), second);
  assert.equal((await curl(['--cacert', next.crt, `https://localhost:${s.port}/livez`])).status, 200);
  assert.equal((await s.stop()).code, 0);
});
