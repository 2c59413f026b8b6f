// Trusted publishing end to end, as it runs in CI:
//
//   GitHub Actions / GitLab CI job → identity token (aud = our host name)
//   rattler-build upload prefix   → POST /api/oidc/mint_token {"token": "<jwt>"}
//                                 ← 200, the whole body is the channeld token
//                                 → POST /api/v1/upload/<channel> (multipart:
//                                   file + attestation), Authorization: Bearer <it>
//
// against a real issuer on loopback (discovery document, key set, RS256 and
// ES256 keys from jose). The minted token works on its publisher's channel
// with its access mode and nowhere else, and the audit log keeps the claims
// that earned it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { bearer, get } from '../helpers/access.js';
import { deletePackage } from '../helpers/clients.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { gql, gqlData, userWithKey } from '../helpers/graphql.js';
import {
  ADD_GITHUB, ADD_GITLAB, TestIssuers, githubClaims, gitlabClaims, mintToken, sign, sigstoreBundle, signingKey, uploadWith,
  type SigningKey,
} from '../helpers/oidc.js';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';

const byName = (f: string) => fixturePackages().find((p) => p.filename === f)!;
const dep1 = byName('dependency-1.0-0.conda');
const dep2 = byName('dependency-2.0-0.conda');
const dependent = byName('dependent-1.0-0.conda');
// rattler requests the token for the server's host name; tests reach us at 127.0.0.1.
const AUDIENCE = '127.0.0.1';

let issuers: TestIssuers;
let server: TestServer;
let githubKey: SigningKey;
let gitlabKey: SigningKey;
/** olivia owns every channel here. */
let olivia: string;

async function minted(jwt: string): Promise<string> {
  const res = await mintToken(server.url, jwt);
  assert.equal(res.status, 200, res.body);
  return res.body;
}

const bundleFor = (pkg: { filename: string; sha256: string }, channel: string) =>
  JSON.stringify(sigstoreBundle({ subject: [{ name: pkg.filename, sha256: pkg.sha256 }], targetChannel: `${server.url}/${channel}` }));

async function listed(channel: string, filename: string, token: string | null = null): Promise<boolean> {
  const a = await get(`${server.url}/${channel}/noarch/repodata.json`, token ? bearer(token) : null);
  return a.status === 200 && filename in (JSON.parse(a.body.toString('utf8')) as { 'packages.conda': object })['packages.conda'];
}

before(async () => {
  issuers = await TestIssuers.start();
  githubKey = await signingKey('RS256', 'gh-2026');
  gitlabKey = await signingKey('ES256', 'gl-1');
  issuers.publish('github', githubKey);
  issuers.publish('gitlab', gitlabKey);
  server = await startServer({
    env: { CHANNELD_OIDC_TRUSTED_ISSUERS: `github=${issuers.url('github')},gitlab=${issuers.url('gitlab')}`, CHANNELD_OIDC_JWKS_COOLDOWN_MS: '0' },
  });
  const o = await userWithKey(server, 'olivia');
  olivia = o.key;
  for (const [name, isPublic] of [['widgets', true], ['gadgets', false], ['elsewhere', true], ['mirror', true]] as const) {
    await server.core.channels.create(name, o.user.id, { isPublic });
  }
  await gqlData(server, ADD_GITHUB, { channel: 'widgets', owner: 'acme', repo: 'widgets', workflow: 'release.yml', environment: 'release' }, olivia);
  await gqlData(server, ADD_GITLAB, {
    channel: 'gadgets', namespace: 'acme/tools', project: 'gadgets', path: '.gitlab-ci.yml', environment: 'production', accessMode: 'READ_WRITE_DELETE',
  }, olivia);
});

