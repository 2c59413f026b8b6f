import type { PackageRepository, ReserveResult, StoredRecord } from '../repositories.js';
import type { PackageFile, PackageRef, PackageRow } from '../../types.js';
import { PACKAGE_COLUMNS, REPLACE_ON_CONFLICT, bySubdir, packageColumns } from '../shared/package-writes.js';
import { RollBack, answerOf } from '../shared/roll-back.js';
import { type PackageDbRow, type UploadIntentRow, toPackageRow, toUploadIntent } from '../shared/rows.js';
import { type Pool, type Queryable, changes, inTransaction, row, rows } from './database.js';
import { bumpRevision } from './index-state.js';

const COLUMNS = `${PACKAGE_COLUMNS.join(', ')}, created_at, updated_at`;

function values(f: PackageFile, now: number): unknown[] {
  const row = packageColumns(f);
  return [...PACKAGE_COLUMNS.map((c) => row[c]), now];
}

const UPSERT = `INSERT INTO packages (${COLUMNS})
  VALUES (${PACKAGE_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')}, $${PACKAGE_COLUMNS.length + 1}, $${PACKAGE_COLUMNS.length + 1})
  ${REPLACE_ON_CONFLICT}`;

async function queueDeletion(tx: Queryable, ref: PackageRef, revision: number): Promise<void> {
  await tx.query(
    `INSERT INTO file_deletions (channel_id, channel, subdir, filename, revision)
     SELECT id, name, $2::text, $3::text, $4::bigint FROM channels WHERE id = $1`, [ref.channelId, ref.subdir, ref.filename, revision]);
}

async function deleteRow(tx: Queryable, ref: PackageRef): Promise<string | undefined> {
  return (await row<{ name: string }>(tx,
    'DELETE FROM packages WHERE channel_id = $1 AND subdir = $2 AND filename = $3 RETURNING name', [ref.channelId, ref.subdir, ref.filename]))?.name;
}

export class PgPackageRepository implements PackageRepository {
  constructor(private readonly pool: Pool) {}

  async recordsAfter(afterId: number, limit: number): Promise<StoredRecord[]> {
    const found = await rows<StoredRecord & { id: string | number; channelId: string | number }>(this.pool,
      `SELECT p.id, p.channel_id AS "channelId", c.name AS channel, p.subdir, p.filename, p.record_json AS "recordJson",
              p.yanked_reason AS "yankedReason"
         FROM packages p JOIN channels c ON c.id = p.channel_id WHERE p.id > $1 ORDER BY p.id LIMIT $2`, [afterId, limit]);
    return found.map((r) => ({ ...r, id: Number(r.id), channelId: Number(r.channelId) }));
  }

  async get(channelId: number, subdir: string, filename: string): Promise<PackageRow | null> {
    const r = await row<PackageDbRow>(this.pool, 'SELECT * FROM packages WHERE channel_id = $1 AND subdir = $2 AND filename = $3', [channelId, subdir, filename]);
    return r ? toPackageRow(r) : null;
  }

  async reserveUpload(file: PackageFile, force: boolean, owner: string): Promise<ReserveResult> {
    const key = [file.channelId, file.subdir, file.filename];
    const exists = async (tx: Queryable) =>
      (await row(tx, 'SELECT 1 AS one FROM packages WHERE channel_id = $1 AND subdir = $2 AND filename = $3', key)) !== undefined;
    return answerOf(() => inTransaction(this.pool, async (tx): Promise<ReserveResult> => {
      if (!force && (await exists(tx))) return 'exists';
      // The intent's primary key admits one holder across every replica.
      // An insert racing a commit of the same filename waits for that
      // commit (its intent row is locked), then succeeds; the second look
      // below (a new statement, so it sees that commit) then refuses it,
      // rolling back the intent it inserted.
      const inserted = await changes(tx,
        `INSERT INTO upload_intents (channel_id, subdir, filename, record, created_at, owner, alive_at) VALUES ($1, $2, $3, $4, $5, $6, $5)
         ON CONFLICT DO NOTHING`, [...key, JSON.stringify(file), Date.now(), owner]);
      if (inserted === 0) return 'in-progress';
      if (!force && (await exists(tx))) throw new RollBack<ReserveResult>('exists');
      return 'reserved';
    }));
  }

  async commitUpload(channelId: number, subdir: string, filename: string): Promise<void> {
    await inTransaction(this.pool, async (tx) => {
      const intent = await row<{ record: string }>(tx,
        'DELETE FROM upload_intents WHERE channel_id = $1 AND subdir = $2 AND filename = $3 RETURNING record', [channelId, subdir, filename]);
      if (!intent) throw new Error(`no upload intent for ${subdir}/${filename}`);
      const file = JSON.parse(intent.record) as PackageFile;
      await tx.query(UPSERT, values(file, Date.now()));
      // A force-replaced file must not be unlinked by an older queued deletion.
      await tx.query('DELETE FROM file_deletions WHERE channel_id = $1 AND subdir = $2 AND filename = $3', [channelId, subdir, filename]);
      await bumpRevision(tx, channelId, subdir, [file.name]);
    });
  }

  async abandonUpload(channelId: number, subdir: string, filename: string): Promise<void> {
    await this.pool.query('DELETE FROM upload_intents WHERE channel_id = $1 AND subdir = $2 AND filename = $3', [channelId, subdir, filename]);
  }

