// The command line and config loading as an operator meets them: usage errors (exit 2), config
// errors (exit 1, every problem with file, line, key and value), validate, env overrides, logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runSluice, startSluice, baseConfig, tempDir, curl } from './lib/harness.mjs';

const AISIX = (name) => fileURLToPath(new URL(`fixtures/aisix/${name}`, import.meta.url));

function configFile(text) {
  const t = tempDir();
  writeFileSync(t.path('config.yaml'), text);
  return t.path('config.yaml');
}

test('--version prints "sluice <version>"', async () => {
  const r = await runSluice(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^sluice \d+\.\d+\.\d+(\+[0-9a-f]+)?\n$/);
});

test('--help prints usage and exits 0', async () => {
  const r = await runSluice(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /sluice --config FILE/);
  assert.match(r.stdout, /sluice validate --resources FILE/);
  assert.match(r.stdout, /SLUICE_<SECTION>__<KEY>/);
});

test('usage errors exit 2 with a hint', async () => {
  const cases = [
    [[], "sluice: missing --config FILE (for example: sluice --config examples/config.yaml)\n"],
    [['--bogus'], "sluice: unknown option '--bogus'\n"],
    [['-c'], 'sluice: -c needs a file name\n'],
    [['--config='], 'sluice: --config= needs a file name\n'],
    [['extra'], "sluice: unexpected argument 'extra'\n"],
    [['validate'], 'sluice: validate needs --config FILE and/or --resources FILE\n'],
  ];
  for (const [args, first] of cases) {
    const r = await runSluice(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stderr, first + "Run 'sluice --help' for usage.\n", args.join(' '));
  }
});

test('validate --config prints OK for a good file', async () => {
  const f = configFile('proxy:\n  addr: 127.0.0.1:3000\n  workers: 3\n');
  const r = await runSluice(['validate', '--config', f]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `OK: ${f}: proxy on 127.0.0.1:3000, 3 worker(s)\n`);
});

test('a bad config lists every error with file, line, key and value, and exits 1', async () => {
  const f = configFile([
    'proxy:',
    '  addr: 127.0.0.1:99999',
    '  workerz: 3',
    '  request_body_limit_bytes: "big"',
    'observability:',
    '  log_level: loud',
    'etcd:',
    '  endpoints: [http://x]',
    '',
  ].join('\n'));
  const expected = [
    `sluice: ${f}: 5 errors:`,
    `${f}:2: proxy.addr: expected an address IP:PORT or [IPv6]:PORT, got "127.0.0.1:99999"`,
    `${f}:3: proxy.workerz: unknown key (did you mean proxy.workers?)`,
    `${f}:4: proxy.request_body_limit_bytes: expected an integer from 0 to 1073741824, got a quoted string "big"`,
    `${f}:6: observability.log_level: expected one of error, warn, info, debug, trace, got "loud"`,
    `${f}:7: etcd: not supported by sluice yet; use resources_file`,
    '',
  ].join('\n');
  for (const args of [['--config', f], ['validate', '--config', f]]) {
    const r = await runSluice(args);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, expected);
  }
});

test('a missing config file and a missing proxy.addr are clear errors', async () => {
  let r = await runSluice(['--config', '/nonexistent/config.yaml']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'sluice: /nonexistent/config.yaml: 1 error:\n' +
    '/nonexistent/config.yaml: cannot read config: No such file or directory\n');
  const f = configFile('observability:\n  access_log: false\n');
  r = await runSluice(['--config', f]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `sluice: ${f}: 1 error:\n${f}: proxy.addr: required key is missing\n`);
});

