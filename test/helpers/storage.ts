// Tests that look at stored files do it through the ObjectStore port, so
// they hold for the data folder and for S3 alike.
import fs from 'node:fs';
import { loadConfig } from '../../src/config.js';
import { createObjectStore } from '../../src/storage/create-store.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { storageEnv } from './backends.js';

/** The store the servers and CLI runs of this data folder use (for child-process tests). */
export async function storeFor(dataDir: string): Promise<ObjectStore> {
  return createObjectStore(loadConfig({ CHANNELD_DATA_DIR: dataDir, ...(await storageEnv(dataDir)) }));
}

/** Puts a local file into storage by hand, as an operator copying files in would. */
export async function putByHand(store: ObjectStore, key: string, file: string): Promise<void> {
  await store.putStream(key, fs.createReadStream(file));
}

/**
 * Every key under a folder, recursively, also in folders list() leaves out
 * (_index/, shards/); channel folders are at most three levels deep.
 */
export async function keysUnder(store: ObjectStore, folder: string, extraFolders: string[] = ['_index', 'shards'], depth = 3): Promise<string[]> {
  const keys = (await store.list(folder)).map((n) => `${folder}/${n}`);
  if (depth > 0) {
    for (const sub of new Set([...(await store.listFolders(folder)), ...extraFolders])) {
      keys.push(...(await keysUnder(store, `${folder}/${sub}`, extraFolders, depth - 1)));
    }
  }
  return keys.sort();
}
