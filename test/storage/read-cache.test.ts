// With remote storage, the immutable index files every client polls (the
// live repodata generation and its variants, the shard index, shards) are
// served from a local copy: after the first request, no storage read at all,
// with the same bytes, ETag and Range answers. A new generation is fetched
// once. Runs on its own s3rver whatever CHANNELD_TEST_STORAGE says.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { s3Env, startS3Double, type S3Double } from '../helpers/backends.js';
import { rawUpload } from '../helpers/clients.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';

const pkgs = fixturePackages().filter((p) => p.folder === 'noarch').slice(0, 2);

let s3: S3Double;
let server: TestServer;
const reads: string[] = [];

async function upload(file: string, filename: string): Promise<void> {
  const r = await rawUpload(server.url, 'cached', { file, filename }, server.adminKey);
  assert.equal(r.status, 200, await r.text());
  await waitFor(async () => (await (await fetch(`${server.url}/cached/noarch/repodata.json`)).text()).includes(filename));
}

before(async () => {
  s3 = await startS3Double();
  server = await startServer({ env: await s3Env(s3, 'pkgs') });
  await server.core.channels.create('cached', server.admin.id, { isPublic: true });
  await upload(pkgs[0]!.file, pkgs[0]!.filename);
  const store = server.core.store;
  const read = store.read.bind(store);
  store.read = (key, range) => {
    reads.push(key);
    return read(key, range);
  };
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  await s3?.close();
});

describe('local copies of immutable index files (remote storage)', () => {
  it('serves repodata.json, its variants and the shard index from storage once, then locally', async () => {
    assert.ok(server.core.readCache, 'a read cache with S3 storage');
    const files = ['repodata.json', 'repodata.json.zst', 'run_exports.json', 'repodata_shards.msgpack.zst'];
    const first = new Map<string, Buffer>();
    for (const f of files) first.set(f, Buffer.from(await (await fetch(`${server.url}/cached/noarch/${f}`)).arrayBuffer()));
    const readsAfterFirst = reads.length;
    for (let i = 0; i < 3; i++) {
      for (const f of files) {
        const r = await fetch(`${server.url}/cached/noarch/${f}`);
        assert.equal(r.status, 200);
        assert.deepEqual(Buffer.from(await r.arrayBuffer()), first.get(f), `${f}: same bytes from the copy`);
      }
    }
    assert.equal(reads.length, readsAfterFirst, `no storage reads after the first round: ${reads.slice(readsAfterFirst).join(', ')}`);
  });

  it('answers ETags, 304 and ranges from the copy as from storage', async () => {
    const url = `${server.url}/cached/noarch/repodata.json`;
    const full = await fetch(url);
    const etag = full.headers.get('etag')!;
    const body = Buffer.from(await full.arrayBuffer());
    assert.equal((await fetch(url, { headers: { 'if-none-match': etag } })).status, 304);
    const part = await fetch(url, { headers: { range: 'bytes=-10' } });
    assert.equal(part.status, 206);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), body.subarray(body.length - 10));
    const gz = await fetch(url, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.headers.get('content-encoding'), 'gzip');
  });

  it('serves a new generation after an upload, then again without storage reads', async () => {
    await upload(pkgs[1]!.file, pkgs[1]!.filename); // waits until repodata.json lists it
    const before = reads.length;
    for (let i = 0; i < 4; i++) assert.ok((await (await fetch(`${server.url}/cached/noarch/repodata.json`)).text()).includes(pkgs[1]!.filename));
    assert.deepEqual(reads.slice(before), []);
  });

  it('a shard that does not exist is still a 404', async () => {
    const r = await fetch(`${server.url}/cached/noarch/shards/${'0'.repeat(64)}.msgpack.zst`);
    assert.equal(r.status, 404);
  });
});
