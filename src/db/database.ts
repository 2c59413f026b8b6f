// The SQLite file as the code beneath Repositories reaches it: the worker
// threads read it through connections of their own (a main-thread
// connection's cursor would hold up every request meanwhile). Only the
// SQLite adapter is imported here, so a worker thread never loads the
// PostgreSQL driver.
import type { SubdirRef } from '../types.js';
import type { IndexSnapshot } from './repositories.js';
import { openSnapshotReader, snapshotOn } from './sqlite/index-state.js';

export { readCatalogSnapshot } from './sqlite/catalog.js';

/**
 * Snapshots of the file taken one after another on one read-only
 * connection, opened now and kept for the caller's life (a worker thread's).
 */
export function sqliteSnapshotReader(file: string): (ref: SubdirRef) => IndexSnapshot {
  const reader = openSnapshotReader(file);
  return (ref) => snapshotOn(reader, ref, () => {});
}
