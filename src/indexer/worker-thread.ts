// Starts one of this folder's worker-thread entries. Built, that is the .js
// beside this file; under tsx (tests, benchmarks) only the .ts exists, and
// Node 20 does not carry tsx's loader into a worker: it is registered there first.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

export function startWorker(entry: 'channeldata-worker' | 'full-pass-worker', workerData: unknown): Worker {
  const compiled = new URL(`./${entry}.js`, import.meta.url);
  if (fs.existsSync(fileURLToPath(compiled))) return new Worker(compiled, { workerData });
  const source = new URL(`./${entry}.ts`, import.meta.url);
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(source.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
