// Checks the Kubernetes manifests in deploy/kubernetes so a later edit cannot silently weaken
// them: the restricted Pod Security Standard (a checker of its controls, itself tested against
// weakened copies), the fields issue 4 asks for, and the wiring between the pods, their
// ConfigMaps, Secrets, Service and the config sluice reads (which the real binary validates).
// Run: node --test tests/container/ (the yaml package comes from tests/e2e/node_modules).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync, readdirSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join, dirname, posix } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const require = createRequire(new URL('../e2e/package.json', import.meta.url));
const YAML = require('yaml');

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = join(repo, 'deploy', 'kubernetes');
const BIN = process.env.SL_TEST_BIN ?? join(repo, 'build', 'sluice');

// Kubernetes reads manifests as YAML 1.1 (0440 is octal there), so parse them the same way.
function loadAll(file) {
  return YAML.parseAllDocuments(readFileSync(join(dir, file), 'utf8'), { version: '1.1' })
    .map((d) => {
      assert.equal(d.errors.length, 0, `${file}: ${d.errors.join('; ')}`);
      return d.toJS();
    })
    .filter(Boolean)
    .map((o) => ({ ...o, file }));
}

const applied = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).flatMap(loadAll);
const secrets = loadAll('secret.yaml.example');
const of = (kind) => applied.filter((o) => o.kind === kind);
const ns = (name) => of('Namespace').find((o) => o.metadata.name === name);
const daemonset = of('DaemonSet').find((o) => o.spec.template.spec.hostNetwork === true);
const deployment = of('Deployment')[0];
const workloads = [daemonset, deployment];

// ---- the restricted Pod Security Standard (kubernetes.io/docs/concepts/security/pod-security-standards)

const BASELINE_CAPS = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL',
  'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
const SAFE_SYSCTLS = new Set(['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes']);
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral',
  'persistentVolumeClaim', 'projected', 'secret']);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t',
  'container_engine_t']);

function allContainers(spec) {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])];
}

// Returns the controls a pod spec violates, one string each; [] means it passes "restricted".
export function restrictedViolations(spec, annotations = {}) {
  const v = [];
  const psc = spec.securityContext ?? {};
  const cs = allContainers(spec);
  const csc = (c) => c.securityContext ?? {};
  // Baseline
  if (psc.windowsOptions?.hostProcess || cs.some((c) => csc(c).windowsOptions?.hostProcess)) v.push('HostProcess');
  const hostNs = ['hostNetwork', 'hostPID', 'hostIPC'].filter((k) => spec[k] === true);
  if (hostNs.length) v.push(`Host Namespaces (${hostNs.join(', ')})`);
  if (cs.some((c) => csc(c).privileged === true)) v.push('Privileged Containers');
  const added = cs.flatMap((c) => csc(c).capabilities?.add ?? []);
  if (added.some((c) => !BASELINE_CAPS.has(c))) v.push('Capabilities (baseline)');
  if ((spec.volumes ?? []).some((vol) => vol.hostPath)) v.push('HostPath Volumes');
  // The API server defaults hostPort to containerPort for hostNetwork pods.
  const hostPorts = cs.flatMap((c) => (c.ports ?? [])
    .map((p) => p.hostPort ?? (spec.hostNetwork ? p.containerPort : 0))).filter((p) => p);
  if (hostPorts.length) v.push(`Host Ports (${hostPorts.join(', ')})`);
  const apparmorOk = (p) => !p || ['RuntimeDefault', 'Localhost'].includes(p.type);
  const apparmorAnnotations = Object.entries(annotations)
    .filter(([k]) => k.startsWith('container.apparmor.security.beta.kubernetes.io/'));
  if (!apparmorOk(psc.appArmorProfile) || cs.some((c) => !apparmorOk(csc(c).appArmorProfile)) ||
      apparmorAnnotations.some(([, val]) => !(val === 'runtime/default' || val.startsWith('localhost/')))) {
    v.push('AppArmor');
  }
  const selinuxOk = (o) => !o || (SELINUX_TYPES.has(o.type ?? '') && !o.user && !o.role);
  if (!selinuxOk(psc.seLinuxOptions) || cs.some((c) => !selinuxOk(csc(c).seLinuxOptions))) v.push('SELinux');
  if (cs.some((c) => csc(c).procMount !== undefined && csc(c).procMount !== 'Default')) v.push('/proc Mount Type');
  if (psc.seccompProfile?.type === 'Unconfined' || cs.some((c) => csc(c).seccompProfile?.type === 'Unconfined')) {
    v.push('Seccomp (baseline)');
  }
  if ((psc.sysctls ?? []).some((s) => !SAFE_SYSCTLS.has(s.name))) v.push('Sysctls');
  // Restricted
  if ((spec.volumes ?? []).some((vol) => !Object.keys(vol).some((k) => RESTRICTED_VOLUMES.has(k)))) {
    v.push('Volume Types');
  }
  if (cs.some((c) => csc(c).allowPrivilegeEscalation !== false)) v.push('Privilege Escalation');
  if (cs.some((c) => csc(c).runAsNonRoot === false) ||
      (psc.runAsNonRoot !== true && cs.some((c) => csc(c).runAsNonRoot !== true))) {
    v.push('Running as Non-root');
  }
  if (psc.runAsUser === 0 || cs.some((c) => csc(c).runAsUser === 0)) v.push('Running as Non-root user');
  const seccompOk = (p) => p && ['RuntimeDefault', 'Localhost'].includes(p.type);
  if (cs.some((c) => csc(c).seccompProfile ? !seccompOk(csc(c).seccompProfile) : !seccompOk(psc.seccompProfile))) {
    v.push('Seccomp');
  }
  if (cs.some((c) => !(csc(c).capabilities?.drop ?? []).includes('ALL') ||
      (csc(c).capabilities?.add ?? []).some((cap) => cap !== 'NET_BIND_SERVICE'))) {
    v.push('Capabilities');
  }
  return v;
}

