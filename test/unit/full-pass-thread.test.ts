// On SQLite a full pass (repodata.json, run_exports.json and their .zst)
// is written by a worker thread from a snapshot of its own. What it must
// do: write exactly what the same pass writes on the main thread; report a
// failed pass as a rejection and go on with the next one; report a thread
// that could not start, and start a new one for the next pass.
//
// Always SQLite + data folder, whatever CHANNELD_TEST_* says: the thread is
// only used there.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SubdirRef } from '../../src/types.js';
import { sqliteFile } from '../../src/db/index.js';
import { FullPassThread } from '../../src/indexer/full-pass-in-worker.js';
import { writeFull } from '../../src/indexer/index-writer.js';
import { BACKGROUND_NICE } from '../../src/indexer/worker-thread.js';
import { FsObjectStore } from '../../src/storage/fs-object-store.js';
import { indexKey } from '../../src/storage/keys.js';
import { upload } from '../helpers/access.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { startServer, tempDataDir, type TestServer } from '../helpers/server.js';

const onFolder = { CHANNELD_DATABASE_URL: '', CHANNELD_STORAGE_URL: '' };

describe('full passes in a worker thread', () => {
  let server: TestServer;
  let ref: SubdirRef;
  const threads: FullPassThread[] = [];
  const dirs: string[] = [];
  const thread = (dataDir: string) => {
    const t = new FullPassThread({ file: sqliteFile(dataDir), dataDir, storage: { kind: 'folder' } });
    threads.push(t);
    return t;
  };

  before(async () => {
    server = await startServer({ env: onFolder });
    const channel = await server.core.channels.create('threaded', server.admin.id, { isPublic: true });
    const linux = fixturePackages().filter((p) => p.folder === 'linux-64');
    assert.ok(linux.length >= 5, 'fixtures: linux-64 packages');
    for (const pkg of linux) assert.equal((await upload(server.url, 'threaded', pkg, server.adminKey)).status, 200, pkg.filename);
    ref = { channelId: channel.id, channel: 'threaded', subdir: 'linux-64' };
    await server.core.indexer.indexNow(ref);
  });

  after(async () => {
    for (const t of threads) await t.close();
    await server?.close();
    for (const d of [server?.dataDir, ...dirs]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('writes the same bytes as the pass on the main thread, at the snapshot revision', async () => {
    const t = thread(server.dataDir);
    const written = await t.write(ref);
    const state = (await server.core.repos.indexState.get(ref.channelId, ref.subdir))!;
    assert.equal(written.revision, state.revision);

    const here = new FsObjectStore(tempDataDir('channeld-main-thread-'));
    dirs.push(here.root);
    const snap = await server.core.repos.indexState.snapshot(ref);
    let records = 0;
    const mainThread = await writeFull(here, ref, snap, () => records++).finally(() => snap.close());
    assert.equal(written.sha256, mainThread.sha256);
    assert.equal(written.sizeBytes, mainThread.sizeBytes);
    assert.equal(written.records, records);
    const repodata = JSON.parse(fs.readFileSync(here.localFile(indexKey('threaded', 'linux-64', state.revision, 'repodata.json')), 'utf8'));
    assert.equal(written.records, Object.keys(repodata.packages).length + Object.keys(repodata['packages.conda']).length);
    for (const variant of ['repodata.json', 'repodata.json.zst', 'run_exports.json', 'run_exports.json.zst']) {
      const key = indexKey('threaded', 'linux-64', state.revision, variant);
      assert.deepEqual(fs.readFileSync(server.core.store.localFile!(key)), fs.readFileSync(here.localFile(key)), variant);
    }
  });

  it('a pass that fails is a rejection saying why, and the thread goes on with the next', async () => {
    const t = thread(server.dataDir);
    // A file where the subdir's folder would be: the generation cannot be written.
    const blocked: SubdirRef = { ...ref, subdir: 'win-64' };
    const blocker = server.core.store.localFile!(`threaded/win-64`);
    fs.writeFileSync(blocker, 'not a folder');
    try {
      await assert.rejects(t.write(blocked), /full pass failed in its thread: .*(ENOTDIR|EEXIST)/);
    } finally {
      fs.rmSync(blocker);
    }
    const state = (await server.core.repos.indexState.get(ref.channelId, ref.subdir))!;
    assert.equal((await t.write(ref)).sha256, state.repodataSha256);
  });

  it('a thread that cannot start rejects its pass; the next pass starts a new thread', async () => {
    const dataDir = tempDataDir('channeld-thread-');
    dirs.push(dataDir);
    // A copy of the database (WAL included) in another data folder.
    const source = new Database(sqliteFile(server.dataDir), { readonly: true });
    source.prepare('VACUUM INTO ?').run(sqliteFile(dataDir));
    source.close();
    // The store's root cannot be made: the thread dies before its first pass.
    fs.writeFileSync(path.join(dataDir, 'channels'), 'not a folder');
    const t = thread(dataDir);
    await assert.rejects(t.write(ref), /EEXIST|ENOTDIR|exited/);
    fs.rmSync(path.join(dataDir, 'channels'));
    const written = await t.write(ref);
    assert.ok(fs.existsSync(path.join(dataDir, 'channels', indexKey('threaded', 'linux-64', written.revision, 'repodata.json.zst'))));
  });

  it('runs at a lower priority than the server thread (Linux: nice is per thread)', { skip: process.platform !== 'linux' }, async () => {
    const niceOf = () => {
      const out = new Map<number, number>();
      for (const tid of fs.readdirSync('/proc/self/task')) {
        try {
          // Fields after "(comm)": state is field 3, nice field 19.
          const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
          out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
        } catch {
          // the thread ended meanwhile
        }
      }
      return out;
    };
    const baseline = os.getPriority();
    const before = niceOf();
    const t = thread(server.dataDir);
    await t.write(ref);
    const afterPass = niceOf();
    assert.equal(afterPass.get(process.pid), baseline, 'the main thread keeps its priority');
    const lowered = [...afterPass].filter(([tid, nice]) => !before.has(tid) && nice === Math.min(19, baseline + BACKGROUND_NICE));
    assert.ok(lowered.length >= 1, `no new thread at nice ${baseline + BACKGROUND_NICE}: ${JSON.stringify([...afterPass])}`);
    await t.close();
  });

  it('refuses passes once closed', async () => {
    const t = thread(server.dataDir);
    await t.close();
    await assert.rejects(t.write(ref), /closed/);
  });
});
