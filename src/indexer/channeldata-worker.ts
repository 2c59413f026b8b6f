// Worker thread entry: builds one channel's channeldata.json from its own
// read-only SQLite connection and posts the document back. On SQLite the
// queries are synchronous, and at conda-forge size they and the JSON take
// seconds; in a worker none of that holds the server's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { sortVersionsDesc } from '../conda/version-order.js';
import { SqliteCatalogRepository } from '../db/sqlite/catalog.js';
import { channeldataFromCatalog } from './channeldata.js';
import { runInBackground } from './worker-thread.js';

runInBackground();

const { file, channelId } = workerData as { file: string; channelId: number };
const db = new Database(file, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 10000');
try {
  // One read transaction: names, versions and about.json from one snapshot.
  db.exec('BEGIN');
  const json = await channeldataFromCatalog(new SqliteCatalogRepository(db), channelId, sortVersionsDesc, { namesPerRead: 100_000 });
  parentPort!.postMessage(json);
} finally {
  db.close();
}
