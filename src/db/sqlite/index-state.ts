import { hostname } from 'node:os';
import type { SqliteDb } from '../database.js';
import type { IndexSnapshot, IndexStateRepository } from '../repositories.js';
import type { PendingFileDeletion, SubdirRef, SubdirState } from '../../core/types.js';

interface SubdirDbRow {
  channel_id: number; channel: string; subdir: string; revision: number; indexed_revision: number;
  repodata_sha256: string | null; repodata_size: number | null; indexed_at: number | null;
}

const toState = (r: SubdirDbRow): SubdirState => ({
  channelId: r.channel_id, channel: r.channel, subdir: r.subdir, revision: r.revision,
  indexedRevision: r.indexed_revision, repodataSha256: r.repodata_sha256, repodataSize: r.repodata_size,
  indexedAt: r.indexed_at,
});

const SELECT_STATE = `SELECT s.*, c.name AS channel FROM subdirs s JOIN channels c ON c.id = s.channel_id`;

/** Bumps (creating if needed) a subdir's revision; call inside the caller's transaction. */
export function revisionBumper(db: SqliteDb): (channelId: number, subdir: string) => number {
  const stmt = db.prepare<[number, string], { revision: number }>(
    `INSERT INTO subdirs (channel_id, subdir, revision, indexed_revision) VALUES (?, ?, 1, 0)
     ON CONFLICT (channel_id, subdir) DO UPDATE SET revision = revision + 1 RETURNING revision`);
  return (channelId, subdir) => stmt.get(channelId, subdir)!.revision;
}

export class SqliteIndexStateRepository implements IndexStateRepository {
  private readonly bump;
  private readonly selectOne;
  private readonly selectForChannel;
  private readonly selectDirty;
  private readonly lease;
  private readonly finishTx;
  private readonly release;
  private readonly deleteDeletion;
  private readonly selectLeases;
  private readonly clearLease;
  private readonly selectDeletionSubdirs;

  /**
   * `reader` is a second connection used only for snapshots: the indexer
   * streams a subdir's records while awaiting file writes, and a cursor on
   * the main connection would block every other statement meanwhile. In WAL
   * mode the reader's transaction sees one consistent revision.
   */
  constructor(db: SqliteDb, private readonly reader: SqliteDb) {
    this.bump = revisionBumper(db);
    this.selectOne = db.prepare<[number, string], SubdirDbRow>(`${SELECT_STATE} WHERE s.channel_id = ? AND s.subdir = ?`);
    this.selectForChannel = db.prepare<[number], SubdirDbRow>(`${SELECT_STATE} WHERE s.channel_id = ? ORDER BY s.subdir`);
    this.selectDirty = db.prepare<[], SubdirDbRow>(`${SELECT_STATE} WHERE s.indexed_revision < s.revision`);
    this.lease = db.prepare<[string, number, number, string, number, string]>(
      `UPDATE subdirs SET lease_owner = ?, lease_until = ?
       WHERE channel_id = ? AND subdir = ? AND (lease_owner IS NULL OR lease_until < ? OR lease_owner = ?)`);
    const record = db.prepare(
      `UPDATE subdirs SET indexed_revision = max(indexed_revision, @revision), repodata_sha256 = @sha256,
         repodata_size = @sizeBytes, indexed_at = @at, lease_owner = NULL, lease_until = NULL
       WHERE channel_id = @channelId AND subdir = @subdir AND lease_owner = @owner`);
    const safeDeletions = db.prepare<[number, string, number], PendingFileDeletion>(
      `SELECT id, channel, subdir, filename FROM file_deletions WHERE channel_id = ? AND subdir = ? AND revision <= ?`);
    this.finishTx = db.transaction(
      (ref: SubdirRef, owner: string, w: { revision: number; sha256: string; sizeBytes: number; at: number }) => {
        const changed = record.run({ ...w, channelId: ref.channelId, subdir: ref.subdir, owner }).changes;
        // Lost the lease (e.g. it expired and another process took over): what
        // we wrote may be older than theirs, so claim nothing.
        if (changed === 0) return [];
        return safeDeletions.all(ref.channelId, ref.subdir, w.revision);
      });
    this.release = db.prepare<[number, string, string]>(
      'UPDATE subdirs SET lease_owner = NULL, lease_until = NULL WHERE channel_id = ? AND subdir = ? AND lease_owner = ?');
    this.deleteDeletion = db.prepare<[number]>('DELETE FROM file_deletions WHERE id = ?');
    this.selectLeases = db.prepare<[], { channel_id: number; subdir: string; lease_owner: string }>(
      'SELECT channel_id, subdir, lease_owner FROM subdirs WHERE lease_owner IS NOT NULL');
    this.clearLease = db.prepare<[number, string, string]>(
      'UPDATE subdirs SET lease_owner = NULL, lease_until = NULL WHERE channel_id = ? AND subdir = ? AND lease_owner = ?');
    this.selectDeletionSubdirs = db.prepare<[], { channel_id: number; subdir: string }>(
      'SELECT DISTINCT channel_id, subdir FROM file_deletions');
  }

