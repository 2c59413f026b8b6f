import { hostname } from 'node:os';
import type { DirtySubdir, IndexKind, IndexSnapshot, IndexStateRepository, NameRow, ShardRow, SnapshotRecord } from '../repositories.js';
import type { PendingFileDeletion, SubdirRef, SubdirState } from '../../types.js';
import { type SubdirDbRow, toDirtySubdir, toState } from '../shared/rows.js';
import { type Pool, type Queryable, changes, inTransaction, row, rows } from './database.js';

const SELECT_STATE = `SELECT s.*, c.name AS channel FROM subdirs s JOIN channels c ON c.id = s.channel_id`;

/**
 * Bumps (creating if needed) a subdir's revision and marks the package names
 * whose shards must be rebuilt; call inside the caller's transaction. The
 * upsert locks the subdir row until that transaction ends, so concurrent
 * writers to one subdir (on any replica) take revisions one after another.
 */
export async function bumpRevision(tx: Queryable, channelId: number, subdir: string, names: Iterable<string>): Promise<number> {
  const { revision } = (await row<{ revision: number }>(tx,
    `INSERT INTO subdirs (channel_id, subdir, revision, indexed_revision) VALUES ($1, $2, 1, 0)
     ON CONFLICT (channel_id, subdir) DO UPDATE SET revision = subdirs.revision + 1 RETURNING revision`, [channelId, subdir]))!;
  const list = [...names];
  if (list.length > 0) {
    await tx.query(
      `INSERT INTO dirty_names (channel_id, subdir, name, revision) SELECT $1, $2, n, $4 FROM unnest($3::text[]) AS n
       ON CONFLICT (channel_id, subdir, name) DO UPDATE SET revision = excluded.revision`, [channelId, subdir, list, revision]);
  }
  return revision;
}

// Column names come from this table only, never from input.
const LEASE_COLUMNS: Record<IndexKind, { owner: string; until: string }> = {
  full: { owner: 'lease_owner', until: 'lease_until' },
  shards: { owner: 'shards_lease_owner', until: 'shards_lease_until' },
};

/** Files deleted at or before a revision both index kinds have reached. */
async function safeDeletions(tx: Queryable, ref: SubdirRef): Promise<PendingFileDeletion[]> {
  return rows<PendingFileDeletion>(tx,
    `SELECT d.id, d.channel, d.subdir, d.filename FROM file_deletions d
     JOIN subdirs s ON s.channel_id = d.channel_id AND s.subdir = d.subdir
     WHERE d.channel_id = $1 AND d.subdir = $2 AND d.revision <= LEAST(s.indexed_revision, s.shards_revision)`, [ref.channelId, ref.subdir]);
}

export class PgIndexStateRepository implements IndexStateRepository {
  private cursors = 0;

  constructor(private readonly pool: Pool) {}

  async touch(channelId: number, subdir: string): Promise<void> {
    await inTransaction(this.pool, (tx) => bumpRevision(tx, channelId, subdir, []));
  }

  async get(channelId: number, subdir: string): Promise<SubdirState | null> {
    const r = await row<SubdirDbRow>(this.pool, `${SELECT_STATE} WHERE s.channel_id = $1 AND s.subdir = $2`, [channelId, subdir]);
    return r ? toState(r) : null;
  }

  async listForChannel(channelId: number): Promise<SubdirState[]> {
    return (await rows<SubdirDbRow>(this.pool, `${SELECT_STATE} WHERE s.channel_id = $1 ORDER BY s.subdir`, [channelId])).map(toState);
  }

  async dirty(): Promise<DirtySubdir[]> {
    const found = await rows<SubdirDbRow>(this.pool, `${SELECT_STATE} WHERE s.indexed_revision < s.revision OR s.shards_revision < s.revision`);
    return found.map(toDirtySubdir);
  }

