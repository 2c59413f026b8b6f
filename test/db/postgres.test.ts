// PostgreSQL-only behaviour: what several replicas sharing one database rely
// on (one migration, one upload winner, one lease holder), and what makes
// rows and order the same as on SQLite (numbers, byte order). Runs with
// CHANNELD_TEST_DATABASE=postgres; without it the suite says it skipped.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import pg from 'pg';
import { MIGRATIONS } from '../../src/db/migrations/index.js';
import { createPostgresRepositories } from '../../src/db/postgres/index.js';
import type { Repositories } from '../../src/db/repositories.js';
import type { PackageFile } from '../../src/types.js';
import { backendEnv, onPostgres, queryRows } from '../helpers/backends.js';
import { runCli, tempDataDir } from '../helpers/server.js';

const skip = onPostgres ? false : 'PostgreSQL-only (set CHANNELD_TEST_DATABASE=postgres)';
const adminUrl = process.env.CHANNELD_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

function file(channelId: number, filename: string, extra: Partial<PackageFile> = {}): PackageFile {
  const name = filename.replace(/-[^-]+-[^-]+\.(tar\.bz2|conda)$/, '');
  return {
    channelId, subdir: 'noarch', filename, format: filename.endsWith('.conda') ? 'conda' : 'tar.bz2', name, version: '1', build: '0',
    buildNumber: 0, sizeBytes: 10, sha256: 'a'.repeat(64), md5: 'b'.repeat(32), indexJson: '{}', aboutJson: null,
    runExportsJson: null, recordJson: JSON.stringify({ name }), uploadedBy: null, ...extra,
  };
}

/** Two pools on one fresh database: two replicas, as far as the database can tell. */
async function twoReplicas(): Promise<{ a: Repositories; b: Repositories; channelId: number; dataDir: string }> {
  const dataDir = tempDataDir('channeld-pg-');
  const url = (await backendEnv(dataDir)).CHANNELD_DATABASE_URL!;
  const a = await createPostgresRepositories(url);
  const b = await createPostgresRepositories(url);
  const owner = (await a.users.create('owner', true))!;
  const channel = (await a.channels.create({ name: 'shared', ownerId: owner.id, isPublic: true, description: null }))!;
  return { a, b, channelId: channel.id, dataDir };
}

