// A gateway in front of the mock, as most proxy tests need it: resources.yaml with provider
// keys, models and caller keys; helpers to rewrite resources and reload.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { startMock, startSluice, baseConfig, tempDir } from './harness.mjs';

export const UPSTREAM_KEY = 'upstream-secret-do-not-leak';
export const KEYS = {
  teamA: 'sk-team-a-0123456789',
  other: 'sk-other-9876543210',
  disabled: 'sk-disabled-key',
  expired: 'sk-expired-key',
};

export const sha256 = (s) => createHash('sha256').update(s).digest('hex');

export function resourcesYaml(apiBase, extraModels = '') {
  return `_format_version: "1"
provider_keys:
  - display_name: mock
    provider: openai
    api_key: ${UPSTREAM_KEY}
    api_base: ${apiBase}
models:
  - display_name: gpt-4o-mini
    provider_key: mock
    model_name: mock-gpt-4o-mini-2024
  - display_name: mock-*
    provider_key: mock
    model_name: upstream-*
  - display_name: quick-timeout
    provider_key: mock
    model_name: slow-model
    timeout: 300
  - display_name: embed
    provider_key: mock
    model_name: text-embedding-3-small
  - display_name: not-for-team-a
    provider_key: mock
    model_name: secret-model
${extraModels}api_keys:
  - display_name: team-a
    key_hash: ${sha256(KEYS.teamA)}
    allowed_models: ["gpt-4o-mini", "mock-*", "quick-timeout", "embed", "added-*"]
  - display_name: other
    key_hash: ${sha256(KEYS.other)}
    allowed_models: ["*"]
  - display_name: disabled
    key_hash: ${sha256(KEYS.disabled)}
    allowed_models: ["*"]
    disabled: true
  - display_name: expired
    key_hash: ${sha256(KEYS.expired)}
    allowed_models: ["*"]
    expires_at: "2020-01-01T00:00:00Z"
`;
}

// Starts the mock (requiring the provider key) and sluice in front of it.
// apiBase overrides the upstream URL; apiBaseFor(mock) computes it from the started mock.
export async function startGateway({ mockArgs = [], configExtra = '', apiBase, apiBaseFor, extraModels = '', env = {} } = {}) {
  const mock = await startMock(['--require-key', UPSTREAM_KEY, ...mockArgs]);
  const dir = tempDir();
  const base = apiBase ?? (apiBaseFor ? apiBaseFor(mock) : `${mock.base}/v1`);
  writeFileSync(dir.path('resources.yaml'), resourcesYaml(base, extraModels));
  const config = baseConfig({ metrics: true }) + `resources_file: ${dir.path('resources.yaml')}\n` + configExtra;
  const sluice = await startSluice({ config, dir, env });
  sluice.resourcesFile = dir.path('resources.yaml');
  sluice.writeResources = (text) => writeFileSync(dir.path('resources.yaml'), text);
  sluice.apiBase = base;
  return { mock, sluice, dir };
}

export async function stopGateway(g) {
  const r = await g.sluice.stop();
  await g.mock.stop();
  return r;
}
