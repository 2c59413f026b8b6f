// One contract for every ObjectStore adapter: the folder store and the S3
// store (against s3rver, an in-process S3 stand-in on a loopback port).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { FsObjectStore } from '../../src/storage/fs-object-store.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { S3ObjectStore } from '../../src/storage/s3-object-store.js';
import { startS3Double, type S3Double } from '../helpers/backends.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Backend {
  name: string;
  store: ObjectStore;
  /** Every stored thing, for "nothing was left behind" checks (objects + temp files / unfinished uploads). */
  leftovers(): Promise<string[]>;
}

let s3: S3Double;
/** Names of the commands the S3 store sent, in order. */
const s3Commands: string[] = [];
let fsRoot: string;
const backends: Backend[] = [];

before(async () => {
  fsRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'channeld-store-'));
  const folder = new FsObjectStore(fsRoot);
  backends.push({
    name: 'folder',
    store: folder,
    async leftovers() {
      return (fs.readdirSync(fsRoot, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(fsRoot, f)).isFile());
    },
  });
  s3 = await startS3Double();
  const bucket = await s3.newBucket();
  s3.client.middlewareStack.add((next, context) => async (args) => {
    s3Commands.push(context.commandName ?? '?');
    return next(args);
  }, { step: 'initialize', name: 'recordCommands' });
  const store = new S3ObjectStore({ bucket, prefix: 'some/prefix', endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true }, s3.client);
  backends.push({
    name: 's3',
    store,
    // s3rver implements neither ListMultipartUploads nor AbortMultipartUpload (DELETE ?uploadId is
    // answered 405), so its folder keeps an aborted upload's bookkeeping: look at objects only, and
    // check below that the store did send the abort.
    async leftovers() {
      const dir = path.join(s3.directory, bucket);
      return (fs.readdirSync(dir, { recursive: true }) as string[])
        .filter((f) => !f.startsWith('._S3rver_uploads') && fs.statSync(path.join(dir, f)).isFile()).sort();
    },
  });
});

after(async () => {
  await s3?.close();
  if (fsRoot) fs.rmSync(fsRoot, { recursive: true, force: true });
});

async function readAll(store: ObjectStore, key: string, range?: { start: number; end: number }): Promise<Buffer | null> {
  const got = await store.read(key, range);
  return got === null ? null : buffer(got.stream);
}

