// writeFull feeds repodata.json and run_exports.json from one scan of the
// snapshot. What it must do at the edges: the two documents list the same
// files; a bad record fails the whole generation (no file published under
// its key) and closes the snapshot's cursor, however far each reader got.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { IndexSnapshot, SnapshotRecord } from '../../src/db/repositories.js';
import { decompress } from 'zstd-napi';
import { writeFull } from '../../src/indexer/index-writer.js';
import { FsObjectStore } from '../../src/storage/fs-object-store.js';
import { indexKey } from '../../src/storage/keys.js';

const ref = { channelId: 1, channel: 'chn', subdir: 'noarch' };

function record(filename: string): SnapshotRecord {
  return { filename, recordJson: JSON.stringify({ name: filename.split('-')[0] }), runExportsJson: filename.startsWith('b') ? '{"weak":["x"]}' : null };
}

/** A snapshot over fixed rows, in batches of 2, that reports whether its cursors were closed. */
function snapshot(rows: { 'tar.bz2': SnapshotRecord[]; conda: SnapshotRecord[] }) {
  const open = new Set<string>();
  const snap: IndexSnapshot = {
    revision: 7,
    removed: async () => [],
    records: (format) => (async function* () {
      open.add(format);
      try {
        for (let i = 0; i < rows[format].length; i += 2) yield rows[format].slice(i, i + 2);
      } finally {
        open.delete(format);
      }
    })(),
    dirtyNames: async () => [],
    nameRows: async () => new Map(),
    close: async () => {},
  };
  return { snap, open };
}

function tempStore(): FsObjectStore {
  return new FsObjectStore(fs.mkdtempSync(path.join(os.tmpdir(), 'channeld-writer-')));
}

/** Big records: each writer's first piece comes long before the source ends. */
function bigRecords(n: number): SnapshotRecord[] {
  const pad = 'x'.repeat(2000);
  return Array.from({ length: n }, (_, i) => ({
    filename: `p${String(i).padStart(4, '0')}-1-0.conda`, recordJson: JSON.stringify({ name: 'p', pad }), runExportsJson: JSON.stringify({ weak: [pad] }),
  }));
}

/** Makes the store's writes of keys `failing` picks take their first chunk, then fail (a disk or bucket error); others are real. */
function failWrites(store: FsObjectStore, failing: (key: string) => boolean): void {
  const put = store.putStream.bind(store);
  store.putStream = async (key, chunks) => {
    if (!failing(key)) return put(key, chunks);
    for await (const chunk of chunks) {
      void chunk;
      throw new Error('no space left');
    }
    throw new Error('no chunks');
  };
}