  /**
   * One conditional UPDATE: PostgreSQL re-checks the WHERE on the row it
   * locks, so of several replicas asking at once exactly one gets a free or
   * expired lease. A replica that dies stops renewing; once the lease
   * expires another replica's poll takes the subdir over.
   */
  async tryLease(ref: SubdirRef, kind: IndexKind, owner: string, untilMs: number): Promise<boolean> {
    const { owner: o, until: u } = LEASE_COLUMNS[kind];
    return (await changes(this.pool,
      `UPDATE subdirs SET ${o} = $1, ${u} = $2
       WHERE channel_id = $3 AND subdir = $4 AND (${o} IS NULL OR ${u} < $5 OR ${o} = $1)`,
      [owner, untilMs, ref.channelId, ref.subdir, Date.now()])) === 1;
  }

  async snapshot(ref: SubdirRef): Promise<IndexSnapshot> {
    // A client of its own, held for the snapshot's life: REPEATABLE READ
    // gives every statement of the pass the same view of the subdir, and
    // the pool keeps serving requests on its other clients meanwhile.
    const client = await this.pool.connect();
    const { channelId, subdir } = ref;
    let revision: number;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      revision = (await row<{ revision: number }>(client, 'SELECT revision FROM subdirs WHERE channel_id = $1 AND subdir = $2', [channelId, subdir]))?.revision ?? 0;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      client.release(true);
      throw err;
    }
    let closed = false;
    const nextCursor = () => `snapshot_records_${++this.cursors}`;
    return {
      revision,
      removed: async () => (await rows<{ filename: string }>(client,
        `SELECT filename FROM packages WHERE channel_id = $1 AND subdir = $2 AND yanked_reason IS NOT NULL ORDER BY filename COLLATE "C"`,
        [channelId, subdir])).map((x) => x.filename),
      records: (format) => cursorBatches<SnapshotRecord>(client, nextCursor(),
        // COLLATE "C": byte order, as SQLite's BINARY and conda-index's sort_keys give.
        `SELECT filename, record_json AS "recordJson", run_exports_json AS "runExportsJson" FROM packages
         WHERE channel_id = $1 AND subdir = $2 AND format = $3 AND yanked_reason IS NULL ORDER BY filename COLLATE "C"`,
        [channelId, subdir, format]),
      dirtyNames: async () => (await rows<{ name: string }>(client,
        'SELECT name FROM dirty_names WHERE channel_id = $1 AND subdir = $2 AND revision <= $3 ORDER BY name COLLATE "C"',
        [channelId, subdir, revision])).map((x) => x.name),
      nameRows: async (names) => {
        const out = new Map<string, NameRow[]>();
        const found = await rows<NameRow & { name: string }>(client,
          `SELECT name, filename, record_json AS "recordJson", run_exports_json AS "runExportsJson", yanked_reason IS NOT NULL AS yanked
           FROM packages WHERE channel_id = $1 AND subdir = $2 AND name = ANY($3::text[]) ORDER BY name, filename COLLATE "C"`,
          [channelId, subdir, names]);
        for (const { name, ...r } of found) {
          let list = out.get(name);
          if (!list) out.set(name, (list = []));
          list.push(r);
        }
        return out;
      },
      close: async () => {
        if (closed) return;
        closed = true;
        let broken: Error | undefined;
        await client.query('COMMIT').catch((e: Error) => (broken = e));
        client.release(broken);
      },
    };
  }

  async finishIndex(ref: SubdirRef, owner: string, w: { revision: number; sha256: string; sizeBytes: number; at: number }): Promise<PendingFileDeletion[]> {
    return inTransaction(this.pool, async (tx) => {
      const changed = await changes(tx,
        `UPDATE subdirs SET indexed_revision = GREATEST(indexed_revision, $1), repodata_sha256 = $2,
           repodata_size = $3, indexed_at = $4, lease_owner = NULL, lease_until = NULL
         WHERE channel_id = $5 AND subdir = $6 AND lease_owner = $7`,
        [w.revision, w.sha256, w.sizeBytes, w.at, ref.channelId, ref.subdir, owner]);
      // Lost the lease (it expired and another process took over): what we
      // wrote may be older than theirs, so claim nothing.
      return changed === 0 ? [] : safeDeletions(tx, ref);
    });
  }

  async finishShards(ref: SubdirRef, owner: string, w: { revision: number; shards: ShardRow[]; at: number }, opts: { listLive: boolean }): Promise<Array<[string, string]> | null> {
    const { channelId, subdir } = ref;
    // The last row of a name wins, as it would written one by one.
    const byName = new Map(w.shards.map((s) => [s.name, s.sha256]));
    const names = [...byName.keys()];
    const live = names.filter((n) => byName.get(n) !== null);
    const liveShas = live.map((n) => byName.get(n)!);
    return inTransaction(this.pool, async (tx) => {
      // The row stays locked to the commit: no other process takes the lease over meanwhile.
      const held = await rows(tx, 'SELECT 1 FROM subdirs WHERE channel_id = $1 AND subdir = $2 AND shards_lease_owner = $3 FOR UPDATE',
        [channelId, subdir, owner]);
      if (held.length === 0) return null;
      const before = await rows<{ name: string; sha256: string }>(tx,
        'SELECT name, sha256 FROM shards WHERE channel_id = $1 AND subdir = $2 AND name = ANY($3::text[])', [channelId, subdir, names]);
      const gone = names.filter((n) => byName.get(n) === null);
      if (gone.length > 0) {
        await tx.query('DELETE FROM shards WHERE channel_id = $1 AND subdir = $2 AND name = ANY($3::text[])', [channelId, subdir, gone]);
      }
      if (live.length > 0) {
        await tx.query(
          `INSERT INTO shards (channel_id, subdir, name, sha256) SELECT $1, $2, n, h FROM unnest($3::text[], $4::text[]) AS x(n, h)
           ON CONFLICT (channel_id, subdir, name) DO UPDATE SET sha256 = excluded.sha256`, [channelId, subdir, live, liveShas]);
        await tx.query(
          `INSERT INTO shard_files (channel_id, subdir, sha256, superseded_at) SELECT DISTINCT $1::bigint, $2::text, h, NULL::bigint FROM unnest($3::text[]) AS h
           ON CONFLICT (channel_id, subdir, sha256) DO UPDATE SET superseded_at = NULL`, [channelId, subdir, liveShas]);
      }
      // A replaced shard file stays downloadable (superseded) unless another name still uses it.
      const replaced = before.filter((b) => b.sha256 !== byName.get(b.name)).map((b) => b.sha256);
      if (replaced.length > 0) {
        await tx.query(
          `UPDATE shard_files SET superseded_at = $1 WHERE channel_id = $2 AND subdir = $3 AND sha256 = ANY($4::text[])
           AND NOT EXISTS (SELECT 1 FROM shards s WHERE s.channel_id = shard_files.channel_id AND s.subdir = shard_files.subdir AND s.sha256 = shard_files.sha256)`,
          [w.at, channelId, subdir, replaced]);
      }
      await tx.query('DELETE FROM dirty_names WHERE channel_id = $1 AND subdir = $2 AND revision <= $3', [channelId, subdir, w.revision]);
      if (!opts.listLive) return [];
      return (await rows<{ name: string; sha256: string }>(tx,
        'SELECT name, sha256 FROM shards WHERE channel_id = $1 AND subdir = $2 ORDER BY name COLLATE "C"', [channelId, subdir]))
        .map((r) => [r.name, r.sha256] as [string, string]);
    });
  }

  async publishShardIndex(ref: SubdirRef, owner: string, w: { revision: number; sha256: string }): Promise<PendingFileDeletion[]> {
    return inTransaction(this.pool, async (tx) => {
      const changed = await changes(tx,
        `UPDATE subdirs SET shards_revision = GREATEST(shards_revision, $1), shard_index_sha256 = $2
         WHERE channel_id = $3 AND subdir = $4 AND shards_lease_owner = $5`, [w.revision, w.sha256, ref.channelId, ref.subdir, owner]);
      return changed === 0 ? [] : safeDeletions(tx, ref);
    });
  }

  async collectableShards(ref: SubdirRef, supersededBefore: number): Promise<string[]> {
    return (await rows<{ sha256: string }>(this.pool,
      'SELECT sha256 FROM shard_files WHERE channel_id = $1 AND subdir = $2 AND superseded_at IS NOT NULL AND superseded_at < $3',
      [ref.channelId, ref.subdir, supersededBefore])).map((r) => r.sha256);
  }

  async forgetShardFile(ref: SubdirRef, sha256: string): Promise<void> {
    await this.pool.query('DELETE FROM shard_files WHERE channel_id = $1 AND subdir = $2 AND sha256 = $3 AND superseded_at IS NOT NULL',
      [ref.channelId, ref.subdir, sha256]);
  }

  async releaseLease(ref: SubdirRef, kind: IndexKind, owner: string): Promise<void> {
    await this.release(ref.channelId, ref.subdir, kind, owner);
  }

  private async release(channelId: number, subdir: string, kind: IndexKind, owner: string): Promise<number> {
    const { owner: o, until: u } = LEASE_COLUMNS[kind];
    return changes(this.pool, `UPDATE subdirs SET ${o} = NULL, ${u} = NULL WHERE channel_id = $1 AND subdir = $2 AND ${o} = $3`,
      [channelId, subdir, owner]);
  }

  async forgetDeletions(ids: number[]): Promise<void> {
    if (ids.length > 0) await this.pool.query('DELETE FROM file_deletions WHERE id = ANY($1::bigint[])', [ids]);
  }

  /**
   * Many replicas share the table: isDead only judges owners on this host
   * (a pid means nothing elsewhere), so other hosts' leases are left to
   * expire. Each release is conditional on the owner, so a lease retaken
   * meanwhile is not touched.
   */
  async releaseDeadLeases(isDead: (owner: string, hostname: string) => boolean): Promise<number> {
    const host = hostname();
    const leases = await rows<{ channel_id: number; subdir: string; owner: string; kind: IndexKind }>(this.pool,
      `SELECT channel_id, subdir, lease_owner AS owner, 'full' AS kind FROM subdirs WHERE lease_owner IS NOT NULL
       UNION ALL SELECT channel_id, subdir, shards_lease_owner, 'shards' FROM subdirs WHERE shards_lease_owner IS NOT NULL`);
    let released = 0;
    for (const l of leases) {
      if (isDead(l.owner, host)) released += await this.release(l.channel_id, l.subdir, l.kind, l.owner);
    }
    return released;
  }

  async markSubdirsWithPendingDeletions(): Promise<number> {
    const subdirs = await rows<{ channel_id: number; subdir: string }>(this.pool, 'SELECT DISTINCT channel_id, subdir FROM file_deletions');
    for (const s of subdirs) await inTransaction(this.pool, (tx) => bumpRevision(tx, s.channel_id, s.subdir, []));
    return subdirs.length;
  }
}

const BATCH = 512;

/**
 * Streams a query through a server-side cursor inside the snapshot's
 * transaction, BATCH rows a round trip: memory stays flat however large the
 * subdir, and no extra dependency (pg-cursor) is needed.
 */
async function* cursorBatches<T>(client: Queryable, name: string, sql: string, values: unknown[]): AsyncGenerator<T[]> {
  await client.query(`DECLARE ${name} NO SCROLL CURSOR FOR ${sql}`, values);
  try {
    for (;;) {
      const batch = await rows<T & Record<string, unknown>>(client, `FETCH ${BATCH} FROM ${name}`);
      if (batch.length > 0) yield batch;
      if (batch.length < BATCH) break;
    }
  } finally {
    await client.query(`CLOSE ${name}`).catch(() => {});
  }
}