  async touch(channelId: number, subdir: string): Promise<void> {
    this.bump(channelId, subdir);
  }

  async get(channelId: number, subdir: string): Promise<SubdirState | null> {
    const r = this.selectOne.get(channelId, subdir);
    return r ? toState(r) : null;
  }

  async listForChannel(channelId: number): Promise<SubdirState[]> {
    return this.selectForChannel.all(channelId).map(toState);
  }

  async dirty(): Promise<SubdirRef[]> {
    return this.selectDirty.all().map((r) => ({ channelId: r.channel_id, channel: r.channel, subdir: r.subdir }));
  }

  async tryLease(ref: SubdirRef, owner: string, untilMs: number): Promise<boolean> {
    return this.lease.run(owner, untilMs, ref.channelId, ref.subdir, Date.now(), owner).changes === 1;
  }

  snapshot(ref: SubdirRef): IndexSnapshot {
    const r = this.reader;
    r.exec('BEGIN');
    try {
      const rev = r.prepare<[number, string], { revision: number }>(
        'SELECT revision FROM subdirs WHERE channel_id = ? AND subdir = ?').get(ref.channelId, ref.subdir);
      const rows = r.prepare<[number, string, string], { filename: string; recordJson: string }>(
        `SELECT filename, record_json AS recordJson FROM packages
         WHERE channel_id = ? AND subdir = ? AND format = ? AND yanked_reason IS NULL ORDER BY filename`);
      const removed = r.prepare<[number, string], { filename: string }>(
        'SELECT filename FROM packages WHERE channel_id = ? AND subdir = ? AND yanked_reason IS NOT NULL ORDER BY filename');
      return {
        revision: rev?.revision ?? 0,
        removed: removed.all(ref.channelId, ref.subdir).map((x) => x.filename),
        tarBz2: { [Symbol.iterator]: () => rows.iterate(ref.channelId, ref.subdir, 'tar.bz2') },
        conda: { [Symbol.iterator]: () => rows.iterate(ref.channelId, ref.subdir, 'conda') },
        close: () => { if (r.inTransaction) r.exec('COMMIT'); },
      };
    } catch (err) {
      if (r.inTransaction) r.exec('ROLLBACK');
      throw err;
    }
  }

  async finishIndex(ref: SubdirRef, owner: string, written: { revision: number; sha256: string; sizeBytes: number; at: number }): Promise<PendingFileDeletion[]> {
    return this.finishTx.immediate(ref, owner, written);
  }

  async releaseLease(ref: SubdirRef, owner: string): Promise<void> {
    this.release.run(ref.channelId, ref.subdir, owner);
  }

  async forgetDeletions(ids: number[]): Promise<void> {
    for (const id of ids) this.deleteDeletion.run(id);
  }

  async releaseDeadLeases(isDead: (owner: string, hostname: string) => boolean): Promise<number> {
    const host = hostname();
    let released = 0;
    for (const l of this.selectLeases.all()) {
      if (isDead(l.lease_owner, host)) released += this.clearLease.run(l.channel_id, l.subdir, l.lease_owner).changes;
    }
    return released;
  }

  async markSubdirsWithPendingDeletions(): Promise<number> {
    const subdirs = this.selectDeletionSubdirs.all();
    for (const s of subdirs) this.bump(s.channel_id, s.subdir);
    return subdirs.length;
  }
}
