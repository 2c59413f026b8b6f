// The indexer's worker threads (the package readers, the full-pass thread)
// are ended when they have had nothing to do for a while, and the next job
// starts a new one: an idle server holds only its own threads (~30 MiB less
// per thread). Counted as the process's OS threads, with no server running
// in this process meanwhile (its own threads would come and go).
//
// Always SQLite + data folder: the full-pass thread is only used there.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { SubdirRef } from '../../src/types.js';
import { sqliteFile } from '../../src/db/index.js';
import { FullPassThread } from '../../src/indexer/full-pass-in-worker.js';
import { PackageReaderPool } from '../../src/indexer/package-reader-pool.js';
import { upload } from '../helpers/access.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { startServer } from '../helpers/server.js';

const IDLE_MS = 300;
const threads = (): number => fs.readdirSync('/proc/self/task').length;
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Waits (up to 10 s) for the thread count to come back to `count`. */
async function threadsBackTo(count: number): Promise<number> {
  const end = Date.now() + 10_000;
  while (threads() !== count && Date.now() < end) await sleep(50);
  return threads();
}

describe('idle worker threads are ended', () => {
  let dataDir: string;
  let ref: SubdirRef;

  before(async () => {
    const server = await startServer({ env: { CHANNELD_DATABASE_URL: '', CHANNELD_STORAGE_URL: '' } });
    const channel = await server.core.channels.create('idle', server.admin.id, { isPublic: true });
    const pkg = fixturePackages().find((p) => p.folder === 'noarch')!;
    assert.equal((await upload(server.url, 'idle', pkg, server.adminKey)).status, 200);
    ref = { channelId: channel.id, channel: 'idle', subdir: 'noarch' };
    await server.core.indexer.indexNow(ref);
    dataDir = server.dataDir;
    await server.close();
  });
  after(() => {
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('a package reader with no read for idleMs is ended; the next read starts one', async () => {
    const pool = new PackageReaderPool({ size: 1, idleMs: IDLE_MS });
    try {
      const before = await threadsBackTo(threads());
      const pkg = fixturePackages().find((p) => p.filename.endsWith('.conda'))!;
      const stem = pkg.filename.slice(0, -'.conda'.length);
      const first = await pool.read(pkg.file, 'conda', stem);
      assert.ok(threads() > before, 'the read ran in a thread of its own');
      assert.equal(await threadsBackTo(before), before, 'the idle reader was ended');
      // A read arriving while the reader is busy, or within idleMs, keeps it.
      const again = await pool.read(pkg.file, 'conda', stem);
      assert.deepEqual(again, first);
      await sleep(IDLE_MS / 3);
      await pool.read(pkg.file, 'conda', stem);
      await sleep(IDLE_MS / 2);
      assert.ok(threads() > before, 'a reader used within idleMs is kept');
      assert.equal(await threadsBackTo(before), before);
    } finally {
      await pool.close();
    }
  });

  it('the full-pass thread with no pass for idleMs is ended; the next pass starts one', async () => {
    const t = new FullPassThread({ file: sqliteFile(dataDir), dataDir, storage: { kind: 'folder' }, idleMs: IDLE_MS });
    try {
      const before = await threadsBackTo(threads());
      const first = await t.write(ref);
      assert.ok(threads() > before, 'the pass ran in a thread of its own');
      assert.equal(await threadsBackTo(before), before, 'the idle thread was ended');
      const second = await t.write(ref);
      assert.equal(second.sha256, first.sha256);
      assert.equal(second.records, 1);
      assert.equal(await threadsBackTo(before), before);
    } finally {
      await t.close();
    }
  });
});
