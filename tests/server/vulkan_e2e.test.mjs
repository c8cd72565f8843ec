// `bottega serve --device vulkan0` (lavapipe in CI), whole and split with -ngl: greedy answers to
// concurrent requests, batched together on the GPU, equal the answers to the same requests sent
// one at a time, and equal `bottega run` on the CPU, for the shared trained model and a
// float-weight llama (float weights: the CPU rounds activations to 8 bits for quantized ones and
// the GPU does not, which can change a random model's close top tokens).
// Run by ctest: node --test tests/server/vulkan_e2e.test.mjs (BOTTEGA_BIN, BOTTEGA_SHARED set).
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
const AIDREAMS = path.join(SHARED, 'models', 'aidreams260K.gguf');
const PROMPTS = ['Once upon a time', 'The little dog', 'She looked at the sky and', 'One day'];
const N_PREDICT = 16;

function runOnCpu(model, prompt) {
  const r = spawnSync(BIN, ['run', '-m', model, '-p', prompt, '-n', String(N_PREDICT), '--temp', '0',
    '-t', '2', '-c', '128'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function synthLlama(dir) {
  const out = path.join(dir, 'llama-f32.gguf');
  const r = spawnSync(BIN, ['synth', '--arch', 'llama', '--dim', '128', '--layers', '3', '--heads', '4',
    '--kv-heads', '2', '--ffn', '256', '--ctx', '128', '--type', 'F32', '--vocab-from', AIDREAMS,
    '-o', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return out;
}

async function expectCpuAnswers(model, deviceFlags, placement) {
  const server = startServe(model, ['-c', '128', '--parallel', '4', ...deviceFlags]);
  try {
    const port = await server.ready;
    assert.match(server.log(), placement);
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none', maxRetries: 0 });
    const ask = async (prompt) => {
      const r = await client.completions.create({ model: 'm', prompt, max_tokens: N_PREDICT, temperature: 0 });
      assert.equal(r.usage.completion_tokens, N_PREDICT);
      return r.choices[0].text;
    };
    const alone = [];
    for (const prompt of PROMPTS) alone.push(await ask(prompt));
    const together = await Promise.all(PROMPTS.map(ask));
    assert.deepEqual(together, alone, 'answers batched on the GPU differ from answers alone');
    assert.deepEqual(alone, PROMPTS.map((p) => runOnCpu(model, p)), 'the GPU and the CPU disagree');
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

test('serve on vulkan0 answers as the CPU does, batched or alone, whole or split', async () => {
  assert.ok(BIN, 'BOTTEGA_BIN must name the bottega binary');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bottega-vulkan-'));
  try {
    for (const model of [AIDREAMS, synthLlama(dir)]) {
      await expectCpuAnswers(model, ['--device', 'vulkan0'], /layers and the output on vulkan0/);
      await expectCpuAnswers(model, ['--device', 'vulkan0', '-ngl', '2'],
        /2 of \d layers on vulkan0; the rest and the output on the CPU/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
