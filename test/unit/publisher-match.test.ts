// Which CI identities a publisher trusts: the claims GitHub Actions and
// GitLab CI put in their tokens, compared with what the channel owner typed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keptClaims, mismatch } from '../../src/core/publisher-match.js';
import type { OidcPublisher } from '../../src/core/types.js';
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
