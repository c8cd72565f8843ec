// Structured output and tool calls end to end: the official OpenAI client against `bottega serve`
// on the shared aidreams260K model, with real chat templates of the three tool-call formats. The
// tiny model knows nothing of JSON or tools: whatever it writes is valid only because the grammar
// allows nothing else, which is what these tests check.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServe } from './serve_process.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'npm', 'package.json'));
const OpenAI = require('openai');

const SHARED = process.env.BOTTEGA_SHARED ?? path.join(here, '..', '..', '..', 'shared');
const MODEL = path.join(SHARED, 'models', 'aidreams260K.gguf');
const TEMPLATES = {
  hermes: path.join(SHARED, 'templates', 'Qwen-Qwen2.5-7B-Instruct.jinja'),
  llama3: path.join(SHARED, 'templates', 'meta-llama-Llama-3.1-8B-Instruct.jinja'),
  mistral: path.join(SHARED, 'templates', 'mistralai-Mistral-Nemo-Instruct-2407.jinja'),
};

function startServer(template) {
  return startServe(MODEL, ['-c', '4096', '--parallel', '4', '--chat-template', template]);
}

const servers = {};
const clients = {};

before(async () => {
  for (const [name, template] of Object.entries(TEMPLATES)) {
    servers[name] = startServer(template);
    const port = await servers[name].ready;
    clients[name] = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none',
      maxRetries: 0, timeout: 120_000 });
  }
});

after(async () => {
  for (const s of Object.values(servers)) {
    if (s.child.exitCode === null) {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  }
});

// Checks a value against the schemas used here (types, required, enum, bounds): independent of
// the server's converter.
function validate(value, schema, where = '$') {
  if (schema.enum) {
    assert.ok(schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)), `${where}: ${JSON.stringify(value)} not in enum`);
    return;
  }
  const types = [].concat(schema.type ?? []);
  const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array'
    : Number.isInteger(v) ? 'integer' : typeof v);
  if (types.length) {
    const t = typeOf(value);
    assert.ok(types.includes(t) || (t === 'integer' && types.includes('number')), `${where}: ${t} is not ${types}`);
  }
  if (typeOf(value) === 'object') {
    for (const r of schema.required ?? []) assert.ok(r in value, `${where}: missing ${r}`);
    for (const [k, v] of Object.entries(value)) {
      assert.ok(schema.properties && k in schema.properties, `${where}: unexpected property ${k}`);
      validate(v, schema.properties[k], `${where}.${k}`);
    }
  }
  if (typeOf(value) === 'array') {
    if (schema.minItems !== undefined) assert.ok(value.length >= schema.minItems, `${where}: too few items`);
    if (schema.maxItems !== undefined) assert.ok(value.length <= schema.maxItems, `${where}: too many items`);
    value.forEach((v, i) => validate(v, schema.items ?? {}, `${where}[${i}]`));
  }
  if (typeof value === 'string' && schema.maxLength !== undefined) {
    assert.ok([...value].length <= schema.maxLength, `${where}: longer than ${schema.maxLength}`);
  }
}

const WEATHER = {
  type: 'object',
  properties: {
    city: { type: 'string', maxLength: 10 },
    unit: { enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer' },
  },
  required: ['city', 'unit'],
};
const TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: 'Current weather', parameters: WEATHER } },
  { type: 'function', function: { name: 'get_time', description: 'Current time',
    parameters: { type: 'object', properties: { utc: { type: 'boolean' } }, required: ['utc'] } } },
];
const ASK = [{ role: 'user', content: 'What is the weather in Paris?' }];

test('response_format json_schema: the answer parses and validates', async () => {
  const schema = {
    type: 'object',
    properties: {
      name: { type: 'string', maxLength: 12 },
      tags: { type: 'array', items: { enum: ['a', 'b', 1] }, minItems: 1, maxItems: 3 },
      score: { type: ['number', 'null'] },
      ok: { type: 'boolean' },
    },
    required: ['name', 'tags', 'ok'],
  };
  for (const seed of [1, 2, 3]) {
    const r = await clients.hermes.chat.completions.create({
      model: 'm', messages: ASK, max_tokens: 400, temperature: 1, seed,
      response_format: { type: 'json_schema', json_schema: { name: 'thing', schema, strict: true } },
    });
    assert.equal(r.choices[0].finish_reason, 'stop', `seed ${seed}: ${r.choices[0].message.content}`);
    validate(JSON.parse(r.choices[0].message.content), schema);
  }
});

