// Records stored before today's metadata rules (issue 14 §2): a record that
// clients could not read is left out of every index at start-up, with one
// warning, and `channeld check` lists it (exit 1); nothing is deleted.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { after, describe, it } from 'node:test';
import { databaseEnv, onPostgres } from '../helpers/backends.js';
import { rawUpload } from '../helpers/clients.js';
import { makePackages } from '../helpers/make-packages.js';
import { runCli, spawnServer, startServer, tempDataDir } from '../helpers/server.js';

const CHANNEL = 'chk';
const BAD = 'bad-1.0-0.conda';
// What a server before the rules could have stored: build_number as a string.
const OLD_RECORD = '{"build":"0","build_number":"0","depends":[],"md5":"00","name":"bad","sha256":"00","size":1,"subdir":"noarch","version":"1.0"}';

async function writeSql(dataDir: string, sql: string, values: unknown[]): Promise<void> {
  if (!onPostgres) {
    const db = new Database(path.join(dataDir, 'channeld.db'));
    try {
      db.prepare(sql.replace(/\$\d/g, '?')).run(...values);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: (await databaseEnv(dataDir)).CHANNELD_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql, values);
  } finally {
    await client.end();
  }
}

describe('stored records that fail the metadata rules', () => {
  const dataDir = tempDataDir();
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('are listed by channeld check, left out of every index at start-up with one warning, and kept', async () => {
    const server = await startServer({ dataDir });
    const channel = await server.core.channels.create(CHANNEL, server.admin.id, { isPublic: true });
    const made = await makePackages(path.join(dataDir, 'made'), ['good', 'bad'].map((name) => ({ name, version: '1.0', build: '0', subdir: 'noarch', format: 'conda' as const })));
    for (const p of made) {
      const sha256 = createHash('sha256').update(fs.readFileSync(p.file)).digest('hex');
      const r = await rawUpload(server.url, CHANNEL, p, server.adminKey, { sha256 });
      assert.equal(r.status, 200, await r.text());
    }
    await server.core.indexer.indexNow({ channelId: channel.id, channel: CHANNEL, subdir: 'noarch' });
    await server.close();

    const clean = await runCli(['check', '--data', dataDir]);
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal(clean.stdout, '');

    await writeSql(dataDir, 'UPDATE packages SET record_json = $1 WHERE filename = $2', [OLD_RECORD, BAD]);
    const dirty = await runCli(['check', '--data', dataDir]);
    assert.equal(dirty.code, 1, dirty.stderr);
    assert.match(dirty.stdout, new RegExp(`^${CHANNEL}/noarch/${BAD}: info/index.json "build_number" must be a non-negative integer`, 'm'));

    const child = await spawnServer(dataDir);
    try {
      const r = await fetch(`${child.url}/${CHANNEL}/noarch/repodata.json`);
      const doc = (await r.json()) as { 'packages.conda': Record<string, unknown>; removed?: string[] };
      assert.deepEqual(Object.keys(doc['packages.conda']), ['good-1.0-0.conda']);
      assert.equal(child.output().match(/stored package left out of every index/g)?.length, 1, child.output());
      // Nothing deleted: the file still downloads.
      const file = await fetch(`${child.url}/${CHANNEL}/noarch/${BAD}`);
      assert.equal(file.status, 200);
      await file.arrayBuffer();
    } finally {
      await child.stop();
    }
    const after = await runCli(['check', '--data', dataDir]);
    assert.equal(after.code, 1);
    assert.match(after.stdout, new RegExp(BAD));
  });
});