for (const kind of ['folder', 's3'] as const) {
  describe(`ObjectStore contract: ${kind}`, () => {
    const b = () => backends.find((x) => x.name === kind)!;
    const root = `c${kind}`;

    it('putStream reports sha256 and size, stat/read see exactly those bytes', async () => {
      const { store } = b();
      const body = randomBytes(300_000);
      const written = await store.putStream(`${root}/a/obj.bin`, [body.subarray(0, 1000), 'text', body.subarray(1000)]);
      const expected = Buffer.concat([body.subarray(0, 1000), Buffer.from('text'), body.subarray(1000)]);
      assert.deepEqual(written, { sha256: sha256(expected), sizeBytes: expected.length });
      const st = await store.stat(`${root}/a/obj.bin`);
      assert.equal(st?.sizeBytes, expected.length);
      assert.ok(st!.mtimeMs > Date.now() - 60_000);
      assert.match(st!.etag, /^"[^"]+"$/);
      const got = await store.read(`${root}/a/obj.bin`);
      assert.equal(got?.etag, st!.etag);
      assert.equal(got?.sizeBytes, expected.length);
      assert.ok((await buffer(got!.stream)).equals(expected));
      assert.equal(await store.stat(`${root}/a/missing`), null);
      assert.equal(await store.read(`${root}/a/missing`), null);
    });

    it('a rewrite replaces the object whole and changes its etag', async () => {
      const { store } = b();
      const key = `${root}/rewrite/obj`;
      await store.putStream(key, ['first version']);
      const before = await store.stat(key);
      // Readers during a rewrite see the old or the new bytes, never a mix.
      const big = randomBytes(12 * 1024 * 1024);
      const writing = store.putStream(key, (async function* () {
        for (let i = 0; i < big.length; i += 1 << 20) {
          yield big.subarray(i, i + (1 << 20));
          await new Promise((r) => setTimeout(r, 5));
        }
      })());
      const seen = new Set<string>();
      let done = false;
      void writing.finally(() => (done = true));
      while (!done) {
        // s3rver writes an object in place (stores/filesystem.js putObject streams into the object file),
        // so a reader can catch it half-written, or have its read cut (ECONNRESET) when the file is
        // replaced under it; S3 itself replaces objects atomically. The folder store must do neither.
        const bytes = await readAll(store, key).catch((err: unknown) => {
          if (kind === 'folder') throw err;
          return null;
        });
        seen.add(bytes === null ? 'cut' : bytes.equals(big) ? 'new' : bytes.toString() === 'first version' ? 'old' : 'mixed');
      }
      await writing;
      if (kind === 'folder') assert.ok(!seen.has('mixed'), `readers saw ${[...seen].join(', ')}`);
      const after = await store.stat(key);
      assert.notEqual(after!.etag, before!.etag);
      assert.equal(after!.sizeBytes, big.length);
      assert.equal(sha256((await readAll(store, key))!), sha256(big));
    });

    it('an aborted putStream leaves no object (and no unfinished upload)', async () => {
      const { store, leftovers } = b();
      const key = `${root}/aborted/obj`;
      const beforeAll = await leftovers();
      const sentBefore = s3Commands.length;
      for (const size of [100, 20 * 1024 * 1024]) {
        // Small bodies go up in one PUT, big ones as multipart: both must leave nothing.
        await assert.rejects(store.putStream(key, (async function* () {
          for (let sent = 0; sent < size; sent += 1 << 20) yield randomBytes(Math.min(1 << 20, size - sent));
          throw new Error('client went away');
        })()), /client went away/);
        assert.equal(await store.stat(key), null);
      }
      assert.deepEqual(await leftovers(), beforeAll);
      if (kind === 's3') {
        const sent = s3Commands.slice(sentBefore);
        assert.equal(sent.filter((c) => c === 'CreateMultipartUploadCommand').length, 1, sent.join(' '));
        assert.equal(sent.filter((c) => c === 'AbortMultipartUploadCommand').length, 1, 'the big body went multipart and was aborted');
        assert.equal(sent.filter((c) => c === 'CompleteMultipartUploadCommand' || c === 'PutObjectCommand').length, 0);
      }
      // A failed rewrite keeps the old object.
      await store.putStream(key, ['kept']);
      await assert.rejects(store.putStream(key, (async function* () {
        yield 'partial';
        throw new Error('boom');
      })()), /boom/);
      assert.equal((await readAll(store, key))!.toString(), 'kept');
    });

    it('putFile stores a local file and removes it', async () => {
      const { store } = b();
      const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'channeld-put-')), 'pkg');
      const body = randomBytes(9 * 1024 * 1024 + 17);
      fs.writeFileSync(tmp, body);
      await store.putFile(`${root}/files/pkg.conda`, tmp);
      assert.equal(fs.existsSync(tmp), false);
      assert.equal(sha256((await readAll(store, `${root}/files/pkg.conda`))!), sha256(body));
    });

    it('reads byte ranges and reports the full size', async () => {
      const { store } = b();
      const body = randomBytes(100_000);
      await store.putStream(`${root}/range/obj`, [body]);
      // s3rver reads `bytes=0-0` as `bytes=0-` (stores/filesystem.js getObject: `options.end || Infinity`).
      const ranges = [...(kind === 'folder' ? [{ start: 0, end: 0 }] : []), { start: 0, end: 1 }, { start: 10, end: 99 }, { start: 99_000, end: 99_999 }];
      for (const r of ranges) {
        const got = await store.read(`${root}/range/obj`, r);
        assert.equal(got?.sizeBytes, body.length);
        assert.ok((await buffer(got!.stream)).equals(body.subarray(r.start, r.end + 1)), JSON.stringify(r));
      }
    });

    it('list, listFolders and deleteFolder page through more than 1000 keys', async () => {
      const { store } = b();
      const folder = `${root}/many`;
      const names = Array.from({ length: 1105 }, (_, i) => `f${String(i).padStart(5, '0')}.txt`);
      for (let i = 0; i < names.length; i += 50) {
        await Promise.all(names.slice(i, i + 50).map((n) => store.putStream(`${folder}/${n}`, [n])));
      }
      const dirs = Array.from({ length: 1003 }, (_, i) => `d${String(i).padStart(5, '0')}`);
      for (let i = 0; i < dirs.length; i += 50) {
        await Promise.all(dirs.slice(i, i + 50).map((d) => store.putStream(`${folder}/${d}/x`, ['x'])));
      }
      await store.putStream(`${folder}/_index/1-repodata.json`, ['{}']);
      await store.putStream(`${folder}/.hidden`, ['h']);
      assert.deepEqual(await store.list(folder), names);
      assert.deepEqual(await store.listFolders(folder), dirs, 'folders starting with _ or . are not listed');
      assert.deepEqual(await store.list(`${root}/nothing-here`), []);
      assert.deepEqual(await store.listFolders(`${root}/nothing-here`), []);
      await store.putStream(`${root}/many-sibling/keep`, ['k']);
      await store.deleteFolder(folder);
      assert.deepEqual(await store.list(folder), []);
      assert.deepEqual(await store.listFolders(folder), []);
      assert.equal(await store.stat(`${folder}/_index/1-repodata.json`), null);
      assert.notEqual(await store.stat(`${root}/many-sibling/keep`), null, 'a sibling sharing the name prefix survives');
    });

    it('delete removes one object; deleting a missing one is fine', async () => {
      const { store } = b();
      await store.putStream(`${root}/del/a`, ['a']);
      await store.delete(`${root}/del/a`);
      await store.delete(`${root}/del/a`);
      assert.equal(await store.stat(`${root}/del/a`), null);
    });

    it('refuses keys that could escape their folder', async () => {
      const { store } = b();
      await assert.rejects(store.putStream('../escape', ['x']));
      await assert.rejects(store.stat('/abs'));
    });

    it('presigned URLs fetch the exact bytes with plain fetch', { skip: kind === 'folder' ? 'a data folder has no URLs to presign' : false }, async () => {
      const { store } = b();
      assert.equal(typeof store.presignGet, 'function');
      const body = randomBytes(50_000);
      await store.putStream(`${root}/signed/pkg.conda`, [body]);
      const url = await store.presignGet!(`${root}/signed/pkg.conda`, 60);
      const r = await fetch(url);
      assert.equal(r.status, 200);
      assert.equal(sha256(Buffer.from(await r.arrayBuffer())), sha256(body));
    });
  });
}

