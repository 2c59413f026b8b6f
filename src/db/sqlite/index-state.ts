import { hostname } from 'node:os';
import type { SqliteDb } from './database.js';
import Database from 'better-sqlite3';
import type { DirtySubdir, IndexKind, IndexSnapshot, IndexStateRepository, NameRow, ShardRow, SnapshotRecord } from '../repositories.js';
import type { PendingFileDeletion, SubdirRef, SubdirState } from '../../types.js';
import { type SubdirDbRow, toDirtySubdir, toState } from '../shared/rows.js';

const SELECT_STATE = `SELECT s.*, c.name AS channel FROM subdirs s JOIN channels c ON c.id = s.channel_id`;

/**
 * Bumps (creating if needed) a subdir's revision and marks the package names
 * whose shards must be rebuilt; call inside the caller's transaction.
 */
export function revisionBumper(db: SqliteDb): (channelId: number, subdir: string, names: Iterable<string>) => number {
  const bump = db.prepare<[number, string], { revision: number }>(
    `INSERT INTO subdirs (channel_id, subdir, revision, indexed_revision) VALUES (?, ?, 1, 0)
     ON CONFLICT (channel_id, subdir) DO UPDATE SET revision = revision + 1 RETURNING revision`);
  const dirty = db.prepare<[number, string, string, number]>(
    `INSERT INTO dirty_names (channel_id, subdir, name, revision) VALUES (?, ?, ?, ?)
     ON CONFLICT (channel_id, subdir, name) DO UPDATE SET revision = excluded.revision`);
  return (channelId, subdir, names) => {
    const revision = bump.get(channelId, subdir)!.revision;
    for (const name of names) dirty.run(channelId, subdir, name, revision);
    return revision;
  };
}

export class SqliteIndexStateRepository implements IndexStateRepository {
  private readonly bump;
  private readonly selectOne;
  private readonly selectForChannel;
  private readonly selectDirty;
  private readonly lease;
  private readonly finishIndexTx;
  private readonly finishShardsTx;
  private readonly publishShardsTx;
  private readonly release;
  private readonly deleteDeletion;
  private readonly selectLeases;
  private readonly selectDeletionSubdirs;
  private readonly selectShards;
  private readonly selectCollectable;
  private readonly deleteShardFile;

  /**
   * `openReader` opens a read-only connection used only for snapshots: the indexer
   * streams a subdir's records while awaiting file writes, and a cursor on
   * the main connection would block every other statement meanwhile. In WAL
   * mode the reader's transaction sees one consistent revision.
   */
  private readonly readers: SqliteDb[] = [];
  private readersClosed = false;

