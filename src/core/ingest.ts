// Streams an upload body to a temp file while hashing it (sha256 + md5) and
// counting bytes, so a package is never held in memory. The temp file lives
// in the data folder's tmp/ (same filesystem as storage, so the final move is
// a rename) and is fsync'd before anyone reads it.
import { createHash, randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { finished, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Errors, isAppError } from '../errors.js';
import { storageFault, storageOp } from '../storage/faults.js';

export interface IngestedFile {
  path: string;
  sizeBytes: number;
  sha256: string;
  md5: string;
}

export async function ingestToTemp(body: Readable, tempDir: string, maxBytes: number): Promise<IngestedFile> {
  await storageOp('creating the upload folder', () => fsp.mkdir(tempDir, { recursive: true }));
  const file = path.join(tempDir, `upload-${randomBytes(12).toString('hex')}`);
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let sizeBytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sizeBytes += chunk.length;
      if (sizeBytes > maxBytes) {
        done(new Errors.PAYLOAD_TOO_LARGE(`the package is larger than this server accepts (${maxBytes} bytes)`));
        return;
      }
      sha256.update(chunk);
      md5.update(chunk);
      done(null, chunk);
    },
  });
  // Opened before any byte flows: a write stream opening its file itself
  // could still be opening it when a failed body's cleanup below removes it,
  // and then create it after (a temp file left until the next start).
  const handle = await storageOp('creating the upload temp file', () => fsp.open(file, 'wx'));
  const out = handle.createWriteStream(); // closes the handle when it ends, however it ends
  // The body is piped into the meter, not part of the pipeline: a failing
  // write (disk full) must stop reading without destroying the request, whose
  // client is still there to be told. And where an error came from decides
  // what it is: the body's own error (a client that hung up) stays as it is,
  // one of the write side is a storage fault.
  let bodyError: unknown = null;
  const stopWatchingBody = finished(body, (err) => {
    if (!err) return;
    bodyError = err;
    meter.destroy(err);
  });
  body.pipe(meter);
  try {
    try {
      await pipeline(meter, out);
    } catch (err) {
      if (err === bodyError || isAppError(err)) throw err;
      throw storageFault(err, 'writing the upload to its temp file') ?? err;
    } finally {
      stopWatchingBody();
      body.unpipe(meter);
    }
    await storageOp('syncing the upload to disk', async () => {
      const written = await fsp.open(file, 'r+');
      try {
        await written.sync();
      } finally {
        await written.close();
      }
    });
  } catch (err) {
    // Never masks why: a temp file that cannot be removed now is swept at start-up.
    await fsp.rm(file, { force: true }).catch(() => {});
    throw err;
  }
  return { path: file, sizeBytes, sha256: sha256.digest('hex'), md5: md5.digest('hex') };
}
