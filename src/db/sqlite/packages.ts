import type { SqliteDb } from './database.js';
import type { PackageRepository, ReserveResult, StoredRecord } from '../repositories.js';
import type { PackageFile, PackageRef, PackageRow } from '../../types.js';
import { PACKAGE_COLUMNS, REPLACE_ON_CONFLICT, bySubdir, packageColumns } from '../shared/package-writes.js';
import { RollBack, answerOf } from '../shared/roll-back.js';
import { type PackageDbRow, type UploadIntentRow, toPackageRow, toUploadIntent } from '../shared/rows.js';

const INSERT = `INSERT INTO packages (${PACKAGE_COLUMNS.join(', ')}, created_at, updated_at)
  VALUES (${PACKAGE_COLUMNS.map((c) => `@${c}`).join(', ')}, @now, @now)`;

const values = (f: PackageFile, now: number) => ({ ...packageColumns(f), now });

export class SqlitePackageRepository implements PackageRepository {
  private readonly selectOne;
  private readonly reserveTx;
  private readonly commitTx;
  private readonly abandon;
  private readonly selectIntents;
  private readonly touchIntents;
  private readonly deleteTx;
  private readonly insertFoundTx;
  private readonly dropMissingTx;
  private readonly selectNames;
  private readonly selectPendingDeletions;
  private readonly selectCount;
  private readonly yankTx;
  private readonly deleteManyTx;
  private readonly selectRecordsAfter;

  constructor(db: SqliteDb, bumpRevision: (channelId: number, subdir: string, names: Iterable<string>) => number) {
    this.selectOne = db.prepare<[number, string, string], PackageDbRow>(
      'SELECT * FROM packages WHERE channel_id = ? AND subdir = ? AND filename = ?');

    const existing = db.prepare<[number, string, string], { id: number }>(
      'SELECT id FROM packages WHERE channel_id = ? AND subdir = ? AND filename = ?');
    const insertIntent = db.prepare<[number, string, string, string, number, string, number]>(
      `INSERT INTO upload_intents (channel_id, subdir, filename, record, created_at, owner, alive_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`);
    this.reserveTx = db.transaction((file: PackageFile, force: boolean, owner: string): ReserveResult => {
      if (!force && existing.get(file.channelId, file.subdir, file.filename)) return 'exists';
      const now = Date.now();
      const inserted = insertIntent.run(file.channelId, file.subdir, file.filename, JSON.stringify(file), now, owner, now);
      return inserted.changes === 1 ? 'reserved' : 'in-progress';
    });

    const selectIntent = db.prepare<[number, string, string], { record: string }>(
      'SELECT record FROM upload_intents WHERE channel_id = ? AND subdir = ? AND filename = ?');
    const deleteIntent = db.prepare<[number, string, string]>(
      'DELETE FROM upload_intents WHERE channel_id = ? AND subdir = ? AND filename = ?');
    const upsert = db.prepare(`${INSERT} ${REPLACE_ON_CONFLICT}`);
    // A force-replaced file must not be unlinked by an older queued deletion.
    const cancelDeletion = db.prepare<[number, string, string]>(
      'DELETE FROM file_deletions WHERE channel_id = ? AND subdir = ? AND filename = ?');
    this.commitTx = db.transaction((channelId: number, subdir: string, filename: string) => {
      const intent = selectIntent.get(channelId, subdir, filename);
      if (!intent) throw new Error(`no upload intent for ${subdir}/${filename}`);
      const file = JSON.parse(intent.record) as PackageFile;
      upsert.run(values(file, Date.now()));
      deleteIntent.run(channelId, subdir, filename);
      cancelDeletion.run(channelId, subdir, filename);
      bumpRevision(channelId, subdir, [file.name]);
    });
    this.abandon = deleteIntent;

    this.selectIntents = db.prepare<[], UploadIntentRow>(
      `SELECT i.record, i.owner, coalesce(i.alive_at, i.created_at) AS alive_at, c.name AS channel FROM upload_intents i JOIN channels c ON c.id = i.channel_id`);
    this.touchIntents = db.prepare<[number, string]>('UPDATE upload_intents SET alive_at = ? WHERE owner = ?');

    const deleteRow = db.prepare<[number, string, string], { name: string }>(
      'DELETE FROM packages WHERE channel_id = ? AND subdir = ? AND filename = ? RETURNING name');
    const queueDeletion = db.prepare(
      `INSERT INTO file_deletions (channel_id, channel, subdir, filename, revision)
       SELECT id, name, @subdir, @filename, @revision FROM channels WHERE id = @channelId`);
    this.deleteTx = db.transaction((channelId: number, subdir: string, filename: string): boolean => {
      const gone = deleteRow.get(channelId, subdir, filename);
      if (!gone) return false;
      const revision = bumpRevision(channelId, subdir, [gone.name]);
      queueDeletion.run({ channelId, subdir, filename, revision });
      return true;
    });

    const insertIfAbsent = db.prepare(`${INSERT} ON CONFLICT (channel_id, subdir, filename) DO NOTHING`);
    this.insertFoundTx = db.transaction((files: PackageFile[]): number => {
      const added: PackageFile[] = [];
      for (const f of files) if (insertIfAbsent.run(values(f, Date.now())).changes > 0) added.push(f);
      for (const t of bySubdir(added)) bumpRevision(t.channelId, t.subdir, t.names);
      return added.length;
    });

    this.dropMissingTx = db.transaction((channelId: number, subdir: string, filenames: string[]): number => {
      const names = new Set<string>();
      for (const fn of filenames) {
        const gone = deleteRow.get(channelId, subdir, fn);
        if (gone) names.add(gone.name);
      }
      if (names.size > 0) bumpRevision(channelId, subdir, names);
      return names.size === 0 ? 0 : filenames.length;
    });

    this.selectRecordsAfter = db.prepare<[number, number], StoredRecord>(
      `SELECT p.id, p.channel_id AS channelId, c.name AS channel, p.subdir, p.filename, p.record_json AS recordJson,
              p.yanked_reason AS yankedReason
         FROM packages p JOIN channels c ON c.id = p.channel_id WHERE p.id > ? ORDER BY p.id LIMIT ?`);
    this.selectNames = db.prepare<[number, string], { filename: string }>(
      'SELECT filename FROM packages WHERE channel_id = ? AND subdir = ? ORDER BY filename');
    this.selectPendingDeletions = db.prepare<[number, string], { filename: string }>(
      'SELECT DISTINCT filename FROM file_deletions WHERE channel_id = ? AND subdir = ?');
    this.selectCount = db.prepare<[number, string], { n: number }>(
      'SELECT count(*) AS n FROM packages WHERE channel_id = ? AND subdir = ?');

    const setYank = db.prepare(
      `UPDATE packages SET yanked_reason = @reason, hidden = @hidden, updated_at = @now
       WHERE channel_id = @channelId AND subdir = @subdir AND filename = @filename RETURNING name`);
    // All or nothing: an unknown entry rolls the whole batch back, and is the answer.
    this.yankTx = db.transaction((refs: PackageRef[], reason: string | null, hidden: boolean): void => {
      const changed = refs.map((ref) => {
        const row = setYank.get({ ...ref, reason, hidden: hidden ? 1 : 0, now: Date.now() }) as { name: string } | undefined;
        if (!row) throw new RollBack(ref);
        return { ...ref, name: row.name };
      });
      for (const t of bySubdir(changed)) bumpRevision(t.channelId, t.subdir, t.names);
    });
    this.deleteManyTx = db.transaction((refs: PackageRef[]): void => {
      for (const ref of refs) {
        const gone = deleteRow.get(ref.channelId, ref.subdir, ref.filename);
        if (!gone) throw new RollBack(ref);
        const revision = bumpRevision(ref.channelId, ref.subdir, [gone.name]);
        queueDeletion.run({ ...ref, revision });
      }
    });
  }