after(async () => {
  await server?.close();
  await issuers?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

describe('GitHub Actions (RS256)', () => {
  let token: string;

  it('mints a token from the job\'s identity token, answered as plain text', async () => {
    const res = await mintToken(server.url, await sign(githubClaims(issuers.url('github'), AUDIENCE), githubKey));
    assert.equal(res.status, 200, res.body);
    assert.match(res.headers['content-type'] ?? '', /^text\/plain/);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(res.body, /^pfx_oidc_[A-Za-z0-9]{43}$/, 'the whole body is the token');
    token = res.body;
  });

  it('uploads with it, multipart with an attestation, and the channel serves both', async () => {
    const attestation = bundleFor(dep1, 'widgets');
    const up = await uploadWith(server.url, 'widgets', dep1, token, attestation);
    assert.equal(up.status, 200, up.body);
    await waitFor(() => listed('widgets', dep1.filename));
    const sigs = await get(`${server.url}/widgets/noarch/${dep1.filename}.v0.sigs`);
    assert.equal(sigs.status, 200);
    assert.match(sigs.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(JSON.parse(sigs.body.toString('utf8')), [JSON.parse(attestation)]);
  });

  it('GraphQL points at the attestations and calls the version verified', async () => {
    const d = await gqlData(server, `{ package(channelName: "widgets", name: "dependency") {
      latestVersionVerified variants { page { filename attestationsUrl } } } }`);
    assert.equal(d.package.latestVersionVerified, true);
    const url: string = d.package.variants.page[0].attestationsUrl;
    assert.equal(url, `${server.url}/widgets/noarch/${dep1.filename}.v0.sigs`);
    assert.equal((await get(url)).status, 200);
  });

  it('records each use with the claims that earned the token', async () => {
    const events = await server.core.audit.list({ limit: 50, channel: 'widgets' });
    const upload = events.find((e) => e.action === 'package.uploaded' && e.target === `noarch/${dep1.filename}`);
    assert.ok(upload, JSON.stringify(events.map((e) => e.action)));
    assert.equal(upload.actorUserId, null);
    const claims = upload.actorPublisher?.claims ?? {};
    assert.equal(claims.repository, 'acme/widgets');
    assert.equal(claims.workflow_ref, 'acme/widgets/.github/workflows/release.yml@refs/heads/main');
    assert.equal(claims.run_id, '12345678901');
    assert.equal(claims.ref, 'refs/heads/main');
    assert.equal(claims.environment, 'release');
    const mint = events.find((e) => e.action === 'publisher.token-minted');
    assert.equal(mint?.actorPublisher?.claims.repository, 'acme/widgets');
  });

  it('is refused on every other channel, and for anything beyond READ_WRITE', async () => {
    const other = await uploadWith(server.url, 'elsewhere', dep2, token);
    assert.equal(other.status, 403, other.body);
    assert.equal(JSON.parse(other.body).error, 'FORBIDDEN');
    // A private channel without a grant: writes and reads answer as if it did not exist (issue 14: no existence oracle).
    assert.equal((await uploadWith(server.url, 'gadgets', dep2, token)).status, 404);
    assert.equal((await get(`${server.url}/gadgets/noarch/repodata.json`, bearer(token))).status, 404);
    // READ_WRITE: no replacing and no deleting.
    assert.equal((await uploadWith(server.url, 'widgets', dep1, token, undefined, '?force=true')).status, 403);
    const del = await deletePackage(server.url, 'widgets', 'noarch', dep1.filename, token);
    assert.equal(del.status, 403);
    // Public reads elsewhere are what anyone has.
    assert.equal((await get(`${server.url}/elsewhere/noarch/repodata.json`, bearer(token))).status, 200);
  });

  it('cannot manage the channel or act as a user over GraphQL', async () => {
    const viewer = await gqlData(server, '{ viewer { login } }', undefined, token);
    assert.equal(viewer.viewer, null);
    for (const [what, query] of [
      ['create a key', 'mutation { createApiKey(name: "ci") { key } }'],
      ['create a channel', 'mutation { createChannel(name: "ci-made") { channel { name } } }'],
      ['add a publisher', 'mutation { addGithubOidcPublisher(channelName: "widgets", repositoryOwner: "evil", repositoryName: "x", workflowFilename: "x.yml") { id } }'],
      ['delete the channel', 'mutation { deleteChannel(name: "widgets") { channel { name } } }'],
    ] as const) {
      const res = await gql(server, query, undefined, token);
      assert.equal(res.body.errors?.[0]?.extensions?.code, 'FORBIDDEN', `${what}: ${JSON.stringify(res.body)}`);
    }
  });
});

describe('GitLab CI (ES256), private channel, READ_WRITE_DELETE', () => {
  let token: string;

  before(async () => {
    token = await minted(await sign(gitlabClaims(issuers.url('gitlab'), AUDIENCE), gitlabKey));
  });

  it('uploads and reads the private channel, with the token in either spelling', async () => {
    const up = await uploadWith(server.url, 'gadgets', dep2, token, bundleFor(dep2, 'gadgets'));
    assert.equal(up.status, 200, up.body);
    await waitFor(() => listed('gadgets', dep2.filename, token));
    const repodata = `${server.url}/gadgets/noarch/repodata.json`;
    assert.equal((await get(repodata)).status, 401, 'anonymous');
    // conda's /t/<token>/ takes only [A-Za-z0-9-].
    assert.equal((await get(repodata.replace(server.url, `${server.url}/t/${token.replaceAll('_', '-')}`))).status, 200, '/t/pfx-oidc-…/');
    const sigs = `${server.url}/gadgets/noarch/${dep2.filename}.v0.sigs`;
    assert.equal((await get(sigs)).status, 401, 'attestations follow the package: anonymous');
    assert.equal((await get(sigs, bearer(token))).status, 200);
  });

  it('may replace and delete, as its access mode says', async () => {
    assert.equal((await uploadWith(server.url, 'gadgets', dep2, token, undefined, '?force=true')).status, 200);
    const gone = await get(`${server.url}/gadgets/noarch/${dep2.filename}.v0.sigs`, bearer(token));
    assert.equal(gone.status, 404, 'a replacement without an attestation does not keep the old one');
    const del = await deletePackage(server.url, 'gadgets', 'noarch', dep2.filename, token);
    assert.equal(del.status, 200, await del.text());
  });

  it('is refused on the GitHub publisher\'s channel', async () => {
    assert.equal((await uploadWith(server.url, 'widgets', dependent, token)).status, 403);
  });
});

describe('one workflow, several channels', () => {
  it('a workflow trusted by two channels gets one token that works on both', async () => {
    await gqlData(server, ADD_GITHUB, { channel: 'mirror', owner: 'acme', repo: 'widgets', workflow: 'release.yml' }, olivia);
    const token = await minted(await sign(githubClaims(issuers.url('github'), AUDIENCE), githubKey));
    assert.equal((await uploadWith(server.url, 'mirror', dependent, token)).status, 200);
    assert.equal((await uploadWith(server.url, 'widgets', dependent, token)).status, 200);
    assert.equal((await uploadWith(server.url, 'elsewhere', dependent, token)).status, 403);
  });

  it('a run without an environment matches only the publisher that does not ask for one', async () => {
    const token = await minted(await sign(githubClaims(issuers.url('github'), AUDIENCE, { environment: null }), githubKey));
    assert.equal((await uploadWith(server.url, 'mirror', dep2, token)).status, 200);
    assert.equal((await uploadWith(server.url, 'widgets', dep2, token)).status, 403);
  });
});

describe('key rotation', () => {
  it('a token signed with a key the issuer published after we cached its keys verifies (the key set is fetched again)', async () => {
    const fetchesBefore = issuers.keySetFetches('github');
    const rotated = await signingKey('ES256', 'gh-2027');
    issuers.publish('github', rotated);
    const res = await mintToken(server.url, await sign(githubClaims(issuers.url('github'), AUDIENCE), rotated));
    assert.equal(res.status, 200, res.body);
    assert.ok(issuers.keySetFetches('github') > fetchesBefore, 'the unknown kid made us fetch the key set again');
  });

  it('the discovery document is read once, not per token', () => {
    assert.equal(issuers.fetched.filter((p) => p === '/github/.well-known/openid-configuration').length, 1);
  });
});