const clone = (o) => structuredClone(o);
const podOf = (w) => w.spec.template.spec;
const sluiceOf = (w) => podOf(w).containers.find((c) => c.name === 'sluice');

test('the manifests hold exactly one hostNetwork DaemonSet, one Deployment and its Service', () => {
  assert.equal(of('DaemonSet').length, 1);
  assert.ok(daemonset, 'the DaemonSet has hostNetwork: true');
  assert.equal(of('Deployment').length, 1);
  assert.equal(of('Service').length, 1);
  for (const w of workloads) {
    assert.equal(podOf(w).containers.length, 1, `${w.kind}: one container`);
    assert.ok(sluiceOf(w), `${w.kind}: the container is named sluice`);
    assert.ok(ns(w.metadata.namespace), `${w.kind}: its Namespace is in the manifests`);
  }
});

test('the Pod Security checker catches each weakening it is meant to catch', () => {
  const base = podOf(deployment);
  assert.deepEqual(restrictedViolations(base), []);
  const cases = [
    ['Privilege Escalation', (s) => { s.containers[0].securityContext.allowPrivilegeEscalation = true; }],
    ['Privilege Escalation', (s) => { delete s.containers[0].securityContext.allowPrivilegeEscalation; }],
    ['Capabilities', (s) => { s.containers[0].securityContext.capabilities.drop = []; }],
    ['Capabilities', (s) => { s.containers[0].securityContext.capabilities.add.push('CHOWN'); }],
    ['Capabilities (baseline)', (s) => { s.containers[0].securityContext.capabilities.add.push('SYS_ADMIN'); }],
    ['Running as Non-root', (s) => { s.securityContext.runAsNonRoot = false; s.containers[0].securityContext.runAsNonRoot = false; }],
    ['Running as Non-root user', (s) => { s.containers[0].securityContext.runAsUser = 0; }],
    ['Seccomp', (s) => { delete s.securityContext.seccompProfile; delete s.containers[0].securityContext.seccompProfile; }],
    ['Seccomp (baseline)', (s) => { s.containers[0].securityContext.seccompProfile = { type: 'Unconfined' }; }],
    ['Privileged Containers', (s) => { s.containers[0].securityContext.privileged = true; }],
    ['HostPath Volumes', (s) => { s.volumes.push({ name: 'h', hostPath: { path: '/' } }); }],
    ['Host Namespaces (hostPID)', (s) => { s.hostPID = true; }],
    ['Host Ports (8080)', (s) => { s.containers[0].ports[0].hostPort = 8080; }],
    ['Volume Types', (s) => { s.volumes.push({ name: 'n', nfs: { server: 'x', path: '/' } }); }],
    ['Sysctls', (s) => { s.securityContext.sysctls = [{ name: 'kernel.msgmax', value: '1' }]; }],
    ['/proc Mount Type', (s) => { s.containers[0].securityContext.procMount = 'Unmasked'; }],
    ['SELinux', (s) => { s.securityContext.seLinuxOptions = { type: 'spc_t' }; }],
    ['AppArmor', (s) => { s.containers[0].securityContext.appArmorProfile = { type: 'Unconfined' }; }],
  ];
  for (const [control, weaken] of cases) {
    const s = clone(base);
    weaken(s);
    assert.ok(restrictedViolations(s).includes(control), `${control}: ${JSON.stringify(restrictedViolations(s))}`);
  }
});

