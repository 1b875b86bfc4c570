// A real redis-server (Debian's, installed by scripts/deps.sh test) for the tests: started on a
// free loopback port with persistence off, killed and restarted on the same port, and queried
// with redis-cli.
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { Proc, cleanEnv, run } from './harness.mjs';

function which(cmd) {
  try { return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim(); } catch { return ''; }
}

export const REDIS_SERVER = which('redis-server');
export const REDIS_CLI = which('redis-cli');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

export class Redis {
  constructor(port) { this.port = port; this.url = `redis://127.0.0.1:${port}`; this.proc = null; }

  async start(extra = []) {
    this.proc = new Proc(REDIS_SERVER, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--protected-mode', 'no', ...extra], cleanEnv());
    await Promise.race([
      this.proc.waitFor(/Ready to accept connections/, 'redis-server to start'),
      this.proc.exited.then((r) => { throw new Error(`redis-server exited (${JSON.stringify(r)}):\n${this.proc.log()}`); }),
    ]);
  }

  // SIGKILL: the server vanishes mid-conversation, as a crashed node would.
  async kill() {
    this.proc.signal('SIGKILL');
    await this.proc.exited;
  }

  async stop() {
    if (this.proc && this.proc.child.exitCode === null && this.proc.child.signalCode === null) {
      this.proc.signal('SIGTERM');
      await this.proc.exited;
    }
  }

  // redis-cli's raw output lines.
  async cli(...args) {
    const r = await run(REDIS_CLI, ['-p', String(this.port), '--raw', ...args]);
    if (r.code !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.split('\n').filter((l) => l !== '');
  }

  async hgetall(key) {
    const l = await this.cli('HGETALL', key);
    const o = {};
    for (let i = 0; i + 1 < l.length; i += 2) o[l[i]] = Number(l[i + 1]);
    return o;
  }
}

export async function startRedis(extra = []) {
  if (!REDIS_SERVER || !REDIS_CLI) throw new Error('redis-server and redis-cli are required (scripts/deps.sh test installs redis-server)');
  const r = new Redis(await freePort());
  await r.start(extra);
  return r;
}
