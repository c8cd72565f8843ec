// Starts `bottega serve` for the end-to-end tests: on a free port, with 2 threads, resolving
// `ready` with the port once the server says it listens (or rejecting with its log if it exits).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

export function startServe(model, args = []) {
  const bin = process.env.BOTTEGA_BIN;
  assert.ok(bin, 'BOTTEGA_BIN must name the bottega binary');
  const child = spawn(bin, ['serve', '-m', model, '--port', '0', '-t', '2', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, log })));
  const ready = new Promise((resolve, reject) => {
    child.stderr.on('data', (data) => {
      log += data;
      const m = log.match(/on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    exited.then(({ code }) => reject(new Error(`server exited with ${code} before listening:\n${log}`)));
  });
  return { child, ready, exited, log: () => log };
}
