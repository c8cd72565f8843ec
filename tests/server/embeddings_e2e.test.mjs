// End-to-end tests of POST /v1/embeddings with the official OpenAI client, against `bottega serve`
// on a random-weight BERT model (`bottega synth --arch bert` with the BGE vocabulary): the vectors
// equal `bottega embed`'s bit for bit, in float and base64 encodings, alone or batched with
// concurrent requests; bad inputs get a 400 naming the field; an embedding model refuses chat and a
// text model refuses embeddings, each with a 400 that says why.
// Run by ctest: node --test tests/server/embeddings_e2e.test.mjs (BOTTEGA_BIN, BOTTEGA_SHARED set).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServe } from './serve_process.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'npm', 'package.json'));
const OpenAI = require('openai');

const BIN = process.env.BOTTEGA_BIN;
const SHARED = process.env.BOTTEGA_SHARED ?? path.join(here, '..', '..', '..', 'shared');
const VOCAB = path.join(SHARED, 'vocab', 'ggml-vocab-bert-bge.gguf');
const TEXT_MODEL = path.join(SHARED, 'models', 'aidreams260K.gguf');
const DIM = 64;
const CTX = 48;
const TEXTS = [
  'The quick brown fox jumps over the lazy dog.',
  'Embeddings map text to vectors.',
  'Cosine similarity compares them.',
  'A fourth, rather different sentence about cooking pasta.',
];

let dir;
let model;
let server;
let client;
let textServer;
let textClient;

function startServer(file) {
  return startServe(file);
}

function newClient(port) {
  return new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none', maxRetries: 0, timeout: 60_000 });
}

function cli(args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

// `bottega embed --json` of each text (one forward pass for all of them).
function cliEmbeddings(texts) {
  const file = path.join(dir, 'inputs.txt');
  writeFileSync(file, texts.join('\n') + '\n');
  return JSON.parse(cli(['embed', '-m', model, '-f', file, '--json', '-t', '2']));
}

function norm(v) {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

before(async () => {
  assert.ok(BIN, 'BOTTEGA_BIN must name the bottega binary');
  dir = mkdtempSync(path.join(os.tmpdir(), 'bottega-embed-'));
  model = path.join(dir, 'bge.gguf');
  cli(['synth', '--arch', 'bert', '--dim', String(DIM), '--layers', '2', '--heads', '4', '--ffn', '128',
    '--ctx', String(CTX), '--type', 'Q8_0', '--vocab-from', VOCAB, '-o', model]);
  server = startServer(model);
  textServer = startServer(TEXT_MODEL);
  client = newClient(await server.ready);
  textClient = newClient(await textServer.ready);
});

after(async () => {
  for (const s of [server, textServer]) {
    if (!s) continue;
    s.child.kill('SIGTERM');
    const { code, log } = await s.exited;
    assert.equal(code, 0, `server did not stop cleanly:\n${log}`);
  }
  rmSync(dir, { recursive: true, force: true });
});

test('a string gives the vector bottega embed prints, with usage', async () => {
  // The client asks for base64 by default and decodes it to numbers itself.
  const r = await client.embeddings.create({ model: 'bge', input: TEXTS[0] });
  assert.equal(r.object, 'list');
  assert.equal(r.data.length, 1);
  assert.equal(r.data[0].object, 'embedding');
  assert.equal(r.data[0].index, 0);
  const v = Array.from(r.data[0].embedding);
  assert.equal(v.length, DIM);
  assert.ok(Math.abs(norm(v) - 1) < 1e-6, `norm ${norm(v)}`);
  assert.deepEqual(v, cliEmbeddings([TEXTS[0]])[0]);
  const ids = JSON.parse(cli(['tokenize', '-m', model, '-p', TEXTS[0], '--ids']));
  assert.equal(ids[0], 101, '[CLS] first');
  assert.equal(ids.at(-1), 102, '[SEP] last');
  assert.equal(r.usage.prompt_tokens, ids.length);
  assert.equal(r.usage.total_tokens, ids.length);
});

test('an array in float and in base64 gives the same floats, in order, as bottega embed', async () => {
  const floats = await client.embeddings.create({ model: 'bge', input: TEXTS, encoding_format: 'float' });
  assert.deepEqual(floats.data.map((d) => d.index), [0, 1, 2, 3]);
  const expected = cliEmbeddings(TEXTS);
  assert.deepEqual(floats.data.map((d) => d.embedding), expected);
  const encoded = await client.embeddings.create({ model: 'bge', input: TEXTS, encoding_format: 'base64' });
  const decoded = encoded.data.map((d) => {
    assert.equal(typeof d.embedding, 'string');
    const bytes = Buffer.from(d.embedding, 'base64');
    assert.equal(bytes.length, 4 * DIM);
    return Array.from({ length: DIM }, (_, i) => bytes.readFloatLE(4 * i));
  });
  assert.deepEqual(decoded, expected);
  // Different texts are different directions; dimensions equal to the model's is accepted.
  const cos = expected[0].reduce((s, x, i) => s + x * expected[3][i], 0);
  assert.ok(cos < 0.999, `cosine ${cos}`);
  const same = await client.embeddings.create({ model: 'bge', input: TEXTS[1], dimensions: DIM });
  assert.deepEqual(Array.from(same.data[0].embedding), expected[1]);
});

test('token ids, one input or several, equal the text they spell', async () => {
  const ids = TEXTS.slice(0, 2).map((t) => JSON.parse(cli(['tokenize', '-m', model, '-p', t, '--ids'])));
  const expected = cliEmbeddings(TEXTS.slice(0, 2));
  const one = await client.embeddings.create({ model: 'bge', input: ids[0], encoding_format: 'float' });
  assert.deepEqual(one.data[0].embedding, expected[0]);
  const two = await client.embeddings.create({ model: 'bge', input: ids, encoding_format: 'float' });
  assert.deepEqual(two.data.map((d) => d.embedding), expected);
  assert.equal(two.usage.prompt_tokens, ids[0].length + ids[1].length);
});

test('concurrent requests, batched together, equal lone requests', async () => {
  const inputs = [];
  for (let i = 0; i < 24; ++i) inputs.push(i % 3 === 0 ? [TEXTS[i % 4], TEXTS[(i + 1) % 4]] : TEXTS[i % 4]);
  const ask = async (input) => (await client.embeddings.create({ model: 'bge', input, encoding_format: 'float' }))
    .data.map((d) => d.embedding);
  const alone = [];
  for (const input of inputs) alone.push(await ask(input));
  const before = await counters();
  const together = await Promise.all(inputs.map(ask));
  const after = await counters();
  assert.deepEqual(together, alone);
  // Every request went through the queue; how many shared a pass depends on timing.
  assert.equal(after.requests - before.requests, inputs.length);
  assert.ok(after.batches - before.batches <= inputs.length);
  console.log(`${inputs.length} concurrent requests in ${after.batches - before.batches} forward passes`);
});

// The embedding queue's counters from /metrics.
async function counters() {
  const text = await (await fetch(`${client.baseURL.replace(/\/v1$/, '')}/metrics`)).text();
  const value = (name) => Number(text.match(new RegExp(`^${name} (\\d+)$`, 'm'))[1]);
  return { requests: value('bottega_embedding_requests_total'), batches: value('bottega_embedding_batches_total') };
}

async function expect400(promise, param, words) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.status, 400, err.message);
    assert.equal(err.param, param, err.message);
    for (const w of words) assert.ok(err.message.includes(w), `"${err.message}" lacks "${w}"`);
    return true;
  });
}

