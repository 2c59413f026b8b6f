// A trusted publisher trusts names (GitHub repository owner/name, GitLab
// namespace/project), and a name can be given up and registered again by
// someone else. So a publisher also holds the CI's immutable ids of the
// account and the project (GitHub repository_owner_id / repository_id,
// GitLab namespace_id / project_id): given when it is added (CLI), or pinned
// from the first token that matches it by name. A token whose ids differ is
// then refused and changes nothing. Real server, real issuer on loopback.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { queryRows } from '../helpers/backends.js';
import { gqlData, userWithKey } from '../helpers/graphql.js';
import {
  ADD_GITHUB, ADD_GITLAB, TestIssuers, githubClaims, gitlabClaims, mintToken, sign, signingKey, type RawAnswer, type SigningKey,
} from '../helpers/oidc.js';
import { runCli, startServer, type TestServer } from '../helpers/server.js';

const AUDIENCE = '127.0.0.1';
// What githubClaims / gitlabClaims carry unless told otherwise.
const GH_IDS = { owner: '91234567', project: '812345678' };
const GL_IDS = { owner: '72', project: '20' };

let issuers: TestIssuers;
let server: TestServer;
let githubKey: SigningKey;
let gitlabKey: SigningKey;
let olivia: string;

const github = (run: Parameters<typeof githubClaims>[2], extra: Record<string, unknown> = {}) =>
  sign(githubClaims(issuers.url('github'), AUDIENCE, run, extra), githubKey);
const gitlab = (job: Parameters<typeof gitlabClaims>[2], extra: Record<string, unknown> = {}) =>
  sign(gitlabClaims(issuers.url('gitlab'), AUDIENCE, job, extra), gitlabKey);

/** The publisher's row as stored. */
async function stored(id: string): Promise<{ owner_id: string | null; project_id: string | null; updated_at: number }> {
  const [row] = await queryRows(server.dataDir, `SELECT owner_id, project_id, updated_at FROM oidc_publishers WHERE id = '${id}'`);
  assert.ok(row, `no publisher ${id}`);
  return { owner_id: row.owner_id as string | null, project_id: row.project_id as string | null, updated_at: Number(row.updated_at) };
}

/** What a refused token could have left behind: minted tokens, used jtis, audit events. */
async function footprint(): Promise<number[]> {
  const count = async (table: string) => Number((await queryRows(server.dataDir, `SELECT count(*) AS n FROM ${table}`))[0]!.n);
  return [await count('oidc_tokens'), await count('oidc_used_jtis'), await count('audit_events')];
}

function assertRefused(res: RawAnswer, message: RegExp): void {
  assert.equal(res.status, 403, res.body);
  const body = JSON.parse(res.body) as { error: string; message: string };
  assert.equal(body.error, 'NO_MATCHING_PUBLISHER', res.body);
  assert.match(body.message, message);
}

async function addByCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(['publisher', 'add', ...args, '--user', 'olivia', '--data', server.dataDir]);
}

before(async () => {
  issuers = await TestIssuers.start();
  githubKey = await signingKey('RS256', 'gh-pin');
  gitlabKey = await signingKey('ES256', 'gl-pin');
  issuers.publish('github', githubKey);
  issuers.publish('gitlab', gitlabKey);
  server = await startServer({
    env: { CHANNELD_OIDC_TRUSTED_ISSUERS: `github=${issuers.url('github')},gitlab=${issuers.url('gitlab')}`, CHANNELD_OIDC_JWKS_COOLDOWN_MS: '0' },
  });
  const o = await userWithKey(server, 'olivia');
  olivia = o.key;
  for (const name of ['widgets', 'gadgets', 'given', 'race']) await server.core.channels.create(name, o.user.id, { isPublic: true });
});

