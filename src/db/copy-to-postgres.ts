// The rows half of `channeld migrate-storage`: a data folder's SQLite file,
// read in one read transaction (one consistent snapshot under WAL, opened
// read-only: a live server may keep writing it), copied as it is, ids
// included, into PostgreSQL in one transaction, so the target holds the
// whole snapshot or nothing. The CLI around it copies the objects and talks
// to the operator.
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations/index.js';
import { inTransaction, openPostgres, type Pool, type PoolClient } from './postgres/database.js';

/** A refusal whose message is for the operator. */
export class RowCopyRefused extends Error {}

/** A package file the snapshot lists, and what its bytes must hash to. */
export interface ListedPackage {
  channel: string;
  subdir: string;
  filename: string;
  sha256: string;
  sizeBytes: number;
}

/** A subdir of the copy and the index generations its row points at (0: none yet). */
export interface CopiedSubdir {
  channelId: number;
  channel: string;
  subdir: string;
  indexedRevision: number;
  shardsRevision: number;
}

export interface RowCopy {
  /** Rows in the snapshot, every table together. */
  readonly rowCount: number;
  /** The snapshot's package files (read from the same snapshot as the rows). */
  packages(): Iterable<ListedPackage>;
  /** Copies every table (replacing the target's rows when resuming) and ends the snapshot; rows copied per table. */
  copyRows(progressed: (rows: number) => void): Promise<Array<{ table: string; rows: number }>>;
  copiedSubdirs(): Promise<CopiedSubdir[]>;
  /** The first server on the target rewrites this subdir's index (servers index dirty subdirs before they listen). */
  markForReindex(s: Pick<CopiedSubdir, 'channelId' | 'subdir'>): Promise<void>;
  close(): Promise<void>;
}

/** Tables in the order the migrations create them: every foreign key points to an earlier one (or to itself). */
export function tablesInMigrationOrder(): string[] {
  const tables: string[] = [];
  for (const m of MIGRATIONS) {
    for (const match of m.sql.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?(\w+)/g)) {
      if (!tables.includes(match[1]!)) tables.push(match[1]!);
    }
  }
  return tables;
}

const q = (ident: string): string => `"${ident.replace(/"/g, '""')}"`;

/**
 * Opens the source read-only at this channeld's schema version and the
 * target, refusing a target that holds rows unless `resume`, and starts the
 * snapshot.
 */
