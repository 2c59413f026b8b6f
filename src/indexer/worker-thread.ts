// Starts one of this folder's worker-thread entries. Built, that is the .js
// beside this file; under tsx (tests, benchmarks) only the .ts exists, and
// Node 20 does not carry tsx's loader into a worker: it is registered there first.
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';

export function startWorker(
  entry: 'channeldata-worker' | 'full-pass-worker' | 'package-reader-worker', workerData: unknown, resourceLimits?: ResourceLimits,
): Worker {
  const limits = resourceLimits ? { resourceLimits } : {};
  const compiled = new URL(`./${entry}.js`, import.meta.url);
  if (fs.existsSync(fileURLToPath(compiled))) return new Worker(compiled, { workerData, ...limits });
  const source = new URL(`./${entry}.ts`, import.meta.url);
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(source.href)}); })`;
  return new Worker(boot, { eval: true, workerData, ...limits });
}

/** Nice value of the index threads: a full pass or channeldata.json yields the CPU to requests and shard passes. */
export const BACKGROUND_NICE = 10;

/**
 * Called first thing in a worker entry. On Linux a nice value belongs to a
 * thread, and os.setPriority(0, …) sets the calling thread's (threads it
 * starts later inherit it: zstd's compression thread). A full pass at 465k
 * records is ~2 s of CPU on two threads, channeldata.json ~5 s; at the same
 * priority both took their share of a 2-core machine from the uploads and
 * shard passes that ran meanwhile. Elsewhere (one value per process) and
 * where it is refused, nothing changes.
 */
export function runInBackground(): void {
  if (process.platform !== 'linux') return;
  try {
    os.setPriority(0, BACKGROUND_NICE);
  } catch {
    // a sandbox that forbids it: run at the process's priority
  }
}
