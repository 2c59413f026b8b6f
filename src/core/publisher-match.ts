// Does a verified CI identity token come from the workflow a publisher
// names? Pure functions over the token's claims, compared exactly (as the
// CI spells them).
//
// GitHub Actions tokens carry `repository_owner`, `repository` (owner/name),
// `workflow_ref` (the workflow the run started from) and `job_workflow_ref`
// (the workflow file of this job: differs for a reusable workflow), both as
// `owner/name/.github/workflows/<file>@<ref>`, and `environment` when the job
// runs in one. GitLab CI tokens carry `namespace_path`, `project_path`
// (namespace/project), `ci_config_ref_uri` as
// `<host>/<namespace>/<project>//<config path>@<ref>` and `environment`.
import type { JWTPayload } from 'jose';
import type { OidcProvider, OidcPublisher, PublisherClaims } from '../types.js';

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const q = (v: string | null) => (v === null ? '(none)' : JSON.stringify(v));

/** The claim naming the account a publisher is looked up by (repository owner, GitLab namespace). */
export const OWNER_CLAIM: Record<OidcProvider, string> = { github: 'repository_owner', gitlab: 'namespace_path' };

/**
 * The claims holding the CI's immutable ids of that account and of the
 * project. Names can be given up (an organisation renamed or deleted) and
 * registered again by someone else; these ids cannot, so a publisher pinned
 * to them trusts only the account and project it was set up for.
 */
export const ID_CLAIMS: Record<OidcProvider, { owner: string; project: string }> = {
  github: { owner: 'repository_owner_id', project: 'repository_id' },
  gitlab: { owner: 'namespace_id', project: 'project_id' },
};

/** What an id must look like, given to a publisher or carried in a token: a decimal number, no leading zero. */
export const PINNED_ID_RE = /^[1-9][0-9]{0,19}$/;

export interface TokenIds {
  ownerId: string;
  projectId: string;
}

/** The token's ids (GitHub and GitLab always send them, as decimal strings), or why it has none usable. */
export function tokenIds(provider: OidcProvider, claims: JWTPayload): TokenIds | { refusal: string } {
  const names = ID_CLAIMS[provider];
  const read = (name: string): string | null => {
    const v = claims[name];
    const text = typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v;
    return typeof text === 'string' && PINNED_ID_RE.test(text) ? text : null;
  };
  const ownerId = read(names.owner);
  const projectId = read(names.project);
  const bad = [ownerId === null ? names.owner : null, projectId === null ? names.project : null].filter((n) => n !== null);
  if (bad.length > 0) return { refusal: `the token has no usable ${bad.map((n) => `"${n}"`).join(' or ')} claim (a decimal id)` };
  return { ownerId: ownerId!, projectId: projectId! };
}

/**
 * Null when the publisher's pinned ids (those set) are the token's;
 * otherwise which claims differ. The refusal names the claims only: the
 * pinned values are not told to whoever presents the token.
 */
export function idMismatch(publisher: OidcPublisher, ids: TokenIds): { refusal: string; claims: string[] } | null {
  const names = ID_CLAIMS[publisher.provider];
  const differ = [
    publisher.ownerId !== null && publisher.ownerId !== ids.ownerId ? names.owner : null,
    publisher.projectId !== null && publisher.projectId !== ids.projectId ? names.project : null,
  ].filter((n) => n !== null);
  if (differ.length === 0) return null;
  const what = publisher.provider === 'github' ? 'repository' : 'project';
  return {
    refusal: `${differ.join(' and ')} ${differ.length > 1 ? 'differ' : 'differs'} from the ${what} this publisher was set up for (renamed, or deleted and registered again?)`,
    claims: differ,
  };
}

/** Whether a publisher still has an id to record from its first matching token. */
export const needsPinning = (p: OidcPublisher): boolean => p.ownerId === null || p.projectId === null;

/** Null when the token matches the publisher; otherwise what did not match, for the CI's log. */
export function mismatch(publisher: OidcPublisher, claims: JWTPayload): string | null {
  const problems = publisher.provider === 'github' ? githubMismatch(publisher, claims) : gitlabMismatch(publisher, claims);
  if (problems) return problems;
  if (publisher.environment !== '' && str(claims.environment) !== publisher.environment) {
    return `environment is ${q(str(claims.environment))}, the publisher wants ${q(publisher.environment)}`;
  }
  return null;
}

function githubMismatch(p: OidcPublisher, claims: JWTPayload): string | null {
  const repository = `${p.owner}/${p.project}`;
  if (str(claims.repository_owner) !== p.owner) return `repository owner is ${q(str(claims.repository_owner))}, the publisher wants ${q(p.owner)}`;
  if (str(claims.repository) !== repository) return `repository is ${q(str(claims.repository))}, the publisher wants ${q(repository)}`;
  // The file must be in this repository: a reusable workflow from elsewhere does not count.
  const prefix = `${repository}/.github/workflows/${p.workflow}@`;
  const refs = [str(claims.workflow_ref), str(claims.job_workflow_ref)];
  if (!refs.some((r) => r?.startsWith(prefix))) {
    return `workflow is ${q(refs[0] ?? refs[1] ?? null)}, the publisher wants .github/workflows/${p.workflow} in ${repository}`;
  }
  return null;
}

function gitlabMismatch(p: OidcPublisher, claims: JWTPayload): string | null {
  const projectPath = `${p.owner}/${p.project}`;
  if (str(claims.namespace_path) !== p.owner) return `namespace is ${q(str(claims.namespace_path))}, the publisher wants ${q(p.owner)}`;
  if (str(claims.project_path) !== projectPath) return `project is ${q(str(claims.project_path))}, the publisher wants ${q(projectPath)}`;
  // The host part is the issuer's, which is already checked: compare what follows it.
  const uri = str(claims.ci_config_ref_uri);
  const afterHost = uri === null ? null : uri.slice(uri.indexOf('/') + 1);
  if (afterHost === null || !afterHost.startsWith(`${projectPath}//${p.workflow}@`)) {
    return `CI config is ${q(uri)}, the publisher wants ${p.workflow} in ${projectPath}`;
  }
  return null;
}

const KEPT_CLAIMS: Record<OidcProvider, readonly string[]> = {
  github: [
    'repository', 'repository_id', 'repository_owner', 'repository_owner_id', 'workflow_ref', 'job_workflow_ref', 'run_id', 'run_attempt',
    'ref', 'sha', 'environment', 'actor', 'event_name',
  ],
  gitlab: [
    'namespace_path', 'namespace_id', 'project_path', 'project_id', 'ci_config_ref_uri', 'pipeline_id', 'job_id', 'ref', 'ref_type',
    'sha', 'environment', 'user_login',
  ],
};

/** Who ran what, where: the claims kept with a minted token and everything it does. */
export function keptClaims(provider: OidcProvider, claims: JWTPayload): PublisherClaims {
  const out: Record<string, string> = { provider };
  for (const name of ['iss', 'sub', 'jti', ...KEPT_CLAIMS[provider]]) {
    const v = claims[name];
    if (typeof v === 'string' || typeof v === 'number') out[name] = String(v);
  }
  return out;
}

/** A short description of the token for refusals: what the CI said it is. */
export function describeToken(provider: OidcProvider, claims: JWTPayload): string {
  if (provider === 'github') {
    return `repository ${q(str(claims.repository))}, workflow ${q(str(claims.workflow_ref))}, environment ${q(str(claims.environment))}`;
  }
  return `project ${q(str(claims.project_path))}, CI config ${q(str(claims.ci_config_ref_uri))}, environment ${q(str(claims.environment))}`;
}
