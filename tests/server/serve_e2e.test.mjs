// End-to-end tests of `bottega serve` with the official OpenAI client, on the shared aidreams260K
// model. Run by ctest: node --test tests/server/serve_e2e.test.mjs (BOTTEGA_BIN, BOTTEGA_SHARED set).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServe } from './serve_process.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'npm', 'package.json'));
const OpenAI = require('openai');

const SHARED = process.env.BOTTEGA_SHARED ?? path.join(here, '..', '..', '..', 'shared');
const MODEL = path.join(SHARED, 'models', 'aidreams260K.gguf');
const GOLDEN = JSON.parse(readFileSync(path.join(SHARED, 'models', 'golden', 'aidreams260K.greedy.json')));
const KEY = 'test-key-123';

// Starts a server on a free port and resolves once it listens.
function startServer(args) {
  return startServe(MODEL, args);
}

let main;
let base;
let client;

before(async () => {
  main = startServer(['-c', '4096', '--parallel', '8', '--api-key', KEY]);
  const port = await main.ready;
  base = `http://127.0.0.1:${port}`;
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: KEY, maxRetries: 0, timeout: 60_000 });
});

after(async () => {
  if (main && main.child.exitCode === null) {
    main.child.kill('SIGTERM');
    const { code } = await main.exited;
    assert.equal(code, 0, 'the server exits 0 on SIGTERM');
  }
});

async function metrics() {
  const res = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(res.status, 200);
  const values = {};
  for (const line of (await res.text()).split('\n')) {
    const m = line.match(/^([a-z_]+(?:\{[^}]*\})?) ([-0-9.e+]+)$/);
    if (m) values[m[1]] = Number(m[2]);
  }
  return values;
}

async function collectStream(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

test('models list names the served model', async () => {
  const models = await client.models.list();
  const ids = [];
  for await (const m of models) ids.push(m.id);
  assert.deepEqual(ids, ['aidreams260K.gguf']);
});

test('greedy completions equal the reference continuations', async () => {
  for (const c of GOLDEN.cases.slice(0, 3)) {
    const r = await client.completions.create({
      model: 'aidreams260K', prompt: c.prompt, max_tokens: c.n_predict, temperature: 0,
    });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0].text, c.continuation, `prompt ${JSON.stringify(c.prompt)}`);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, c.n_predict);
    assert.ok(r.usage.prompt_tokens >= 1);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  }
});