test('the Deployment passes the restricted Pod Security Standard, enforced by its namespace', () => {
  assert.deepEqual(restrictedViolations(podOf(deployment), deployment.spec.template.metadata.annotations), []);
  const labels = ns(deployment.metadata.namespace).metadata.labels;
  assert.equal(labels['pod-security.kubernetes.io/enforce'], 'restricted');
});

test('the hostNetwork DaemonSet breaks only what hostNetwork itself breaks; its namespace warns and audits', () => {
  // Baseline forbids host namespaces and host ports, so no namespace enforcing baseline or
  // restricted admits a hostNetwork pod: everything else must still meet "restricted".
  const v = restrictedViolations(podOf(daemonset), daemonset.spec.template.metadata.annotations);
  assert.deepEqual(v, ['Host Namespaces (hostNetwork)', 'Host Ports (80, 443, 9090)']);
  const labels = ns(daemonset.metadata.namespace).metadata.labels;
  assert.equal(labels['pod-security.kubernetes.io/enforce'], 'privileged');
  assert.equal(labels['pod-security.kubernetes.io/warn'], 'restricted');
  assert.equal(labels['pod-security.kubernetes.io/audit'], 'restricted');
  assert.notEqual(daemonset.metadata.namespace, deployment.metadata.namespace,
    'the Deployment keeps a namespace that enforces restricted');
});

