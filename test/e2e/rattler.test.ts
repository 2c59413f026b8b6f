// The real rattler solver (@conda-org/rattler, rattler compiled to wasm)
// reading our channel over HTTP, as pixi and rattler-build do natively.
//
// What it sends for each platform: GET repodata_shards.msgpack.zst first;
// channeld publishes CEP-16 shards, so it reads the shards it needs from
// there (without shards it would probe repodata.json.zst, .bz2, then
// repodata.json).
//
// Specs, chosen from expected-index.jsonl so they install from the fixtures alone:
//   dependent          noarch .conda, depends `dependency >=1.0,<2.0a0`; the channel
//                      also holds dependency 2.0, so the solver must read our
//                      depends and pick 1.0.
//   pip                noarch .tar.bz2, depends `python 3.99.*`, met by the fixture
//                      noarch python-3.99.99-0.conda (a .tar.bz2 needing a .conda).
//   other-package 0.2  linux-64, no depends, present as .conda and .tar.bz2.
//   package3           linux-64, no depends.
// Unsatisfiable: dependent + run_constrained (run_constrained constrains
// dependency >=2.0), zlib on linux-64 (needs libgcc-ng, not in the fixtures),
// and dependency >=3.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Platform, SolvedPackage } from '@conda-org/rattler';
import { rattlerUpload } from '../helpers/clients.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { rattlerSolve, rattlerSolveError } from '../helpers/rattler.js';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';

const CHANNEL = 'solve';
const PLATFORMS: Platform[] = ['linux-64', 'noarch'];
const packages = fixturePackages();

let server: TestServer;
const channelUrl = () => `${server.url}/${CHANNEL}`;

// The solver asks for identity bodies (see test/helpers/rattler.ts: it
// panics on gzip-encoded repodata.json).
const solve = (specs: string[]): Promise<SolvedPackage[]> => rattlerSolve(specs, [channelUrl()], PLATFORMS);
const solveError = (specs: string[]): Promise<string | null> => rattlerSolveError(specs, [channelUrl()], PLATFORMS);

before(async () => {
  server = await startServer();
  await server.core.channels.create(CHANNEL, server.admin.id, { isPublic: true });
  for (const pkg of packages) {
    const r = await rattlerUpload(server.url, CHANNEL, pkg, server.adminKey);
    assert.equal(r.status, 200, `${pkg.filename}: ${await r.text()}`);
  }
  for (const subdir of PLATFORMS) {
    const expected = packages.filter((p) => p.folder === subdir).length;
    await waitFor(async () => {
      const doc = (await (await fetch(`${channelUrl()}/${subdir}/repodata.json`)).json()) as Record<string, object>;
      return Object.keys(doc.packages ?? {}).length + Object.keys(doc['packages.conda'] ?? {}).length === expected;
    });
  }
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

describe('rattler solving against the channel', () => {
  let solution: SolvedPackage[];

  it('solves dependent, pip, other-package 0.2 and package3 from noarch and linux-64', async () => {
    solution = await solve(['dependent', 'pip', 'other-package 0.2', 'package3']);
    const got = solution.map((p) => `${p.packageName} ${p.version} ${p.build} ${p.subdir}`).sort();
    assert.deepEqual(got, [
      'dependency 1.0 0 noarch',
      'dependent 1.0 0 noarch',
      'other-package 0.2 0 linux-64',
      'package3 0.1.0 abc linux-64',
      'pip 99.99.99 py399_0 noarch',
      'python 3.99.99 0 noarch',
    ]);
    for (const p of solution) {
      assert.equal(p.url, `${channelUrl()}/${p.subdir}/${p.filename}`);
      assert.ok(p.repoName?.startsWith(channelUrl()), String(p.repoName));
    }
  });

  it('prefers the .conda when a package exists in both formats', () => {
    const other = solution.find((p) => p.packageName === 'other-package');
    assert.equal(other?.filename, 'other-package-0.2-0.conda');
  });

  it('gets records whose sha256/size match the fixtures, and every URL downloads those bytes', async () => {
    for (const p of solution) {
      const fixture = packages.find((f) => f.filename === p.filename && f.folder === p.subdir);
      assert.ok(fixture, `${p.filename} is not a fixture`);
      assert.equal(p.sha256, fixture.sha256);
      assert.equal(p.size, BigInt(fixture.sizeBytes));
      const r = await fetch(p.url);
      assert.equal(r.status, 200, p.url);
      const bytes = Buffer.from(await r.arrayBuffer());
      assert.equal(createHash('sha256').update(bytes).digest('hex'), p.sha256, p.url);
    }
  });

  it('fails on specs the channel cannot satisfy', async () => {
    const conflict = await solveError(['dependent', 'run_constrained']);
    assert.match(conflict ?? 'solved', /dependency >=2\.0/);
    const missingDependency = await solveError(['zlib']);
    assert.match(missingDependency ?? 'solved', /libgcc-ng/);
    const noSuchVersion = await solveError(['dependency >=3']);
    assert.match(noSuchVersion ?? 'solved', /dependency >=3/);
  });
});