  constructor(db: SqliteDb, private readonly openReader: () => SqliteDb) {
    this.bump = revisionBumper(db);
    this.selectOne = db.prepare<[number, string], SubdirDbRow>(`${SELECT_STATE} WHERE s.channel_id = ? AND s.subdir = ?`);
    this.selectForChannel = db.prepare<[number], SubdirDbRow>(`${SELECT_STATE} WHERE s.channel_id = ? ORDER BY s.subdir`);
    this.selectDirty = db.prepare<[], SubdirDbRow>(
      `${SELECT_STATE} WHERE s.indexed_revision < s.revision OR s.shards_revision < s.revision`);
    const leaseStatement = (owner: string, until: string) => db.prepare<[string, number, number, string, number, string]>(
      `UPDATE subdirs SET ${owner} = ?, ${until} = ?
       WHERE channel_id = ? AND subdir = ? AND (${owner} IS NULL OR ${until} < ? OR ${owner} = ?)`);
    this.lease = { full: leaseStatement('lease_owner', 'lease_until'), shards: leaseStatement('shards_lease_owner', 'shards_lease_until') };
    // Files deleted at or before a revision both index kinds have reached.
    const safeDeletions = db.prepare<[number, string], PendingFileDeletion>(
      `SELECT d.id, d.channel, d.subdir, d.filename FROM file_deletions d
       JOIN subdirs s ON s.channel_id = d.channel_id AND s.subdir = d.subdir
       WHERE d.channel_id = ? AND d.subdir = ? AND d.revision <= min(s.indexed_revision, s.shards_revision)`);
    const recordIndex = db.prepare(
      `UPDATE subdirs SET indexed_revision = max(indexed_revision, @revision), repodata_sha256 = @sha256,
         repodata_size = @sizeBytes, indexed_at = @at, lease_owner = NULL, lease_until = NULL
       WHERE channel_id = @channelId AND subdir = @subdir AND lease_owner = @owner`);
    this.finishIndexTx = db.transaction(
      (ref: SubdirRef, owner: string, w: { revision: number; sha256: string; sizeBytes: number; at: number }) => {
        const changed = recordIndex.run({ ...w, channelId: ref.channelId, subdir: ref.subdir, owner }).changes;
        // Lost the lease (it expired and another process took over): what we
        // wrote may be older than theirs, so claim nothing.
        if (changed === 0) return [];
        return safeDeletions.all(ref.channelId, ref.subdir);
      });

    const upsertShard = db.prepare<[number, string, string, string]>(
      `INSERT INTO shards (channel_id, subdir, name, sha256) VALUES (?, ?, ?, ?)
       ON CONFLICT (channel_id, subdir, name) DO UPDATE SET sha256 = excluded.sha256`);
    const deleteShard = db.prepare<[number, string, string]>('DELETE FROM shards WHERE channel_id = ? AND subdir = ? AND name = ?');
    const oldShard = db.prepare<[number, string, string], { sha256: string }>(
      'SELECT sha256 FROM shards WHERE channel_id = ? AND subdir = ? AND name = ?');
    const liveFile = db.prepare<[number, string, string]>(
      `INSERT INTO shard_files (channel_id, subdir, sha256, superseded_at) VALUES (?, ?, ?, NULL)
       ON CONFLICT (channel_id, subdir, sha256) DO UPDATE SET superseded_at = NULL`);
    const supersede = db.prepare<[number, number, string, string]>(
      `UPDATE shard_files SET superseded_at = ? WHERE channel_id = ? AND subdir = ? AND sha256 = ?
       AND NOT EXISTS (SELECT 1 FROM shards s WHERE s.channel_id = shard_files.channel_id AND s.subdir = shard_files.subdir AND s.sha256 = shard_files.sha256)`);
    const cleanDirty = db.prepare<[number, string, number]>(
      'DELETE FROM dirty_names WHERE channel_id = ? AND subdir = ? AND revision <= ?');
    const recordShards = db.prepare(
      `UPDATE subdirs SET shards_revision = max(shards_revision, @revision), shard_index_sha256 = @sha256
       WHERE channel_id = @channelId AND subdir = @subdir AND shards_lease_owner = @owner`);
    const holdsShardsLease = db.prepare<[number, string, string]>(
      'SELECT 1 FROM subdirs WHERE channel_id = ? AND subdir = ? AND shards_lease_owner = ?').pluck();
    this.finishShardsTx = db.transaction((ref: SubdirRef, owner: string, w: { revision: number; shards: ShardRow[]; at: number }, listLive: boolean) => {
      const { channelId, subdir } = ref;
      if (holdsShardsLease.get(channelId, subdir, owner) === undefined) return null;
      for (const s of w.shards) {
        const before = oldShard.get(channelId, subdir, s.name)?.sha256;
        if (s.sha256 === null) deleteShard.run(channelId, subdir, s.name);
        else {
          upsertShard.run(channelId, subdir, s.name, s.sha256);
          liveFile.run(channelId, subdir, s.sha256);
        }
        if (before && before !== s.sha256) supersede.run(w.at, channelId, subdir, before);
      }
      cleanDirty.run(channelId, subdir, w.revision);
      return listLive ? this.selectShards.all(channelId, subdir).map((r) => [r.name, r.sha256] as [string, string]) : [];
    });
    this.publishShardsTx = db.transaction((ref: SubdirRef, owner: string, w: { revision: number; sha256: string }) => {
      const changed = recordShards.run({ revision: w.revision, sha256: w.sha256, channelId: ref.channelId, subdir: ref.subdir, owner }).changes;
      return changed === 0 ? [] : safeDeletions.all(ref.channelId, ref.subdir);
    });
    this.selectShards = db.prepare<[number, string], { name: string; sha256: string }>(
      'SELECT name, sha256 FROM shards WHERE channel_id = ? AND subdir = ? ORDER BY name');
    this.selectCollectable = db.prepare<[number, string, number], { sha256: string }>(
      'SELECT sha256 FROM shard_files WHERE channel_id = ? AND subdir = ? AND superseded_at IS NOT NULL AND superseded_at < ?');
    this.deleteShardFile = db.prepare<[number, string, string]>(
      'DELETE FROM shard_files WHERE channel_id = ? AND subdir = ? AND sha256 = ? AND superseded_at IS NOT NULL');

    const releaseStatement = (owner: string, until: string) => db.prepare<[number, string, string]>(
      `UPDATE subdirs SET ${owner} = NULL, ${until} = NULL WHERE channel_id = ? AND subdir = ? AND ${owner} = ?`);
    this.release = { full: releaseStatement('lease_owner', 'lease_until'), shards: releaseStatement('shards_lease_owner', 'shards_lease_until') };
    this.deleteDeletion = db.prepare<[number]>('DELETE FROM file_deletions WHERE id = ?');
    this.selectLeases = db.prepare<[], { channel_id: number; subdir: string; lease_owner: string; kind: IndexKind }>(
      `SELECT channel_id, subdir, lease_owner, 'full' AS kind FROM subdirs WHERE lease_owner IS NOT NULL
       UNION ALL SELECT channel_id, subdir, shards_lease_owner, 'shards' FROM subdirs WHERE shards_lease_owner IS NOT NULL`);
    this.selectDeletionSubdirs = db.prepare<[], { channel_id: number; subdir: string }>(
      'SELECT DISTINCT channel_id, subdir FROM file_deletions');
  }