test('bad inputs are 400 naming the field', async () => {
  const embed = (body) => client.embeddings.create({ model: 'bge', encoding_format: 'float', ...body });
  await expect400(embed({ input: '' }), 'input', ['must not be empty']);
  await expect400(embed({ input: [] }), 'input', ['empty array']);
  await expect400(embed({ input: ['fine', ''] }), 'input[1]', ['must not be empty']);
  await expect400(embed({ input: [101, 2.5, 102] }), 'input', ['token ids']);
  await expect400(embed({ input: [101, 30522, 102] }), 'input', ['30522', 'outside the vocabulary']);
  await expect400(embed({ input: [[101, 102], [101, -1]] }), 'input[1]', ['non-negative']);
  await expect400(embed({ input: 'word '.repeat(CTX) }), 'input', [`maximum input length is ${CTX} tokens`]);
  await expect400(embed({ input: ['ok', 'word '.repeat(CTX)] }), 'input[1]', [`${CTX + 2} tokens`]);
  await expect400(embed({ input: 'x', dimensions: 32 }), 'dimensions', [`${DIM} dimensions`]);
  await expect400(embed({ input: 'x', encoding_format: 'int8' }), 'encoding_format', ['base64']);
});

test('chat and completions on an embedding model are 400 pointing to /v1/embeddings', async () => {
  await expect400(client.chat.completions.create({ model: 'bge', messages: [{ role: 'user', content: 'hi' }] }),
    'model', ['embedding model', '/v1/embeddings']);
  await expect400(client.completions.create({ model: 'bge', prompt: 'hi' }), 'model', ['/v1/embeddings']);
});

test('embeddings on a text model are 400 saying it has none', async () => {
  await expect400(textClient.embeddings.create({ model: 'aidreams', input: 'hi' }), 'model',
    ['has no embeddings', 'embedding model']);
});
