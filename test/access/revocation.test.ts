// Losing access takes effect on the very next request, even right after a
// request that succeeded (the verified key is cached then): a revoked key,
// an expired key, a removed member, a member downgraded to VIEWER, and a
// channel turned private. Each is checked where clients would notice it:
// REST upload, a private download (Bearer and conda's /t/ URL), and what
// GraphQL shows.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { CHALLENGE, Q, bearer, condaSafe, get, gql, gqlOutcome, gqlVisibility, upload, type Answer } from '../helpers/access.js';
import { makePackages, type MadePackage } from '../helpers/make-packages.js';
import { runCli, startServer, tempDataDir, type TestServer } from '../helpers/server.js';

const VAULT = 'vault'; // private, ruth's
const SQUARE = 'square'; // public until the last test, ruth's

let server: TestServer;
let pkgDir: string;
let ruth: string; // owner's unscoped ALL key, for managing
let cid: string; // a user who will be a member for a while
let fresh: () => MadePackage;
let known: MadePackage; // in both channels from the start

const SEES_ALL = { channel: true, listed: true, package: true, packageListed: true };
const SEES_NOTHING = { channel: false, listed: false, package: false, packageListed: false };

async function must(query: string, variables: Record<string, unknown>, key: string) {
  const res = await gql(server, query, variables, key);
  assert.equal(gqlOutcome(res), 'ok', `${query.slice(0, 50)}: ${JSON.stringify(res.body)}`);
  return res.body.data;
}

async function mintKey(name: string, expiresAt?: string): Promise<string> {
  const data = await must(Q.createKey, { name, expiresAt: expiresAt ?? null }, ruth);
  return data.createApiKey.key as string;
}

const download = (key: string, channel = VAULT) => get(`${server.url}/${channel}/noarch/${known.filename}`, bearer(key));
const downloadViaToken = (key: string) => get(`${server.url}/t/${condaSafe(key)}/${VAULT}/noarch/${known.filename}`);

function assertChallenged(a: Answer, how: string): void {
  assert.equal(a.status, 401, `${how}: ${a.status} ${a.error}`);
  assert.equal(a.headers.get('www-authenticate'), CHALLENGE, how);
}

/** Everything works with this key right now (and the key is verified and cached after this). */
async function assertWorks(key: string, what: string): Promise<void> {
  const up = await upload(server.url, VAULT, fresh(), key);
  assert.equal(up.status, 200, `${what}: upload ${up.status} ${up.message}`);
  assert.equal((await download(key)).status, 200, `${what}: download`);
  assert.deepEqual(await gqlVisibility(server, VAULT, known.spec.name, key), SEES_ALL, `${what}: GraphQL`);
}

/** A key that is no longer valid: 401 on REST, anonymous on GraphQL. */
async function assertDead(key: string, what: string): Promise<void> {
  assertChallenged(await upload(server.url, VAULT, fresh(), key), `${what}: upload`);
  assertChallenged(await download(key), `${what}: download with Bearer`);
  assertChallenged(await downloadViaToken(key), `${what}: download via /t/`);
  assert.deepEqual(await gqlVisibility(server, VAULT, known.spec.name, key), SEES_NOTHING, `${what}: GraphQL`);
  const viewer = await gql(server, '{ viewer { login } }', undefined, key);
  assert.deepEqual(viewer.body, { data: { viewer: null } }, `${what}: viewer`);
}

before(async () => {
  // Dead keys are failed authentications; the limiter is not what this file tests.
  server = await startServer({ env: { CHANNELD_AUTH_FAILURES_PER_MINUTE: '1000' } });
  const { core } = server;
  ruth = (await core.users.createKey(await core.users.create('ruth', false), { name: 'main', expiresAt: null })).token;
  cid = (await core.users.createKey(await core.users.create('cid', false), { name: 'main', expiresAt: null })).token;
  pkgDir = tempDataDir('channeld-revocation-pkgs-');
  const made = await makePackages(pkgDir, Array.from({ length: 24 }, (_, i) => ({
    name: `revo-${i}`, version: '1.0', build: '0', subdir: 'noarch', format: 'tar.bz2' as const,
  })));
  known = made.shift()!;
  fresh = () => {
    const next = made.shift();
    assert.ok(next, 'ran out of packages');
    return next;
  };
  await must(Q.createChannel, { name: VAULT, isPublic: false }, ruth);
  await must(Q.createChannel, { name: SQUARE, isPublic: true }, ruth);
  for (const channel of [VAULT, SQUARE]) assert.equal((await upload(server.url, channel, known, ruth)).status, 200);
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  if (pkgDir) fs.rmSync(pkgDir, { recursive: true, force: true });
});