for (const w of workloads) {
  const name = `${w.kind} ${w.metadata.namespace}/${w.metadata.name}`;
  const pod = () => podOf(w);
  const c = () => sluiceOf(w);
  // The value the container runs with: its own securityContext, else the pod's.
  const eff = (key) => c().securityContext?.[key] ?? pod().securityContext?.[key];

  test(`${name}: security fields, explicitly`, () => {
    assert.equal(pod().securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(c().securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(eff('runAsNonRoot'), true);
    assert.equal(eff('runAsUser'), 10001);
    assert.equal(eff('runAsGroup'), 10001);
    assert.equal(c().securityContext.readOnlyRootFilesystem, true);
    assert.equal(c().securityContext.allowPrivilegeEscalation, false);
    assert.notEqual(c().securityContext.privileged, true);
    assert.deepEqual(c().securityContext.capabilities.drop, ['ALL']);
    // Every pod running this image adds NET_BIND_SERVICE back, even on port 3000: the binary
    // carries cap_net_bind_service=+ep, and without the capability in the bounding set the
    // kernel refuses to exec it (tests/container/contract.sh scenario c).
    assert.deepEqual(c().securityContext.capabilities.add, ['NET_BIND_SERVICE']);
    assert.equal(pod().automountServiceAccountToken, false);
    assert.equal(pod().hostPID ?? false, false);
    assert.equal(pod().hostIPC ?? false, false);
  });

  test(`${name}: execs sluice directly, without service-link variables`, () => {
    // Under no_new_privs the capability survives only a direct exec (contract.sh scenario e).
    assert.deepEqual(c().command, ['/usr/local/bin/sluice']);
    assert.equal(c().args[0], '--config');
    // Service links put <SERVICE>_SERVICE_HOST etc. into the environment; with a Service named
    // sluice those are SLUICE_* variables, which sluice rejects as unknown config keys.
    assert.equal(pod().enableServiceLinks, false);
    for (const e of c().env ?? []) assert.ok(!e.name.startsWith('SLUICE_'), `env ${e.name}`);
    assert.match(c().image, /^[^:@]+(:[\w.-]+|@sha256:[0-9a-f]{64})$/, 'a pinned image reference');
    assert.doesNotMatch(c().image, /:latest$/);
  });

  // The files the container sees, by path: mountPath + key -> { volume, key }.
  function mountedFile(path) {
    for (const m of c().volumeMounts ?? []) {
      const rel = posix.relative(m.mountPath, path);
      if (rel.startsWith('..') || rel === '' || rel.includes('/')) continue;
      const vol = pod().volumes.find((v) => v.name === m.name);
      return { vol, key: rel, mount: m };
    }
    return null;
  }
  const configMapNamed = (n) => of('ConfigMap').find((o) => o.metadata.name === n && o.metadata.namespace === w.metadata.namespace);
  const secretNamed = (n) => secrets.find((o) => o.metadata.name === n && o.metadata.namespace === w.metadata.namespace);
  function configText() {
    const f = mountedFile(c().args[1]);
    return configMapNamed(f.vol.configMap.name).data[f.key];
  }
  const config = () => YAML.parse(configText());
  const port = (addr) => Number(addr.slice(addr.lastIndexOf(':') + 1));
  const containerPort = (p) => (typeof p === 'number' ? p : c().ports.find((q) => q.name === p)?.containerPort);

  test(`${name}: config comes from a ConfigMap`, () => {
    const f = mountedFile(c().args[1]);
    assert.ok(f, `${c().args[1]} is on a volume mount`);
    assert.ok(f.vol.configMap, 'that volume is a ConfigMap');
    assert.equal(f.mount.readOnly, true);
    assert.ok(configMapNamed(f.vol.configMap.name), `ConfigMap ${f.vol.configMap.name} is in the manifests`);
    assert.equal(typeof configText(), 'string');
    const rf = mountedFile(config().resources_file);
    assert.ok(rf?.vol.configMap && configMapNamed(rf.vol.configMap.name).data[rf.key],
      'resources_file is a key of a mounted ConfigMap');
  });

  test(`${name}: secrets come from Secrets`, () => {
    const provided = new Set();
    for (const src of c().envFrom ?? []) {
      assert.ok(!src.configMapRef, 'no environment from ConfigMaps');
      const s = secretNamed(src.secretRef.name);
      assert.ok(s, `Secret ${src.secretRef.name} is in secret.yaml.example`);
      for (const k of Object.keys(s.stringData ?? s.data ?? {})) {
        assert.ok(!k.startsWith('SLUICE_'), `${k} would override a config key`);
        provided.add(k);
      }
    }
    const rf = mountedFile(config().resources_file);
    const resources = configMapNamed(rf.vol.configMap.name).data[rf.key];
    const wanted = [...resources.matchAll(/\$\{(\w+)\}/g), ...resources.matchAll(/key_env:\s*(\w+)/g)].map((m) => m[1]);
    assert.ok(wanted.length > 0);
    for (const v of wanted) assert.ok(provided.has(v), `${v} comes from a Secret`);
    for (const e of c().env ?? []) assert.ok(!wanted.includes(e.name) || e.valueFrom?.secretKeyRef, `${e.name} from a Secret`);
    const tls = config().proxy.tls;
    if (tls) {
      for (const file of [tls.cert_file, tls.key_file]) {
        const f = mountedFile(file);
        assert.ok(f?.vol.secret, `${file} is on a Secret volume`);
        const s = secretNamed(f.vol.secret.secretName);
        assert.equal(s?.type, 'kubernetes.io/tls');
        assert.ok(f.key in s.stringData, `${f.key} is a key of Secret ${s.metadata.name}`);
        assert.equal(f.vol.secret.defaultMode, 0o440, 'the key is not world-readable');
      }
      assert.equal(pod().securityContext.fsGroup, 10001, 'the group that may read the key');
    }
  });

  test(`${name}: probes on /livez and /readyz, at the proxy port`, () => {
    assert.equal(c().livenessProbe.httpGet.path, '/livez');
    assert.equal(c().readinessProbe.httpGet.path, '/readyz');
    for (const p of [c().livenessProbe, c().readinessProbe]) {
      assert.equal(p.httpGet.scheme ?? 'HTTP', 'HTTP');
      assert.equal(containerPort(p.httpGet.port), port(config().proxy.addr));
    }
  });

  test(`${name}: terminationGracePeriodSeconds outlasts shutdown.min_drain_secs`, () => {
    const drain = config().shutdown?.min_drain_secs ?? 30;
    assert.ok(pod().terminationGracePeriodSeconds > drain,
      `${pod().terminationGracePeriodSeconds} > ${drain}`);
  });

  test(`${name}: every port sluice listens on is declared, and only those`, () => {
    const cfg = config();
    const listens = [port(cfg.proxy.addr)];
    if (cfg.proxy.tls?.addr) listens.push(port(cfg.proxy.tls.addr));
    if (cfg.observability?.metrics?.prometheus?.enabled !== false) {
      listens.push(port(cfg.observability?.metrics?.prometheus?.addr ?? '0.0.0.0:9090'));
    }
    assert.deepEqual(c().ports.map((p) => p.containerPort).sort(), listens.sort());
  });

  test(`${name}: the real binary accepts the ConfigMap's config.yaml and resources.yaml`, (t) => {
    if (!existsSync(BIN)) { t.skip(`${BIN} not built`); return; }
    const tmp = mkdtempSync(join(tmpdir(), 'sluice-manifests-'));
    try {
      writeFileSync(join(tmp, 'config.yaml'), configText());
      const rf = mountedFile(config().resources_file);
      writeFileSync(join(tmp, 'resources.yaml'), configMapNamed(rf.vol.configMap.name).data[rf.key]);
      // The files the pod mounts exist only there: point the config at local stand-ins. The
      // Secret's variables get test values (validate --config loads the resources too).
      const keys = { PATH: process.env.PATH, OPENAI_API_KEY: 'sk-test', TEAM_A_KEY: 'caller-test' };
      const env = { ...keys, SLUICE_RESOURCES_FILE: join(tmp, 'resources.yaml') };
      if (config().proxy.tls) {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
          '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(tmp, 'tls.key'),
          '-out', join(tmp, 'tls.crt')], { stdio: 'ignore' });
        env.SLUICE_PROXY__TLS__CERT_FILE = join(tmp, 'tls.crt');
        env.SLUICE_PROXY__TLS__KEY_FILE = join(tmp, 'tls.key');
      }
      let r = spawnSync(BIN, ['validate', '--config', join(tmp, 'config.yaml')], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^OK: /);
      r = spawnSync(BIN, ['validate', '--resources', join(tmp, 'resources.yaml')], { env: keys, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

test('DaemonSet: node ports 80 and 443 on the host network, TLS on 443', () => {
  const pod = podOf(daemonset);
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
  const ports = sluiceOf(daemonset).ports.map((p) => p.containerPort);
  assert.ok(ports.includes(80) && ports.includes(443));
  const cm = of('ConfigMap').find((o) => o.metadata.namespace === daemonset.metadata.namespace);
  const cfg = YAML.parse(cm.data['config.yaml']);
  assert.equal(cfg.proxy.addr, '0.0.0.0:80');
  assert.equal(cfg.proxy.tls.addr, '0.0.0.0:443');
  assert.equal(daemonset.spec.updateStrategy.rollingUpdate.maxSurge ?? 0, 0,
    'no surge: the old pod holds the node ports');
});

test('Deployment: not on the host network; the Service reaches its named ports', () => {
  const pod = podOf(deployment);
  assert.equal(pod.hostNetwork ?? false, false);
  const svc = of('Service')[0];
  assert.equal(svc.metadata.namespace, deployment.metadata.namespace);
  for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(deployment.spec.template.metadata.labels[k], v);
  const names = sluiceOf(deployment).ports.map((p) => p.name);
  for (const p of svc.spec.ports) assert.ok(names.includes(p.targetPort), `targetPort ${p.targetPort}`);
});