test('response_format json_object gives an object; streamed text equals the whole answer', async () => {
  const request = { model: 'm', messages: ASK, max_tokens: 300, temperature: 0,
    response_format: { type: 'json_object' } };
  const whole = await clients.llama3.chat.completions.create(request);
  const text = whole.choices[0].message.content;
  if (whole.choices[0].finish_reason === 'stop') {
    const v = JSON.parse(text);
    assert.equal(typeof v, 'object');
    assert.ok(!Array.isArray(v) && v !== null);
  }
  let streamed = '';
  for await (const chunk of await clients.llama3.chat.completions.create({ ...request, stream: true })) {
    streamed += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(streamed, text);
});

for (const format of ['hermes', 'llama3', 'mistral']) {
  test(`${format}: tool_choice required always yields a valid call`, async () => {
    for (const seed of [1, 2]) {
      const r = await clients[format].chat.completions.create({
        model: 'm', messages: ASK, tools: TOOLS, tool_choice: 'required', max_tokens: 500,
        temperature: 1, seed, parallel_tool_calls: false,
      });
      const choice = r.choices[0];
      assert.equal(choice.finish_reason, 'tool_calls', JSON.stringify(choice.message));
      assert.equal(choice.message.tool_calls.length, 1);
      const call = choice.message.tool_calls[0];
      assert.equal(call.type, 'function');
      const tool = TOOLS.find((t) => t.function.name === call.function.name);
      assert.ok(tool, `unknown function ${call.function.name}`);
      validate(JSON.parse(call.function.arguments), tool.function.parameters);
      assert.match(call.id, format === 'mistral' ? /^[a-zA-Z0-9]{9}$/ : /^call_[a-zA-Z0-9]{24}$/);
    }
  });
}

test('a named function is the one called; streamed deltas rebuild the same call', async () => {
  const request = { model: 'm', messages: ASK, tools: TOOLS, max_tokens: 500, temperature: 0,
    tool_choice: { type: 'function', function: { name: 'get_time' } } };
  const whole = await clients.hermes.chat.completions.create(request);
  const call = whole.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'get_time');
  validate(JSON.parse(call.function.arguments), TOOLS[1].function.parameters);
  const calls = [];
  let finish = null;
  for await (const chunk of await clients.hermes.chat.completions.create({ ...request, stream: true })) {
    for (const d of chunk.choices[0]?.delta?.tool_calls ?? []) {
      calls[d.index] ??= { name: '', arguments: '' };
      calls[d.index].name += d.function?.name ?? '';
      calls[d.index].arguments += d.function?.arguments ?? '';
    }
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, 'tool_calls');
  assert.deepEqual(calls, [{ name: 'get_time', arguments: call.function.arguments }]);
});

test('the call and its result go back to the model in each format', async () => {
  for (const format of ['hermes', 'llama3', 'mistral']) {
    const first = await clients[format].chat.completions.create({
      model: 'm', messages: ASK, tools: TOOLS, tool_choice: 'required', max_tokens: 500,
      temperature: 0, parallel_tool_calls: false });
    const message = first.choices[0].message;
    const r = await clients[format].chat.completions.create({
      model: 'm', tools: TOOLS, max_tokens: 8, temperature: 0, tool_choice: 'none',
      messages: [...ASK, message, { role: 'tool', tool_call_id: message.tool_calls[0].id, content: '21 degrees' }],
    });
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.tool_calls, undefined);  // tool_choice none reads no call
    // The second prompt holds the first, plus the call and its result.
    assert.ok(r.usage.prompt_tokens > first.usage.prompt_tokens + 10, format);
  }
});

test('bad schemas, tools and tool messages are 400s naming the problem', async () => {
  const cases = [
    [{ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: 'a+' } } } }, /'pattern' is not supported/],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'array', minItems: 2, maxItems: 1 } } } }, /no array satisfies both/],
    [{ tools: [{ type: 'function', function: { name: 'bad name' } }] }, /tools\[0\]\.function\.name/],
    [{ tools: TOOLS, tool_choice: { type: 'function', function: { name: 'nope' } } }, /no tool named 'nope'/],
    [{ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'integer', minimum: 3 } } } } }], tool_choice: 'required' }, /'minimum' is not supported/],
    [{ messages: [{ role: 'tool', content: 'x' }] }, /tool_call_id/],
    [{ grammar: 'root ::= undefined-rule' }, /never defined/],
  ];
  for (const [extra, pattern] of cases) {
    await assert.rejects(
      clients.hermes.chat.completions.create({ model: 'm', messages: ASK, max_tokens: 4, ...extra }),
      (e) => e.status === 400 && pattern.test(e.message), JSON.stringify(extra));
  }
});

test('a grammar that never ends stops at the length limit', async () => {
  const r = await clients.hermes.chat.completions.create({
    model: 'm', messages: ASK, max_tokens: 20, temperature: 0, grammar: 'root ::= "ab"+' });
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.match(r.choices[0].message.content, /^(ab)+a?$/);
});
