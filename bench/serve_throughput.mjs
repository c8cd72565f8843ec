#!/usr/bin/env node
// Aggregate generation throughput and time to first token of `bottega serve` with 1, 4 and 16
// concurrent streaming clients, each asking for 64 tokens, as the serve issue's target defines it;
// with $LLAMA_SERVER set, llama.cpp's llama-server runs the same load right after, on the same
// file, with as many slots and the same total context.
//
//   node bench/serve_throughput.mjs --model /tmp/tinyllama-Q4_0.gguf [--threads 2] \
//       [--clients 1,4,16] [--tokens 64] [--rounds 2] [--parallel 16]
//   LLAMA_SERVER=/tmp/peers/llama.cpp/build/bin/llama-server node bench/serve_throughput.mjs ...
//
// Each server is started on a free port (bottega: build/release/bin/bottega, or $BOTTEGA_BIN) and
// warmed up with one request; then for each client count `rounds` rounds run. Reported: generated
// tokens per second of wall time (completion tokens summed over all clients / elapsed), and the
// 50th and 99th percentile of the time from sending a request to its first streamed token.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
if (!args.model) {
  console.error('usage: node bench/serve_throughput.mjs --model FILE [--threads N] [--clients 1,4,16] [--tokens 64] [--rounds 2] [--parallel 16]');
  process.exit(2);
}
const bottegaBin = process.env.BOTTEGA_BIN ?? path.join(here, '..', 'build', 'release', 'bin', 'bottega');
const clients = (args.clients ?? '1,4,16').split(',').map(Number);
const tokens = Number(args.tokens ?? 64);
const rounds = Number(args.rounds ?? 2);
const parallel = Number(args.parallel ?? 16);
const threads = args.threads ?? '2';
const contextPerSlot = 2048;
const totalContext = contextPerSlot * 8;  // bottega's KV budget; llama-server splits it over slots

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

async function waitReady(port, child, log) {
  for (let i = 0; i < 1200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}:\n${log()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      if (res.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`server not ready after 300 s:\n${log()}`);
}

async function startServer(kind) {
  const port = await freePort();
  const argv = kind === 'bottega'
    ? [bottegaBin, ['serve', '-m', args.model, '--port', String(port), '-t', threads,
      '--parallel', String(parallel), '-c', String(contextPerSlot), '--kv-budget', String(totalContext)]]
    : [process.env.LLAMA_SERVER, ['-m', args.model, '--port', String(port), '-t', threads,
      '-np', String(parallel), '-c', String(totalContext), '--cont-batching']];
  const child = spawn(argv[0], argv[1], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log = (log + d).slice(-4000); });
  // A failed request must not leave the server running (and spinning on the cores) behind us.
  process.on('exit', () => child.kill('SIGKILL'));
  await waitReady(port, child, () => log);
  return { port, child };
}

// One streamed completion: its completion tokens (the final usage when the server sends it, else
// the chunks that carried text) and the seconds to its first text.
async function one(port, i) {
  const start = process.hrtime.bigint();
  const res = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    // Different prompts per client so that prefix caching does not flatter the numbers.
    body: JSON.stringify({ prompt: `Client ${i} asks: tell me a story number ${i * 7919}.`, max_tokens: tokens,
      temperature: 0.8, seed: i, stream: true, stream_options: { include_usage: true } }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const decoder = new TextDecoder();
  let pending = '';
  let first = null;
  let chunks = 0;
  let usage = null;
  for await (const bytes of res.body) {
    pending += decoder.decode(bytes, { stream: true });
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) {
      if (!line.startsWith('data: {')) continue;
      const event = JSON.parse(line.slice(6));
      if (event.usage) usage = event.usage;
      if (event.choices?.some((c) => c.text)) {
        chunks++;
        if (first === null) first = Number(process.hrtime.bigint() - start) / 1e9;
      }
    }
  }
  return { tokens: usage?.completion_tokens ?? chunks, ttft: first ?? Infinity };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function measure(kind) {
  const { port, child } = await startServer(kind);
  await one(port, 0);  // warm-up: page in the weights
  const rows = [];
  for (const n of clients) {
    const rates = [];
    const ttfts = [];
    for (let r = 0; r < rounds; r++) {
      const start = process.hrtime.bigint();
      const results = await Promise.all(Array.from({ length: n }, (_, i) => one(port, 1000 * r + i + 1)));
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      rates.push(results.reduce((a, b) => a + b.tokens, 0) / seconds);
      ttfts.push(...results.map((x) => x.ttft));
    }
    ttfts.sort((a, b) => a - b);
    const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
    rows.push({ kind, clients: n, aggregate: mean, perClient: mean / n,
      p50: percentile(ttfts, 50), p99: percentile(ttfts, 99) });
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return rows;
}

const rows = await measure('bottega');
if (process.env.LLAMA_SERVER) rows.push(...(await measure('llama-server')));
console.log('| server | clients | tokens each | aggregate tok/s | per client tok/s | TTFT p50 ms | TTFT p99 ms |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.kind} | ${r.clients} | ${tokens} | ${r.aggregate.toFixed(1)} | ${r.perClient.toFixed(1)} | ` +
    `${(1000 * r.p50).toFixed(0)} | ${(1000 * r.p99).toFixed(0)} |`);
}
if (process.env.LLAMA_SERVER) {
  for (const n of clients) {
    const ours = rows.find((r) => r.kind === 'bottega' && r.clients === n);
    const theirs = rows.find((r) => r.kind === 'llama-server' && r.clients === n);
    console.log(`${n} clients: bottega / llama-server aggregate ${(ours.aggregate / theirs.aggregate).toFixed(2)}`);
  }
}
