// Every fixture package goes in through the clients people really use — the
// prefix.dev docs' Python script (raw body), rattler's multipart form, the
// docs' curl line — and the channel that comes out must be the one
// conda-index builds from the same files, byte for byte.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { curlUpload, deletePackage, pythonUpload, rattlerUpload, reindexSubdir } from '../helpers/clients.js';
import { condaIndexRepodata, fixturePackages } from '../helpers/fixtures.js';
import { fixturesDir } from '../helpers/paths.js';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';
import { putByHand } from '../helpers/storage.js';
import { packageKey } from '../../src/storage/keys.js';

const CHANNEL = 'fixtures';
const packages = fixturePackages();
const subdirs = fs.readdirSync(path.join(fixturesDir, 'conda-index'), { withFileTypes: true })
  .filter((e) => e.isDirectory()).map((e) => e.name).sort();

let server: TestServer;

interface Answer {
  ok?: boolean;
  error?: string;
  message?: string;
  subdir?: string;
  filename?: string;
  sha256?: string;
  md5?: string;
  size?: number;
  replaced?: boolean;
}

const answerOf = async (r: Response) => (await r.json()) as Answer;

async function repodata(subdir: string, channel = CHANNEL): Promise<{ status: number; text: string; json: Record<string, unknown> }> {
  const r = await fetch(`${server.url}/${channel}/${subdir}/repodata.json`);
  const text = await r.text();
  return { status: r.status, text, json: r.status === 200 ? JSON.parse(text) : {} };
}

function filenamesIn(doc: Record<string, unknown>): string[] {
  const tarBz2 = Object.keys((doc.packages ?? {}) as object);
  const conda = Object.keys((doc['packages.conda'] ?? {}) as object);
  return [...tarBz2, ...conda].sort();
}

async function waitForFilenames(subdir: string, expected: string[], channel = CHANNEL): Promise<void> {
  const want = [...expected].sort();
  await waitFor(async () => {
    const { status, json } = await repodata(subdir, channel);
    return status === 200 && JSON.stringify(filenamesIn(json)) === JSON.stringify(want);
  }, 5000);
}

const inSubdir = (subdir: string) => packages.filter((p) => p.folder === subdir).map((p) => p.filename);

