// The two dialects' migrations are written by hand, a file each per version
// (src/db/migrations/). Migrated from nothing, both databases must have the
// same tables, the same columns with the same (mapped) types, nullability
// and primary keys, and the same indexes — but for the few differences made
// on purpose, each listed below with its reason; the list is exact: one that
// goes away must leave it too.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { openSqlite } from '../../src/db/sqlite/database.js';
import { MIGRATIONS } from '../../src/db/migrations/index.js';
import { migrate, openPostgres } from '../../src/db/postgres/database.js';
import { postgresReachable, postgresUrlFor } from '../helpers/backends.js';
import { tempDataDir } from '../helpers/server.js';

const reachable = await postgresReachable();
const skip = reachable.ok ? false : reachable.reason;

interface Column { type: string; notNull: boolean; primaryKey: boolean }
interface Schema {
  /** table → column → shape */
  tables: Map<string, Map<string, Column>>;
  /** "table: [unique ](col, col, …)" for every index but primary keys' */
  indexes: Set<string>;
}

/** SQLite declared type → the PostgreSQL type the conventions give it. */
const SQLITE_TO_PG: Record<string, string[]> = {
  INTEGER: ['bigint', 'integer'],
  TEXT: ['text'],
  REAL: ['double precision'],
  BLOB: ['bytea'],
};

// Made on purpose (see the migrations named).
const ONLY_IN_SQLITE = new Set([
  // 0009: a covering index for full rewrites; PostgreSQL stores about_json out of line and caps btree entries.
  'packages: (channel_id, subdir, format, filename, yanked_reason, record_json, run_exports_json)',
]);
const ONLY_IN_POSTGRES = new Set([
  // 0009: packages_by_format, which SQLite's covering index replaced.
  'packages: (channel_id, subdir, format, filename)',
]);

function sqliteSchema(file: string): Schema {
  const db = openSqlite(file);
  try {
    const tables = new Map<string, Map<string, Column>>();
    const indexes = new Set<string>();
    const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
    for (const table of names) {
      const columns = new Map<string, Column>();
      for (const c of db.pragma(`table_info(${table})`) as Array<{ name: string; type: string; notnull: number; pk: number }>) {
        columns.set(c.name, { type: c.type.toUpperCase(), notNull: c.notnull === 1 || c.pk > 0, primaryKey: c.pk > 0 });
      }
      tables.set(table, columns);
      for (const ix of db.pragma(`index_list(${table})`) as Array<{ name: string; unique: number; origin: string }>) {
        if (ix.origin === 'pk') continue;
        const cols = (db.pragma(`index_info(${ix.name})`) as Array<{ seqno: number; name: string | null }>)
          .sort((a, b) => a.seqno - b.seqno).map((c) => c.name ?? '(expression)');
        indexes.add(`${table}: ${ix.unique ? 'unique ' : ''}(${cols.join(', ')})`);
      }
    }
    return { tables, indexes };
  } finally {
    db.close();
  }
}

async function postgresSchema(pool: pg.Pool): Promise<Schema> {
  const tables = new Map<string, Map<string, Column>>();
  const columns = await pool.query<{ table_name: string; column_name: string; data_type: string; is_nullable: string }>(
    `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name <> 'schema_migrations' ORDER BY table_name, ordinal_position`);
  const keys = await pool.query<{ table_name: string; column_name: string }>(
    `SELECT k.table_name, k.column_name FROM information_schema.table_constraints t
       JOIN information_schema.key_column_usage k ON k.constraint_name = t.constraint_name AND k.table_schema = t.table_schema
      WHERE t.table_schema = 'public' AND t.constraint_type = 'PRIMARY KEY'`);
  const pk = new Set(keys.rows.map((k) => `${k.table_name}.${k.column_name}`));
  for (const c of columns.rows) {
    if (!tables.has(c.table_name)) tables.set(c.table_name, new Map());
    tables.get(c.table_name)!.set(c.column_name, {
      type: c.data_type, notNull: c.is_nullable === 'NO', primaryKey: pk.has(`${c.table_name}.${c.column_name}`),
    });
  }
  const indexes = new Set<string>();
  const found = await pool.query<{ table_name: string; is_unique: boolean; columns: string[] }>(
    `SELECT t.relname AS table_name, x.indisunique AS is_unique,
            array(SELECT coalesce(a.attname, '(expression)') FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)
                    LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS columns
       FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace s ON s.oid = t.relnamespace
      WHERE s.nspname = 'public' AND NOT x.indisprimary AND t.relname <> 'schema_migrations'`);
  for (const ix of found.rows) indexes.add(`${ix.table_name}: ${ix.is_unique ? 'unique ' : ''}(${ix.columns.join(', ')})`);
  return { tables, indexes };
}

describe('SQLite and PostgreSQL schemas, migrated from nothing', { skip }, () => {
  let sqlite: Schema;
  let postgres: Schema;
  let dataDir: string;

  before(async () => {
    dataDir = tempDataDir('channeld-parity-');
    sqlite = sqliteSchema(path.join(dataDir, 'parity.sqlite'));
    const pool = await openPostgres(await postgresUrlFor(dataDir));
    try {
      await migrate(pool);
      postgres = await postgresSchema(pool);
    } finally {
      await pool.end();
    }
  });
  after(() => {
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('both dialects have every version, in order', () => {
    assert.deepEqual(MIGRATIONS.map((m) => m.version), MIGRATIONS.map((_, i) => i + 1));
    assert.ok(MIGRATIONS.length >= 13);
  });

  it('have the same tables', () => {
    assert.deepEqual([...postgres.tables.keys()].sort(), [...sqlite.tables.keys()].sort());
    assert.ok(sqlite.tables.has('packages') && sqlite.tables.has('api_keys'), 'the schema was read');
  });

  it('have the same columns, types (mapped), nullability and primary keys', () => {
    for (const [table, columns] of sqlite.tables) {
      const other = postgres.tables.get(table)!;
      assert.deepEqual([...other.keys()].sort(), [...columns.keys()].sort(), `${table}: columns`);
      for (const [name, c] of columns) {
        const p = other.get(name)!;
        assert.ok((SQLITE_TO_PG[c.type] ?? []).includes(p.type), `${table}.${name}: ${c.type} on SQLite, ${p.type} on PostgreSQL`);
        assert.equal(p.notNull, c.notNull, `${table}.${name}: NOT NULL`);
        assert.equal(p.primaryKey, c.primaryKey, `${table}.${name}: primary key`);
      }
    }
  });

  it('have the same indexes, but for the differences made on purpose', () => {
    const onlySqlite = [...sqlite.indexes].filter((i) => !postgres.indexes.has(i)).sort();
    const onlyPostgres = [...postgres.indexes].filter((i) => !sqlite.indexes.has(i)).sort();
    assert.deepEqual(onlySqlite, [...ONLY_IN_SQLITE].sort(), 'indexes only SQLite has');
    assert.deepEqual(onlyPostgres, [...ONLY_IN_POSTGRES].sort(), 'indexes only PostgreSQL has');
    assert.ok(sqlite.indexes.size > 10, `${sqlite.indexes.size} indexes read`);
  });
});
