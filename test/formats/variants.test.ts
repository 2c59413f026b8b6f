// The other index files of a subdir and the channel root, as conda, mamba
// and rattler fetch them: repodata.json (gzip on request), repodata.json.zst,
// run_exports.json(.zst), channeldata.json; their HEAD probes, revalidation
// (If-None-Match / If-Modified-Since → 304), the variants we do not write
// (404, so clients fall back), and that all variants move together.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fixturePackages } from '../helpers/fixtures.js';
import { gqlData } from '../helpers/graphql.js';
import {
  channelPath, getRepodata, getShardIndex, request, sha256Hex, unzstd, uploadAndIndex, uploadFile, type Json, type Res,
} from '../helpers/index-files.js';
import { fixturesDir } from '../helpers/paths.js';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';
import { onlyOnFolder } from '../helpers/backends.js';

const CHANNEL = 'variants';
const packages = fixturePackages();
const subdirs = [...new Set(packages.map((p) => p.folder))].sort();

let server: TestServer;
const get = (urlPath: string, headers: Record<string, string> = {}) => request(server.url, urlPath, headers);
const head = (urlPath: string, headers: Record<string, string> = {}) => request(server.url, urlPath, headers, 'HEAD');
const file = (subdir: string, name: string) => channelPath(CHANNEL, subdir, name);
const condaIndex = (...parts: string[]) => JSON.parse(fs.readFileSync(path.join(fixturesDir, 'conda-index', ...parts), 'utf8'));

