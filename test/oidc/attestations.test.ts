// The `attestation` part of rattler_upload's multipart body: a sigstore
// bundle (rattler-build --generate-attestation, or actions/attest with
// conda's predicate). Kept beside the package and served as
// `<file>.v0.sigs` only when it is about this package and this channel;
// anything else is a 400 that keeps nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { bearer, get } from '../helpers/access.js';
import { deletePackage, reindexSubdir } from '../helpers/clients.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { gqlData, userWithKey } from '../helpers/graphql.js';
import { sigstoreBundle, uploadWith } from '../helpers/oidc.js';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';
import { putByHand } from '../helpers/storage.js';
import { attestationKey, packageKey } from '../../src/storage/keys.js';
import os from 'node:os';
import path from 'node:path';

const byName = (f: string) => fixturePackages().find((p) => p.filename === f)!;
const dep1 = byName('dependency-1.0-0.conda');
const dep2 = byName('dependency-2.0-0.conda');
const pkg3 = byName('package3-0.1.0-abc.conda');

let server: TestServer;
let olivia: string;
let mallory: string;

const target = (channel: string) => `${server.url}/${channel}`;
const bundle = (p = dep1, channel = 'signed', extra: Partial<Parameters<typeof sigstoreBundle>[0]> = {}) =>
  sigstoreBundle({ subject: [{ name: p.filename, sha256: p.sha256 }], targetChannel: target(channel), ...extra });
const sigsStored = async (channel: string, subdir: string, filename: string) => (await server.core.store.stat(attestationKey(channel, subdir, filename))) !== null;

before(async () => {
  server = await startServer();
  const o = await userWithKey(server, 'olivia');
  olivia = o.key;
  mallory = (await userWithKey(server, 'mallory')).key;
  await server.core.channels.create('signed', o.user.id, { isPublic: true });
  await server.core.channels.create('hidden', o.user.id, { isPublic: false });
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

describe('refused attestations keep nothing', () => {
  const cases: Array<[string, () => string, RegExp]> = [
    ['not JSON', () => 'not json {', /not valid JSON/],
    ['JSON, not a bundle', () => JSON.stringify({ hello: 'world' }), /not a sigstore bundle/],
    ['a bundle that signs a bare digest (messageSignature)', () => {
      const { dsseEnvelope: _, ...rest } = bundle();
      return JSON.stringify({ ...rest, messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: 'AA==' }, signature: 'AA==' } });
    }, /no dsseEnvelope/],
    ['an envelope that is not in-toto', () => JSON.stringify(sigstoreBundle({ subject: [{ name: dep1.filename, sha256: dep1.sha256 }], targetChannel: target('signed') }, { payloadType: 'text/plain' })), /payloadType/],
    ['about another package', () => JSON.stringify(bundle(dep2)), new RegExp(`is about ${dep2.filename.replace(/\./g, '\\.')} \\(sha256 ${dep2.sha256}\\), not this package`)],
    ['another predicate (SLSA provenance)', () => JSON.stringify(bundle(dep1, 'signed', { predicateType: 'https://slsa.dev/provenance/v1' })), /predicateType is "https:\/\/slsa\.dev\/provenance\/v1"/],
    ['for another channel', () => JSON.stringify(bundle(dep1, 'elsewhere')), /targets channel ".*\/elsewhere", not 'signed'/],
    ['an array with one bad bundle', () => JSON.stringify([bundle(), bundle(dep2)]), /bundle 1: is about/],
  ];
  for (const [what, make, message] of cases) {
    it(what, async () => {
      const res = await uploadWith(server.url, 'signed', dep1, olivia, make());
      assert.equal(res.status, 400, res.body);
      const body = JSON.parse(res.body) as { error: string; message: string };
      assert.equal(body.error, 'INVALID_ATTESTATION');
      assert.match(body.message, message);
      assert.equal((await get(`${server.url}/signed/noarch/${dep1.filename}`)).status, 404, 'the package was not kept');
      assert.ok(!(await sigsStored('signed', 'noarch', dep1.filename)), 'the attestation was not kept');
    });
  }
});