test('SLUICE_<SECTION>__<KEY> overrides a key; an unknown SLUICE_ variable is an error', async () => {
  const f = configFile('proxy:\n  addr: 127.0.0.1:1\n');
  let r = await runSluice(['validate', '--config', f], { env: { SLUICE_PROXY__ADDR: '127.0.0.1:4444', SLUICE_PROXY__WORKERS: '5' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `OK: ${f}: proxy on 127.0.0.1:4444, 5 worker(s)\n`);
  r = await runSluice(['validate', '--config', f], { env: { SLUICE_PROXY__ADRR: 'x' } });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `sluice: ${f}: 1 error:\n${f}: environment SLUICE_PROXY__ADRR: unknown key proxy.adrr ` +
    '(did you mean SLUICE_PROXY__ADDR?)\n');
  r = await runSluice(['validate', '--config', f], { env: { SLUICE_PROXY__WORKERS: 'abc' } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /environment SLUICE_PROXY__WORKERS="abc": proxy\.workers: expected an integer from 1 to 1024, got "abc"/);
});

test('the env override is what the server binds', async () => {
  const s = await startSluice({ config: baseConfig().replace('127.0.0.1:0', '127.0.0.1:1'),
    env: { SLUICE_PROXY__ADDR: '127.0.0.1:0' } });
  assert.equal((await curl([s.url('/livez')])).status, 200);
  assert.equal((await s.stop()).code, 0);
});

test('observability.access_log: false silences access lines; log_level: warn silences info', async () => {
  let s = await startSluice({ config: baseConfig({ extra: '' }).replace('  log_level: info', '  log_level: info\n  access_log: false') });
  await curl([s.url('/livez')]);
  assert.equal((await s.stop()).code, 0);
  assert.doesNotMatch(s.log(), / access /);
  assert.match(s.log(), /sluice shut down cleanly/);

  s = await startSluice({ config: baseConfig() });
  await curl([s.url('/livez')]);
  await s.stop();
  assert.match(s.log(), / INFO  access method="GET" path="\/livez" status=200 duration_ms=[\d.]+ bytes=2 proto=HTTP\/1\.1 request_id="[0-9a-f-]{36}"\n/);
});

test('log_level: warn hides info lines but keeps warnings', async () => {
  const t = tempDir();
  writeFileSync(t.path('config.yaml'), baseConfig().replace('  log_level: info', '  log_level: warn') +
    'admin:\n  enabled: true\n');
  const r = await runSluice(['validate', '--config', t.path('config.yaml')]);
  assert.equal(r.code, 0, r.stderr);
  const { Proc, SLUICE_BIN, cleanEnv } = await import('./lib/harness.mjs');
  const p = new Proc(SLUICE_BIN, ['--config', t.path('config.yaml')], cleanEnv());
  await p.waitFor(/WARN  \S+config\.yaml:\d+: admin\.enabled: the admin listener is on .*but sluice has no admin listener/);
  assert.equal((await p.stop()).code, 0);
  assert.doesNotMatch(p.log(), / INFO /);
});

// AISIX's own files (its example config, its test harness, its benchmark scripts) load in the
// shapes they use; tests/e2e/fixtures/aisix/ holds files written in those shapes.
test('AISIX-shaped config files validate, with a warning for the admin listener and info lines', async () => {
  let r = await runSluice(['validate', '--config', AISIX('config-example.yaml')]);
  assert.equal(r.code, 0, r.stderr);
  const f = AISIX('config-example.yaml');
  assert.equal(r.stderr, [
    `sluice: ${f}:10: warning: admin.enabled: the admin listener is on (AISIX's default when an admin section is present), but sluice has no admin listener: admin.* is accepted and ignored; set admin.enabled: false to silence this`,
    `sluice: ${f}:24: info: observability.metrics.otlp: switched off; accepted and ignored (sluice has no OTLP metrics export)`,
    `sluice: ${f}:27: info: observability.tracing: switched off; accepted and ignored (sluice has no OTLP tracing)`,
    `sluice: ${f}:34: info: cache.backend is a legacy knob and is ignored: each cache policy names its backend (memory always exists; redis needs cache.redis)`,
    '',
  ].join('\n'));
  assert.match(r.stdout, /^OK: .*config-example\.yaml: proxy on 0\.0\.0\.0:3000, \d+ worker\(s\)\n$/);
  for (const name of ['config-harness.yaml', 'config-upstream-zero.yaml']) {
    r = await runSluice(['validate', '--config', AISIX(name)]);
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /warning|error/, name);
  }
});

test('the server logs the config notes at start', async () => {
  const t = tempDir();
  const s = await startSluice({ config: baseConfig() + 'cache:\n  backend: memory\nupstream:\n  tls:\n    verify: false\n', dir: t });
  assert.equal((await s.stop()).code, 0);
  assert.match(s.log(), /INFO  \S+config\.yaml:14: cache\.backend is a legacy knob and is ignored: each cache policy names its backend/);
  assert.match(s.log(), /WARN  \S+config\.yaml:17: upstream\.tls\.verify: false: upstream certificates and host names are NOT checked/);
  const r = await runSluice(['validate', '--config', t.path('config.yaml')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^sluice: \S+config\.yaml:17: warning: upstream\.tls\.verify: false: upstream certificates and host names are NOT checked/m);
});

test('AISIX-shaped resources files validate: key without provider, model provider differing from its key', async () => {
  for (const [name, env, counts] of [
    ['resources-bench.yaml', { BENCH_AISIX_KEY: 'bench-token' }, '3 resource(s) (1 provider key(s), 1 model(s), 1 API key(s))'],
    ['resources-key-without-provider.yaml', { VLLM_KEY: 'k' }, '5 resource(s) (2 provider key(s), 2 model(s), 1 API key(s))'],
    ['resources-provider-differs.yaml', { OPENROUTER_KEY: 'k' }, '3 resource(s) (1 provider key(s), 2 model(s), 0 API key(s))'],
  ]) {
    const v = await runSluice(['validate', '--resources', AISIX(name)], { env });
    assert.equal(v.code, 0, `${name}: ${v.stderr}`);
    assert.equal(v.stdout, `OK: ${AISIX(name)} loaded ${counts}\n`);
  }
});

test('an AISIX model group loads, and a missing allowed_models entry is named plainly', async () => {
  const f = AISIX('resources-routing.yaml');
  const r = await runSluice(['validate', '--resources', f], { env: { OPENAI_API_KEY: 'k' } });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `sluice: ${f}: 1 error:\n` +
    `${f}:21: api_keys[0] ("team"): allowed_models[1]: "nope" is not defined in models\n`);
});

// The proxy variables are loaded at start with config.yaml: a value that stops the server fails
// validate too, naming the variable and its value without the password.
test('validate and boot refuse an unusable HTTPS_PROXY without printing its password', async () => {
  const f = configFile('proxy:\n  addr: 127.0.0.1:0\n');
  const env = { HTTPS_PROXY: 'http://alice:s3cret-pw@proxy.corp:99999', https_proxy: '' };
  for (const args of [['validate', '--config', f], ['--config', f]]) {
    const r = await runSluice(args, { env });
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, /environment HTTPS_PROXY="http:\/\/\*\*\*@proxy\.corp:99999": invalid proxy URL \(/);
    assert.doesNotMatch(r.stderr, /s3cret|alice/);
    assert.equal(r.stdout, '');
  }
  const ok = await runSluice(['validate', '--config', f], { env: { HTTPS_PROXY: 'http://alice:pw@proxy.corp:3128', https_proxy: '' } });
  assert.equal(ok.code, 0, ok.stderr);
});

test('validate and boot refuse an upstream.tls.ca_file that holds no certificate', async () => {
  const t = tempDir();
  writeFileSync(t.path('junk.pem'), 'not a certificate\n');
  writeFileSync(t.path('config.yaml'), `proxy:\n  addr: 127.0.0.1:0\nupstream:\n  tls:\n    ca_file: ${t.path('junk.pem')}\n`);
  const want = `sluice: ${t.path('config.yaml')}: 1 error:\n` +
    `${t.path('config.yaml')}:5: upstream.tls.ca_file: ${t.path('junk.pem')} is not a PEM CA bundle (no certificate or crl found)\n`;
  for (const args of [['validate', '--config', t.path('config.yaml')], ['--config', t.path('config.yaml')]]) {
    const r = await runSluice(args);
    assert.equal(r.code, 1, args.join(' '));
    assert.equal(r.stderr, want);
  }
});
