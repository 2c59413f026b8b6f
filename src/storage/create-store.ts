// Picks the ObjectStore adapter the configuration names; the core only sees the port.
import path from 'node:path';
import type { Config } from '../config.js';
import { FsObjectStore } from './fs-object-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore } from './s3-object-store.js';

/** A data folder's own channel files (what `channeld migrate-storage` copies from), with the folder they live in. */
export function folderStoreOf(dataDir: string): ObjectStore & { readonly root: string } {
  return new FsObjectStore(path.join(dataDir, 'channels'));
}

export function createObjectStore(config: Pick<Config, 'dataDir' | 'storage'>): ObjectStore {
  const s = config.storage;
  if (s.kind === 's3') return new S3ObjectStore(s);
  return new FsObjectStore(path.join(config.dataDir, 'channels'));
}
