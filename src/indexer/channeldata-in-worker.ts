// Runs channeldata-worker.ts for one channel and resolves with the document.
// A thread per rebuild: rebuilds are seconds apart at least, and a fresh
// thread holds no connection or memory between them.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

// Built: the .js beside this file. Under tsx (tests) only the .ts exists,
// and Node 20 does not carry tsx's loader into a worker: register it there first.
const compiled = new URL('./channeldata-worker.js', import.meta.url);
const fromSource = !fs.existsSync(fileURLToPath(compiled));
const source = new URL('./channeldata-worker.ts', import.meta.url);

function start(workerData: unknown): Worker {
  if (!fromSource) return new Worker(compiled, { workerData });
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(source.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

export function channeldataInWorker(sqliteFile: string): (channelId: number) => Promise<string> {
  return (channelId) => new Promise((resolve, reject) => {
    const worker = start({ file: sqliteFile, channelId });
    let result: string | null = null;
    worker.once('message', (json: string) => (result = json));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (result !== null) resolve(result);
      else reject(new Error(`channeldata worker exited with code ${code} and no result`));
    });
  });
}