export async function openRowCopy(file: string, databaseUrl: string, resume: boolean): Promise<RowCopy> {
  let sqlite: Database.Database;
  try {
    // Read-only: a live server keeps writing; this process never does.
    sqlite = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new RowCopyRefused(`cannot open ${file} read-only: ${(err as Error).message}`);
  }
  sqlite.pragma('busy_timeout = 10000');
  let pool: Pool | null = null;
  const close = async () => {
    if (sqlite.inTransaction) sqlite.exec('ROLLBACK');
    sqlite.close();
    await pool?.end();
  };
  try {
    const version = sqlite.pragma('user_version', { simple: true }) as number;
    const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    if (version !== latest) {
      throw new RowCopyRefused(`${file} is at schema version ${version}, this channeld at ${latest}: start this channeld's server (or any CLI command) on the data folder once to bring it up to date, then migrate`);
    }
    const target = (pool = await openPostgres(databaseUrl));
    const tables = tablesInMigrationOrder();
    await checkTarget(target, tables, resume);

    // One read transaction: every table comes from the same snapshot.
    sqlite.exec('BEGIN');
    const counts = tables.map((t) => (sqlite.prepare(`SELECT count(*) AS n FROM ${q(t)}`).get() as { n: number }).n);
    return {
      rowCount: counts.reduce((a, b) => a + b, 0),
      packages: () => listedPackages(sqlite),
      copyRows: async (progressed) => {
        const rows = await inTransaction(target, async (c) => {
          if (resume) await c.query(`TRUNCATE ${tables.map(q).join(', ')} RESTART IDENTITY CASCADE`);
          const done: Array<{ table: string; rows: number }> = [];
          for (const table of tables) done.push({ table, rows: await copyTable(sqlite, c, table, progressed) });
          await afterRows(c);
          return done;
        });
        sqlite.exec('COMMIT');
        return rows;
      },
      copiedSubdirs: async () => {
        const { rows } = await target.query<{ channel_id: number; channel: string; subdir: string; indexed_revision: number; shards_revision: number }>(
          `SELECT s.channel_id, c.name AS channel, s.subdir, s.indexed_revision, s.shards_revision
             FROM subdirs s JOIN channels c ON c.id = s.channel_id`);
        return rows.map((r) => ({
          channelId: r.channel_id, channel: r.channel, subdir: r.subdir,
          indexedRevision: Number(r.indexed_revision), shardsRevision: Number(r.shards_revision),
        }));
      },
      markForReindex: async (s) => {
        await target.query('UPDATE subdirs SET revision = revision + 1 WHERE channel_id = $1 AND subdir = $2', [s.channelId, s.subdir]);
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Refuses a target that already holds rows, unless resuming an earlier run. */
async function checkTarget(pool: Pool, tables: string[], resume: boolean): Promise<void> {
  const filled: string[] = [];
  for (const t of tables) {
    const { rows } = await pool.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${q(t)}) AS any`);
    if (rows[0]!.any) filled.push(t);
  }
  if (filled.length > 0 && !resume) {
    throw new RowCopyRefused(`the target database already holds data (${filled.join(', ')}); to finish an interrupted migrate-storage run, pass --resume (it REPLACES every row there with a fresh copy of the source)`);
  }
}

function* listedPackages(sqlite: Database.Database): Iterable<ListedPackage> {
  const stmt = sqlite.prepare(`SELECT c.name AS channel, p.subdir, p.filename, p.sha256, p.size_bytes
    FROM packages p JOIN channels c ON c.id = p.channel_id`);
  for (const r of stmt.iterate() as Iterable<{ channel: string; subdir: string; filename: string; sha256: string; size_bytes: number }>) {
    yield { channel: r.channel, subdir: r.subdir, filename: r.filename, sha256: r.sha256, sizeBytes: r.size_bytes };
  }
}

const BATCH_ROWS = 500;

/**
 * Copies one table's rows, as they are (ids included). Columns that point
 * into the same table (channels' relation_*_id) are written as NULL first
 * and set once every row exists, whatever order the ids come in.
 */
async function copyTable(sqlite: Database.Database, c: PoolClient, table: string, progressed: (n: number) => void): Promise<number> {
  const sourceCols = (sqlite.prepare(`PRAGMA table_info(${q(table)})`).all() as Array<{ name: string }>).map((r) => r.name);
  const { rows: targetRows } = await c.query<{ column_name: string }>(
    'SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1', [table]);
  const targetCols = new Set(targetRows.map((r) => r.column_name));
  const missing = sourceCols.filter((col) => !targetCols.has(col));
  if (missing.length > 0 || targetCols.size !== sourceCols.length) {
    throw new RowCopyRefused(`table ${table}: the source's columns (${sourceCols.join(', ')}) differ from the target's (${[...targetCols].join(', ')})`);
  }
  const selfRefs = (sqlite.prepare(`PRAGMA foreign_key_list(${q(table)})`).all() as Array<{ table: string; from: string }>)
    .filter((fk) => fk.table === table).map((fk) => fk.from);
  const keyCols = (sqlite.prepare(`PRAGMA table_info(${q(table)})`).all() as Array<{ name: string; pk: number }>)
    .filter((r) => r.pk > 0).map((r) => r.name);

  const insertCols = sourceCols.map(q).join(', ');
  let batch: unknown[][] = [];
  let total = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const values: unknown[] = [];
    const tuples = batch.map((row) => `(${row.map((v) => { values.push(v); return `$${values.length}`; }).join(', ')})`);
    await c.query(`INSERT INTO ${q(table)} (${insertCols}) VALUES ${tuples.join(', ')}`, values);
    progressed(batch.length);
    batch = [];
  };
  const stmt = sqlite.prepare(`SELECT ${insertCols} FROM ${q(table)}`).raw(true);
  for (const row of stmt.iterate() as Iterable<unknown[]>) {
    batch.push(row.map((v, i) => (selfRefs.includes(sourceCols[i]!) ? null : v)));
    total++;
    if (batch.length >= BATCH_ROWS) await flush();
  }
  await flush();

  if (selfRefs.length > 0) {
    const cols = [...keyCols, ...selfRefs];
    const where = keyCols.map((k, i) => `${q(k)} = $${i + 1}`).join(' AND ');
    const set = selfRefs.map((s, i) => `${q(s)} = $${keyCols.length + i + 1}`).join(', ');
    const refs = sqlite.prepare(`SELECT ${cols.map(q).join(', ')} FROM ${q(table)} WHERE ${selfRefs.map((s) => `${q(s)} IS NOT NULL`).join(' OR ')}`).raw(true);
    for (const row of refs.all() as unknown[][]) await c.query(`UPDATE ${q(table)} SET ${set} WHERE ${where}`, row);
  }
  return total;
}

/** What must differ in the target once the rows are in. */
async function afterRows(c: PoolClient): Promise<void> {
  // Index leases and upload intents name processes of the source install,
  // which will never touch the target. Leases are released; intents lose
  // their owner, so the first replica to start settles them as start-up
  // recovery would have on the source (finished if the file copied is the
  // one the intent describes, dropped otherwise).
  await c.query(`UPDATE subdirs SET lease_owner = NULL, lease_until = NULL, shards_lease_owner = NULL, shards_lease_until = NULL`);
  await c.query('UPDATE upload_intents SET owner = NULL');
  // Rows came with their ids; identity sequences must start past them.
  const { rows } = await c.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND is_identity = 'YES'`);
  for (const r of rows) {
    await c.query(`SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT max(${q(r.column_name)}) FROM ${q(r.table_name)}), 0) + 1, false)`,
      [q(r.table_name), r.column_name]);
  }
}
