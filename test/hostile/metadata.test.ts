// Package metadata that would break a client, sent to a real server process
// (issue 14 §2): wrong CEP-34 types (conda 23-style strictness: depends as a
// string, build_number not an integer, …), nesting bombs, archives whose
// members mean different things to different extractors, and zstd frames
// that ask for gigabytes. Each is a 400 naming what is wrong; nothing is
// stored; the server stays healthy, and its memory does not follow the frame.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compress } from 'zstd-napi';
import { onlyOnFolder } from '../helpers/backends.js';
import { rawUpload } from '../helpers/clients.js';
import { makePackages, type PackageSpec } from '../helpers/make-packages.js';
import { tarOf, wideWindowFrame } from '../helpers/upload-bombs.js';
import { startHostileServer, storedPackageFiles, type HostileServer } from './harness.js';

const CHANNEL = 'meta';
let s: HostileServer;
let dir: string;

async function upload(file: string, filename = path.basename(file)): Promise<{ status: number; body: { error?: string; message?: string } }> {
  const sha256 = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  const r = await rawUpload(s.url, CHANNEL, { file, filename }, s.adminKey, { sha256 });
  return { status: r.status, body: (await r.json()) as { error?: string; message?: string } };
}

/** A .conda of stored zip entries (Python's zipfile, which writes a repeated name when told to). */
function condaOf(file: string, entries: Array<[string, Buffer]>): void {
  const staged = entries.map(([name, data], i) => {
    const f = path.join(dir, `entry-${i}`);
    fs.writeFileSync(f, data);
    return [name, f];
  });
  execFileSync('/usr/bin/python3', ['-W', 'ignore', '-c', `import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_STORED) as z:
    for name, f in json.loads(sys.argv[2]):
        z.writestr(name, open(f, 'rb').read())`, file, JSON.stringify(staged)]);
}

const index = (name: string, extra: object = {}) =>
  JSON.stringify({ name, version: '1.0', build: '0', build_number: 0, depends: [], subdir: 'noarch', noarch: 'generic', ...extra });

async function condaWithInfo(stem: string, info: Buffer, extra: Array<[string, Buffer]> = []): Promise<string> {
  const file = path.join(dir, `${stem}.conda`);
  const pkgTar = compress(await tarOf([['share/x.txt', 'payload']]));
  condaOf(file, [
    ['metadata.json', Buffer.from('{"conda_pkg_format_version": 2}')],
    [`pkg-${stem}.tar.zst`, pkgTar], [`info-${stem}.tar.zst`, info], ...extra,
  ]);
  return file;
}

