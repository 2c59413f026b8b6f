// Which backends the suite runs against, chosen by environment:
//   CHANNELD_TEST_DATABASE=postgres  every data folder a test uses gets a
//     fresh PostgreSQL database (channeld_t_<hash of the folder>) on
//     CHANNELD_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres),
//     handed to the server or CLI as CHANNELD_DATABASE_URL.
//   CHANNELD_TEST_STORAGE=s3  every data folder gets a bucket of its own on
//     one s3rver (an in-process S3 stand-in, started once per test process),
//     handed over as CHANNELD_STORAGE_URL and friends.
//   unset: the SQLite file and the folder store in the data folder.
// Both follow the data folder, not the server: a test that stops a server
// and starts another (or runs the CLI) on the same folder sees the same
// data. Databases are dropped when the test process exits.
import crypto, { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import pg from 'pg';
import S3rver from 's3rver';
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

/** The env a server or CLI on this data folder needs for the database under test ({} for SQLite). */
export async function databaseEnv(dataDir: string): Promise<Record<string, string>> {
  if (!onPostgres) return {};
  return { CHANNELD_DATABASE_URL: await postgresUrlFor(dataDir) };
}

/**
 * A fresh PostgreSQL database for this data folder whatever the suite's
 * database (for tests that need PostgreSQL as such, e.g. migrate-storage's
 * target); the same one databaseEnv hands out, dropped at exit.
 */
export async function postgresUrlFor(dataDir: string): Promise<string> {
  const dir = path.resolve(dataDir);
  let url = created.get(dir);
  if (url === undefined) {
    const name = databaseName(dir);
    if (names.length === 0) process.once('exit', dropAll);
    names.push(name);
    url = createDatabase(name);
    created.set(dir, url);
  }
  return url;
}

/** Whether PostgreSQL answers at the suite's admin URL (tests that need it skip, with a reason, when it does not). */
export async function postgresReachable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `PostgreSQL is unreachable at ${adminUrl}: ${(err as Error).message}` };
  } finally {
    await client.end().catch(() => {});
  }
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
  const client = new pg.Client({ connectionString: (await databaseEnv(dataDir)).CHANNELD_DATABASE_URL });
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

// ---------------------------------------------------------------------------
// Object storage

// s3rver encrypts ListObjectsV2 continuation tokens with DES, which the
// OpenSSL 3 in Node 20 refuses ("digital envelope routines::unsupported"),
// so every listing past 1000 keys fails with a 500. Only s3rver asks for
// DES, and the token only has to round-trip through s3rver itself: give it
// AES with the 8-byte key and IV doubled.
const des = <T>(create: (alg: string, key: Buffer, iv: Buffer) => T) =>
  (alg: string, key: Buffer, iv: Buffer): T => (alg === 'des' ? create('aes-128-cbc', Buffer.concat([key, key]), Buffer.concat([iv, iv])) : create(alg, key, iv));
const c = crypto as unknown as Record<'createCipheriv' | 'createDecipheriv', (alg: string, key: Buffer, iv: Buffer) => unknown>;
c.createCipheriv = des(c.createCipheriv.bind(crypto));
c.createDecipheriv = des(c.createDecipheriv.bind(crypto));

export const testStorage: 'folder' | 's3' = process.env.CHANNELD_TEST_STORAGE === 's3' ? 's3' : 'folder';

/** Skip-option for tests that cannot apply to S3 storage: `{ skip: onlyOnFolder('reason') }`. */
export const onlyOnFolder = (reason: string): string | false => (testStorage === 's3' ? `not on S3 storage: ${reason}` : false);

export const S3RVER_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' } as const;

export interface S3Double {
  endpoint: string;
  /** s3rver's own folder: <directory>/<bucket>/… holds objects and unfinished uploads. */
  directory: string;
  client: S3Client;
  /** Creates an empty bucket with a fresh name. */
  newBucket(): Promise<string>;
  close(): Promise<void>;
}

/** Starts s3rver on a random loopback port with its own temp folder. */
export async function startS3Double(): Promise<S3Double> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'channeld-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  const address = await server.run();
  // Never keeps a test process alive once its tests are done.
  (server as unknown as { httpServer: { unref(): void } }).httpServer.unref();
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({
    endpoint, forcePathStyle: true, region: S3RVER_CREDENTIALS.AWS_REGION,
    credentials: { accessKeyId: S3RVER_CREDENTIALS.AWS_ACCESS_KEY_ID, secretAccessKey: S3RVER_CREDENTIALS.AWS_SECRET_ACCESS_KEY },
  });
  return {
    endpoint,
    directory,
    client,
    async newBucket() {
      const name = `t-${randomBytes(8).toString('hex')}`;
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    async close() {
      client.destroy();
      await server.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** What points a server or CLI run at a new, empty bucket on this s3rver. */
export async function s3Env(s3: S3Double, prefix = 'channels'): Promise<Record<string, string>> {
  return {
    CHANNELD_STORAGE_URL: `s3://${await s3.newBucket()}/${prefix}`,
    CHANNELD_S3_ENDPOINT: s3.endpoint,
    CHANNELD_S3_FORCE_PATH_STYLE: 'true',
    ...S3RVER_CREDENTIALS,
  };
}

let shared: Promise<S3Double> | null = null;
const bucketOf = new Map<string, Promise<Record<string, string>>>();

/**
 * Environment that points the servers and CLI runs of one data folder at its
 * storage: nothing for the folder store; for S3, a bucket of its own on the
 * shared s3rver, the same one every time that data folder is used again (a
 * restart, a CLI command beside a server).
 */
export function storageEnv(dataDir: string): Promise<Record<string, string>> {
  if (testStorage !== 's3') return Promise.resolve({});
  const key = path.resolve(dataDir);
  let env = bucketOf.get(key);
  if (!env) {
    env = (async () => {
      shared ??= startS3Double();
      return s3Env(await shared);
    })();
    bucketOf.set(key, env);
  }
  return env;
}

/** The env a server or CLI on this data folder needs for every backend under test. */
export async function backendEnv(dataDir: string): Promise<Record<string, string>> {
  return { ...(await databaseEnv(dataDir)), ...(await storageEnv(dataDir)) };
}
