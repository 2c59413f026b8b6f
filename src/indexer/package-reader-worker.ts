// Worker thread entry: reads one package's metadata at a time for the main
// thread (see package-reader-pool.ts). Decompressing is bounded in bytes
// (src/conda/package-reader.ts), but not in how long one synchronous step takes: a
// bzip2 block of zeros or a run of 4-byte zstd RLE blocks inflates tens of
// megabytes per call, which on the main thread held every other request for
// about a second. Here it holds only this thread.
import { parentPort } from 'node:worker_threads';
import type { PackageFormat } from '../conda/package-filename.js';
import { readPackageMetadata, type PackageMetadata } from '../conda/package-reader.js';
import { isAppError } from '../errors.js';

export interface ReadRequest { id: number; filePath: string; format: PackageFormat; stem: string }
export type ReadReply =
  | { id: number; meta: PackageMetadata }
  | { id: number; error: { code: string | null; message: string } };

parentPort!.on('message', (req: ReadRequest) => {
  void readPackageMetadata(req.filePath, req.format, req.stem).then(
    (meta) => parentPort!.postMessage({ id: req.id, meta } satisfies ReadReply),
    (err: unknown) => {
      const code = isAppError(err) ? err.code : null;
      parentPort!.postMessage({ id: req.id, error: { code, message: err instanceof Error ? err.message : String(err) } } satisfies ReadReply);
    },
  );
});