  async touch(channelId: number, subdir: string): Promise<void> {
    this.bump(channelId, subdir, []);
  }

  async get(channelId: number, subdir: string): Promise<SubdirState | null> {
    const r = this.selectOne.get(channelId, subdir);
    return r ? toState(r) : null;
  }

  async listForChannel(channelId: number): Promise<SubdirState[]> {
    return this.selectForChannel.all(channelId).map(toState);
  }

  async dirty(): Promise<DirtySubdir[]> {
    return this.selectDirty.all().map(toDirtySubdir);
  }

  async tryLease(ref: SubdirRef, kind: IndexKind, owner: string, untilMs: number): Promise<boolean> {
    return this.lease[kind].run(owner, untilMs, ref.channelId, ref.subdir, Date.now(), owner).changes === 1;
  }

  async snapshot(ref: SubdirRef): Promise<IndexSnapshot> {
    // A pass of each kind may run at once: each snapshot takes a read-only
    // connection of its own (kept for reuse), so their read transactions
    // never share a connection.
    const r = this.readers.pop() ?? this.openReader();
    try {
      return snapshotOn(r, ref, () => {
        if (this.readersClosed) r.close();
        else this.readers.push(r);
      });
    } catch (err) {
      this.readers.push(r);
      throw err;
    }
  }

  /** Closes the idle snapshot connections (the database is closing). */
  closeReaders(): void {
    this.readersClosed = true;
    for (const r of this.readers.splice(0)) r.close();
  }

  async finishIndex(ref: SubdirRef, owner: string, written: { revision: number; sha256: string; sizeBytes: number; at: number }): Promise<PendingFileDeletion[]> {
    return this.finishIndexTx.immediate(ref, owner, written);
  }

  async finishShards(ref: SubdirRef, owner: string, written: { revision: number; shards: ShardRow[]; at: number }, opts: { listLive: boolean }): Promise<Array<[string, string]> | null> {
    return this.finishShardsTx.immediate(ref, owner, written, opts.listLive);
  }

  async publishShardIndex(ref: SubdirRef, owner: string, written: { revision: number; sha256: string }): Promise<PendingFileDeletion[]> {
    return this.publishShardsTx.immediate(ref, owner, written);
  }

  async collectableShards(ref: SubdirRef, supersededBefore: number): Promise<string[]> {
    return this.selectCollectable.all(ref.channelId, ref.subdir, supersededBefore).map((r) => r.sha256);
  }

  async forgetShardFile(ref: SubdirRef, sha256: string): Promise<void> {
    this.deleteShardFile.run(ref.channelId, ref.subdir, sha256);
  }

  async releaseLease(ref: SubdirRef, kind: IndexKind, owner: string): Promise<void> {
    this.release[kind].run(ref.channelId, ref.subdir, owner);
  }

  async forgetDeletions(ids: number[]): Promise<void> {
    for (const id of ids) this.deleteDeletion.run(id);
  }

  async releaseDeadLeases(isDead: (owner: string, hostname: string) => boolean): Promise<number> {
    const host = hostname();
    let released = 0;
    for (const l of this.selectLeases.all()) {
      if (isDead(l.lease_owner, host)) released += this.release[l.kind].run(l.channel_id, l.subdir, l.lease_owner).changes;
    }
    return released;
  }