before(async () => {
  server = await startServer();
  await server.core.channels.create(CHANNEL, server.admin.id, { isPublic: true });
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

describe('uploading every fixture package', () => {
  // andes is the largest fixture (2.4 MB): curl sends it with `Expect: 100-continue`.
  const viaCurl = packages.reduce((a, b) => (b.sizeBytes > a.sizeBytes ? b : a));
  const viaPython = packages.filter((p, i) => p !== viaCurl && i % 5 === 0);
  const viaMultipart = packages.filter((p) => p !== viaCurl && !viaPython.includes(p));

  it('a fresh channel already serves an empty noarch/repodata.json', async () => {
    await server.core.channels.create('fresh', server.admin.id, { isPublic: true });
    const { status, json } = await repodata('noarch', 'fresh');
    assert.equal(status, 200);
    assert.deepEqual(json, { info: { subdir: 'noarch' }, packages: {}, 'packages.conda': {}, removed: [], repodata_version: 1 });
  });

  it('accepts the docs Python script, whose Content-Length header is one byte too long', async () => {
    // requests replaces the script's Content-Length with the real one; if that
    // ever changes, the server sees a short body and this fails.
    assert.ok(viaPython.length >= 5);
    for (const pkg of viaPython) {
      const r = await pythonUpload(server.url, CHANNEL, pkg, server.adminKey);
      assert.equal(r.code, 0, `${pkg.filename}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, new RegExp(`Uploaded package ${pkg.filename.replace(/[.+]/g, '\\$&')} with status  200`));
    }
  });

  it('accepts the docs curl command line', async () => {
    const r = await curlUpload(server.url, CHANNEL, viaCurl, server.adminKey);
    assert.equal(r.code, 0, r.stderr);
    const [body, status] = [r.stdout.slice(0, r.stdout.lastIndexOf('\n')), r.stdout.slice(r.stdout.lastIndexOf('\n') + 1)];
    assert.equal(status, '200', body);
    const json = JSON.parse(body) as Answer;
    assert.equal(json.ok, true);
    assert.equal(json.sha256, viaCurl.sha256);
    assert.equal(json.size, viaCurl.sizeBytes);
  });

  it('accepts the rest as rattler-style multipart uploads', async () => {
    for (const pkg of viaMultipart) {
      const r = await rattlerUpload(server.url, CHANNEL, pkg, server.adminKey);
      const body = await answerOf(r);
      assert.equal(r.status, 200, `${pkg.filename}: ${JSON.stringify(body)}`);
      assert.deepEqual(
        { ok: body.ok, subdir: body.subdir, filename: body.filename, sha256: body.sha256, md5: body.md5, size: body.size, replaced: body.replaced },
        { ok: true, subdir: pkg.folder, filename: pkg.filename, sha256: pkg.sha256, md5: pkg.md5, size: pkg.sizeBytes, replaced: false },
      );
    }
  });

  it('serves, per subdir, the same records as conda-index', async () => {
    for (const subdir of subdirs) {
      await waitForFilenames(subdir, inSubdir(subdir));
      const { json } = await repodata(subdir);
      const reference = condaIndexRepodata(subdir);
      assert.deepEqual(Object.keys(json).sort(), ['info', 'packages', 'packages.conda', 'removed', 'repodata_version']);
      assert.deepEqual(json.info, { subdir });
      assert.deepEqual(json.packages, reference.packages, `${subdir} packages`);
      assert.deepEqual(json['packages.conda'], reference['packages.conda'], `${subdir} packages.conda`);
      assert.deepEqual(json.removed, []);
      assert.equal(json.repodata_version, 1);
    }
  });

  it('serves repodata.json byte-identical to conda-index', async () => {
    for (const subdir of subdirs) {
      const { text } = await repodata(subdir);
      const reference = fs.readFileSync(path.join(fixturesDir, 'conda-index', subdir, 'repodata.json'), 'utf8');
      assert.equal(text, reference, `${subdir}/repodata.json differs from conda-index's`);
    }
  });

  it('refuses a second upload of each package with 409', async () => {
    for (const pkg of packages) {
      const r = await rattlerUpload(server.url, CHANNEL, pkg, server.adminKey);
      const body = await answerOf(r);
      assert.equal(r.status, 409, pkg.filename);
      assert.equal(body.error, 'PACKAGE_EXISTS');
      assert.ok((body.message ?? '').length > 0);
    }
  });

  it('replaces each package with ?force=true, and the index stays the same', async () => {
    for (const pkg of packages) {
      const r = await rattlerUpload(server.url, CHANNEL, pkg, server.adminKey, { force: true });
      const body = await answerOf(r);
      assert.equal(r.status, 200, `${pkg.filename}: ${JSON.stringify(body)}`);
      assert.equal(body.replaced, true);
    }
    for (const subdir of subdirs) {
      await waitForFilenames(subdir, inSubdir(subdir));
      const reference = fs.readFileSync(path.join(fixturesDir, 'conda-index', subdir, 'repodata.json'), 'utf8');
      // The rewrite after the last replace may still be pending; wait for it to settle on the same bytes.
      await waitFor(async () => (await repodata(subdir)).text === reference, 5000);
    }
  });

  it('deletes a package: 200, gone from repodata and from its URL, then 404 the second time', async () => {
    const victim = packages.find((p) => p.filename === 'dependency-1.0-0.conda')!;
    const remove = () => deletePackage(server.url, CHANNEL, victim.folder, victim.filename, server.adminKey);
    const first = await remove();
    assert.equal(first.status, 200, await first.text());
    await waitForFilenames(victim.folder, inSubdir(victim.folder).filter((f) => f !== victim.filename));
    const download = await fetch(`${server.url}/${CHANNEL}/${victim.folder}/${victim.filename}`);
    assert.equal(download.status, 404);
    await download.arrayBuffer();
    const second = await remove();
    assert.equal(second.status, 404);
    assert.equal((await answerOf(second)).error, 'PACKAGE_NOT_FOUND');
  });
});

describe('reindex', () => {
  it('answers 202', async () => {
    const r = await reindexSubdir(server.url, CHANNEL, 'noarch', server.adminKey);
    assert.equal(r.status, 202, await r.text());
  });

  it('makes repodata follow files added and removed by hand', async () => {
    // A channel of its own, so the deletions queued above cannot interfere.
    const channel = 'by-hand';
    await server.core.channels.create(channel, server.admin.id, { isPublic: true });
    const byName = (f: string) => packages.find((p) => p.filename === f)!;
    const kept = byName('dependency-2.0-0.conda');
    const removedByHand = byName('dependent-1.0-0.conda');
    const copiedByHand = byName('python-3.99.99-0.conda');
    for (const pkg of [kept, removedByHand]) assert.equal((await rattlerUpload(server.url, channel, pkg, server.adminKey)).status, 200);
    await waitForFilenames('noarch', [kept.filename, removedByHand.filename], channel);

    await server.core.store.delete(packageKey(channel, 'noarch', removedByHand.filename));
    await putByHand(server.core.store, packageKey(channel, 'noarch', copiedByHand.filename), copiedByHand.file);
    const r = await reindexSubdir(server.url, channel, 'noarch', server.adminKey);
    assert.equal(r.status, 202);

    await waitForFilenames('noarch', [kept.filename, copiedByHand.filename], channel);
    const { json } = await repodata('noarch', channel);
    const reference = condaIndexRepodata('noarch')['packages.conda'];
    assert.deepEqual((json['packages.conda'] as Record<string, unknown>)[copiedByHand.filename], reference[copiedByHand.filename]);
    const gone = await fetch(`${server.url}/${channel}/noarch/${removedByHand.filename}`);
    assert.equal(gone.status, 404);
    await gone.arrayBuffer();
    const found = await fetch(`${server.url}/${channel}/noarch/${copiedByHand.filename}`);
    assert.equal(found.status, 200);
    assert.equal(Buffer.from(await found.arrayBuffer()).equals(fs.readFileSync(copiedByHand.file)), true);
  });
});
