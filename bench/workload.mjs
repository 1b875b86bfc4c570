// The workload shared by bench/run and bench/micro.sh: request bodies, the mock's reply, and a
// realistic governed sluice configuration (1,000 caller keys, 100 models, access log and
// metrics on).
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export const REPLY = 'Here is a short answer to your question about the order. The hardcover edition ' +
  'is in stock and ships within two working days; gift wrapping is available at checkout for ' +
  'a small fee, and delivery to Lyon usually takes three to five days with the standard ' +
  'carrier. If you prefer, the express option arrives the next working day. The catalogue ' +
  'number is 4471. You can also add a personal note to the parcel, up to two hundred ' +
  'characters, printed on a card. Returns are free within thirty days if the book is unread. ' +
  'Let me know if you would like me to check the paperback or the audiobook as well, or to ' +
  'suggest a second title on naval history for the same parcel.';

export function chatBody(model, extra = {}, userChars = 0) {
  const user = userChars > 0
    ? 'Summarise the following ship log. '.padEnd(userChars, ' The watch was quiet and the wind held steady from the west.')
    : 'Hi! I am looking for a gift for my father, who loves naval history and long biographies. ' +
      'He already has most of Patrick O\'Brian. The Wager sounds great. Is there a hardcover ' +
      'edition, and could you gift-wrap it? Also, does it ship to Lyon in France, and how long ' +
      'does delivery take there? Thanks a lot for your help with this.';
  return JSON.stringify({
    model,
    messages: [
      { role: 'system', content: 'You are a concise assistant for an online bookshop. Answer in at ' +
        'most three sentences, cite the catalogue number when you mention a book, and never invent prices.' },
      { role: 'user', content: user },
    ],
    temperature: 0.3, max_tokens: 300, top_p: 1, user: 'shop-frontend-7f3a',
    metadata: { session: 'b1946ac92492d2347c6235b4d2611184', channel: 'web' },
    ...extra,
  });
}

// The same conversation as an Anthropic Messages request (system at the top level).
export function anthropicBody(model, extra = {}) {
  const chat = JSON.parse(chatBody(model));
  return JSON.stringify({
    model,
    system: chat.messages[0].content,
    messages: [chat.messages[1]],
    max_tokens: 300, temperature: 0.3, top_p: 1,
    metadata: { user_id: 'shop-frontend-7f3a' },
    ...extra,
  });
}

// The same conversation as an OpenAI Responses request (instructions + input items).
export function responsesBody(model, extra = {}) {
  const chat = JSON.parse(chatBody(model));
  return JSON.stringify({
    model,
    instructions: chat.messages[0].content,
    input: [{ role: 'user', content: [{ type: 'input_text', text: chat.messages[1].content }] }],
    max_output_tokens: 300, temperature: 0.3, top_p: 1, user: 'shop-frontend-7f3a', store: false,
    ...extra,
  });
}

export const N_KEYS = 1000, CALLER = 500;
const N_DIRECT_MODELS = 98;

// Limits for the governed-path cells: none; keys (every caller key a rate limit); models
// (every model a rate limit); governed (keys with rate limits and a budget, models with rate
// limits and a cost, a team policy and a conditional policy with a regular expression). The
// limits are high enough never to refuse: the cells measure what checking them costs.
export const LIMITS = ['none', 'keys', 'models', 'governed'];
const KEY_LIMIT = '    rate_limit: {rpm: 100000000, tpm: 100000000000, concurrency: 100000}';
const MODEL_LIMIT = '    rate_limit: {rpm: 100000000, tpm: 100000000000, concurrency: 100000}';

