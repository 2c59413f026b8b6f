// Downloads from a private channel, as each client sends its key:
//
//   pixi / rattler-build (native):  GET …/repodata.json  Authorization: Bearer pfx_…
//   conda with user:key@host, .netrc: Authorization: Basic base64(anything:pfx_…)
//   conda token URLs:                GET /t/<key>/<channel>/<subdir>/<file>
//     conda accepts only [A-Za-z0-9-] after /t/, so users write the key as pfx-…
//   anonymous:                       401 + WWW-Authenticate: Bearer realm="channeld"
//   someone else's valid key:        404, as if the channel did not exist
//
// and the real rattler solver (@conda-org/rattler, wasm) reading the channel
// through a /t/ URL. What that build can and cannot send is described in
// test/helpers/rattler.ts; the last tests here pin it down.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Platform } from '@conda-org/rattler';
import { CHALLENGE, Q, basic, bearer, condaSafe, get, gql, gqlVisibility, upload, type Answer } from '../helpers/access.js';
import { rattlerUpload, tokenUrl } from '../helpers/clients.js';
import { fixturePackages, type FixturePackage } from '../helpers/fixtures.js';
import { sigstoreBundle } from '../helpers/oidc.js';
import { rattlerSolve, rattlerSolveError } from '../helpers/rattler.js';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';

const CHANNEL = 'secret';
const PLATFORMS: Platform[] = ['linux-64', 'noarch'];
// dependent needs `dependency >=1.0,<2.0a0`; dependency 2.0 is there too, so
// the solver must read our records to pick 1.0.
const FILES = ['dependent-1.0-0.conda', 'dependency-1.0-0.conda', 'dependency-2.0-0.conda', 'package3-0.1.0-abc.conda'];
const packages = fixturePackages().filter((p) => FILES.includes(p.filename));
const pkg = packages.find((p) => p.filename === 'package3-0.1.0-abc.conda')!;

let server: TestServer;
/** olivia owns the channel; mallory has a valid key and no rights on it. */
let olivia: string;
let mallory: string;
/** What a conda user puts in a token URL: READ only, scoped to the channel (made through GraphQL). */
let downloadToken: string;

const repodataUrl = (prefix = '') => `${server.url}${prefix}/${CHANNEL}/noarch/repodata.json`;
const packageUrl = (prefix = '', p: FixturePackage = pkg) => `${server.url}${prefix}/${CHANNEL}/${p.folder}/${p.filename}`;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function assertRepodata(a: Answer, how: string): void {
  assert.equal(a.status, 200, `${how}: ${a.status} ${a.error} ${a.message}`);
  const doc = JSON.parse(a.body.toString('utf8')) as { packages: object; 'packages.conda': Record<string, unknown> };
  assert.ok('dependent-1.0-0.conda' in doc['packages.conda'], `${how}: dependent is not listed`);
  assert.match(a.headers.get('cache-control') ?? '', /^private\b/, `${how}: a shared cache may keep this`);
}

function assertPackage(a: Answer, how: string, p: FixturePackage = pkg): void {
  assert.equal(a.status, 200, `${how}: ${a.status} ${a.error} ${a.message}`);
  assert.equal(sha256(a.body), p.sha256, `${how}: wrong bytes`);
  assert.match(a.headers.get('cache-control') ?? '', /^private\b/, `${how}: a shared cache may keep this`);
}

function assertChallenged(a: Answer, how: string): void {
  assert.equal(a.status, 401, `${how}: ${a.status}`);
  assert.equal(a.headers.get('www-authenticate'), CHALLENGE, how);
  assert.equal(a.error, 'UNAUTHENTICATED', how);
}

