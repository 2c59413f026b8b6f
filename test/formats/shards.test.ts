// CEP-16 sharded repodata as rattler, pixi and conda read it: the shard
// index (repodata_shards.msgpack.zst), then one shard per package name by
// hash (shards/<sha256>.msgpack.zst). Every file is decoded with the tests'
// own zstd and msgpack readers, checked against repodata.json and
// run_exports.json of the same channel and against what conda-index wrote
// for the same packages (fixtures/conda-index/).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { deletePackage } from '../helpers/clients.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { gqlData } from '../helpers/graphql.js';
import {
  asRepodataRecord, channelPath, getRepodata, getShard, getShardIndex, readZstMsgpack, request, sha256Hex,
  uploadAndIndex, uploadFile, type Json, type Shard, type ShardIndex,
} from '../helpers/index-files.js';
import { fixturesDir } from '../helpers/paths.js';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';

const CHANNEL = 'sharded';
const packages = fixturePackages();
const subdirs = [...new Set(packages.map((p) => p.folder))].sort();
const byFile = (f: string) => packages.find((p) => p.filename === f)!;

let server: TestServer;

before(async () => {
  server = await startServer();
  await server.core.channels.create(CHANNEL, server.admin.id, { isPublic: true });
  await uploadAndIndex(server, CHANNEL, packages);
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

const condaIndexDir = (subdir: string) => path.join(fixturesDir, 'conda-index', subdir);
const condaIndexShardIndex = (subdir: string) =>
  readZstMsgpack(fs.readFileSync(path.join(condaIndexDir(subdir), 'repodata_shards.msgpack.zst'))) as ShardIndex;

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

describe('the shard index of every subdir', () => {
  for (const subdir of subdirs) {
    it(`${subdir}: info is msgpack str, shards are 32-byte bin, every map key-sorted`, async () => {
      const res = await request(server.url, channelPath(CHANNEL, subdir, 'repodata_shards.msgpack.zst'));
      assert.equal(res.status, 200);
      const unsorted: string[][] = [];
      const index = readZstMsgpack(res.body, { onMap: (keys) => { if (keys.join('\0') !== [...keys].sort().join('\0')) unsorted.push(keys); } }) as ShardIndex;
      assert.deepEqual(unsorted, [], 'maps are written with sorted keys (same content, same bytes)');
      assert.deepEqual(Object.keys(index).filter((k) => k !== 'version').sort(), ['info', 'shards']);
      // mamba reads info values as str; a bin here breaks it.
      assert.deepEqual(Object.keys(index.info).sort(), ['base_url', 'created_at', 'shards_base_url', 'subdir']);
      for (const [k, v] of Object.entries(index.info)) assert.equal(typeof v, 'string', `info.${k} is ${Buffer.isBuffer(v) ? 'bin' : typeof v}`);
      assert.equal(index.info.subdir, subdir);
      assert.equal(index.info.shards_base_url, './shards/');
      assert.equal(index.info.base_url, './');
      assert.match(String(index.info.created_at), RFC3339);
      assert.ok(!Number.isNaN(Date.parse(String(index.info.created_at))));
      for (const [name, hash] of Object.entries(index.shards)) {
        assert.ok(Buffer.isBuffer(hash) && hash.length === 32, `${name}: ${Buffer.isBuffer(hash) ? `bin of ${hash.length}` : typeof hash}`);
      }
    });

    it(`${subdir}: names the same packages as conda-index's shard index`, async () => {
      const ours = Object.keys((await getShardIndex(server.url, CHANNEL, subdir))!.shards).sort();
      const theirs = Object.keys(condaIndexShardIndex(subdir).shards);
      // conda-index refused virtualdep-package (its tar says ./info/index.json;
      // fixtures/conda-index/README.md), so its linux-fake index lacks the name.
      // The record was added to its repodata.json by hand, and we index it.
      if (subdir === 'linux-fake') theirs.push('virtualdep-package');
      assert.deepEqual(ours, theirs.sort());
    });

    it(`${subdir}: every shard hashes to its name, and together they are exactly repodata.json`, async () => {
      const index = (await getShardIndex(server.url, CHANNEL, subdir))!;
      const repodata = await getRepodata(server.url, CHANNEL, subdir);
      const runExports = JSON.parse((await request(server.url, channelPath(CHANNEL, subdir, 'run_exports.json'))).body.toString('utf8')) as
        Record<'packages' | 'packages.conda', Record<string, { run_exports: unknown }>>;
      const union: Record<'packages' | 'packages.conda', Record<string, Json>> = { packages: {}, 'packages.conda': {} };
      for (const [name, hash] of Object.entries(index.shards)) {
        const { res, shard } = await getShard(server.url, CHANNEL, subdir, index, hash);
        assert.equal(sha256Hex(res.body), hash.toString('hex'), `${name}: the hash is of the compressed shard bytes`);
        assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
        assert.deepEqual(Object.keys(shard).sort(), ['packages', 'packages.conda', 'removed']);
        assert.deepEqual(shard.removed, []);
        for (const key of ['packages', 'packages.conda'] as const) {
          for (const [fn, record] of Object.entries(shard[key])) {
            assert.equal(record.name, name, `${fn} sits in the shard of its own name`);
            assert.ok(Buffer.isBuffer(record.md5) && record.md5.length === 16, `${fn}: md5 is 16-byte bin`);
            assert.ok(Buffer.isBuffer(record.sha256) && record.sha256.length === 32, `${fn}: sha256 is 32-byte bin`);
            assert.equal(union[key][fn], undefined, `${fn} in two shards`);
            union[key][fn] = asRepodataRecord(record);
            assert.deepEqual(record.run_exports, runExports[key][fn]?.run_exports, `${fn}: run_exports as in run_exports.json`);
            assert.equal((record.sha256 as Buffer).toString('hex'), byFile(fn).sha256);
          }
        }
      }
      assert.deepEqual(union.packages, repodata.packages);
      assert.deepEqual(union['packages.conda'], repodata['packages.conda']);
    });

    it(`${subdir}: shard records equal conda-index's (md5/sha256 bin, run_exports included)`, async () => {
      const ours = (await getShardIndex(server.url, CHANNEL, subdir))!;
      const theirs = condaIndexShardIndex(subdir);
      for (const [name, hash] of Object.entries(theirs.shards)) {
        const expected = readZstMsgpack(fs.readFileSync(path.join(condaIndexDir(subdir), `${hash.toString('hex')}.msgpack.zst`))) as Shard;
        const { shard } = await getShard(server.url, CHANNEL, subdir, ours, ours.shards[name]!);
        assert.deepEqual(shard.packages, expected.packages, `${name}: packages`);
        assert.deepEqual(shard['packages.conda'], expected['packages.conda'], `${name}: packages.conda`);
      }
    });
  }

  it('is served with a short max-age and a strong ETag; shards as immutable', async () => {
    const index = await request(server.url, channelPath(CHANNEL, 'noarch', 'repodata_shards.msgpack.zst'));
    assert.match(index.headers.etag ?? '', /^"[^"]+"$/, 'strong, not W/');
    const maxAge = /(?:^|,)\s*max-age=(\d+)/.exec(index.headers['cache-control'] ?? '');
    assert.ok(maxAge, String(index.headers['cache-control']));
    // CEP-16 suggests 60 s to 1 h: a client must see new uploads soon.
    assert.ok(Number(maxAge[1]) <= 3600, `max-age ${maxAge[1]}`);
    assert.doesNotMatch(index.headers['cache-control'] ?? '', /immutable/);
    assert.equal(index.headers['content-encoding'], undefined, 'clients decode the .zst themselves');
  });
});

describe('shard URLs that name nothing', () => {
  it('are 404 to GET and HEAD: a hash no index named, or not a hash at all', async () => {
    for (const name of [`${'0'.repeat(64)}.msgpack.zst`, 'index.msgpack.zst', `${'A'.repeat(64)}.msgpack.zst`]) {
      for (const method of ['GET', 'HEAD']) {
        const r = await request(server.url, `/${CHANNEL}/noarch/shards/${name}`, {}, method);
        assert.equal(r.status, 404, `${method} shards/${name}`);
      }
    }
  });
});

describe('a new channel', () => {
  it('has an empty noarch shard index before any upload (rattler caches a 404 for good)', async () => {
    await server.core.channels.create('brand-new', server.admin.id, { isPublic: true });
    const index = await getShardIndex(server.url, 'brand-new', 'noarch');
    assert.ok(index, 'repodata_shards.msgpack.zst answered 404');
    assert.equal(index.info.subdir, 'noarch');
    assert.deepEqual(index.shards, {});
  });
});

describe('shards follow uploads, yanks and deletes', () => {
  const LIFE = 'shard-life';
  const dep1 = byFile('dependency-1.0-0.conda');
  const dep2 = byFile('dependency-2.0-0.conda');
  const seen: string[] = [];

  /** Waits until the `dependency` shard satisfies `check`; returns it and its hash. */
  async function dependencyShard(check: (shard: Shard | null) => boolean): Promise<{ shard: Shard | null; hash: string | null }> {
    return waitFor(async () => {
      const index = (await getShardIndex(server.url, LIFE, 'noarch'))!;
      const hash = index.shards.dependency;
      const shard = hash ? (await getShard(server.url, LIFE, 'noarch', index, hash)).shard : null;
      return check(shard) ? { shard, hash: hash?.toString('hex') ?? null } : null;
    });
  }
  const files = (shard: Shard | null) => Object.keys(shard?.['packages.conda'] ?? {}).concat(Object.keys(shard?.packages ?? {})).sort();

  before(async () => {
    await server.core.channels.create(LIFE, server.admin.id, { isPublic: true });
  });

  it('an upload shows in the shard index quickly', async () => {
    await uploadFile(server, LIFE, dep1);
    const { hash } = await dependencyShard((s) => files(s).join() === dep1.filename);
    seen.push(hash!);
  });

  it('a second version gives the name a new shard holding both', async () => {
    await uploadFile(server, LIFE, dep2);
    const { hash } = await dependencyShard((s) => files(s).join() === [dep1.filename, dep2.filename].sort().join());
    assert.ok(!seen.includes(hash!));
    seen.push(hash!);
  });

  it("a yank moves the file to that shard's removed and out of its maps", async () => {
    await gqlData(server, `mutation { batchYankPackageVariants(channelName: "${LIFE}", entries: [{subdir: "noarch", filename: "${dep2.filename}"}], reason: "broken") }`, undefined, server.adminKey);
    const { shard, hash } = await dependencyShard((s) => files(s).join() === dep1.filename);
    assert.deepEqual(shard!.removed, [dep2.filename]);
    seen.push(hash!);
    // repodata.json says the same (it is written by a separate pass, so wait for it too).
    await waitFor(async () => {
      const doc = await getRepodata(server.url, LIFE, 'noarch');
      return doc.removed.includes(dep2.filename) && !doc['packages.conda'][dep2.filename];
    });
  });

  it('deleting the last file of a name takes the name out of the index', async () => {
    for (const p of [dep1, dep2]) {
      const r = await deletePackage(server.url, LIFE, 'noarch', p.filename, server.adminKey);
      assert.equal(r.status, 200, await r.text());
    }
    await dependencyShard((s) => s === null);
    assert.deepEqual((await getShardIndex(server.url, LIFE, 'noarch'))!.shards, {});
  });

  it('superseded shard files stay downloadable, byte for byte', async () => {
    assert.equal(new Set(seen).size, 3);
    for (const hash of seen) {
      const r = await request(server.url, `/${LIFE}/noarch/shards/${hash}.msgpack.zst`);
      assert.equal(r.status, 200, hash);
      assert.equal(sha256Hex(r.body), hash);
      assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable');
    }
  });
});
