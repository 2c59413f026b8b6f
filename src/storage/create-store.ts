// Picks the ObjectStore adapter the configuration names; the core only sees the port.
import path from 'node:path';
import type { Config } from '../config.js';
import { FsObjectStore } from './fs-object-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore } from './s3-object-store.js';

export function createObjectStore(config: Pick<Config, 'dataDir' | 'storage'>): ObjectStore {
  const s = config.storage;
  if (s.kind === 's3') return new S3ObjectStore(s);
  return new FsObjectStore(path.join(config.dataDir, 'channels'));
}
