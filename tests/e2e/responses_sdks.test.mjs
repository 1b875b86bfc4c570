// Client libraries whose default OpenAI path is the Responses API, through Sluice with their
// default settings (only the base URL and key point at Sluice):
// - the Vercel AI SDK (ai 6, @ai-sdk/openai 3): openai(model) with generateText, streamText and
//   a tool;
// - @openai/agents 0.14 (the newest on Node 20; 0.15+ needs openai 7, which needs Node 22): a
//   one-tool agent, run and streamed.
// Each against a Responses upstream (passthrough), a chat-only upstream and an Anthropic one
// (translated). Neither library can send the mock's "mock" object, so the mock's autotool models
// script the tool use: a call of the first tool, then a reply quoting the tool's result.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { generateText, streamText, tool, stepCountIs } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { Agent, run, tool as agentTool, setDefaultOpenAIClient, setTracingDisabled } from '@openai/agents';
import OpenAI from 'openai';
import { z } from 'zod';
import { startMock, startSluice, baseConfig, tempDir, teardown } from './lib/harness.mjs';
import { sha256 } from './lib/gateway.mjs';

const KEY = 'sk-caller-sdks-0123456789';
let mockR, mockC, s, openai;

before(async () => {
  [mockR, mockC] = await Promise.all([startMock(), startMock(['--no-responses'])]);
  const dir = tempDir();
  writeFileSync(dir.path('resources.yaml'), `_format_version: "1"
provider_keys:
  - display_name: oa
    provider: openai
    api_key: sk-up-openai
    api_base: ${mockR.base}/v1
  - display_name: chatonly
    provider: deepseek
    api_key: sk-up-chat
    api_base: ${mockC.base}/v1
  - display_name: anth
    provider: anthropic
    api_key: sk-up-anthropic
    api_base: ${mockR.base}
models:
  - display_name: gpt-4o-mini
    provider_key: oa
    model_name: autotool-openai
  - display_name: gpt-5.4-mini
    provider_key: oa
    model_name: autotool-openai
  - display_name: chat-model
    provider_key: chatonly
    model_name: autotool-chat
  - display_name: gpt-5.4-nano
    provider_key: chatonly
    model_name: autotool-chat
  - display_name: claude-sonnet
    provider_key: anth
    model_name: autotool-claude
api_keys:
  - display_name: caller
    key_hash: ${sha256(KEY)}
    allowed_models: ["*"]
`);
  s = await startSluice({ config: baseConfig() + `resources_file: ${dir.path('resources.yaml')}\n`, dir });
  openai = createOpenAI({ baseURL: `http://127.0.0.1:${s.port}/v1`, apiKey: KEY });
  setTracingDisabled(true); // traces would go to api.openai.com
  setDefaultOpenAIClient(new OpenAI({ baseURL: `http://127.0.0.1:${s.port}/v1`, apiKey: KEY, maxRetries: 0 }));
});

after(() => teardown(() => s?.stop(), () => mockR?.stop(), () => mockC?.stop()));

const CANNED = 'Hello from sluice-mock! This is a canned reply from the mock upstream.';
const weather = tool({
  description: 'The weather in a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => `sunny in ${city}`,
});

async function lastUpstream(mock) {
  const reqs = await mock.requests();
  return reqs[reqs.length - 1];
}

const upstreams = [
  { name: 'a Responses upstream', model: 'gpt-4o-mini', mock: () => mockR, path: '/v1/responses' },
  { name: 'a chat-only upstream', model: 'chat-model', mock: () => mockC, path: '/v1/chat/completions' },
  { name: 'an Anthropic upstream', model: 'claude-sonnet', mock: () => mockR, path: '/v1/messages' },
];

for (const u of upstreams) {
  test(`AI SDK, ${u.name}: generateText and streamText with openai(model)`, async () => {
    const r = await generateText({ model: openai(u.model), prompt: 'Hello' });
    assert.equal(r.text, CANNED);
    assert.equal(r.finishReason, 'stop');
    assert.ok(r.usage.inputTokens > 0);
    assert.equal(r.usage.outputTokens, 8);
    assert.equal((await lastUpstream(u.mock())).path, u.path);
    const st = streamText({ model: openai(u.model), prompt: 'Hello' });
    let text = '';
    for await (const d of st.textStream) text += d;
    assert.equal(text, CANNED);
    assert.equal(await st.finishReason, 'stop');
    assert.equal((await st.usage).outputTokens, 8);
  });

  test(`AI SDK, ${u.name}: a tool call, its result and the answer, generateText and streamText`, async () => {
    const r = await generateText({ model: openai(u.model), prompt: 'Weather in Paris?', tools: { weather }, stopWhen: stepCountIs(3) });
    assert.equal(r.steps.length, 2);
    assert.deepEqual(r.steps[0].toolCalls.map((c) => [c.toolName, c.input]), [['weather', { city: 'Paris' }]]);
    assert.equal(r.text, 'The tool said: sunny in Paris');
    const st = streamText({ model: openai(u.model), prompt: 'Weather in Paris?', tools: { weather }, stopWhen: stepCountIs(3) });
    let text = '';
    for await (const d of st.textStream) text += d;
    assert.equal(text, 'The tool said: sunny in Paris');
    assert.equal((await st.steps).length, 2);
  });

  test(`@openai/agents, ${u.name}: a one-tool agent, run and streamed`, async () => {
    const getWeather = agentTool({
      name: 'get_weather', description: 'The weather in a city',
      parameters: z.object({ city: z.string() }), execute: async ({ city }) => `sunny in ${city}`,
    });
    // The Responses upstream serves the agent's default model; the others are named.
    const agent = new Agent({
      name: 'Forecaster', instructions: 'Answer with the weather.', tools: [getWeather],
      ...(u.model === 'gpt-4o-mini' ? {} : { model: u.model }),
    });
    const r = await run(agent, 'Weather in Paris?');
    assert.equal(r.finalOutput, 'The tool said: sunny in Paris');
    const streamed = await run(agent, 'Weather in Paris?', { stream: true });
    let text = '';
    for await (const d of streamed.toTextStream()) text += d;
    await streamed.completed;
    assert.equal(text, 'The tool said: sunny in Paris');
    assert.equal(streamed.finalOutput, 'The tool said: sunny in Paris');
  });
}

test('@openai/agents with a GPT-5 model on a chat-only upstream: its default reasoning and verbosity are translated', async () => {
  await mockC.reset();
  const agent = new Agent({ name: 'A', instructions: 'Be brief.', model: 'gpt-5.4-nano' });
  const r = await run(agent, 'Hello');
  assert.equal(r.finalOutput, CANNED);
  const sent = JSON.parse((await lastUpstream(mockC)).body);
  assert.equal(sent.reasoning_effort, 'none');
  assert.equal(sent.verbosity, 'low');
  assert.deepEqual(sent.messages, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }]);
});