after(async () => {
  await server?.close();
  await issuers?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

describe('GitHub: repository_owner_id and repository_id', () => {
  let id: string;

  before(async () => {
    id = (await gqlData(server, ADD_GITHUB, { channel: 'widgets', owner: 'acme', repo: 'widgets', workflow: 'release.yml' }, olivia)).addGithubOidcPublisher.id;
  });

  it('a publisher added over GraphQL has no ids until a token comes', async () => {
    const row = await stored(id);
    assert.deepEqual([row.owner_id, row.project_id], [null, null]);
  });

  it('a token lacking the id claims is refused and pins nothing', async () => {
    const before = await footprint();
    assertRefused(await mintToken(server.url, await github({}, { repository_owner_id: undefined, repository_id: undefined })),
      /no usable "repository_owner_id" or "repository_id" claim/);
    assert.deepEqual([(await stored(id)).owner_id, (await stored(id)).project_id], [null, null]);
    assert.deepEqual(await footprint(), before);
  });

  it('the first token that matches by name pins its ids (DB, CLI listing, audit log)', async () => {
    const res = await mintToken(server.url, await github({}));
    assert.equal(res.status, 200, res.body);
    const row = await stored(id);
    assert.deepEqual([row.owner_id, row.project_id], [GH_IDS.owner, GH_IDS.project]);
    const listed = await runCli(['publisher', 'list', 'widgets', '--data', server.dataDir]);
    assert.equal(listed.code, 0, listed.stderr);
    const line = JSON.parse(listed.stdout.trim()) as Record<string, unknown>;
    assert.deepEqual([line.id, line.repository_owner_id, line.repository_id], [id, GH_IDS.owner, GH_IDS.project]);
    const pinnedEvents = (await server.core.audit.list({ limit: 20, channel: 'widgets' })).filter((e) => e.action === 'publisher.ids-pinned');
    assert.equal(pinnedEvents.length, 1);
    assert.equal(pinnedEvents[0]!.target, id);
    assert.equal(pinnedEvents[0]!.actorPublisher?.claims.repository, 'acme/widgets');
    assert.deepEqual(
      [(pinnedEvents[0]!.details as Record<string, unknown>).ownerId, (pinnedEvents[0]!.details as Record<string, unknown>).projectId],
      [GH_IDS.owner, GH_IDS.project],
    );
  });

  it('later tokens with the same ids are accepted and change nothing', async () => {
    const before = await stored(id);
    assert.equal((await mintToken(server.url, await github({}))).status, 200);
    assert.deepEqual(await stored(id), before);
  });

  it('the same repository name under a re-registered organisation (another repository_owner_id) is refused and stores nothing', async () => {
    const before = await footprint();
    const pinned = await stored(id);
    const res = await mintToken(server.url, await github({}, { repository_owner_id: '99999999', repository_id: '900000001' }));
    assertRefused(res, /repository_owner_id and repository_id differ from the repository this publisher was set up for/);
    assert.doesNotMatch(res.body, new RegExp(GH_IDS.owner), 'the pinned ids are not told to whoever presents the token');
    assert.deepEqual(await stored(id), pinned);
    assert.deepEqual(await footprint(), before);
  });

  it('a repository deleted and made again under the same name (another repository_id) is refused', async () => {
    assertRefused(await mintToken(server.url, await github({}, { repository_id: '900000002' })), /repository_id differs/);
  });
});

describe('GitHub: ids given when the publisher is added (CLI)', () => {
  it('a first token with other ids is refused, and pins nothing', async () => {
    const added = await addByCli(['given', '--github', 'acme/gizmos', '--workflow', 'release.yml', '--repository-owner-id', GH_IDS.owner, '--repository-id', '555']);
    assert.equal(added.code, 0, added.stderr);
    const id = (JSON.parse(added.stdout) as { id: string }).id;
    assert.deepEqual([(await stored(id)).owner_id, (await stored(id)).project_id], [GH_IDS.owner, '555']);

    const before = await footprint();
    assertRefused(await mintToken(server.url, await github({ repo: 'gizmos' })), /repository_id differs/);
    assert.deepEqual([(await stored(id)).owner_id, (await stored(id)).project_id], [GH_IDS.owner, '555']);
    assert.deepEqual(await footprint(), before);

    assert.equal((await mintToken(server.url, await github({ repo: 'gizmos' }, { repository_id: '555' }))).status, 200, 'the repository it names');
  });

  it('with only the owner id given, the first token that has it pins the repository id; one that has not pins nothing', async () => {
    const added = await addByCli(['given', '--github', 'acme/doohickeys', '--workflow', 'release.yml', '--repository-owner-id', GH_IDS.owner]);
    assert.equal(added.code, 0, added.stderr);
    const id = (JSON.parse(added.stdout) as { id: string }).id;
    assertRefused(await mintToken(server.url, await github({ repo: 'doohickeys' }, { repository_owner_id: '99999999', repository_id: '777' })), /repository_owner_id differs/);
    assert.deepEqual([(await stored(id)).owner_id, (await stored(id)).project_id], [GH_IDS.owner, null]);
    assert.equal((await mintToken(server.url, await github({ repo: 'doohickeys' }, { repository_id: '778' }))).status, 200);
    assert.deepEqual([(await stored(id)).owner_id, (await stored(id)).project_id], [GH_IDS.owner, '778']);
  });

  it('ids that are not decimal ids are refused, and nothing is added', async () => {
    const listBefore = (await runCli(['publisher', 'list', 'given', '--data', server.dataDir])).stdout;
    for (const [flag, value] of [['--repository-owner-id', 'acme'], ['--repository-id', '-1'], ['--repository-id', '1'.repeat(21)], ['--repository-owner-id', '']]) {
      const r = await addByCli(['given', '--github', 'acme/bad', '--workflow', 'release.yml', `${flag}=${value}`]);
      assert.equal(r.code, 1, `${flag} ${JSON.stringify(value)}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /is the decimal id GitHub puts in its tokens/);
    }
    const wrongCi = await addByCli(['given', '--github', 'acme/bad', '--workflow', 'release.yml', '--namespace-id', '72']);
    assert.equal(wrongCi.code, 2, wrongCi.stderr);
    assert.match(wrongCi.stderr, /--namespace-id is for --gitlab publishers/);
    assert.equal((await runCli(['publisher', 'list', 'given', '--data', server.dataDir])).stdout, listBefore);
  });

  it('only someone who may manage the channel adds one', async () => {
    await userWithKey(server, 'mallory');
    const r = await runCli(['publisher', 'add', 'given', '--github', 'mallory/x', '--workflow', 'x.yml', '--user', 'mallory', '--data', server.dataDir]);
    assert.equal(r.code, 1);
    assert.doesNotMatch((await runCli(['publisher', 'list', 'given', '--data', server.dataDir])).stdout, /mallory/);
  });
});

describe('GitLab: namespace_id and project_id', () => {
  let id: string;

  before(async () => {
    id = (await gqlData(server, ADD_GITLAB, { channel: 'gadgets', namespace: 'acme/tools', project: 'gadgets', path: '.gitlab-ci.yml' }, olivia)).addGitlabOidcPublisher.id;
  });

  it('the first token pins them, a token from a re-registered group is refused and stores nothing', async () => {
    assertRefused(await mintToken(server.url, await gitlab({}, { namespace_id: undefined })), /no usable "namespace_id" claim/);
    assert.deepEqual([(await stored(id)).owner_id, (await stored(id)).project_id], [null, null]);

    assert.equal((await mintToken(server.url, await gitlab({}))).status, 200);
    assert.deepEqual([(await stored(id)).owner_id, (await stored(id)).project_id], [GL_IDS.owner, GL_IDS.project]);

    const before = await footprint();
    assertRefused(await mintToken(server.url, await gitlab({}, { namespace_id: '73' })), /namespace_id differs from the project this publisher was set up for/);
    assertRefused(await mintToken(server.url, await gitlab({}, { project_id: '21' })), /project_id differs/);
    assert.deepEqual([(await stored(id)).owner_id, (await stored(id)).project_id], [GL_IDS.owner, GL_IDS.project]);
    assert.deepEqual(await footprint(), before);
  });

  it('ids given when it is added refuse a mismatching first token; bad ones are refused', async () => {
    const added = await addByCli(['given', '--gitlab', 'acme/tools/widgets', '--workflow', 'ci/release.yml', '--namespace-id', GL_IDS.owner, '--project-id', '4242']);
    assert.equal(added.code, 0, added.stderr);
    const p = JSON.parse(added.stdout) as Record<string, unknown>;
    assert.deepEqual([p.owner, p.project, p.namespace_id, p.project_id], ['acme/tools', 'widgets', GL_IDS.owner, '4242']);
    const job = { project: 'widgets', configPath: 'ci/release.yml' };
    assertRefused(await mintToken(server.url, await gitlab(job)), /project_id differs/);
    assert.deepEqual([(await stored(p.id as string)).owner_id, (await stored(p.id as string)).project_id], [GL_IDS.owner, '4242']);
    assert.equal((await mintToken(server.url, await gitlab(job, { project_id: '4242' }))).status, 200);

    const bad = await addByCli(['given', '--gitlab', 'acme/tools/other', '--workflow', '.gitlab-ci.yml', '--project-id', '12a']);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /project_id is the decimal id GitLab puts in its tokens/);
  });
});

describe('two first tokens at once', () => {
  it('with different ids: one pins, the other is refused, whichever comes first', async () => {
    const id = (await gqlData(server, ADD_GITHUB, { channel: 'race', owner: 'acme', repo: 'race', workflow: 'release.yml' }, olivia)).addGithubOidcPublisher.id;
    const a = await github({ repo: 'race' }, { repository_owner_id: '1001', repository_id: '2001' });
    const b = await github({ repo: 'race' }, { repository_owner_id: '1002', repository_id: '2002' });
    const answers = await Promise.all([mintToken(server.url, a), mintToken(server.url, b)]);
    assert.deepEqual(answers.map((r) => r.status).sort(), [200, 403], answers.map((r) => r.body).join('\n'));
    const winner = answers[0]!.status === 200 ? ['1001', '2001'] : ['1002', '2002'];
    const row = await stored(id);
    assert.deepEqual([row.owner_id, row.project_id], winner);
  });
});