// With gemini, a Gemini API key on the fast mock and a model gemini-bench every caller may use
// (bench/micro.sh's translation scenarios). limits: one of LIMITS.
// cache: 'none', or the backend ('memory', 'redis') of one cache policy on every request.
export function resourcesYaml(fastPort, pacedPort, keys, { gemini = false, limits = 'none', cache = 'none' } = {}) {
  const withKeys = limits === 'keys' || limits === 'governed';
  const withModels = limits === 'models' || limits === 'governed';
  const governed = limits === 'governed';
  const L = ['_format_version: "1"', 'provider_keys:'];
  for (const [name, port] of [['mock-fast', fastPort], ['mock-paced', pacedPort]]) {
    L.push(`  - display_name: ${name}`, '    provider: openai', `    api_key: upstream-${name}-secret`,
      `    api_base: http://127.0.0.1:${port}/v1`);
  }
  if (gemini) {
    L.push('  - display_name: mock-gemini', '    provider: gemini', '    api_key: upstream-gemini-secret',
      `    api_base: http://127.0.0.1:${fastPort}/v1beta`);
  }
  // The same mock as an OpenAI-compatible server without the Responses API: /v1/responses
  // callers are translated to chat completions for its models.
  L.push('  - display_name: mock-chat-only', '    provider: openai', '    api_key: upstream-chat-only-secret',
    `    api_base: http://127.0.0.1:${fastPort}/v1`, '    capabilities: []');
  L.push('  - display_name: mock-anthropic', '    provider: anthropic', '    api_key: upstream-anthropic-secret',
    `    api_base: http://127.0.0.1:${fastPort}`);
  L.push('models:');
  if (gemini) L.push('  - display_name: gemini-bench', '    provider_key: mock-gemini', '    model_name: gemini-2.5-flash');
  for (let i = 0; i < N_DIRECT_MODELS; i++) {
    L.push(`  - display_name: bench-${i}`, '    provider_key: mock-fast', `    model_name: gpt-4o-mini-${i}`);
    if (withModels) L.push(MODEL_LIMIT);
    if (governed) L.push('    cost: {input_per_1k: 0.00015, output_per_1k: 0.0006}');
  }
  L.push('  - display_name: paced-*', '    provider_key: mock-paced', '    model_name: gpt-4o-paced-*');
  // A Claude model on the same mock (it speaks Anthropic Messages too): passthrough for
  // /v1/messages callers, translated for /v1/chat/completions callers.
  L.push('  - display_name: claude-bench', '    provider_key: mock-anthropic', '    model_name: claude-up-1');
  L.push('  - display_name: chat-only-bench', '    provider_key: mock-chat-only', '    model_name: gpt-chat-only-1');
  L.push('  - display_name: other-*', '    provider_key: mock-fast', '    model_name: other-*');
  // A model group of three direct models (the routed cell: its cost over calling bench-42).
  L.push('  - display_name: bench-routed', '    routing:', '      strategy: round_robin', '      targets:',
    '        - {model: bench-40, weight: 2}', '        - {model: bench-41}', '        - {model: bench-42}');
  L.push('api_keys:');
  keys.forEach((k, i) => {
    const allowed = [`bench-${i % 98}`, `bench-${(i + 7) % 98}`, `bench-${(i + 13) % 98}`, 'paced-*', 'bench-4*',
      'claude-bench', 'chat-only-bench', 'bench-routed'];
    if (gemini) allowed.push('gemini-bench');
    L.push(`  - display_name: caller-${i}`, `    key_hash: ${createHash('sha256').update(k).digest('hex')}`,
      `    allowed_models: [${allowed.map((a) => JSON.stringify(a)).join(', ')}]`);
    if (withKeys) L.push(KEY_LIMIT);
    if (governed) L.push(`    team_id: team-${i % 10}`, `    user_id: user-${i}`, '    budget: {limit_usd: 1000000000, window: month}');
  });
  if (governed) {
    L.push('rate_limit_policies:',
      '  - {name: team-five, scope: team, scope_ref: team-0, window: minute, max_requests: 100000000}',
      '  - name: bench-family',
      '    conditions: [{dimension: model_name, operator: "~~", value: "^bench-4"}]',
      '    group_by: [api_key]',
      '    limits: {rpm: 100000000, tpm: 100000000000}');
  }
  if (cache !== 'none') L.push('cache_policies:', `  - {name: bench, backend: ${cache}, scope: env}`);
  return L.join('\n') + '\n';
}

// redisUrl: the redis backend for the limits (else memory); cacheRedisUrl: cache.redis.
export function sluiceConfig(dir, redisUrl = null, cacheRedisUrl = null) {
  const rl = redisUrl ? `ratelimit:\n  backend: redis\n  redis:\n    url: ${redisUrl}\n` : '';
  const cache = cacheRedisUrl ? `cache:\n  redis:\n    url: ${cacheRedisUrl}\n` : '';
  return `${rl}${cache}proxy:
  addr: 127.0.0.1:0
  workers: 1
resources_file: ${join(dir, 'resources.yaml')}
observability:
  log_level: info
  access_log: true
  metrics:
    prometheus:
      enabled: true
      addr: 127.0.0.1:0
      path: /metrics
shutdown:
  min_drain_secs: 0
`;
}

// nginx as the reference proxy: one worker, keep-alive upstreams, access log on (as sluice).
export function nginxConfig(prefix, port, h2port, fastPort, pacedPort) {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 8192; }
http {
    access_log ${prefix}/access.log;
    client_body_temp_path ${prefix}/client_body;
    proxy_temp_path ${prefix}/proxy;
    fastcgi_temp_path ${prefix}/fastcgi;
    uwsgi_temp_path ${prefix}/uwsgi;
    scgi_temp_path ${prefix}/scgi;
    client_max_body_size 32m;
    client_body_buffer_size 256k;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    upstream fast { server 127.0.0.1:${fastPort}; keepalive 512; keepalive_requests 10000000; }
    upstream paced { server 127.0.0.1:${pacedPort}; keepalive 64; keepalive_requests 10000000; }
    server {
        listen 127.0.0.1:${port};
        listen 127.0.0.1:${h2port} http2;
        location /v1/ { proxy_pass http://fast; }
        location /s/ { proxy_pass http://fast/; proxy_buffering off; }
        location /p/ { proxy_pass http://paced/; proxy_buffering off; }
    }
}
`;
}
