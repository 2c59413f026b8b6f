// Which CI identities a publisher trusts: the claims GitHub Actions and
// GitLab CI put in their tokens, compared with what the channel owner typed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { idMismatch, keptClaims, mismatch, needsPinning, tokenIds } from '../../src/core/publisher-match.js';
import type { OidcPublisher } from '../../src/types.js';
import { githubClaims, gitlabClaims } from '../helpers/oidc.js';

const publisher = (p: Partial<OidcPublisher>): OidcPublisher => ({
  id: 'p', channelId: 1, provider: 'github', owner: 'acme', project: 'widgets', workflow: 'release.yml', environment: '',
  accessMode: 'READ_WRITE', ownerId: null, projectId: null, createdBy: null, createdAt: 0, updatedAt: 0, ...p,
});
const GH = 'https://token.actions.githubusercontent.com';
const GL = 'https://gitlab.com';

describe('GitHub Actions', () => {
  const pub = publisher({});

  it('matches the workflow the run started from, on any ref', () => {
    assert.equal(mismatch(pub, githubClaims(GH, 'a', { ref: 'refs/tags/v1.2.3' })), null);
  });

  it('matches a reusable release.yml of the same repository through job_workflow_ref', () => {
    const claims = githubClaims(GH, 'a', { workflow: 'ci.yml' }, { job_workflow_ref: 'acme/widgets/.github/workflows/release.yml@refs/heads/main' });
    assert.equal(mismatch(pub, claims), null);
  });

  it('does not match release.yml of another repository, a longer file name, or a file in a subfolder', () => {
    for (const ref of ['acme/other/.github/workflows/release.yml@refs/heads/main', 'acme/widgets/.github/workflows/release.yml.bak@x', 'acme/widgets/.github/workflows/old/release.yml@x']) {
      const claims = githubClaims(GH, 'a', {}, { workflow_ref: ref, job_workflow_ref: ref });
      assert.match(mismatch(pub, claims) ?? '', /workflow/, ref);
    }
  });

  it('compares names exactly, as GitHub spells them in the token', () => {
    assert.match(mismatch(pub, githubClaims(GH, 'a', { owner: 'Acme' })) ?? '', /repository owner is "Acme"/);
  });

  it('requires the environment only when the publisher names one', () => {
    assert.equal(mismatch(pub, githubClaims(GH, 'a', { environment: null })), null);
    const strict = publisher({ environment: 'release' });
    assert.equal(mismatch(strict, githubClaims(GH, 'a', { environment: 'release' })), null);
    assert.match(mismatch(strict, githubClaims(GH, 'a', { environment: 'Release' })) ?? '', /environment/);
  });
});

describe('GitLab CI', () => {
  const pub = publisher({ provider: 'gitlab', owner: 'acme/tools', project: 'gadgets', workflow: '.gitlab-ci.yml' });

  it('matches nested groups and the config file, whatever the host in ci_config_ref_uri', () => {
    assert.equal(mismatch(pub, gitlabClaims(GL, 'a')), null);
    assert.equal(mismatch(pub, gitlabClaims('https://gitlab.example.com', 'a')), null);
  });

  it('does not match a config kept in another project, or another config file', () => {
    const other = gitlabClaims(GL, 'a', {}, { ci_config_ref_uri: 'gitlab.com/acme/shared//.gitlab-ci.yml@refs/heads/main' });
    assert.match(mismatch(pub, other) ?? '', /CI config/);
    assert.match(mismatch(pub, gitlabClaims(GL, 'a', { configPath: 'ci/other.yml' })) ?? '', /CI config/);
    assert.match(mismatch(pub, gitlabClaims(GL, 'a', { namespace: 'acme' })) ?? '', /namespace is "acme"/);
  });
});

describe('what is kept of the claims', () => {
  it('who ran what, where, and nothing personal beyond the CI login', () => {
    const kept = keptClaims('gitlab', gitlabClaims(GL, 'a'));
    assert.equal(kept.pipeline_id, '574');
    assert.equal(kept.project_path, 'acme/tools/gadgets');
    assert.equal(kept.user_login, 'sample-user');
    assert.equal(kept.user_email, undefined);
  });
});

