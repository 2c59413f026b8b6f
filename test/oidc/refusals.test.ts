// Identity tokens the mint endpoint must refuse, each sent as rattler sends
// it (POST /api/oidc/mint_token, {"token": "<jwt>"}). rattler shows our body
// after "Server returned error code {status} from the mint endpoint", so
// each refusal must say what did not match.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { SignJWT, base64url, exportSPKI } from 'jose';
import { bearer, get } from '../helpers/access.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { gqlData, userWithKey } from '../helpers/graphql.js';
import {
  ADD_GITHUB, DELETE_PUBLISHER, TestIssuers, githubClaims, gitlabClaims, mintToken, sign, signingKey, uploadWith,
  type RawAnswer, type SigningKey,
} from '../helpers/oidc.js';
import { startServer, type TestServer } from '../helpers/server.js';

const AUDIENCE = '127.0.0.1';
const pkg = fixturePackages().find((p) => p.filename === 'dependency-1.0-0.conda')!;

let issuers: TestIssuers;
let server: TestServer;
let key: SigningKey;
let olivia: string;
let publisherId: string;
const now = () => Math.floor(Date.now() / 1000);

/** A GitHub token for the publisher below, with some claims changed. */
const github = (run: Parameters<typeof githubClaims>[2] = {}, extra: Record<string, unknown> = {}) =>
  sign(githubClaims(issuers.url('github'), AUDIENCE, run, extra), key);

function assertRefused(res: RawAnswer, status: number, code: string, message: RegExp): void {
  assert.equal(res.status, status, res.body);
  const body = JSON.parse(res.body) as { error: string; message: string };
  assert.equal(body.error, code, res.body);
  assert.match(body.message, message);
  assert.ok(res.body.length < 512, 'rattler shows at most 512 characters');
}

before(async () => {
  issuers = await TestIssuers.start();
  key = await signingKey('RS256', 'gh-1');
  issuers.publish('github', key);
  // An issuer with its own keys and discovery that nobody configured.
  issuers.publish('evil', key);
  server = await startServer({
    env: {
      // The GitLab issuer is down (its discovery document is a 404).
      CHANNELD_OIDC_TRUSTED_ISSUERS: `github=${issuers.url('github')},gitlab=${issuers.url('down')}`,
      CHANNELD_OIDC_JWKS_COOLDOWN_MS: '0',
    },
  });
  const o = await userWithKey(server, 'olivia');
  olivia = o.key;
  await server.core.channels.create('widgets', o.user.id, { isPublic: true });
  const d = await gqlData(server, ADD_GITHUB, { channel: 'widgets', owner: 'acme', repo: 'widgets', workflow: 'release.yml', environment: 'release' }, olivia);
  publisherId = d.addGithubOidcPublisher.id;
});

after(async () => {
  await server?.close();
  await issuers?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

describe('tokens that do not verify: 401', () => {
  it('the right token is accepted (so the refusals below are about what they change)', async () => {
    assert.equal((await mintToken(server.url, await github())).status, 200);
  });

  it('wrong audience', async () => {
    const jwt = await sign(githubClaims(issuers.url('github'), 'prefix.dev'), key);
    assertRefused(await mintToken(server.url, jwt), 401, 'OIDC_TOKEN_INVALID', /audience is "prefix\.dev"; this server accepts "127\.0\.0\.1"/);
  });

  it('expired', async () => {
    assertRefused(await mintToken(server.url, await github({}, { iat: now() - 900, nbf: now() - 900, exp: now() - 600 })), 401, 'OIDC_TOKEN_INVALID', /expired/);
  });

  it('not yet valid (nbf)', async () => {
    assertRefused(await mintToken(server.url, await github({}, { nbf: now() + 600 })), 401, 'OIDC_TOKEN_INVALID', /not valid before/);
  });

  it('issued in the future (iat)', async () => {
    assertRefused(await mintToken(server.url, await github({}, { iat: now() + 600 })), 401, 'OIDC_TOKEN_INVALID', /issued in the future|iat/);
  });

  it('without exp or jti', async () => {
    assertRefused(await mintToken(server.url, await github({}, { exp: undefined })), 401, 'OIDC_TOKEN_INVALID', /"exp"/);
    assertRefused(await mintToken(server.url, await github({}, { jti: undefined })), 401, 'OIDC_TOKEN_INVALID', /"jti"/);
  });

  it('signed with a key the issuer does not publish, even after fetching its keys again', async () => {
    const rogue = await signingKey('RS256', 'rogue');
    const before = issuers.keySetFetches('github');
    const jwt = await sign(githubClaims(issuers.url('github'), AUDIENCE), rogue);
    assertRefused(await mintToken(server.url, jwt), 401, 'OIDC_TOKEN_INVALID', /publishes no single key "rogue"/);
    assert.ok(issuers.keySetFetches('github') > before, 'an unknown kid is looked up again');
  });

  it('signed by another key under a published kid', async () => {
    const impostor = { ...(await signingKey('RS256', 'gh-1')) };
    assertRefused(await mintToken(server.url, await sign(githubClaims(issuers.url('github'), AUDIENCE), impostor)), 401, 'OIDC_TOKEN_INVALID', /signature does not verify/);
  });

  it('alg: none', async () => {
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    const payload = base64url.encode(JSON.stringify(githubClaims(issuers.url('github'), AUDIENCE)));
    assertRefused(await mintToken(server.url, `${header}.${payload}.`), 401, 'OIDC_TOKEN_INVALID', /signed with "none"/);
  });

  it('HS256 with the issuer\'s public key as the HMAC secret', async () => {
    const secret = new TextEncoder().encode(await exportSPKI(key.publicKey));
    const jwt = await new SignJWT(githubClaims(issuers.url('github'), AUDIENCE)).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: 'gh-1' }).sign(secret);
    assertRefused(await mintToken(server.url, jwt), 401, 'OIDC_TOKEN_INVALID', /signed with "HS256"/);
  });

  it('from an issuer that is not trusted here, which is never contacted', async () => {
    const jwt = await sign(githubClaims(issuers.url('evil'), AUDIENCE), key);
    assertRefused(await mintToken(server.url, jwt), 401, 'OIDC_TOKEN_INVALID', /issuer ".*\/evil" is not trusted/);
    assert.ok(!issuers.fetched.some((p) => p.startsWith('/evil/')), issuers.fetched.join(' '));
  });

  it('replayed: each token is exchanged once (jti)', async () => {
    const jwt = await github();
    assert.equal((await mintToken(server.url, jwt)).status, 200);
    assertRefused(await mintToken(server.url, jwt), 401, 'OIDC_TOKEN_INVALID', /already exchanged/);
  });
});