/** Resident set size of the server process, in MiB (VmHWM: its peak since start). */
function serverPeakRssMiB(): number {
  const status = fs.readFileSync(`/proc/${s.server.child.pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

describe('hostile package metadata against a real server process', () => {
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'channeld-hostile-meta-'));
    s = await startHostileServer();
    const r = await fetch(`${s.url}/api/graphql`, {
      method: 'POST', headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: `mutation { createChannel(name: "${CHANNEL}", isPublic: true) { channel { name } } }` }),
    });
    assert.equal(r.status, 200);
    await r.json();
  });
  after(async () => {
    await s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // [what, field named in the answer, index.json overrides]
  const wrongTypes: Array<[string, string, Record<string, unknown>]> = [
    ['depends as a string', 'depends', { depends: 'python >=3.8' }],
    ['depends holding a number', 'depends', { depends: ['python', 3] }],
    ['depends null', 'depends', { depends: null }],
    ['constrains as a string', 'constrains', { constrains: 'numpy' }],
    ['build_number -1', 'build_number', { build_number: -1 }],
    ['build_number 1.5', 'build_number', { build_number: 1.5 }],
    ['build_number "3"', 'build_number', { build_number: '3' }],
    ['timestamp as a float', 'timestamp', { timestamp: 1700000000000.5 }],
    ['timestamp as a string', 'timestamp', { timestamp: '2024-01-01' }],
    ['noarch as a list', 'noarch', { noarch: ['generic'] }],
    ['noarch of an unknown kind', 'noarch', { noarch: 'rust' }],
    ['track_features as an object', 'track_features', { track_features: { a: 1 } }],
    ['track_features null', 'track_features', { track_features: null }],
    ['license as a number', 'license', { license: 5 }],
    ['features as a list', 'features', { features: ['mkl'] }],
    ['platform as a number', 'platform', { platform: 64 }],
    ['extra_depends as a list', 'extra_depends', { extra_depends: ['a'] }],
  ];

  it('refuses each CEP-34 type violation with 400 INVALID_METADATA naming the field, storing nothing', async () => {
    const specs: PackageSpec[] = wrongTypes.map(([, , overrides], i) => ({
      name: `wrong${i}`, version: '1.0', build: '0', subdir: 'noarch', format: i % 2 === 0 ? 'conda' : 'tar.bz2', indexOverrides: overrides,
    }));
    const made = await makePackages(path.join(dir, 'wrong'), specs);
    for (const [i, [what, field]] of wrongTypes.entries()) {
      const r = await upload(made[i]!.file);
      assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, 'INVALID_METADATA', what);
      assert.match(r.body.message!, new RegExp(`"${field}"`), what);
      await s.assertHealthy();
    }
    assert.deepEqual(storedPackageFiles(s.dataDir, CHANNEL), []);
  });

  it('accepts the same package with well-typed fields (the refusals are about types, not the packages)', async () => {
    const [ok] = await makePackages(path.join(dir, 'ok'), [{
      name: 'welltyped', version: '1.0', build: '0', subdir: 'noarch', format: 'conda',
      indexOverrides: { track_features: 'a b', constrains: ['x >1'], timestamp: null, noarch: 'python', features: null },
    }]);
    const r = await upload(ok!.file);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  it('refuses index.json nested 100,000 deep with a 400, not a stack overflow', async () => {
    const raw = `{"name": "deep", "version": "1.0", "build": "0", "build_number": 0, "x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const [deep] = await makePackages(path.join(dir, 'deep'), [{ name: 'deep', version: '1.0', build: '0', subdir: 'noarch', format: 'conda', indexRaw: raw }]);
    const r = await upload(deep!.file);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error, 'INVALID_METADATA');
    await s.assertHealthy();
  });

  it('refuses a .conda with two zip entries of one name (conda reads the last, a first-entry reader the first)', async () => {
    const stem = 'twozip-1.0-0';
    const honest = compress(await tarOf([['info/index.json', index('twozip')]]));
    const other = compress(await tarOf([['info/index.json', index('twozip', { depends: ['evil'] })]]));
    const file = await condaWithInfo(stem, honest, [[`info-${stem}.tar.zst`, other]]);
    const r = await upload(file);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error, 'INVALID_PACKAGE');
    assert.match(r.body.message!, /two entries named/);
    await s.assertHealthy();
  });

  for (const [what, second] of [
    ['info/./index.json', 'info/./index.json'], ['./info/index.json', './info/index.json'], ['info//index.json', 'info//index.json'],
    ['info/INDEX.json (one file on a case-insensitive disk)', 'info/INDEX.json'],
  ] as const) {
    it(`refuses an info tar holding info/index.json and ${what}`, async () => {
      const stem = `twotar${second.length}-1.0-0`;
      const name = stem.replace(/-1\.0-0$/, '');
      const info = compress(await tarOf([['info/index.json', index(name)], [second, index(name, { depends: ['evil'] })]]));
      const r = await upload(await condaWithInfo(stem, info));
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.body.message!, /appears more than once/);
      await s.assertHealthy();
    });
  }

  it('refuses a second zstd frame asking for a ~2 GiB window before allocating it', async () => {
    const stem = 'wideframe-1.0-0';
    const first = compress(await tarOf([['info/index.json', index('wideframe')]]));
    // Frame 2 asks for a ~1.9 GiB window (fzstd would allocate it).
    const wide = wideWindowFrame();
    const before = serverPeakRssMiB();
    const r = await upload(await condaWithInfo(stem, Buffer.concat([first, wide])));
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.message!, /frame 2 needs a 1920 MiB window/);
    await s.assertHealthy();
    assert.ok(serverPeakRssMiB() - before < 100, `server peak RSS grew ${serverPeakRssMiB() - before} MiB`);
  });

  it('stored nothing of any refused upload', { skip: onlyOnFolder('the stored files are listed from the data folder') }, () => {
    assert.deepEqual(storedPackageFiles(s.dataDir, CHANNEL).map((f) => path.basename(f)), ['welltyped-1.0-0.conda']);
  });
});