describe('pinned ids (a renamed or re-registered account keeps its name, not its id)', () => {
  const gh = publisher({});
  const gl = publisher({ provider: 'gitlab', owner: 'acme/tools', project: 'gadgets', workflow: '.gitlab-ci.yml' });

  it('reads GitHub repository_owner_id / repository_id and GitLab namespace_id / project_id', () => {
    assert.deepEqual(tokenIds('github', githubClaims(GH, 'a')), { ownerId: '91234567', projectId: '812345678' });
    assert.deepEqual(tokenIds('gitlab', gitlabClaims(GL, 'a')), { ownerId: '72', projectId: '20' });
    // Numbers, should an issuer send them so, read as the same decimal strings.
    assert.deepEqual(tokenIds('gitlab', gitlabClaims(GL, 'a', {}, { namespace_id: 72, project_id: 20 })), { ownerId: '72', projectId: '20' });
  });

  it('refuses a token without usable ids, naming the claims (GitHub and GitLab always send them)', () => {
    const refusal = (provider: 'github' | 'gitlab', claims: Record<string, unknown>) => {
      const ids = tokenIds(provider, claims);
      assert.ok('refusal' in ids, JSON.stringify(ids));
      return ids.refusal;
    };
    assert.match(refusal('github', githubClaims(GH, 'a', {}, { repository_owner_id: undefined })), /"repository_owner_id"/);
    assert.match(refusal('github', githubClaims(GH, 'a', {}, { repository_owner_id: undefined, repository_id: undefined })), /"repository_owner_id" or "repository_id"/);
    assert.match(refusal('gitlab', gitlabClaims(GL, 'a', {}, { project_id: undefined })), /"project_id"/);
    for (const bad of ['', '0', '012', '-1', '1e3', '0x1f', ' 72', '72 ', '７２', '٧٢', '1'.repeat(21), 1.5, -1, 1e30, null, true, ['72'], { id: '72' }]) {
      assert.match(refusal('gitlab', gitlabClaims(GL, 'a', {}, { namespace_id: bad })), /"namespace_id"/, JSON.stringify(bad));
    }
  });

  it('a publisher with no ids pinned matches any ids (the first token pins them)', () => {
    assert.equal(needsPinning(gh), true);
    assert.equal(idMismatch(gh, { ownerId: '1', projectId: '2' }), null);
  });

  it('a pinned publisher matches only its own ids, and says which claims differ but not the pinned values', () => {
    const pinned = publisher({ ownerId: '91234567', projectId: '812345678' });
    assert.equal(needsPinning(pinned), false);
    assert.equal(idMismatch(pinned, { ownerId: '91234567', projectId: '812345678' }), null);
    const reRegistered = idMismatch(pinned, { ownerId: '99999999', projectId: '812345678' });
    assert.deepEqual(reRegistered?.claims, ['repository_owner_id']);
    assert.doesNotMatch(reRegistered!.refusal, /91234567|99999999/);
    assert.deepEqual(idMismatch(pinned, { ownerId: '99999999', projectId: '1' })?.claims, ['repository_owner_id', 'repository_id']);
    assert.deepEqual(idMismatch(pinned, { ownerId: '91234567', projectId: '1' })?.claims, ['repository_id'], 'a repository deleted and made again');
  });

  it('only the ids given are compared; the others are still to be pinned', () => {
    const ownerOnly = publisher({ ownerId: '91234567' });
    assert.equal(needsPinning(ownerOnly), true);
    assert.equal(idMismatch(ownerOnly, { ownerId: '91234567', projectId: '5' }), null);
    assert.deepEqual(idMismatch(ownerOnly, { ownerId: '5', projectId: '5' })?.claims, ['repository_owner_id']);
  });

  it('GitLab: namespace_id and project_id', () => {
    const pinned = { ...gl, ownerId: '72', projectId: '20' };
    assert.equal(idMismatch(pinned, { ownerId: '72', projectId: '20' }), null);
    const other = idMismatch(pinned, { ownerId: '73', projectId: '21' });
    assert.deepEqual(other?.claims, ['namespace_id', 'project_id']);
    assert.match(other!.refusal, /differ from the project this publisher was set up for/);
  });

  it('the ids are kept with a minted token (the audit log says which account it was)', () => {
    assert.equal(keptClaims('github', githubClaims(GH, 'a')).repository_owner_id, '91234567');
    assert.equal(keptClaims('gitlab', gitlabClaims(GL, 'a')).namespace_id, '72');
  });
});
