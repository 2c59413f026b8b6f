// Streams an upload body to a temp file while hashing it (sha256 + md5) and
// counting bytes, so a package is never held in memory. The temp file lives
// in the data folder's tmp/ (same filesystem as storage, so the final move is
// a rename) and is fsync'd before anyone reads it.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Errors } from '../errors.js';

export interface IngestedFile {
  path: string;
  sizeBytes: number;
  sha256: string;
  md5: string;
}

export async function ingestToTemp(body: Readable, tempDir: string, maxBytes: number): Promise<IngestedFile> {
  await fsp.mkdir(tempDir, { recursive: true });
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
  const out = fs.createWriteStream(file, { flags: 'wx' });
  try {
    await pipeline(body, meter, out);
    const handle = await fsp.open(file, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    await fsp.rm(file, { force: true });
    throw err;
  }
  return { path: file, sizeBytes, sha256: sha256.digest('hex'), md5: md5.digest('hex') };
}
