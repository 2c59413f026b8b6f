// Stored objects as local files, for readers that need random access (the
// package reader opens archives by path). A folder store hands out its own
// file; any other store is downloaded to the temp folder first.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ObjectStore } from '../storage/object-store.js';

/** Runs fn on a local copy of the object; null when there is no such object. */
export async function withLocalCopy<T>(store: ObjectStore, key: string, tempDir: string, fn: (file: string) => Promise<T>): Promise<T | null> {
  if (store.localFile) {
    const file = store.localFile(key);
    if ((await store.stat(key)) === null) return null;
    return fn(file);
  }
  const got = await store.read(key);
  if (got === null) return null;
  await fsp.mkdir(tempDir, { recursive: true });
  const file = path.join(tempDir, `stored-${randomBytes(12).toString('hex')}`);
  try {
    await pipeline(got.stream, fs.createWriteStream(file, { flags: 'wx' }));
    return await fn(file);
  } finally {
    await fsp.rm(file, { force: true });
  }
}
