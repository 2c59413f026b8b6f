import { createHash } from 'node:crypto';
import fs from 'node:fs';

/** sha256 + md5 + size of a byte stream in one pass. */
export async function hashStream(stream: AsyncIterable<Uint8Array>): Promise<{ sha256: string; md5: string; sizeBytes: number }> {
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let sizeBytes = 0;
  for await (const buf of stream) {
    sha256.update(buf);
    md5.update(buf);
    sizeBytes += buf.length;
  }
  return { sha256: sha256.digest('hex'), md5: md5.digest('hex'), sizeBytes };
}

/** sha256 + md5 + size of a file in one streaming pass. */
export function hashFile(file: string): Promise<{ sha256: string; md5: string; sizeBytes: number }> {
  return hashStream(fs.createReadStream(file, { highWaterMark: 1 << 20 }));
}
