// Which backends the suite runs against, chosen by environment:
//   CHANNELD_TEST_DATABASE=postgres  every data folder a test uses gets a
//     fresh PostgreSQL database (channeld_t_<hash of the folder>) on
//     CHANNELD_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres),
//     handed to the server or CLI as CHANNELD_DATABASE_URL.
//   unset: the SQLite file in the data folder.
// The database follows the data folder, not the server: a test that stops a
// server and starts another (or runs the CLI) on the same folder sees the
// same data, as with SQLite. Databases are dropped when the test process exits.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { repoRoot } from './paths.js';

export const testDatabase = process.env.CHANNELD_TEST_DATABASE === 'postgres' ? 'postgres' : 'sqlite';
export const onPostgres = testDatabase === 'postgres';
const adminUrl = process.env.CHANNELD_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** Data folder → its database's URL (a promise, so concurrent first uses create it once). */
const created = new Map<string, Promise<string>>();
const names: string[] = [];

function databaseName(dataDir: string): string {
  return `channeld_t_${createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 20)}`;
}

async function createDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  try {
    await admin.connect();
  } catch (err) {
    // Loud on purpose: a PostgreSQL run without PostgreSQL must not pass.
    throw new Error(`CHANNELD_TEST_DATABASE=postgres but PostgreSQL is unreachable at ${adminUrl}: ${(err as Error).message}`);
  }
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.href;
}

/** The env a server or CLI on this data folder needs for the backends under test ({} for SQLite). */
export async function backendEnv(dataDir: string): Promise<Record<string, string>> {
  if (!onPostgres) return {};
  const dir = path.resolve(dataDir);
  let url = created.get(dir);
  if (url === undefined) {
    const name = databaseName(dir);
    if (names.length === 0) process.once('exit', dropAll);
    names.push(name);
    url = createDatabase(name);
    created.set(dir, url);
  }
  return { CHANNELD_DATABASE_URL: await url };
}

/** Drops this process's databases; runs at exit, so synchronously through a short-lived node. */
function dropAll(): void {
  const script = `
    const pg = require('pg');
    const c = new pg.Client({ connectionString: process.argv[1] });
    c.connect().then(async () => {
      for (const n of process.argv.slice(2)) await c.query('DROP DATABASE IF EXISTS ' + n + ' WITH (FORCE)');
      await c.end();
    }).catch((e) => { console.error(e.message); process.exit(1); });`;
  spawnSync(process.execPath, ['-e', script, adminUrl, ...names.splice(0)], { cwd: repoRoot, stdio: 'inherit', timeout: 30_000 });
}

/** The data folder a CLI invocation uses: --data, else CHANNELD_DATA_DIR, else ./data. */
export function cliDataDir(args: string[], env: Record<string, string | undefined>): string {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--data' && args[i + 1] !== undefined) return path.resolve(args[i + 1]!);
    if (args[i]!.startsWith('--data=')) return path.resolve(args[i]!.slice('--data='.length));
  }
  return path.resolve(env.CHANNELD_DATA_DIR ?? './data');
}

/**
 * Runs a read-only query on whichever database holds this data folder's
 * metadata (for tests that inspect stored rows). Use SQL both engines read alike.
 */
export async function queryRows(dataDir: string, sql: string): Promise<Array<Record<string, unknown>>> {
  if (!onPostgres) {
    const db = new Database(path.join(dataDir, 'channeld.db'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all() as Array<Record<string, unknown>>;
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: (await backendEnv(dataDir)).CHANNELD_DATABASE_URL });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Array<Record<string, unknown>>;
  } finally {
    await client.end();
  }
}

/** True when the data folder's metadata lives in files inside it (SQLite), so its raw bytes can be inspected. */
export function metadataFiles(dataDir: string): string[] {
  if (onPostgres) return [];
  const file = path.join(dataDir, 'channeld.db');
  return ['', '-wal', '-shm'].map((suffix) => file + suffix).filter((f) => fs.existsSync(f));
}