describe('kept attestations', () => {
  it('one bundle: stored as a JSON array of bundles, served beside the package', async () => {
    const b = bundle();
    assert.equal((await uploadWith(server.url, 'signed', dep1, olivia, JSON.stringify(b))).status, 200);
    const a = await get(`${server.url}/signed/noarch/${dep1.filename}.v0.sigs`);
    assert.equal(a.status, 200);
    assert.deepEqual(JSON.parse(a.body.toString('utf8')), [b]);
    assert.ok(a.headers.get('etag'));
    assert.equal((await get(`${server.url}/signed/noarch/${dep1.filename}.v0.sigs`, null, { 'if-none-match': a.headers.get('etag')! })).status, 304);
  });

  it('several bundles, one subject among many (actions/attest with a glob)', async () => {
    const b = sigstoreBundle({
      subject: [{ name: dep1.filename, sha256: dep1.sha256 }, { name: pkg3.filename, sha256: pkg3.sha256.toUpperCase() }],
      targetChannel: `${target('signed')}/`,
    });
    const res = await uploadWith(server.url, 'signed', pkg3, olivia, JSON.stringify([b, b]));
    assert.equal(res.status, 200, res.body);
    assert.equal(JSON.parse((await get(`${server.url}/signed/linux-64/${pkg3.filename}.v0.sigs`)).body.toString('utf8')).length, 2);
  });

  it('404 for a package without an attestation, and for a package that is not there', async () => {
    assert.equal((await uploadWith(server.url, 'signed', dep2, olivia)).status, 200);
    const none = await get(`${server.url}/signed/noarch/${dep2.filename}.v0.sigs`);
    assert.equal(none.status, 404);
    assert.match(none.message, /without an attestation/);
    assert.equal((await get(`${server.url}/signed/noarch/nothing-1.0-0.conda.v0.sigs`)).status, 404);
    assert.equal((await get(`${server.url}/signed/noarch/not-a-package.v0.sigs`)).status, 404);
  });

  it('"verified" means every visible variant of the latest version has one', async () => {
    await waitFor(async () => (await get(`${server.url}/signed/noarch/repodata.json`)).body.includes(dep2.filename));
    const verified = async (name: string) =>
      (await gqlData(server, 'query ($n: String!) { package(channelName: "signed", name: $n) { latestVersionVerified } }', { n: name })).package.latestVersionVerified;
    assert.equal(await verified('dependency'), false, 'dependency 2.0 came without one');
    assert.equal(await verified('package3'), true);
    assert.equal((await uploadWith(server.url, 'signed', dep2, olivia, JSON.stringify(bundle(dep2)), '?force=true')).status, 200);
    assert.equal(await verified('dependency'), true);
  });

  it('deleting the package takes its attestation with it', async () => {
    const del = await deletePackage(server.url, 'signed', 'noarch', dep2.filename, olivia);
    assert.equal(del.status, 200);
    assert.equal((await get(`${server.url}/signed/noarch/${dep2.filename}.v0.sigs`)).status, 404);
    await waitFor(async () => !(await sigsStored('signed', 'noarch', dep2.filename)));
  });
});

describe('a rescan of files put on storage by hand', () => {
  it('finds the package with its attestation beside it: served, and counted as verified', async () => {
    // Copied from another server's storage: the package and its bundles, no database row.
    await server.core.channels.create('copied', server.admin.id, { isPublic: true });
    const b = bundle(dep1, 'copied');
    const sigs = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'channeld-sigs-')), 'sigs.json');
    fs.writeFileSync(sigs, JSON.stringify([b]));
    await putByHand(server.core.store, packageKey('copied', 'noarch', dep1.filename), dep1.file);
    await putByHand(server.core.store, attestationKey('copied', 'noarch', dep1.filename), sigs);
    const r = await reindexSubdir(server.url, 'copied', 'noarch', server.adminKey);
    assert.equal(r.status, 202, await r.text());
    await waitFor(async () => (await get(`${server.url}/copied/noarch/repodata.json`)).body.includes(dep1.filename));
    const a = await get(`${server.url}/copied/noarch/${dep1.filename}.v0.sigs`);
    assert.equal(a.status, 200, a.message);
    assert.deepEqual(JSON.parse(a.body.toString('utf8')), [b]);
    const verified = await gqlData(server, '{ package(channelName: "copied", name: "dependency") { latestVersionVerified } }');
    assert.equal(verified.package.latestVersionVerified, true);
  });
});

describe('private channels', () => {
  it('attestations are read with the rights the package needs', async () => {
    assert.equal((await uploadWith(server.url, 'hidden', dep1, olivia, JSON.stringify(bundle(dep1, 'hidden')))).status, 200);
    const url = `${server.url}/hidden/noarch/${dep1.filename}.v0.sigs`;
    const anonymous = await get(url);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="channeld"');
    assert.equal((await get(url, bearer(mallory))).status, 404, 'a stranger learns nothing');
    const owner = await get(url, bearer(olivia));
    assert.equal(owner.status, 200);
    assert.match(owner.headers.get('cache-control') ?? '', /^private\b/);
  });
});

describe('with CHANNELD_PUBLIC_URL set', () => {
  let pinned: TestServer;
  let key: string;
  before(async () => {
    pinned = await startServer({ env: { CHANNELD_PUBLIC_URL: 'https://conda.example.com' } });
    const o = await userWithKey(pinned, 'olivia');
    key = o.key;
    await pinned.core.channels.create('signed', o.user.id, { isPublic: true });
  });
  after(async () => {
    await pinned?.close();
    if (pinned) fs.rmSync(pinned.dataDir, { recursive: true, force: true });
  });

  it('targetChannel must name this server too', async () => {
    const on = (url: string) => JSON.stringify(sigstoreBundle({ subject: [{ name: dep1.filename, sha256: dep1.sha256 }], targetChannel: url }));
    const elsewhere = await uploadWith(pinned.url, 'signed', dep1, key, on('https://prefix.dev/signed'));
    assert.equal(elsewhere.status, 400, elsewhere.body);
    assert.match(JSON.parse(elsewhere.body).message, /another server than conda\.example\.com/);
    assert.equal((await uploadWith(pinned.url, 'signed', dep1, key, on('https://conda.example.com/signed'))).status, 200);
  });
});