describe('writeFull', () => {
  it('writes repodata.json and run_exports.json from one scan, listing the same files', async () => {
    const tarBz2 = ['a-1-0.tar.bz2', 'b-1-0.tar.bz2', 'c-1-0.tar.bz2'].map(record);
    const conda = ['a-2-0.conda', 'b-2-0.conda', 'c-2-0.conda', 'd-2-0.conda', 'e-2-0.conda'].map(record);
    const { snap, open } = snapshot({ 'tar.bz2': tarBz2, conda });
    const store = tempStore();
    let counted = 0;
    await writeFull(store, ref, snap, () => counted++);
    assert.equal(counted, 8);
    const read = (variant: string) => JSON.parse(fs.readFileSync(path.join(store.root, indexKey('chn', 'noarch', 7, variant)), 'utf8'));
    const repodata = read('repodata.json');
    const runExports = read('run_exports.json');
    assert.deepEqual(Object.keys(repodata.packages), tarBz2.map((r) => r.filename));
    assert.deepEqual(Object.keys(repodata['packages.conda']), conda.map((r) => r.filename));
    assert.deepEqual(Object.keys(runExports.packages), Object.keys(repodata.packages));
    assert.deepEqual(Object.keys(runExports['packages.conda']), Object.keys(repodata['packages.conda']));
    assert.deepEqual(runExports.packages['b-1-0.tar.bz2'], { run_exports: { weak: ['x'] } });
    assert.deepEqual(runExports['packages.conda']['a-2-0.conda'], { run_exports: {} });
    assert.equal(open.size, 0);
    for (const doc of ['repodata.json', 'run_exports.json']) {
      const file = (variant: string) => fs.readFileSync(path.join(store.root, indexKey('chn', 'noarch', 7, variant)));
      assert.ok(decompress(file(`${doc}.zst`)).equals(file(doc)), `${doc}.zst holds other bytes than ${doc}`);
    }
  });

  it('gives every file its own run_exports when neighbours share, alternate or lack theirs', async () => {
    // Consecutive builds usually share run_exports and the writer reuses the
    // last entry: every change in the sequence must still show.
    const values = ['{"weak":["x"]}', '{"weak":["x"]}', null, null, '{"weak":["x"]}', '{"strong":["y"]}', '{"strong":["y"]}', 'not json', '{"weak":["x"]}', null];
    const conda = values.map((runExportsJson, i) => ({ filename: `p-1-${i}.conda`, recordJson: '{"name":"p"}', runExportsJson }));
    const { snap } = snapshot({ 'tar.bz2': [], conda });
    const store = tempStore();
    await writeFull(store, ref, snap, () => {});
    const runExports = JSON.parse(fs.readFileSync(path.join(store.root, indexKey('chn', 'noarch', 7, 'run_exports.json')), 'utf8'));
    const expected = values.map((v) => {
      if (v === null) return {};
      try {
        return JSON.parse(v) as unknown;
      } catch {
        return {};
      }
    });
    assert.deepEqual(conda.map((r) => runExports['packages.conda'][r.filename].run_exports), expected);
  });

  for (const failing of ['.zst', '.json'] as const) {
    it(`when only the ${failing === '.zst' ? '.zst' : 'plain'} writes fail part-way, the pass fails without waiting and leaves no file`, async () => {
      const { snap, open } = snapshot({ 'tar.bz2': [], conda: bigRecords(3000) });
      const store = tempStore();
      // The other file of each pair is written for real (temporary file, then rename).
      failWrites(store, (key) => key.endsWith(failing));
      await assert.rejects(writeFull(store, ref, snap, () => {}), /no space left/);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(open.size, 0, `cursors left open: ${[...open].join(', ')}`);
      const left = fs.readdirSync(store.root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
      assert.deepEqual(left, [], 'files left behind');
    });
  }

  it('a record out of order fails the generation: nothing published, cursor closed', async () => {
    const conda = ['a-2-0.conda', 'b-2-0.conda', 'c-2-0.conda', 'b-3-0.conda', 'e-2-0.conda', 'f-2-0.conda', 'g-2-0.conda'].map(record);
    const { snap, open } = snapshot({ 'tar.bz2': [record('a-1-0.tar.bz2')], conda });
    const store = tempStore();
    await assert.rejects(writeFull(store, ref, snap, () => {}), /strictly ascending/);
    assert.equal(await store.stat(indexKey('chn', 'noarch', 7, 'repodata.json')), null);
    assert.equal(await store.stat(indexKey('chn', 'noarch', 7, 'repodata.json.zst')), null);
    await new Promise((r) => setImmediate(r));
    assert.equal(open.size, 0, `cursors left open: ${[...open].join(', ')}`);
  });

  it('when both writes fail part-way, the snapshot cursor is closed, not left paused', async () => {
    const { snap, open } = snapshot({ 'tar.bz2': [], conda: bigRecords(2000) });
    const store = tempStore();
    failWrites(store, () => true);
    await assert.rejects(writeFull(store, ref, snap, () => {}), /no space left/);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(open.size, 0, `cursors left open: ${[...open].join(', ')}`);
  });
});