describe('tokens that verify but match no publisher: 403', () => {
  it('another repository of the same owner', async () => {
    assertRefused(await mintToken(server.url, await github({ repo: 'gizmos' })), 403, 'NO_MATCHING_PUBLISHER', /repository is "acme\/gizmos", the publisher wants "acme\/widgets"/);
  });

  it('an owner with no publisher at all', async () => {
    assertRefused(await mintToken(server.url, await github({ owner: 'mallory' })), 403, 'NO_MATCHING_PUBLISHER', /no trusted publisher is configured for "mallory"/);
  });

  it('another workflow file', async () => {
    assertRefused(await mintToken(server.url, await github({ workflow: 'ci.yml' })), 403, 'NO_MATCHING_PUBLISHER', /workflow is .*ci\.yml.*wants \.github\/workflows\/release\.yml/);
  });

  it('a reusable release.yml from another repository', async () => {
    const jwt = await github({ workflow: 'ci.yml' }, { job_workflow_ref: 'mallory/tools/.github/workflows/release.yml@refs/heads/main' });
    assertRefused(await mintToken(server.url, jwt), 403, 'NO_MATCHING_PUBLISHER', /workflow/);
  });

  it('another environment, or none', async () => {
    assertRefused(await mintToken(server.url, await github({ environment: 'staging' })), 403, 'NO_MATCHING_PUBLISHER', /environment is "staging", the publisher wants "release"/);
    assertRefused(await mintToken(server.url, await github({ environment: null })), 403, 'NO_MATCHING_PUBLISHER', /environment is \(none\)/);
  });
});

describe('what is not a token at all: 400', () => {
  it('not a JWT, no token, not JSON', async () => {
    assertRefused(await mintToken(server.url, 'pfx_not-a-jwt'), 400, 'BAD_REQUEST', /not a JWT/);
    const noToken = await fetch(`${server.url}/api/oidc/mint_token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(noToken.status, 400);
    const notJson = await fetch(`${server.url}/api/oidc/mint_token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"token":' });
    assert.equal(notJson.status, 400);
  });
});

describe('an issuer that cannot be reached: 502 (clients retry)', () => {
  it('says which document it could not read', async () => {
    const jwt = await sign(gitlabClaims(issuers.url('down'), AUDIENCE), key);
    assertRefused(await mintToken(server.url, jwt), 502, 'OIDC_ISSUER_UNAVAILABLE', /\/down\/\.well-known\/openid-configuration: HTTP 404/);
  });
});

describe('a publisher deleted after minting', () => {
  it('its tokens stop working at once', async () => {
    const res = await mintToken(server.url, await github());
    assert.equal(res.status, 200, res.body);
    const token = res.body;
    assert.equal((await get(`${server.url}/widgets/noarch/repodata.json`, bearer(token))).status, 200);
    await gqlData(server, DELETE_PUBLISHER, { channel: 'widgets', id: publisherId }, olivia);
    const up = await uploadWith(server.url, 'widgets', pkg, token);
    assert.equal(up.status, 401, up.body);
    assert.equal(JSON.parse(up.body).error, 'UNAUTHENTICATED');
    assertRefused(await mintToken(server.url, await github()), 403, 'NO_MATCHING_PUBLISHER', /no trusted publisher is configured for "acme"/);
  });
});
