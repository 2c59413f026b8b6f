// Worker thread entry: writes full index generations (repodata.json,
// run_exports.json and their .zst) for the main thread, one at a time, each
// from a snapshot on this thread's own read-only SQLite connection, through
// a store of its own on the same storage.
//
// Why a thread: at conda-forge size a full pass steps over 465k records and
// half a gigabyte of row strings. On the main thread that work, and the
// garbage collection after it, sat between every request and its answer
// (an upload at 465k records took 39 ms just after a pass, 8-24 ms alone).
// Leases, publishing and everything else stay on the main thread: this one
// only reads and writes files, and a generation is published by the main
// thread after it is complete.
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config.js';
import type { SubdirRef } from '../types.js';
import { sqliteSnapshotReader } from '../db/database.js';
import { createObjectStore } from '../storage/create-store.js';
import { writeFull } from './index-writer.js';
import { runInBackground } from './worker-thread.js';

runInBackground();

export interface FullPassRequest { id: number; ref: SubdirRef }
export type FullPassReply =
  | { id: number; revision: number; sha256: string; sizeBytes: number; records: number }
  | { id: number; error: string };

const { file, storage, dataDir } = workerData as { file: string } & Pick<Config, 'dataDir' | 'storage'>;
const store = createObjectStore({ dataDir, storage });
const snapshot = sqliteSnapshotReader(file);

parentPort!.on('message', (req: FullPassRequest) => {
  void pass(req.ref).then(
    (done) => parentPort!.postMessage({ id: req.id, ...done } satisfies FullPassReply),
    (err: unknown) => parentPort!.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) } satisfies FullPassReply),
  );
});

async function pass(ref: SubdirRef): Promise<{ revision: number; sha256: string; sizeBytes: number; records: number }> {
  let records = 0;
  const snap = snapshot(ref);
  try {
    const written = await writeFull(store, ref, snap, () => records++);
    return { revision: snap.revision, ...written, records };
  } finally {
    await snap.close();
  }
}