test('a streamed completion carries the same text and usage in its last chunk', async () => {
  const c = GOLDEN.cases[1];
  const stream = await client.completions.create({
    prompt: c.prompt, model: 'm', max_tokens: c.n_predict, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = await collectStream(stream);
  const text = chunks.map((ch) => ch.choices[0]?.text ?? '').join('');
  assert.equal(text, c.continuation);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.completion_tokens, c.n_predict);
  const finishing = chunks.filter((ch) => ch.choices[0]?.finish_reason);
  assert.equal(finishing.length, 1);
  assert.equal(finishing[0].choices[0].finish_reason, 'length');
  for (const ch of chunks.slice(0, -1)) assert.equal(ch.usage, null);
});

test('chat: streamed and non-streamed answers agree', async () => {
  const messages = [
    { role: 'system', content: 'You are a poet.' },
    { role: 'user', content: 'Write about the sea.' },
  ];
  const r = await client.chat.completions.create({ model: 'm', messages, max_tokens: 40, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.id.startsWith('chatcmpl-'));
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.usage.completion_tokens, 40);
  assert.equal(r.choices[0].finish_reason, 'length');

  const stream = await client.chat.completions.create({
    model: 'm', messages, max_tokens: 40, temperature: 0, stream: true,
  });
  const chunks = await collectStream(stream);
  assert.equal(chunks[0].object, 'chat.completion.chunk');
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const text = chunks.map((ch) => ch.choices[0]?.delta?.content ?? '').join('');
  assert.equal(text, r.choices[0].message.content);
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
});

test('stop sequences end the text before the stop and are never emitted', async () => {
  const c = GOLDEN.cases[0];
  const stop = c.continuation.slice(40, 47);
  const expected = c.continuation.slice(0, c.continuation.indexOf(stop));
  const r = await client.completions.create({ model: 'm', prompt: c.prompt, max_tokens: 100, temperature: 0, stop: [stop, 'zzzz'] });
  assert.equal(r.choices[0].text, expected);
  assert.equal(r.choices[0].finish_reason, 'stop');
  const stream = await client.completions.create({
    model: 'm', prompt: c.prompt, max_tokens: 100, temperature: 0, stop, stream: true,
  });
  const chunks = await collectStream(stream);
  assert.equal(chunks.map((ch) => ch.choices[0]?.text ?? '').join(''), expected);
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
});

test('log-probabilities: the greedy token is the most likely one', async () => {
  const r = await client.chat.completions.create({
    model: 'm', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8, temperature: 0,
    logprobs: true, top_logprobs: 3,
  });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, 8);
  for (const entry of content) {
    assert.equal(entry.top_logprobs.length, 3);
    assert.ok(entry.logprob <= 0);
    assert.equal(entry.token, entry.top_logprobs[0].token);
    assert.ok(Math.abs(entry.logprob - entry.top_logprobs[0].logprob) < 1e-6);
    assert.ok(entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob);
    if (!entry.token.includes('\uFFFD')) assert.deepEqual(entry.bytes, [...Buffer.from(entry.token, 'utf8')]);
  }
  assert.equal(content.map((e) => e.token).join('').trimStart(), r.choices[0].message.content.trimStart());
});

test('a fixed seed reproduces a sampled answer', async () => {
  const req = { model: 'm', prompt: 'Once upon a time', max_tokens: 30, temperature: 1.0, seed: 7 };
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  assert.equal(a.choices[0].text, b.choices[0].text);
});

async function expectApiError(promise, status, param) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.status, status, e.message);
    assert.ok(e.error?.message, 'OpenAI-style error body with a message');
    if (param !== undefined) assert.equal(e.error.param ?? e.param, param);
    return true;
  });
}

test('authentication: wrong or missing key is 401, /health needs none', async () => {
  const wrong = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'nope', maxRetries: 0 });
  await expectApiError(wrong.models.list(), 401);
  const res = await fetch(`${base}/v1/models`);
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.code, 'invalid_api_key');
  const health = await fetch(`${base}/health`);
  assert.equal(health.status, 200);
});

test('invalid requests get 400 naming the parameter', async () => {
  await expectApiError(client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' }), 400, 'temperature');
  await expectApiError(client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], top_p: 5 }), 400, 'top_p');
  await expectApiError(client.chat.completions.create({ model: 'm' }), 400, 'messages');
  await expectApiError(client.completions.create({ model: 'm', prompt: 'x', n: 3 }), 400, 'n');
  const long = 'hello '.repeat(5000);
  await assert.rejects(client.completions.create({ model: 'm', prompt: long, max_tokens: 4 }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.code ?? e.error?.code, 'context_length_exceeded');
    return true;
  });
  const bad = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: '{"messages": [',
  });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.type, 'invalid_request_error');
});

