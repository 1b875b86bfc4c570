// HTTP/1.1 at the byte level, for clients no library would be: pipelining, heads that never
// end, bodies that trickle. Waits are bounded only to turn a hang into a failure.
import net from 'node:net';

const HANG_MS = 30000;

// Connects to 127.0.0.1:port, writes parts in order (strings are latin1; a number pauses that
// many ms), and collects what the server sends until it closes the connection. Resolves with
// { text, bytes, closed: true } or, if the server kept it open for limitMs, closed: false.
// A reset (ECONNRESET, EPIPE: the server closed while bytes were still arriving) counts as
// closed, with .error set.
export function exchange(port, parts, { limitMs = HANG_MS } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    let error = null, done = false, timer;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const bytes = Buffer.concat(chunks);
      resolve({ text: bytes.toString('latin1'), bytes, closed, error });
    };
    s.on('data', (d) => chunks.push(d));
    s.on('error', (e) => { error = e.code; });
    s.on('close', () => finish(true));
    timer = setTimeout(() => finish(false), limitMs);
    s.on('connect', async () => {
      for (const p of parts) {
        if (done || s.destroyed) return;
        if (typeof p === 'number') await new Promise((r) => setTimeout(r, p));
        else s.write(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
      }
    });
  });
}

// Writes head, then `unit` every everyMs for as long as the server keeps the connection open
// (at most limitMs). Resolves with what came back and how many units were sent.
export function trickle(port, head, unit, everyMs, { limitMs = HANG_MS } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    let units = 0, error = null, done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearInterval(tick);
      clearTimeout(timer);
      s.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed, units, error });
    };
    const tick = setInterval(() => {
      if (s.writable && s.readyState === 'open') { s.write(unit); units++; }
    }, everyMs);
    const timer = setTimeout(() => finish(false), limitMs);
    s.on('connect', () => s.write(head));
    s.on('data', (d) => chunks.push(d));
    s.on('error', (e) => { error = e.code; });
    s.on('close', () => finish(true));
  });
}

// Splits a byte stream of HTTP/1.1 responses (Content-Length or chunked bodies) into
// [{ status, reason, headers (lower-case names), body }]. Stops at the first incomplete one.
export function parseResponses(text) {
  const out = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const m = statusLine.match(/^HTTP\/1\.[01] (\d{3}) ?(.*)$/);
    if (!m) break;
    const headers = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    let body, after;
    rest = rest.slice(end + 4);
    if (headers['transfer-encoding'] === 'chunked') {
      body = '';
      for (;;) {
        const nl = rest.indexOf('\r\n');
        if (nl < 0) return out;
        const size = parseInt(rest.slice(0, nl), 16);
        if (size === 0) { after = rest.slice(rest.indexOf('\r\n\r\n', nl - 2) + 4); break; }
        body += rest.slice(nl + 2, nl + 2 + size);
        rest = rest.slice(nl + 2 + size + 2);
      }
    } else {
      const len = Number(headers['content-length'] ?? 0);
      if (rest.length < len) break;
      body = rest.slice(0, len);
      after = rest.slice(len);
    }
    out.push({ status: Number(m[1]), reason: m[2], headers, body: Buffer.from(body, 'latin1').toString('utf8') });
    rest = after;
  }
  return out;
}

// h2o's own answer to a request head it cannot parse or that does not end within its cap: it
// is written straight to the socket (no filter runs), then the connection is closed.
export const H2O_BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n' +
  'Connection: close\r\nContent-Length: 11\r\n\r\nBad Request';

// h2o 2.2.5 parses at most H2O_MAX_REQLEN bytes of request head (8192 + 4096 * 100, as built
// into Debian's libh2o) with at most 100 header fields.
export const H2O_MAX_REQLEN = 8192 + 4096 * 100;
export const H2O_MAX_HEADERS = 100;
