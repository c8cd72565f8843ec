// `bottega serve` runs every model family: for a random-weight model of each (written by
// `bottega synth --arch`, with a sliding window of 16 positions on the families that have one),
// greedy answers to concurrent requests, batched together and sharing a cached prefix longer than
// the window, equal the answers to the same requests sent one at a time, and equal `bottega run`.
// Run by ctest: node --test tests/server/families_e2e.test.mjs (BOTTEGA_BIN, BOTTEGA_SHARED set).
import { test } from 'node:test';
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

const BIN = process.env.BOTTEGA_BIN;
const SHARED = process.env.BOTTEGA_SHARED ?? path.join(here, '..', '..', '..', 'shared');
const VOCAB = path.join(SHARED, 'models', 'aidreams260K.gguf');
// Each family once; Mixtral is llama with experts, and gpt-oss also with the MXFP4 experts its
// files carry, whose kernels must give a token the same bits batched or alone.
const FAMILIES = ['llama', 'qwen2', 'qwen3', 'gemma2', 'gemma3', 'phi3', 'qwen2moe', 'qwen3moe', 'gpt-oss']
  .map((arch) => ({ name: arch, arch, type: 'Q8_0', flags: [] }))
  .concat([
    { name: 'mixtral', arch: 'llama', type: 'Q8_0', flags: ['--experts', '4', '--experts-used', '2'] },
    { name: 'gpt-oss-mxfp4', arch: 'gpt-oss', type: 'MXFP4_MOE', flags: [] },
  ]);
const PREFIX = 'Once upon a time there was a little girl who lived in a village near the forest. ';
const PROMPTS = ['She liked', 'One day', 'Her mother said', 'The dog'].map((s) => PREFIX + s);
const N_PREDICT = 20;

function synth(dir, { name, arch, type, flags }) {
  const out = path.join(dir, `${name}.gguf`);
  const r = spawnSync(BIN, ['synth', '--arch', arch, '--dim', '128', '--layers', arch === 'gemma3' ? '6' : '2',
    '--heads', '4', '--kv-heads', '2', '--ffn', '256', '--window', '16', '--ctx', '512', '--type', type,
    '--vocab-from', VOCAB, '-o', out, ...flags], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return out;
}

function runCli(model, prompt) {
  const r = spawnSync(BIN, ['run', '-m', model, '-p', prompt, '-n', String(N_PREDICT), '--temp', '0',
    '-t', '2', '-c', '512'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function startServer(model) {
  return startServe(model, ['-c', '512', '--parallel', '4']);
}

for (const family of FAMILIES) {
  const arch = family.name;
  test(`${arch}: batched answers equal lone answers and bottega run`, async () => {
    assert.ok(BIN, 'BOTTEGA_BIN must name the bottega binary');
    const dir = mkdtempSync(path.join(os.tmpdir(), `bottega-${arch}-`));
    const server = startServer(synth(dir, family));
    try {
      const port = await server.ready;
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none', maxRetries: 0 });
      const ask = async (prompt) => {
        const r = await client.completions.create({ model: arch, prompt, max_tokens: N_PREDICT, temperature: 0 });
        assert.equal(r.usage.completion_tokens, N_PREDICT);
        return r.choices[0].text;
      };
      const alone = [];
      for (const prompt of PROMPTS) alone.push(await ask(prompt));
      const together = await Promise.all(PROMPTS.map(ask));
      assert.deepEqual(together, alone, 'answers batched with others differ from answers alone');
      const model = path.join(dir, `${arch}.gguf`);
      assert.equal(runCli(model, PROMPTS[0]), alone[0], 'serve and run disagree');
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
