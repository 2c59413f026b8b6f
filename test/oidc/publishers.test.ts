// Managing trusted publishers over GraphQL, with prefix.dev's operations
// (addGithubOidcPublisher, addGitlabOidcPublisher, deleteOidcPublisher,
// Channel.oidcPublishers) as its web app sends them: channel owners (and
// server admins) only.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Q } from '../helpers/access.js';
import { assertGqlError, gql, gqlData, userWithKey } from '../helpers/graphql.js';
import { ADD_GITHUB, ADD_GITLAB, DELETE_PUBLISHER, LIST_PUBLISHERS } from '../helpers/oidc.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let olivia: string;
let carol: string;
let mallory: string;
let githubId: string;
let gitlabId: string;

const publishers = async (key: string | null, channel = 'widgets') =>
  (await gqlData(server, LIST_PUBLISHERS, { channel }, key)).channel.oidcPublishers as Array<Record<string, unknown>>;

before(async () => {
  server = await startServer();
  const o = await userWithKey(server, 'olivia');
  olivia = o.key;
  carol = (await userWithKey(server, 'carol')).key;
  mallory = (await userWithKey(server, 'mallory')).key;
  await server.core.channels.create('widgets', o.user.id, { isPublic: true });
  await server.core.channels.create('gadgets', o.user.id, { isPublic: true });
  await gqlData(server, Q.addMember, { user: 'carol', channel: 'widgets', role: 'CONTRIBUTOR' }, olivia);
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

describe('adding', () => {
  it('a GitHub publisher: READ_WRITE and any environment unless told otherwise', async () => {
    const d = await gqlData(server, ADD_GITHUB, { channel: 'widgets', owner: 'acme', repo: 'widgets', workflow: 'release.yml' }, olivia);
    const p = d.addGithubOidcPublisher;
    assert.equal(p.__typename, 'GithubPublisher');
    assert.match(p.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(
      [p.repositoryOwner, p.repositoryName, p.workflowFilename, p.environment, p.accessMode],
      ['acme', 'widgets', 'release.yml', '', 'READ_WRITE'],
    );
    assert.ok(!Number.isNaN(Date.parse(p.createdAt)) && p.createdAt === p.updatedAt);
    githubId = p.id;
  });

  it('a GitLab publisher with an environment and an access mode', async () => {
    const d = await gqlData(server, ADD_GITLAB, {
      channel: 'widgets', namespace: 'acme/tools', project: 'gadgets', path: 'ci/release.yml', environment: 'production', accessMode: 'READ_WRITE_DELETE',
    }, olivia);
    const p = d.addGitlabOidcPublisher;
    assert.equal(p.__typename, 'GitlabPublisher');
    assert.deepEqual([p.namespace, p.project, p.workflowFilepath, p.environment, p.accessMode], ['acme/tools', 'gadgets', 'ci/release.yml', 'production', 'READ_WRITE_DELETE']);
    gitlabId = p.id;
  });

  it('refuses the same publisher twice, ALL, and names no CI could send', async () => {
    const again = await gql(server, ADD_GITHUB, { channel: 'widgets', owner: 'acme', repo: 'widgets', workflow: 'release.yml' }, olivia);
    assertGqlError(again, 'BAD_USER_INPUT');
    assert.equal(again.body.errors?.[0]?.extensions?.reason, 'CONFLICT');
    for (const [what, vars] of [
      ['ALL', { owner: 'acme', repo: 'widgets', workflow: 'ci.yml', accessMode: 'ALL' }],
      ['a workflow path', { owner: 'acme', repo: 'widgets', workflow: '.github/workflows/release.yml' }],
      ['a workflow that is not YAML', { owner: 'acme', repo: 'widgets', workflow: 'release.sh' }],
      ['an owner with a slash', { owner: 'acme/x', repo: 'widgets', workflow: 'ci.yml' }],
      ['an owner GitHub would not allow', { owner: '-acme', repo: 'widgets', workflow: 'ci.yml' }],
    ] as const) {
      assertGqlError(await gql(server, ADD_GITHUB, { channel: 'widgets', ...vars }, olivia), 'BAD_USER_INPUT', what);
    }
    const escape = await gql(server, ADD_GITLAB, { channel: 'widgets', namespace: 'acme', project: 'x', path: '../other/.gitlab-ci.yml' }, olivia);
    assertGqlError(escape, 'BAD_USER_INPUT', 'a GitLab config path outside the project');
  });

  it('is for owners and admins only', async () => {
    const vars = { channel: 'widgets', owner: 'mallory', repo: 'x', workflow: 'x.yml' };
    assertGqlError(await gql(server, ADD_GITHUB, vars, mallory), 'FORBIDDEN', 'a stranger');
    assertGqlError(await gql(server, ADD_GITHUB, vars, carol), 'FORBIDDEN', 'a contributor');
    assertGqlError(await gql(server, ADD_GITHUB, vars, null), 'UNAUTHENTICATED', 'anonymous');
    const { token: scoped } = await server.core.users.createKey((await server.core.repos.users.byLogin('olivia'))!, {
      name: 'upload-only', expiresAt: null, accessMode: 'READ_WRITE', channelName: 'widgets',
    });
    assertGqlError(await gql(server, ADD_GITHUB, vars, scoped), 'FORBIDDEN', "the owner's READ_WRITE key");
    const byAdmin = await gqlData(server, ADD_GITHUB, { channel: 'gadgets', owner: 'acme', repo: 'gadgets', workflow: 'ci.yaml' }, server.adminKey);
    assert.equal(byAdmin.addGithubOidcPublisher.__typename, 'GithubPublisher');
  });

  it('answers NOT_FOUND for a channel that does not exist', async () => {
    assertGqlError(await gql(server, ADD_GITHUB, { channel: 'nowhere', owner: 'acme', repo: 'x', workflow: 'x.yml' }, olivia), 'NOT_FOUND');
  });
});

describe('listing', () => {
  it('Channel.oidcPublishers shows each with its own type and fields to the owner', async () => {
    const list = await publishers(olivia);
    assert.deepEqual(list.map((p) => [p.__typename, p.id]), [['GithubPublisher', githubId], ['GitlabPublisher', gitlabId]]);
    assert.deepEqual(list[0], {
      __typename: 'GithubPublisher', id: githubId, createdAt: list[0]!.createdAt, updatedAt: list[0]!.updatedAt, accessMode: 'READ_WRITE',
      repositoryOwner: 'acme', repositoryName: 'widgets', workflowFilename: 'release.yml', environment: '',
    });
    assert.deepEqual(list[1], {
      __typename: 'GitlabPublisher', id: gitlabId, createdAt: list[1]!.createdAt, updatedAt: list[1]!.updatedAt, accessMode: 'READ_WRITE_DELETE',
      namespace: 'acme/tools', project: 'gadgets', workflowFilepath: 'ci/release.yml', environment: 'production',
    });
    assert.equal((await publishers(server.adminKey)).length, 2, 'an admin sees them too');
  });

  it('shows nothing to readers who may not manage the channel (it describes its CI setup)', async () => {
    assert.deepEqual(await publishers(null), []);
    assert.deepEqual(await publishers(mallory), []);
    assert.deepEqual(await publishers(carol), []);
  });
});

describe('deleting', () => {
  it('is for owners only, and answers the OidcPublisher deleted', async () => {
    assertGqlError(await gql(server, DELETE_PUBLISHER, { channel: 'widgets', id: githubId }, mallory), 'FORBIDDEN');
    assertGqlError(await gql(server, DELETE_PUBLISHER, { channel: 'widgets', id: githubId }, carol), 'FORBIDDEN');
    const d = await gqlData(server, DELETE_PUBLISHER, { channel: 'widgets', id: githubId }, olivia);
    assert.equal(d.deleteOidcPublisher.__typename, 'OidcPublisher');
    assert.equal(d.deleteOidcPublisher.id, githubId);
    assert.deepEqual((await publishers(olivia)).map((p) => p.id), [gitlabId]);
  });

  it('answers NOT_FOUND for an id that is gone or belongs to another channel', async () => {
    assertGqlError(await gql(server, DELETE_PUBLISHER, { channel: 'widgets', id: githubId }, olivia), 'NOT_FOUND');
    assertGqlError(await gql(server, DELETE_PUBLISHER, { channel: 'gadgets', id: gitlabId }, olivia), 'NOT_FOUND');
  });

  it('every change is in the audit log with its actor', async () => {
    const events = await server.core.audit.list({ limit: 20, channel: 'widgets' });
    const actions = events.filter((e) => e.action.startsWith('publisher.')).map((e) => [e.action, e.actorLogin, e.target]);
    assert.deepEqual(actions, [['publisher.deleted', 'olivia', githubId], ['publisher.added', 'olivia', gitlabId], ['publisher.added', 'olivia', githubId]]);
  });
});