  async setYanked(refs: PackageRef[], reason: string | null, hidden: boolean): Promise<PackageRef | null> {
    return answerOf<PackageRef | null>(() => {
      this.yankTx.immediate(refs, reason, hidden);
      return null;
    });
  }

  async recordsAfter(afterId: number, limit: number): Promise<StoredRecord[]> {
    return this.selectRecordsAfter.all(afterId, limit);
  }

  async deleteMany(refs: PackageRef[]): Promise<PackageRef | null> {
    return answerOf<PackageRef | null>(() => {
      this.deleteManyTx.immediate(refs);
      return null;
    });
  }

  async get(channelId: number, subdir: string, filename: string): Promise<PackageRow | null> {
    const r = this.selectOne.get(channelId, subdir, filename);
    return r ? toPackageRow(r) : null;
  }

  async reserveUpload(file: PackageFile, force: boolean, owner: string): Promise<ReserveResult> {
    return this.reserveTx.immediate(file, force, owner);
  }

  async commitUpload(channelId: number, subdir: string, filename: string): Promise<void> {
    this.commitTx.immediate(channelId, subdir, filename);
  }

  async abandonUpload(channelId: number, subdir: string, filename: string): Promise<void> {
    this.abandon.run(channelId, subdir, filename);
  }

  async listUploadIntents(): Promise<Array<{ channel: string; file: PackageFile; owner: string | null; aliveAt: number }>> {
    return this.selectIntents.all().map(toUploadIntent);
  }

  async touchUploadIntents(owner: string, at: number): Promise<void> {
    this.touchIntents.run(at, owner);
  }

  async delete(channelId: number, subdir: string, filename: string): Promise<boolean> {
    return this.deleteTx.immediate(channelId, subdir, filename);
  }

  async insertFound(files: PackageFile[]): Promise<number> {
    return files.length === 0 ? 0 : this.insertFoundTx.immediate(files);
  }

  async dropMissing(channelId: number, subdir: string, filenames: string[]): Promise<number> {
    return filenames.length === 0 ? 0 : this.dropMissingTx.immediate(channelId, subdir, filenames);
  }

  async filenames(channelId: number, subdir: string): Promise<string[]> {
    return this.selectNames.all(channelId, subdir).map((r) => r.filename);
  }

  async pendingDeletionNames(channelId: number, subdir: string): Promise<string[]> {
    return this.selectPendingDeletions.all(channelId, subdir).map((r) => r.filename);
  }

  async countInSubdir(channelId: number, subdir: string): Promise<number> {
    return this.selectCount.get(channelId, subdir)!.n;
  }
}