  async listUploadIntents(): Promise<Array<{ channel: string; file: PackageFile; owner: string | null; aliveAt: number }>> {
    return (await rows<UploadIntentRow>(this.pool,
      `SELECT i.record, i.owner, coalesce(i.alive_at, i.created_at) AS alive_at, c.name AS channel
       FROM upload_intents i JOIN channels c ON c.id = i.channel_id`)).map(toUploadIntent);
  }

  async touchUploadIntents(owner: string, at: number): Promise<void> {
    await this.pool.query('UPDATE upload_intents SET alive_at = $1 WHERE owner = $2', [at, owner]);
  }

  async delete(channelId: number, subdir: string, filename: string): Promise<boolean> {
    return inTransaction(this.pool, async (tx) => {
      const ref = { channelId, subdir, filename };
      const name = await deleteRow(tx, ref);
      if (name === undefined) return false;
      await queueDeletion(tx, ref, await bumpRevision(tx, channelId, subdir, [name]));
      return true;
    });
  }

  async insertFound(files: PackageFile[]): Promise<number> {
    if (files.length === 0) return 0;
    return inTransaction(this.pool, async (tx) => {
      // One statement for the batch (a reindex may add thousands of rows).
      const now = Date.now();
      const added = await rows<{ channel_id: number; subdir: string; name: string }>(tx,
        `INSERT INTO packages (${COLUMNS})
         SELECT ${PACKAGE_COLUMNS.map((c) => `x.${c}`).join(', ')}, $2, $2
         FROM jsonb_to_recordset($1::jsonb) AS x(channel_id bigint, subdir text, filename text, format text, name text,
           version text, build text, build_number bigint, size_bytes bigint, sha256 text, md5 text, index_json text,
           about_json text, run_exports_json text, record_json text, post_install text, has_attestation bigint, uploaded_by bigint)
         ON CONFLICT (channel_id, subdir, filename) DO NOTHING
         RETURNING channel_id, subdir, name`,
        [JSON.stringify(files.map(packageColumns)), now]);
      for (const t of bySubdir(added.map((a) => ({ channelId: a.channel_id, subdir: a.subdir, name: a.name })))) {
        await bumpRevision(tx, t.channelId, t.subdir, t.names);
      }
      return added.length;
    });
  }

  async dropMissing(channelId: number, subdir: string, filenames: string[]): Promise<number> {
    if (filenames.length === 0) return 0;
    return inTransaction(this.pool, async (tx) => {
      const gone = await rows<{ name: string }>(tx,
        'DELETE FROM packages WHERE channel_id = $1 AND subdir = $2 AND filename = ANY($3::text[]) RETURNING name', [channelId, subdir, filenames]);
      const names = new Set(gone.map((g) => g.name));
      if (names.size > 0) await bumpRevision(tx, channelId, subdir, names);
      return names.size === 0 ? 0 : filenames.length;
    });
  }

  async filenames(channelId: number, subdir: string): Promise<string[]> {
    return (await rows<{ filename: string }>(this.pool,
      'SELECT filename FROM packages WHERE channel_id = $1 AND subdir = $2 ORDER BY filename COLLATE "C"', [channelId, subdir])).map((r) => r.filename);
  }

  async pendingDeletionNames(channelId: number, subdir: string): Promise<string[]> {
    return (await rows<{ filename: string }>(this.pool,
      'SELECT DISTINCT filename FROM file_deletions WHERE channel_id = $1 AND subdir = $2', [channelId, subdir])).map((r) => r.filename);
  }

  async countInSubdir(channelId: number, subdir: string): Promise<number> {
    return (await row<{ n: number }>(this.pool, 'SELECT count(*) AS n FROM packages WHERE channel_id = $1 AND subdir = $2', [channelId, subdir]))!.n;
  }

  async setYanked(refs: PackageRef[], reason: string | null, hidden: boolean): Promise<PackageRef | null> {
    // All or nothing: an unknown entry rolls the whole batch back, and is the answer.
    return answerOf(() => inTransaction(this.pool, async (tx): Promise<PackageRef | null> => {
      const changed: Array<PackageRef & { name: string }> = [];
      for (const ref of refs) {
        const r = await row<{ name: string }>(tx,
          `UPDATE packages SET yanked_reason = $4, hidden = $5, updated_at = $6
           WHERE channel_id = $1 AND subdir = $2 AND filename = $3 RETURNING name`,
          [ref.channelId, ref.subdir, ref.filename, reason, hidden ? 1 : 0, Date.now()]);
        if (!r) throw new RollBack(ref);
        changed.push({ ...ref, name: r.name });
      }
      for (const t of bySubdir(changed)) await bumpRevision(tx, t.channelId, t.subdir, t.names);
      return null;
    }));
  }

  async deleteMany(refs: PackageRef[]): Promise<PackageRef | null> {
    return answerOf(() => inTransaction(this.pool, async (tx): Promise<PackageRef | null> => {
      for (const ref of refs) {
        const name = await deleteRow(tx, ref);
        if (name === undefined) throw new RollBack(ref);
        await queueDeletion(tx, ref, await bumpRevision(tx, ref.channelId, ref.subdir, [name]));
      }
      return null;
    }));
  }
}