before(async () => {
  server = await startServer();
  await server.core.channels.create(CHANNEL, server.admin.id, { isPublic: true });
  await uploadAndIndex(server, CHANNEL, packages);
  // channeldata.json is rebuilt a moment after the subdirs (debounced per channel).
  const names = new Set(packages.map((p) => p.name));
  await waitFor(async () => {
    const r = await get(`/${CHANNEL}/channeldata.json`);
    // A torn body is tolerated here and caught by 'channeldata.json while it is rewritten'.
    const doc = r.status === 200 ? (() => { try { return JSON.parse(r.body.toString('utf8')) as { packages: Json }; } catch { return null; } })() : null;
    return doc !== null && Object.keys(doc.packages).length === names.size;
  }, 10_000);
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

describe('repodata.json.zst and run_exports.json', () => {
  for (const subdir of subdirs) {
    it(`${subdir}: repodata.json.zst holds exactly the bytes of repodata.json`, async () => {
      const plain = await get(file(subdir, 'repodata.json'));
      const zst = await get(file(subdir, 'repodata.json.zst'));
      assert.equal(zst.status, 200);
      assert.equal(zst.headers['content-encoding'], undefined, 'clients decode .zst themselves');
      assert.ok(unzstd(zst.body).equals(plain.body));
    });

    it(`${subdir}: run_exports.json equals conda-index's, and its .zst holds the same bytes`, async () => {
      const plain = await get(file(subdir, 'run_exports.json'));
      const zst = await get(file(subdir, 'run_exports.json.zst'));
      assert.equal(plain.status, 200);
      assert.match(plain.headers['content-type'] ?? '', /^application\/json/);
      // linux-fake: conda-index lists virtualdep-package here although it
      // refused to index it (README: built from the folder listing); we index
      // it, so both list it.
      assert.deepEqual(JSON.parse(plain.body.toString('utf8')), condaIndex(subdir, 'run_exports.json'));
      assert.ok(unzstd(zst.body).equals(plain.body));
    });
  }
});

describe('channeldata.json', () => {
  const FLAGS = ['activate.d', 'binary_prefix', 'deactivate.d', 'post_link', 'pre_link', 'pre_unlink', 'text_prefix'];
  const FIELDS = ['subdirs', 'version', 'summary', 'license', 'home', 'run_exports', ...FLAGS];
  let ours: { channeldata_version: number; subdirs: string[]; packages: Record<string, Json> };
  const theirs = condaIndex('channeldata.json') as typeof ours;
  // conda-index wrote channeldata.json in run B, which skips linux-fake (not
  // one of conda's known subdirs); we index every valid subdir.
  const LINUX_FAKE_NAMES = ['arch-package', 'virtualdep-package'];

  before(async () => {
    ours = JSON.parse((await get(`/${CHANNEL}/channeldata.json`)).body.toString('utf8'));
  });

  it('lists the same subdirs and names as conda-index, plus linux-fake', () => {
    assert.equal(ours.channeldata_version, 1);
    assert.deepEqual(ours.subdirs, [...theirs.subdirs, 'linux-fake'].sort());
    assert.deepEqual(Object.keys(ours.packages).sort(), [...Object.keys(theirs.packages), ...LINUX_FAKE_NAMES].sort());
  });

  it(`has conda-index's ${FIELDS.join(', ')} for every name`, () => {
    const differences: string[] = [];
    for (const [name, expected] of Object.entries(theirs.packages)) {
      for (const field of FIELDS) {
        const a = JSON.stringify(ours.packages[name]![field]);
        const b = JSON.stringify(expected[field]);
        if (a !== b) differences.push(`${name}.${field}: ours ${a ?? '(absent)'}, conda-index ${b ?? '(absent)'}`);
      }
    }
    assert.deepEqual(differences, []);
  });

  it('has timestamp = the newest record timestamp of the name, in seconds (0 when none has one)', async () => {
    // CEP-38: "Required. Most recent timestamp value of all given records for
    // this name, as a POSIX timestamp in seconds". conda-index writes the
    // timestamp of the last name/version group it happened to process
    // (README), so for dependency (1.0 and 2.0) and my-webserver (.conda and
    // .tar.bz2 built apart) it is older than the newest; we follow the CEP.
    // conda-index writes 0 where no record has a timestamp; the CEP makes the
    // key required, so 0 it is.
    const newest = new Map<string, number>();
    for (const subdir of subdirs) {
      const doc = await getRepodata(server.url, CHANNEL, subdir);
      for (const r of [...Object.values(doc.packages), ...Object.values(doc['packages.conda'])]) {
        const ts = typeof r.timestamp === 'number' ? r.timestamp : 0;
        const seconds = ts > 253402300799 ? Math.floor(ts / 1000) : ts;
        newest.set(String(r.name), Math.max(newest.get(String(r.name)) ?? 0, seconds));
      }
    }
    const differences: string[] = [];
    for (const [name, entry] of Object.entries(ours.packages)) {
      if (entry.timestamp !== newest.get(name)) differences.push(`${name}: ours ${entry.timestamp ?? '(absent)'}, newest record ${newest.get(name)}`);
      const ci = theirs.packages[name]?.timestamp;
      if (typeof ci === 'number') assert.ok(ci <= newest.get(name)!, `${name}: conda-index ${ci} is one of the records' timestamps`);
    }
    assert.deepEqual(differences, []);
  });

  it('describes the linux-fake names from their records', () => {
    for (const name of LINUX_FAKE_NAMES) {
      assert.deepEqual(ours.packages[name]!.subdirs, ['linux-fake']);
      assert.equal(ours.packages[name]!.version, '1.0');
      for (const flag of FLAGS) assert.equal(ours.packages[name]![flag], false, `${name}.${flag}`);
    }
  });
});

/** Every file a subdir (and the channel root) serves, as a client asks for it. */
async function variants(): Promise<Array<{ what: string; path: string; headers: Record<string, string> }>> {
  const index = (await getShardIndex(server.url, CHANNEL, 'linux-64'))!;
  const [, hash] = Object.entries(index.shards)[0]!;
  return [
    { what: 'repodata.json', path: file('linux-64', 'repodata.json'), headers: {} },
    { what: 'repodata.json, gzip', path: file('linux-64', 'repodata.json'), headers: { 'Accept-Encoding': 'gzip' } },
    { what: 'repodata.json.zst', path: file('linux-64', 'repodata.json.zst'), headers: {} },
    { what: 'run_exports.json', path: file('linux-64', 'run_exports.json'), headers: {} },
    { what: 'run_exports.json.zst', path: file('linux-64', 'run_exports.json.zst'), headers: {} },
    { what: 'repodata_shards.msgpack.zst', path: file('linux-64', 'repodata_shards.msgpack.zst'), headers: {} },
    { what: 'a shard', path: file('linux-64', `shards/${hash.toString('hex')}.msgpack.zst`), headers: {} },
    { what: 'channeldata.json', path: `/${CHANNEL}/channeldata.json`, headers: {} },
  ];
}

describe('HEAD, conditional requests and gzip on every variant', () => {
  it('HEAD answers 200 with the Content-Length and ETag of the GET, and no body', async () => {
    for (const v of await variants()) {
      const g = await get(v.path, v.headers);
      const h = await head(v.path, v.headers);
      assert.equal(g.status, 200, v.what);
      assert.equal(h.status, 200, v.what);
      assert.equal(Number(h.headers['content-length']), g.body.length, v.what);
      assert.equal(h.headers.etag, g.headers.etag, v.what);
      assert.equal(h.body.length, 0, v.what);
    }
  });

  it('If-None-Match with the ETag → 304; If-Modified-Since with Last-Modified → 304; a stale ETag → 200', async () => {
    for (const v of await variants()) {
      const first = await get(v.path, v.headers);
      assert.match(first.headers.etag ?? '', /^"[^"]+"$/, `${v.what}: strong ETag`);
      assert.ok(first.headers['last-modified'], `${v.what}: Last-Modified`);
      const byEtag = await get(v.path, { ...v.headers, 'If-None-Match': first.headers.etag! });
      assert.equal(byEtag.status, 304, `${v.what}: If-None-Match`);
      assert.equal(byEtag.body.length, 0);
      assert.equal(byEtag.headers.etag, first.headers.etag, `${v.what}: 304 repeats the ETag`);
      const byDate = await get(v.path, { ...v.headers, 'If-Modified-Since': first.headers['last-modified']! });
      assert.equal(byDate.status, 304, `${v.what}: If-Modified-Since`);
      const stale = await get(v.path, { ...v.headers, 'If-None-Match': '"something-else"' });
      assert.equal(stale.status, 200, `${v.what}: stale ETag`);
      assert.ok(stale.body.equals(first.body), v.what);
    }
  });

  it('repodata.json is gzip only when the client accepts it, and decodes to the same bytes', async () => {
    const plain = await get(file('noarch', 'repodata.json'));
    assert.equal(plain.headers['content-encoding'], undefined);
    const cases: Array<[string, boolean]> = [
      ['gzip', true], ['gzip, deflate, br', true], ['br;q=1.0, gzip;q=0.8', true], ['*', true],
      ['gzip;q=0', false], ['identity', false], ['br', false], ['gzip;q=0.0, br', false],
    ];
    for (const [acceptEncoding, gzip] of cases) {
      const r = await get(file('noarch', 'repodata.json'), { 'Accept-Encoding': acceptEncoding });
      assert.equal(r.status, 200, acceptEncoding);
      assert.match(String(r.headers.vary), /accept-encoding/i, acceptEncoding);
      assert.equal(r.headers['content-encoding'], gzip ? 'gzip' : undefined, acceptEncoding);
      assert.ok((gzip ? gunzipSync(r.body) : r.body).equals(plain.body), acceptEncoding);
      assert.equal(r.headers.etag === plain.headers.etag, !gzip, `${acceptEncoding}: one strong ETag per encoding`);
    }
  });
});

describe('variants we do not write', () => {
  for (const name of ['repodata.json.bz2', 'current_repodata.json', 'repodata.jlap']) {
    it(`${name} is 404 to GET and HEAD (clients then fall back)`, async () => {
      for (const subdir of ['noarch', 'linux-64']) {
        const g = await get(file(subdir, name));
        assert.equal(g.status, 404, `GET ${subdir}/${name}`);
        assert.match((JSON.parse(g.body.toString('utf8')) as { error: string }).error, /^[A-Z_]+$/);
        assert.equal((await head(file(subdir, name))).status, 404, `HEAD ${subdir}/${name}`);
      }
    });
  }
});

describe('after uploads', () => {
  const MOVING = 'variants-moving';
  const uploads = packages.filter((p) => p.folder === 'noarch').slice(0, 8);
  const sub = (name: string) => channelPath(MOVING, 'noarch', name);
  const etagHash = (r: Res) => /^"([0-9a-f]{64})/.exec(r.headers.etag ?? '')?.[1];

  before(async () => {
    await server.core.channels.create(MOVING, server.admin.id, { isPublic: true });
  });

  it('repodata.json (plain, gzip), its .zst and run_exports.json(.zst) always agree', async (t) => {
    let done = false;
    let compared = 0;
    const problems: string[] = [];
    const reader = (async () => {
      // Until the uploads are over, and then until one stable generation was
      // compared (publishing can outpace a slow store's reads the whole time;
      // once the last generation is out, the next pass compares it).
      for (let after = 0; !done || (compared === 0 && after++ < 50);) {
        const before = await request(server.url, sub('repodata.json'));
        const zst = await request(server.url, sub('repodata.json.zst'));
        const re = await request(server.url, sub('run_exports.json'));
        const reZst = await request(server.url, sub('run_exports.json.zst'));
        const gzip = await request(server.url, sub('repodata.json'), { 'Accept-Encoding': 'gzip' });
        const afterward = await request(server.url, sub('repodata.json'));
        // The ETag of every variant names repodata.json's sha256, so each
        // response can be checked on its own…
        if (etagHash(before) !== sha256Hex(before.body)) problems.push(`repodata.json ETag ${before.headers.etag} is not its hash`);
        if (etagHash(zst) !== sha256Hex(unzstd(zst.body))) problems.push(`repodata.json.zst ETag ${zst.headers.etag} names other content`);
        if (etagHash(gzip) !== sha256Hex(gunzipSync(gzip.body))) problems.push(`gzip repodata.json ETag ${gzip.headers.etag} names other content`);
        // …and when nothing was published meanwhile, all must be one generation.
        if (before.headers.etag !== afterward.headers.etag) continue;
        compared++;
        if (!unzstd(zst.body).equals(before.body)) problems.push(`stale repodata.json.zst at ${before.headers.etag}`);
        if (!unzstd(reZst.body).equals(re.body)) problems.push(`stale run_exports.json.zst at ${before.headers.etag}`);
        const doc = JSON.parse(before.body.toString('utf8')) as { packages: Json; 'packages.conda': Json };
        const exportsDoc = JSON.parse(re.body.toString('utf8')) as { packages: Json; 'packages.conda': Json };
        for (const key of ['packages', 'packages.conda'] as const) {
          if (Object.keys(doc[key]).join() !== Object.keys(exportsDoc[key]).join()) problems.push(`run_exports.json ${key} differs at ${before.headers.etag}`);
        }
      }
    })();
    try {
      for (const p of uploads) await uploadFile(server, MOVING, p);
      await waitFor(async () => {
        const doc = await getRepodata(server.url, MOVING, 'noarch');
        return Object.keys(doc.packages).length + Object.keys(doc['packages.conda']).length === uploads.length;
      });
    } finally {
      done = true;
      await reader;
    }
    t.diagnostic(`${compared} stable generations compared`);
    assert.deepEqual(problems, []);
    assert.ok(compared > 0, 'the reader compared at least one stable generation');
  });
});

describe('channeldata.json while it is rewritten', () => {
  // channeldata.json is one file replaced (by rename) on every rebuild, unlike
  // the per-generation index files. A reader must get the old file or the new
  // one, whole: never the Content-Length of one with the bytes of the other.
  // Rebuilds run at most once a second per channel, so several channels flip
  // at once to give the readers more rebuilds to run into.
  const CHANNELS = ['torn-a', 'torn-b', 'torn-c', 'torn-d'];
  const andes = packages.find((p) => p.filename.startsWith('andes-'))!;
  const dependency = packages.find((p) => p.filename === 'dependency-1.0-0.conda')!;
  const entry = `[{subdir: "noarch", filename: "${andes.filename}"}]`;
  const flip = (channel: string, yanked: boolean) => gqlData(server, yanked
    ? `mutation { batchYankPackageVariants(channelName: "${channel}", entries: ${entry}, reason: "flip") }`
    : `mutation { batchUnyankPackageVariants(channelName: "${channel}", entries: ${entry}) }`, undefined, server.adminKey);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  before(async () => {
    for (const channel of CHANNELS) {
      await server.core.channels.create(channel, server.admin.id, { isPublic: true });
      await uploadFile(server, channel, andes);
      await uploadFile(server, channel, dependency);
      await waitFor(async () => (await get(`/${channel}/channeldata.json`)).body.includes(`"${andes.name}"`), 10_000);
    }
  });

  // S3 replaces objects atomically, but s3rver rewrites the object file in place
  // (stores/filesystem.js putObject truncates and streams into it), so readers there can see it torn.
  it('is always served whole, to many readers, across rebuilds that change its size', {
    skip: onlyOnFolder('s3rver (the S3 stand-in) writes objects in place, not atomically as S3 does'),
  }, async (t) => {
    let done = false;
    let reads = 0;
    const sizes = new Set<number>();
    const problems: string[] = [];
    const reader = async (channel: string) => {
      while (!done) {
        try {
          const r = await get(`/${channel}/channeldata.json`);
          reads++;
          if (r.status !== 200) problems.push(`status ${r.status}`);
          else if (Number(r.headers['content-length']) !== r.body.length) problems.push(`Content-Length ${r.headers['content-length']}, body ${r.body.length}`);
          else {
            sizes.add(r.body.length);
            try {
              JSON.parse(r.body.toString('utf8'));
            } catch (err) {
              problems.push(`${r.body.length} bytes that are not JSON: ${(err as Error).message}`);
            }
          }
        } catch (err) {
          problems.push(`request failed: ${(err as Error).message}`);
        }
      }
    };
    const readers = CHANNELS.flatMap((c) => Array.from({ length: 4 }, () => reader(c)));
    try {
      // Yanking andes (its only build) drops the name from channeldata.json;
      // unyanking brings it back: two sizes, one rebuild each.
      for (let i = 0; i < 4; i++) {
        for (const yanked of [true, false]) {
          for (const c of CHANNELS) await flip(c, yanked);
          await sleep(1300);
        }
      }
    } finally {
      done = true;
      await Promise.all(readers);
    }
    t.diagnostic(`${reads} reads, ${problems.length} torn`);
    assert.ok(sizes.size >= 2, 'the rebuilds changed the size');
    assert.deepEqual(problems.slice(0, 5), []);
  });
});
