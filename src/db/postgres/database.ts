// Opens a PostgreSQL pool and brings its schema up to date. Several replicas
// may start at once: migrations run under a transaction-scoped advisory lock,
// so exactly one of them applies each version and the others wait, then see
// it applied.
import pg from 'pg';
import { MIGRATIONS } from '../migrations/index.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** Anything that runs a statement: the pool, or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

// PostgreSQL text cannot hold NUL, so no stored value can equal a string
// with one: a lookup by such a value (a channel name from a URL, say) finds
// nothing, as on SQLite, instead of failing with an encoding error.
const holdsNul = (values: unknown[]): boolean =>
  values.some((v) => (typeof v === 'string' && v.includes('\0')) || (Array.isArray(v) && holdsNul(v)));
const isRead = (sql: string): boolean => /^\s*(SELECT|WITH)\b/i.test(sql);

export async function rows<R extends pg.QueryResultRow>(db: Queryable, sql: string, values: unknown[] = []): Promise<R[]> {
  if (isRead(sql) && holdsNul(values)) return [];
  return (await db.query<R>(sql, values)).rows;
}

export async function row<R extends pg.QueryResultRow>(db: Queryable, sql: string, values: unknown[] = []): Promise<R | undefined> {
  return (await rows<R>(db, sql, values))[0];
}

export async function changes(db: Queryable, sql: string, values: unknown[] = []): Promise<number> {
  return (await db.query(sql, values)).rowCount ?? 0;
}

/**
 * BIGINT (ids, ms timestamps, sizes) and NUMERIC (sum() of BIGINT) come back
 * as JS numbers, so rows map exactly as SQLite's do. Set on this pool's own
 * type table, not pg's global one, so other pg users in the process are not
 * affected.
 */
function typeParsers(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  const toNumber = (text: string): number => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) && !(Number.isFinite(n) && text.includes('.'))) {
      throw new Error(`database value ${text} does not fit a JS number`);
    }
    return n;
  };
  types.setTypeParser(pg.types.builtins.INT8, toNumber);
  types.setTypeParser(pg.types.builtins.NUMERIC, toNumber);
  return types;
}

export async function openPostgres(url: string): Promise<Pool> {
  const pool = new pg.Pool({ connectionString: url, types: typeParsers(), max: 10 });
  // An idle client's connection dropping (server restart, failover) is
  // reported here; the pool discards it and the next query reconnects.
  pool.on('error', () => {});
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  return pool;
}

export async function migrate(pool: Pool): Promise<void> {
  await inTransaction(pool, async (c) => {
    await c.query(`SELECT pg_advisory_xact_lock(hashtext('channeld:migrate'))`);
    await c.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    const current = (await row<{ v: number | null }>(c, 'SELECT max(version) AS v FROM schema_migrations'))?.v ?? 0;
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      await c.query(m.pg);
      await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
    }
  });
}

// Deadlocks and serialization failures are the database's way of saying
// "try again"; the work inside a transaction touches only the database, so
// it can be run again as is.
const RETRYABLE = new Set(['40001', '40P01']);

/** Runs fn inside BEGIN … COMMIT on one pooled client (ROLLBACK if it throws). */
export async function inTransaction<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const c = await pool.connect();
    let broken: Error | undefined;
    try {
      await c.query(begin);
      const result = await fn(c);
      await c.query('COMMIT');
      return result;
    } catch (err) {
      await c.query('ROLLBACK').catch((e: Error) => (broken = e));
      if (attempt < 5 && RETRYABLE.has((err as { code?: string }).code ?? '')) continue;
      throw err;
    } finally {
      c.release(broken);
    }
  }
}