describe('PostgreSQL backend', { skip }, () => {
  const open: Repositories[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const r of open) await r.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const replicas = async () => {
    const r = await twoReplicas();
    open.push(r.a, r.b);
    dirs.push(r.dataDir);
    return r;
  };

  test('processes starting together on an empty database migrate it exactly once', async () => {
    const dataDir = tempDataDir('channeld-pg-migrate-');
    dirs.push(dataDir);
    // Three CLI processes at once, each opening (and so migrating) the same database.
    const results = await Promise.all(['u1', 'u2', 'u3'].map((login) => runCli(['user', 'create', login, '--data', dataDir])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const applied = await queryRows(dataDir, 'SELECT version FROM schema_migrations ORDER BY version');
    assert.deepEqual(applied.map((r) => r.version), MIGRATIONS.map((m) => m.version));
    assert.equal((await queryRows(dataDir, 'SELECT count(*)::int AS n FROM users'))[0]!.n, 3);
  });

  test('reserveUpload: one winner among concurrent replicas, and none once the winner commits', async () => {
    const { a, b, channelId } = await replicas();
    for (let round = 0; round < 5; round++) {
      const f = file(channelId, `race${round}-1-0.tar.bz2`);
      const first = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).packages.reserveUpload(f, false, 'test:1:a')));
      assert.equal(first.filter((r) => r === 'reserved').length, 1, first.join());
      assert.ok(first.every((r) => r === 'reserved' || r === 'in-progress'), first.join());
      // The winner commits while the others keep trying: nobody may reserve a filename that now exists.
      const during = Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? b : a).packages.reserveUpload(f, false, 'test:1:a')));
      await a.packages.commitUpload(channelId, 'noarch', f.filename);
      const second = await during;
      assert.equal(second.filter((r) => r === 'reserved').length, 0, second.join());
      assert.equal(await b.packages.reserveUpload(f, false, 'test:1:a'), 'exists');
    }
  });

  test('a lease is held by one replica at a time, and taken over once it expires', async () => {
    const { a, b, channelId } = await replicas();
    const ref = { channelId, channel: 'shared', subdir: 'noarch' };
    for (const kind of ['full', 'shards'] as const) {
      const until = Date.now() + 60_000;
      const won = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).indexState.tryLease(ref, kind, `host:${i}:x`, until)));
      assert.equal(won.filter(Boolean).length, 1, `${kind}: ${won.join()}`);
      const holder = `host:${won.indexOf(true)}:x`;
      assert.equal(await a.indexState.tryLease(ref, kind, holder, until), true, 'the holder renews');
      // The holder dies: its lease runs out and another replica takes the subdir.
      assert.equal(await a.indexState.tryLease(ref, kind, holder, Date.now() - 1), true);
      assert.equal(await b.indexState.tryLease(ref, kind, 'other:1:y', Date.now() + 60_000), true);
      assert.equal(await a.indexState.tryLease(ref, kind, holder, Date.now() + 60_000), false);
      await b.indexState.releaseLease(ref, kind, 'other:1:y');
    }
    // Leases of a dead process on another host are left to expire, never released from here.
    assert.equal(await a.indexState.tryLease(ref, 'full', 'elsewhere:1:z', Date.now() + 60_000), true);
    assert.equal(await a.indexState.releaseDeadLeases((owner, host) => owner.split(':')[0] === host), 0);
    assert.equal(await b.indexState.tryLease(ref, 'full', 'other:2:y', Date.now() + 60_000), false);
  });

  test('BIGINT and sums come back as JS numbers', async () => {
    const { a, channelId } = await replicas();
    const big = 5 * 1024 ** 3;
    assert.equal(await a.packages.insertFound([file(channelId, 'big-1-0.conda', { sizeBytes: big }), file(channelId, 'big-2-0.conda', { sizeBytes: big })]), 2);
    assert.equal(await a.channels.sizeBytes(channelId), 2 * big);
    const row = (await a.packages.get(channelId, 'noarch', 'big-1-0.conda'))!;
    for (const v of [row.id, row.channelId, row.sizeBytes, row.createdAt, row.buildNumber]) assert.equal(typeof v, 'number');
    assert.equal(row.sizeBytes, big);
    const state = (await a.indexState.get(channelId, 'noarch'))!;
    assert.equal(typeof state.revision, 'number');
    const pages = await a.catalog.packagesPages([channelId], { all: true } as never, null, null, { limit: 10, page: 0 }, true);
    assert.deepEqual(pages.get(channelId)!.items.map((p) => [p.name, p.totalSizeBytes, p.variantCount]), [['big', 2 * big, 2]]);
  });
});

describe('PostgreSQL byte order', { skip }, () => {
  // A database whose own collation (ICU en-US) sorts '_x' < 'a' < 'A': the
  // adapter must still list filenames in byte order, as SQLite and conda do.
  const name = `channeld_t_collate_${process.pid}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let repos: Repositories;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  before(async () => {
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`);
    repos = await createPostgresRepositories(url.href);
  });
  after(async () => {
    await repos?.close();
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });

  test('filenames, snapshot records and names come back in byte order (A < _ < a)', async () => {
    const owner = (await repos.users.create('o', false))!;
    const { id: channelId } = (await repos.channels.create({ name: 'c', ownerId: owner.id, isPublic: true, description: null }))!;
    const names = ['a', '_x', 'A', 'Z', 'b'];
    await repos.packages.insertFound(names.map((n) => file(channelId, `${n}-1-0.tar.bz2`)));
    const byteOrder = [...names].sort().map((n) => `${n}-1-0.tar.bz2`);
    assert.deepEqual(byteOrder, ['A-1-0.tar.bz2', 'Z-1-0.tar.bz2', '_x-1-0.tar.bz2', 'a-1-0.tar.bz2', 'b-1-0.tar.bz2']);
    assert.deepEqual(await repos.packages.filenames(channelId, 'noarch'), byteOrder);
    const snap = await repos.indexState.snapshot({ channelId, channel: 'c', subdir: 'noarch' });
    try {
      const seen: string[] = [];
      for await (const batch of snap.records('tar.bz2')) seen.push(...batch.map((r) => r.filename));
      assert.deepEqual(seen, byteOrder);
      assert.deepEqual(await snap.dirtyNames(), [...names].sort());
      assert.deepEqual([...(await snap.nameRows(['a', 'A'])).keys()].sort(), ['A', 'a']);
    } finally {
      await snap.close();
    }
    const page = await repos.catalog.packagesPages([channelId], { all: true } as never, null, null, { limit: 10, page: 0 }, true);
    assert.deepEqual(page.get(channelId)!.items.map((p) => p.name), [...names].sort());
  });
});