before(async () => {
  server = await startServer();
  const { core } = server;
  const owner = await core.users.create('olivia', false);
  const outsider = await core.users.create('mallory', false);
  olivia = (await core.users.createKey(owner, { name: 'laptop', expiresAt: null })).token;
  mallory = (await core.users.createKey(outsider, { name: 'laptop', expiresAt: null })).token;
  const created = await gql(server, Q.createChannel, { name: CHANNEL, isPublic: false }, olivia);
  assert.deepEqual(created.body.data?.createChannel.channel, { name: CHANNEL, isPublic: false });
  const minted = await gql(server, Q.createKey, { name: 'conda', accessMode: 'READ', channelName: CHANNEL }, olivia);
  downloadToken = minted.body.data?.createApiKey.key;
  assert.match(downloadToken ?? '', /^pfx_/, JSON.stringify(minted.body));
  for (const p of packages) assert.equal((await upload(server.url, CHANNEL, p, olivia)).status, 200, p.filename);
  for (const subdir of PLATFORMS) {
    const expected = packages.filter((p) => p.folder === subdir).length;
    await waitFor(async () => {
      const a = await get(`${server.url}/${CHANNEL}/${subdir}/repodata.json`, bearer(olivia));
      if (a.status !== 200) return false; // linux-64 has no index until its first upload is indexed
      const doc = JSON.parse(a.body.toString()) as { packages: object; 'packages.conda': object };
      return Object.keys(doc.packages).length + Object.keys(doc['packages.conda']).length === expected;
    });
  }
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

describe('without a key', () => {
  it('repodata.json, packages and HEAD probes answer 401 with a Bearer challenge', async () => {
    assertChallenged(await get(repodataUrl()), 'GET repodata.json');
    assertChallenged(await get(packageUrl()), 'GET package');
    const head = await fetch(packageUrl(), { method: 'HEAD' });
    assert.equal(head.status, 401, 'HEAD package (mamba probe)');
    assert.equal(head.headers.get('www-authenticate'), CHALLENGE);
  });

  it('GraphQL shows neither the channel nor its packages', async () => {
    assert.deepEqual(await gqlVisibility(server, CHANNEL, 'dependent', null), { channel: false, listed: false, package: false, packageListed: false });
  });
});

describe('with the owner’s key', () => {
  it('Bearer (pixi, rattler-build): repodata.json and the package, marked private for caches', async () => {
    assertRepodata(await get(repodataUrl(), bearer(olivia)), 'Bearer repodata');
    assertPackage(await get(packageUrl(), bearer(olivia)), 'Bearer package');
    const head = await fetch(packageUrl(), { method: 'HEAD', headers: { authorization: bearer(olivia) } });
    assert.equal(head.status, 200, 'HEAD with Bearer');
  });

  it('Basic with any user name and the key as password (conda user:key@host, .netrc)', async () => {
    for (const user of ['olivia', 'anything', '']) {
      assertRepodata(await get(repodataUrl(), basic(user, olivia)), `Basic ${user || '(empty user)'} repodata`);
      assertPackage(await get(packageUrl(), basic(user, olivia)), `Basic ${user || '(empty user)'} package`);
    }
  });

  it('conda’s /t/<key>/ prefix, with the key as pfx_… and as the conda-safe pfx-…', async () => {
    for (const token of [olivia, condaSafe(olivia), downloadToken, condaSafe(downloadToken)]) {
      const how = `/t/${token.slice(0, 4)}…${token === downloadToken || token === condaSafe(downloadToken) ? ' (scoped READ key)' : ''}`;
      assertRepodata(await get(repodataUrl(`/t/${token}`)), `${how} repodata`);
      assertPackage(await get(packageUrl(`/t/${token}`)), `${how} package`);
    }
  });

  it('GraphQL shows the channel and its packages', async () => {
    assert.deepEqual(await gqlVisibility(server, CHANNEL, 'dependent', olivia), { channel: true, listed: true, package: true, packageListed: true });
  });
});

describe('with a key that does not open the channel', () => {
  it('an outsider’s valid key gets 404 in every form, as for a channel that does not exist', async () => {
    const forms: Array<[string, string, string | null]> = [
      ['Bearer', '', bearer(mallory)],
      ['Basic', '', basic('mallory', mallory)],
      ['/t/ pfx_', `/t/${mallory}`, null],
      ['/t/ pfx-', `/t/${condaSafe(mallory)}`, null],
    ];
    for (const [how, prefix, authorization] of forms) {
      for (const [what, url] of [['repodata', repodataUrl(prefix)], ['package', packageUrl(prefix)]] as const) {
        const a = await get(url, authorization);
        assert.equal(a.status, 404, `${how} ${what}: ${a.status} ${a.error}`);
        assert.equal(a.headers.get('www-authenticate'), null, `${how} ${what}: a 404 asks for no credentials`);
        const missing = await get(url.replace(`/${CHANNEL}/`, '/no-such-channel/'), authorization);
        assert.deepEqual([a.status, a.error], [missing.status, missing.error], `${how} ${what}: differs from a missing channel`);
      }
    }
    assert.deepEqual(await gqlVisibility(server, CHANNEL, 'dependent', mallory), { channel: false, listed: false, package: false, packageListed: false });
  });

  it('a key that is not valid gets 401 in every form', async () => {
    const bogus = `pfx_${'Q'.repeat(52)}`;
    assertChallenged(await get(repodataUrl(), bearer(bogus)), 'Bearer bogus');
    assertChallenged(await get(repodataUrl(), basic('x', bogus)), 'Basic bogus');
    assertChallenged(await get(repodataUrl(`/t/${bogus}`)), '/t/ bogus');
    assertChallenged(await get(packageUrl(`/t/${condaSafe(bogus)}`)), '/t/ bogus pfx-');
    // A token URL with something that is not a key at all.
    assertChallenged(await get(packageUrl('/t/not-a-key')), '/t/not-a-key');
  });
});

describe('attestations (<file>.v0.sigs)', () => {
  it('follow the package: 401 without a key, 404 for an outsider, 200 in every form the owner uses', async () => {
    const bundle = JSON.stringify(sigstoreBundle({ subject: [{ name: pkg.filename, sha256: pkg.sha256 }], targetChannel: `${server.url}/${CHANNEL}` }));
    const replaced = await rattlerUpload(server.url, CHANNEL, pkg, olivia, { force: true, attestation: bundle });
    assert.equal(replaced.status, 200, await replaced.text());
    const sigsUrl = (prefix = '') => `${packageUrl(prefix)}.v0.sigs`;
    assertChallenged(await get(sigsUrl()), 'anonymous');
    for (const [how, a] of [
      ['Bearer', await get(sigsUrl(), bearer(olivia))],
      ['Basic', await get(sigsUrl(), basic('x', olivia))],
      ['/t/ scoped READ key, conda-safe', await get(sigsUrl(`/t/${condaSafe(downloadToken)}`))],
    ] as const) {
      assert.equal(a.status, 200, `${how}: ${a.status} ${a.error}`);
      assert.deepEqual(JSON.parse(a.body.toString('utf8')), [JSON.parse(bundle)], how);
      assert.match(a.headers.get('cache-control') ?? '', /^private\b/, how);
    }
    const outsider = await get(sigsUrl(), bearer(mallory));
    const missing = await get(sigsUrl().replace(`/${CHANNEL}/`, '/no-such-channel/'), bearer(mallory));
    assert.deepEqual([outsider.status, outsider.error], [missing.status, missing.error]);
    assert.equal(outsider.status, 404);
  });
});

describe('the rattler solver (wasm)', () => {
  const expectedSolution = ['dependency 1.0 noarch', 'dependent 1.0 noarch', 'package3 0.1.0 linux-64'];

  it('solves through /t/<pfx-key>/<channel> and its package URLs carry the token and download', async () => {
    const sent: Request[] = [];
    const channelUrl = tokenUrl(server.url, condaSafe(downloadToken), CHANNEL);
    const solution = await rattlerSolve(['dependent', 'package3'], [channelUrl], PLATFORMS, { onRequest: (r) => sent.push(r) });
    assert.deepEqual(solution.map((p) => `${p.packageName} ${p.version} ${p.subdir}`).sort(), expectedSolution);
    assert.ok(sent.length > 0 && sent.every((r) => r.url.startsWith(`${channelUrl}/`)), 'every request went through the token URL');
    assert.ok(sent.every((r) => !r.headers.has('authorization')), 'rattler itself sends no Authorization header');
    for (const p of solution) {
      assert.equal(p.url, `${channelUrl}/${p.subdir}/${p.filename}`);
      const fixture = packages.find((f) => f.filename === p.filename)!;
      assertPackage(await get(p.url), `download of ${p.url}`, fixture);
      assert.equal(p.sha256, fixture.sha256);
    }
  });

  it('fails against the private URL without credentials (the server answers 401)', async () => {
    const error = await rattlerSolveError(['package3'], [`${server.url}/${CHANNEL}`], PLATFORMS);
    assert.match(error ?? 'solved', /401/);
  });

  it('fails with an outsider’s key in the token URL: to rattler the channel does not exist (404)', async () => {
    const error = await rattlerSolveError(['package3'], [`${server.url}/t/${condaSafe(mallory)}/${CHANNEL}`], PLATFORMS);
    assert.match(error ?? 'solved', /could not find subdir 'noarch' in channel/);
  });

  it('solves the plain URL when the host adds a Bearer header to its fetches (as native pixi sends it)', async () => {
    const channelUrl = `${server.url}/${CHANNEL}`;
    const solution = await rattlerSolve(['dependent', 'package3'], [channelUrl], PLATFORMS, { headers: { authorization: bearer(downloadToken) } });
    assert.deepEqual(solution.map((p) => `${p.packageName} ${p.version} ${p.subdir}`).sort(), expectedSolution);
    // Its package URLs carry no credentials: fetching them needs the header again.
    const first = solution[0]!;
    assertChallenged(await get(first.url), 'package URL without the header');
    assert.equal((await get(first.url, bearer(downloadToken))).status, 200);
  });

  it('(canary) cannot take the key as user:key@host in the channel URL', async () => {
    const withUserInfo = server.url.replace('http://', `http://conda:${downloadToken}@`);
    const error = await rattlerSolveError(['package3'], [`${withUserInfo}/${CHANNEL}`], PLATFORMS);
    assert.match(error ?? 'solved', /builder error/, 'rattler now accepts credentials in the URL: test it as a Basic client');
  });
});