describe('the folder store keeps its zero-copy path', () => {
  it('localFile points into the root; only the folder store has it', () => {
    const folder = backends.find((x) => x.name === 'folder')!.store;
    assert.equal(folder.localFile!('a/b'), path.join(fsRoot, 'a/b'));
    assert.equal(backends.find((x) => x.name === 's3')!.store.localFile, undefined);
  });
});

describe('a bucket that stops answering', () => {
  // Accepts connections, reads what it is sent, never answers: a stalled
  // endpoint. Without socket timeouts every call below waits for ever.
  it('fails the call instead of hanging it (the SDK sets no timeout of its own)', { timeout: 60_000 }, async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const store = new S3ObjectStore({
      bucket: 'stalled', prefix: '', endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true,
      credentials: { accessKeyId: 'k', secretAccessKey: 's' }, timeouts: { connectMs: 1000, idleMs: 400 },
    });
    try {
      const started = Date.now();
      for (const call of [() => store.stat('a/b'), () => store.putStream('a/c', [randomBytes(1000)]), () => store.read('a/b')]) {
        await assert.rejects(call(), (err: Error) => /timed out/.test(err.message));
      }
      assert.ok(sockets.length >= 3, `the calls reached the endpoint (${sockets.length} connections)`);
      assert.ok(Date.now() - started < 30_000, `${Date.now() - started} ms`);
      store.client.destroy();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
