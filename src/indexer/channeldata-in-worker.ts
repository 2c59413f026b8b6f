// Runs channeldata-worker.ts for one channel and resolves with the document.
// A thread per rebuild: rebuilds are seconds apart at least, and a fresh
// thread holds no connection or memory between them.
import { startWorker } from './worker-thread.js';

export function channeldataInWorker(sqliteFile: string): (channelId: number) => Promise<string> {
  return (channelId) => new Promise((resolve, reject) => {
    const worker = startWorker('channeldata-worker', { file: sqliteFile, channelId });
    let result: string | null = null;
    worker.once('message', (json: string) => (result = json));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (result !== null) resolve(result);
      else reject(new Error(`channeldata worker exited with code ${code} and no result`));
    });
  });
}