  async markSubdirsWithPendingDeletions(): Promise<number> {
    const subdirs = this.selectDeletionSubdirs.all();
    for (const s of subdirs) this.bump(s.channel_id, s.subdir, []);
    return subdirs.length;
  }
}

/**
 * Opens a read transaction on `r` (a connection no one else uses meanwhile)
 * and reads one subdir through it until close(), which ends the transaction
 * and hands the connection to `release`. Also used off the main thread (a
 * full pass in a worker has a reader of its own).
 */
export function snapshotOn(r: SqliteDb, ref: SubdirRef, release: () => void): IndexSnapshot {
  r.exec('BEGIN');
  try {
    const q = readerStatements(r);
    const { channelId, subdir } = ref;
    const revision = q.revision.get(channelId, subdir)?.revision ?? 0;
    let closed = false;
    return {
      revision,
      // Read only by the full pass: the shard pass must not pay a scan of the subdir.
      removed: async () => q.removed.all(channelId, subdir).map((x) => x.filename),
      records: (format) => batches(() => q.records.iterate(channelId, subdir, format)),
      dirtyNames: async () => q.dirtyNames.all(channelId, subdir, revision).map((x) => x.name),
      nameRows: async (names) => {
        const out = new Map<string, NameRow[]>();
        for (const name of names) {
          // Sorted here, not in SQL: ORDER BY filename made SQLite walk the
          // whole subdir through the (channel, subdir, filename) index
          // instead of looking the name up (7 ms a name at 20k records).
          const rows = q.nameRows.all(channelId, subdir, name)
            .sort((x, y) => (x.filename < y.filename ? -1 : x.filename > y.filename ? 1 : 0))
            .map((x) => ({ ...x, yanked: x.yanked === 1 }));
          if (rows.length > 0) out.set(name, rows);
        }
        return out;
      },
      close: async () => {
        if (closed) return;
        closed = true;
        if (r.inTransaction) r.exec('COMMIT');
        release();
      },
    };
  } catch (err) {
    if (r.inTransaction) r.exec('ROLLBACK');
    throw err;
  }
}

const BATCH = 512;

/** Cuts a row iterator (opened on first read) into arrays, so the writer awaits once per batch, not per row. */
async function* batches<T>(open: () => IterableIterator<T>): AsyncGenerator<T[]> {
  const rows = open();
  let batch: T[] = [];
  try {
    for (const row of rows) {
      batch.push(row);
      if (batch.length === BATCH) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  } finally {
    rows.return?.();
  }
}

/** Prepared once per reader connection (better-sqlite3 statements belong to one connection). */
const statementsByReader = new WeakMap<SqliteDb, ReturnType<typeof prepareReader>>();

function readerStatements(r: SqliteDb): ReturnType<typeof prepareReader> {
  let q = statementsByReader.get(r);
  if (!q) {
    q = prepareReader(r);
    statementsByReader.set(r, q);
  }
  return q;
}

function prepareReader(r: SqliteDb) {
  return {
    revision: r.prepare<[number, string], { revision: number }>('SELECT revision FROM subdirs WHERE channel_id = ? AND subdir = ?'),
    records: r.prepare<[number, string, string], SnapshotRecord>(
      `SELECT filename, record_json AS recordJson, run_exports_json AS runExportsJson FROM packages
       WHERE channel_id = ? AND subdir = ? AND format = ? AND yanked_reason IS NULL ORDER BY filename`),
    removed: r.prepare<[number, string], { filename: string }>(
      'SELECT filename FROM packages WHERE channel_id = ? AND subdir = ? AND yanked_reason IS NOT NULL ORDER BY filename'),
    dirtyNames: r.prepare<[number, string, number], { name: string }>(
      'SELECT name FROM dirty_names WHERE channel_id = ? AND subdir = ? AND revision <= ? ORDER BY name'),
    nameRows: r.prepare<[number, string, string], SnapshotRecord & { yanked: number }>(
      `SELECT filename, record_json AS recordJson, run_exports_json AS runExportsJson, yanked_reason IS NOT NULL AS yanked
       FROM packages WHERE channel_id = ? AND subdir = ? AND name = ?`),
  };
}

/** A read-only connection for snapshots. */
export function openSnapshotReader(file: string): SqliteDb {
  const reader = new Database(file, { readonly: true });
  reader.pragma('busy_timeout = 10000');
  return reader;
}