describe('keys', () => {
  it('a key revoked with revokeApiKey fails everywhere on the next request', async () => {
    const key = await mintKey('ci');
    await assertWorks(key, 'before revoking');
    assert.equal((await downloadViaToken(key)).status, 200, 'before revoking: /t/');
    assert.equal((await must(Q.revokeKey, { name: 'ci' }, ruth)).revokeApiKey, true);
    await assertDead(key, 'after revokeApiKey');
  });

  it('a key revoked from another process (channeld key revoke) fails on the next request', async () => {
    const key = await mintKey('laptop');
    await assertWorks(key, 'before revoking');
    // The server's key cache hears nothing of this; only the database changes.
    const cli = await runCli(['key', 'revoke', '--user', 'ruth', '--name', 'laptop', '--data', server.dataDir]);
    assert.equal(cli.code, 0, cli.stderr);
    await assertDead(key, 'after the CLI revoked it');
  });

  it('an expired key fails on the first request after its expiry, though verified moments before', async () => {
    const expiresAt = Date.now() + 3000;
    const key = await mintKey('short-lived', new Date(expiresAt).toISOString());
    await assertWorks(key, 'before expiry');
    assert.ok(Date.now() < expiresAt, 'the warm-up outlasted the key; this test needs a longer lifetime');
    await new Promise((r) => setTimeout(r, expiresAt - Date.now() + 50));
    await assertDead(key, 'after expiry');
  });
});

describe('members', () => {
  it('a member removed with deleteChannelMember loses access on the next request', async () => {
    const added = await must(Q.addMember, { user: 'cid', channel: VAULT, role: 'CONTRIBUTOR' }, ruth);
    assert.deepEqual(added.addChannelMember, { username: 'cid', role: 'CONTRIBUTOR' });
    await assertWorks(cid, 'as CONTRIBUTOR');
    await must(Q.deleteMember, { user: 'cid', channel: VAULT }, ruth);

    const up = await upload(server.url, VAULT, fresh(), cid);
    // Refused as an authenticated stranger; which of 403/404 is pinned by the permission matrix.
    assert.ok(up.status === 403 || up.status === 404, `upload after removal: ${up.status} ${up.error}`);
    const down = await download(cid);
    assert.equal(down.status, 404, `download after removal: ${down.status} ${down.error}`);
    assert.equal((await downloadViaToken(cid)).status, 404, 'download via /t/ after removal');
    assert.deepEqual(await gqlVisibility(server, VAULT, known.spec.name, cid), SEES_NOTHING, 'GraphQL after removal');
  });

  it('a CONTRIBUTOR downgraded to VIEWER can still read but not write, from the next request on', async () => {
    await must(Q.addMember, { user: 'cid', channel: VAULT, role: 'CONTRIBUTOR' }, ruth);
    await assertWorks(cid, 'as CONTRIBUTOR');
    const yank = { channel: VAULT, subdir: 'noarch', filename: known.filename };
    const downgraded = await must(Q.addMember, { user: 'cid', channel: VAULT, role: 'VIEWER' }, ruth);
    assert.deepEqual(downgraded.addChannelMember, { username: 'cid', role: 'VIEWER' });

    const up = await upload(server.url, VAULT, fresh(), cid);
    assert.equal(up.status, 403, `upload as VIEWER: ${up.status} ${up.error}`);
    assert.equal(up.error, 'FORBIDDEN');
    assert.equal(gqlOutcome(await gql(server, Q.yank, yank, cid)), '403', 'yank as VIEWER');
    assert.equal((await download(cid)).status, 200, 'a VIEWER still downloads');
    assert.deepEqual(await gqlVisibility(server, VAULT, known.spec.name, cid), SEES_ALL, 'a VIEWER still sees it');
  });
});

describe('visibility', () => {
  it('a channel made private with updateChannel is hidden from anonymous callers at once', async () => {
    const repodata = `${server.url}/${SQUARE}/noarch/repodata.json`;
    const pkgUrl = `${server.url}/${SQUARE}/noarch/${known.filename}`;
    assert.equal((await get(repodata)).status, 200, 'public repodata');
    assert.equal((await get(pkgUrl)).status, 200, 'public package');
    assert.deepEqual(await gqlVisibility(server, SQUARE, known.spec.name, null), SEES_ALL, 'public in GraphQL');

    const updated = await must(Q.updateChannel, { name: SQUARE, isPublic: false }, ruth);
    assert.deepEqual(updated.updateChannel.channel, { name: SQUARE, isPublic: false });

    assertChallenged(await get(repodata), 'anonymous repodata after going private');
    assertChallenged(await get(pkgUrl), 'anonymous package after going private');
    assert.deepEqual(await gqlVisibility(server, SQUARE, known.spec.name, null), SEES_NOTHING, 'anonymous GraphQL after going private');
    assert.equal((await get(pkgUrl, bearer(cid))).status, 404, 'a non-member after going private');
    assert.equal((await get(pkgUrl, bearer(ruth))).status, 200, 'the owner still reads it');
  });
});