test('unknown route is 404 and an oversized body is 413, in OpenAI error shape', async () => {
  const res = await fetch(`${base}/v1/nothing`, { headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(res.status, 404);
  assert.ok((await res.json()).error.message.includes('/v1/nothing'));
  const huge = JSON.stringify({ model: 'm', prompt: 'x'.repeat(9 << 20) });
  const big = await fetch(`${base}/v1/completions`, {
    method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: huge,
  });
  assert.equal(big.status, 413);
  assert.ok((await big.json()).error.message.length > 0);
  // The server goes on serving.
  const r = await client.completions.create({ model: 'm', prompt: 'The', max_tokens: 3, temperature: 0 });
  assert.equal(r.usage.completion_tokens, 3);
});

test('32 concurrent streaming clients each get what they get alone', async () => {
  const prompts = [
    'Once upon a time', 'The machine', 'Echoes of', 'In the quiet', 'A small light',
    'Under the sky', 'Numbers dance', 'The river',
  ];
  const request = (i) => ({
    model: 'm', messages: [{ role: 'user', content: prompts[i % prompts.length] + ` (${i % 4})` }],
    max_tokens: 48, temperature: 0,
  });
  const alone = [];
  for (let i = 0; i < 32; i++) {
    const r = await client.chat.completions.create(request(i));
    alone.push(r.choices[0].message.content);
  }
  const started = Date.now();
  const results = await Promise.all(Array.from({ length: 32 }, async (_, i) => {
    const chunks = await collectStream(await client.chat.completions.create({ ...request(i), stream: true }));
    return chunks.map((ch) => ch.choices[0]?.delta?.content ?? '').join('');
  }));
  assert.ok(Date.now() - started < 120_000);
  for (let i = 0; i < 32; i++) assert.equal(results[i], alone[i], `client ${i}`);
  const m = await metrics();
  assert.equal(m.bottega_running_sequences, 0);
  assert.equal(m.bottega_queue_depth, 0);
});

test('a client that disconnects mid-stream frees its sequence', async () => {
  const stream = await client.completions.create({
    model: 'm', prompt: 'Once upon a time', max_tokens: 4000, temperature: 0.8, stream: true,
  });
  let n = 0;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'text_completion');
    if (++n === 5) break;  // leaving the loop aborts the request
  }
  let m;
  for (let i = 0; i < 100; i++) {
    m = await metrics();
    if (m.bottega_running_sequences === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(m.bottega_running_sequences, 0);
  assert.equal(m.bottega_kv_cache_blocks_used, 0);
});

// A negative frequency penalty makes each repeated token likelier still, so greedy decoding
// repeats itself and never picks end-of-sequence: the request would run all its tokens (seconds).
const ENDLESS = { max_tokens: 4000, temperature: 0, frequency_penalty: -2 };

// Resolves once the metrics satisfy `ok`, else fails after `ms` milliseconds.
async function metricsUntil(ok, ms, what) {
  const until = Date.now() + ms;
  let m = await metrics();
  while (!ok(m)) {
    if (Date.now() > until) assert.fail(`${what} within ${ms} ms; metrics: ${JSON.stringify(m)}`);
    await new Promise((r) => setTimeout(r, 20));
    m = await metrics();
  }
  return m;
}

async function expectAborted(promise) {
  await assert.rejects(promise, OpenAI.APIUserAbortError);
}

test('a client that leaves a non-streaming request frees its sequence', async () => {
  const gone = 'bottega_client_disconnects_total{endpoint="/v1/chat/completions"}';
  const before = (await metrics())[gone] ?? 0;
  const abort = new AbortController();
  const started = Date.now();
  const request = client.chat.completions.create(
    { model: 'm', messages: [{ role: 'user', content: 'Tell me a long story.' }], ...ENDLESS },
    { signal: abort.signal });
  await metricsUntil((m) => m.bottega_running_sequences === 1, 2000, 'the request never ran');
  setTimeout(() => abort.abort(), Math.max(0, 300 - (Date.now() - started)));
  await expectAborted(request);
  const m = await metricsUntil(
    (x) => x.bottega_running_sequences === 0 && x.bottega_kv_cache_blocks_used === 0, 1500,
    'the sequence was not freed');
  assert.equal(m[gone], before + 1, 'the server saw the client leave, not the end of generation');
  // The server goes on serving.
  const r = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
  assert.equal(r.usage.completion_tokens, 8);
});

test('a client that leaves while queued is dropped from the queue', async () => {
  const small = startServer(['-c', '4096', '--parallel', '1']);
  const port = await small.ready;
  const url = `http://127.0.0.1:${port}`;
  const c = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const gauges = async () => {
    const values = {};
    for (const line of (await (await fetch(`${url}/metrics`)).text()).split('\n')) {
      const m = line.match(/^([a-z_]+(?:\{[^}]*\})?) ([-0-9.e+]+)$/);
      if (m) values[m[1]] = Number(m[2]);
    }
    return values;
  };
  const until = async (ok, what) => {
    const end = Date.now() + 2000;
    let m = await gauges();
    while (!ok(m)) {
      if (Date.now() > end) assert.fail(`${what}; metrics: ${JSON.stringify(m)}`);
      await new Promise((r) => setTimeout(r, 20));
      m = await gauges();
    }
    return m;
  };
  try {
    const first = new AbortController();
    const second = new AbortController();
    const running = c.completions.create({ model: 'm', prompt: 'Once', ...ENDLESS }, { signal: first.signal });
    await until((m) => m.bottega_running_sequences === 1, 'the first request never ran');
    const queued = c.completions.create({ model: 'm', prompt: 'Twice', ...ENDLESS }, { signal: second.signal });
    await until((m) => m.bottega_queue_depth === 1, 'the second request never queued');
    second.abort();
    await expectAborted(queued);
    const m = await until((x) => x.bottega_queue_depth === 0, 'the queued request stayed queued');
    assert.equal(m.bottega_running_sequences, 1, 'the first request runs on');
    assert.equal(m['bottega_client_disconnects_total{endpoint="/v1/completions"}'], 1);
    first.abort();
    await expectAborted(running);
    const end = await until((x) => x.bottega_running_sequences === 0 && x.bottega_kv_cache_blocks_used === 0,
      'the running request was not freed');
    assert.equal(end['bottega_client_disconnects_total{endpoint="/v1/completions"}'], 2);
  } finally {
    // Not SIGTERM: a clean shutdown waits out the client's idle keep-alive connections (seconds).
    small.child.kill('SIGKILL');
    await small.exited;
  }
});

test('identical system prompts share cached prefix blocks', async () => {
  const system = 'You are a helpful assistant who answers briefly and kindly. '.repeat(3);
  const before = (await metrics()).bottega_prompt_tokens_cached_total;
  const first = await client.chat.completions.create({ model: 'm', messages: [{ role: 'system', content: system }, { role: 'user', content: 'Hi' }], max_tokens: 2, temperature: 0 });
  const second = await client.chat.completions.create({ model: 'm', messages: [{ role: 'system', content: system }, { role: 'user', content: 'Bye' }], max_tokens: 2, temperature: 0 });
  assert.ok(second.usage.prompt_tokens_details.cached_tokens >= 16, JSON.stringify(second.usage));
  assert.ok((await metrics()).bottega_prompt_tokens_cached_total > before);
  assert.ok(first.usage.prompt_tokens > 16);
});

test('a full queue answers 429 and shutdown answers 503, then exits 0', async () => {
  const small = startServer(['-c', '4096', '--parallel', '1', '--max-queue', '0', '--shutdown-grace', '2']);
  const port = await small.ready;
  const c = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });
  const long = await c.completions.create({ model: 'm', prompt: 'Once', max_tokens: 3000, temperature: 0.8, stream: true });
  const reader = long[Symbol.asyncIterator]();
  await reader.next();  // it is running now
  await expectApiError(c.completions.create({ model: 'm', prompt: 'x', max_tokens: 2 }), 429);
  small.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 100));
  try {
    await c.completions.create({ model: 'm', prompt: 'x', max_tokens: 2 });
    assert.fail('a request during shutdown must not succeed');
  } catch (e) {
    // 503 while draining; a refused connection once the listener has closed.
    if (e.status !== undefined) assert.equal(e.status, 503);
  }
  while (!(await reader.next()).done) { /* the running stream ends within the grace period */ }
  const { code } = await small.exited;
  assert.equal(code, 0);
});
