#!/usr/bin/env node
// Aggregate generation throughput of `bottega serve` with 1, 4 and 16 concurrent streaming
// clients, each asking for 64 tokens, as the serve issue's target defines it.
//
//   node bench/serve_throughput.mjs --model /tmp/tinyllama-Q4_0.gguf [--threads 2] \
//       [--clients 1,4,16] [--tokens 64] [--rounds 2] [--parallel 16]
//
// It starts the server itself (build/release/bin/bottega, or $BOTTEGA_BIN) on a free port, warms
// it up with one request, then for each client count runs `rounds` rounds and reports generated
// tokens per second of wall time (usage.completion_tokens summed over all clients / elapsed).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
if (!args.model) {
  console.error('usage: node bench/serve_throughput.mjs --model FILE [--threads N] [--clients 1,4,16] [--tokens 64] [--rounds 2] [--parallel 16]');
  process.exit(2);
}
const bin = process.env.BOTTEGA_BIN ?? path.join(here, '..', 'build', 'release', 'bin', 'bottega');
const clients = (args.clients ?? '1,4,16').split(',').map(Number);
const tokens = Number(args.tokens ?? 64);
const rounds = Number(args.rounds ?? 2);
const parallel = args.parallel ?? '16';

const server = spawn(bin, ['serve', '-m', args.model, '--port', '0', '-t', args.threads ?? '2',
  '--parallel', parallel, '-c', '2048', '--kv-budget', String(2048 * 8)], { stdio: ['ignore', 'ignore', 'pipe'] });
// A failed request must not leave the server running (and spinning on the cores) behind us.
process.on('exit', () => server.kill('SIGKILL'));
let log = '';
const port = await new Promise((resolve, reject) => {
  server.stderr.on('data', (d) => {
    log += d;
    const m = log.match(/on http:\/\/127\.0\.0\.1:(\d+)/);
    if (m) resolve(Number(m[1]));
  });
  server.on('exit', (code) => reject(new Error(`server exited ${code}:\n${log}`)));
});

// Different prompts per client so that prefix caching does not flatter the numbers.
async function one(i) {
  const res = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: `Client ${i} asks: tell me a story number ${i * 7919}.`, max_tokens: tokens,
      temperature: 0.8, seed: i, stream: true, stream_options: { include_usage: true } }),
  });
  const text = await res.text();
  const usage = text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6))).at(-1).usage;
  return usage.completion_tokens;
}

await one(0);  // warm-up: page in the weights
const rows = [];
for (const n of clients) {
  const rates = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    const counts = await Promise.all(Array.from({ length: n }, (_, i) => one(1000 * r + i + 1)));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rates.push(counts.reduce((a, b) => a + b, 0) / seconds);
  }
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  rows.push({ clients: n, tokens_each: tokens, rounds, aggregate_tps: Number(mean.toFixed(1)),
    per_client_tps: Number((mean / n).toFixed(1)) });
}
server.kill('SIGTERM');
console.log('| clients | tokens each | aggregate tok/s | per client tok/s |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(`| ${r.clients} | ${r.tokens_each} | ${r.aggregate_tps} | ${r.per_client_tps} |`);
