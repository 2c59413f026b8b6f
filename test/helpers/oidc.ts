// Trusted publishing as the CIs and rattler do it, against a real OIDC
// issuer on loopback: keys from jose, discovery documents and key sets
// served over HTTP, tokens shaped like the ones GitHub Actions and GitLab CI
// hand out, the mint request byte for byte as rattler sends it, and the
// sigstore bundle rattler-build / actions/attest attach to an upload.
import { createHash, createSign, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { rattlerUpload } from './clients.js';

export interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export async function signingKey(alg: 'RS256' | 'ES256', kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/**
 * One HTTP server standing in for several issuers: /<name> is an issuer
 * whose discovery document is /<name>/.well-known/openid-configuration and
 * whose keys are at /<name>/jwks (the way GitHub and GitLab lay them out).
 */
export class TestIssuers {
  /** Every path fetched, in order. */
  readonly fetched: string[] = [];
  private readonly keys = new Map<string, JWK[]>();

  private constructor(private readonly server: http.Server, readonly baseUrl: string) {}

  static async start(): Promise<TestIssuers> {
    let self: TestIssuers | undefined;
    const server = http.createServer((req, res) => self!.serve(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new TestIssuers(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return self;
  }

  url(name: string): string {
    return `${this.baseUrl}/${name}`;
  }

  /** Publishes a public key in the issuer's key set (from now on, as after a rotation). */
  publish(name: string, key: SigningKey): void {
    this.keys.set(name, [...(this.keys.get(name) ?? []), key.publicJwk]);
  }

  keySetFetches(name: string): number {
    return this.fetched.filter((p) => p === `/${name}/jwks`).length;
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = req.url ?? '/';
    this.fetched.push(path);
    const m = /^\/([a-z0-9-]+)\/(\.well-known\/openid-configuration|jwks)$/.exec(path);
    const keys = m ? this.keys.get(m[1]!) : undefined;
    if (!m || !keys) {
      res.writeHead(404).end();
      return;
    }
    const body = m[2] === 'jwks'
      ? { keys }
      : {
          issuer: this.url(m[1]!), jwks_uri: `${this.url(m[1]!)}/jwks`, response_types_supported: ['id_token'],
          subject_types_supported: ['public', 'pairwise'], id_token_signing_alg_values_supported: ['RS256', 'ES256'],
          claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti', 'nbf', 'ref', 'repository', 'repository_owner', 'environment', 'job_workflow_ref'],
        };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Signs claims as an issuer does: compact JWS, typ JWT, kid of the key. */
export function sign(claims: Record<string, unknown>, key: SigningKey, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, typ: 'JWT', kid: key.kid, ...header }).sign(key.privateKey);
}

const now = () => Math.floor(Date.now() / 1000);
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

export interface GithubRun {
  owner?: string;
  repo?: string;
  workflow?: string;
  environment?: string | null;
  ref?: string;
}

/** What GitHub Actions hands a job with `id-token: write` (docs: "Understanding the OIDC token"). */
export function githubClaims(iss: string, aud: string, run: GithubRun = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const owner = run.owner ?? 'acme';
  const repository = `${owner}/${run.repo ?? 'widgets'}`;
  const ref = run.ref ?? 'refs/heads/main';
  const workflowRef = `${repository}/.github/workflows/${run.workflow ?? 'release.yml'}@${ref}`;
  const sha = hex(20);
  const iat = now();
  const environment = run.environment === undefined ? 'release' : run.environment;
  return {
    jti: randomUUID(),
    sub: environment ? `repo:${repository}:environment:${environment}` : `repo:${repository}:ref:${ref}`,
    aud,
    ref,
    sha,
    repository,
    repository_owner: owner,
    repository_owner_id: '91234567',
    run_id: '12345678901',
    run_number: '42',
    run_attempt: '1',
    repository_visibility: 'public',
    repository_id: '812345678',
    actor_id: '583231',
    actor: 'octocat',
    workflow: 'Release',
    head_ref: '',
    base_ref: '',
    event_name: 'push',
    ref_protected: 'true',
    ref_type: 'branch',
    workflow_ref: workflowRef,
    workflow_sha: sha,
    job_workflow_ref: workflowRef,
    job_workflow_sha: sha,
    runner_environment: 'github-hosted',
    ...(environment ? { environment } : {}),
    iss,
    // GitHub backdates nbf against clock skew and gives 5 minutes after iat.
    nbf: iat - 60,
    exp: iat + 300,
    iat,
    ...extra,
  };
}

export interface GitlabJob {
  namespace?: string;
  project?: string;
  configPath?: string;
  environment?: string | null;
  ref?: string;
}

/** What GitLab CI puts in an `id_tokens:` token (docs: "OpenID Connect (OIDC) ID token claims"). */
export function gitlabClaims(iss: string, aud: string, job: GitlabJob = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const namespace = job.namespace ?? 'acme/tools';
  const projectPath = `${namespace}/${job.project ?? 'gadgets'}`;
  const ref = job.ref ?? 'main';
  const sha = hex(20);
  const iat = now();
  const environment = job.environment === undefined ? 'production' : job.environment;
  return {
    namespace_id: '72',
    namespace_path: namespace,
    project_id: '20',
    project_path: projectPath,
    user_id: '1',
    user_login: 'sample-user',
    user_email: 'sample-user@example.com',
    pipeline_id: '574',
    pipeline_source: 'push',
    job_id: '302',
    ref,
    ref_type: 'branch',
    ref_path: `refs/heads/${ref}`,
    ref_protected: 'true',
    ...(environment ? { environment, environment_protected: 'true', deployment_tier: 'production', environment_action: 'start' } : {}),
    runner_id: 1,
    runner_environment: 'gitlab-hosted',
    sha,
    project_visibility: 'public',
    ci_config_ref_uri: `${new URL(iss).host}/${projectPath}//${job.configPath ?? '.gitlab-ci.yml'}@refs/heads/${ref}`,
    ci_config_sha: sha,
    jti: randomUUID(),
    iss,
    iat,
    nbf: iat - 5,
    exp: iat + 3600,
    sub: `project_path:${projectPath}:ref_type:branch:ref:${ref}`,
    aud,
    ...extra,
  };
}

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * rattler's mint request (rattler_networking trusted_publishing.rs): reqwest
 * `.post(url).json(&MintTokenRequest { token })` — compact serde JSON, so
 * `{"token":"…"}` with Content-Type: application/json; the answer's whole
 * body is the token.
 */
export function mintToken(serverUrl: string, jwt: string): Promise<RawAnswer> {
  const body = Buffer.from(JSON.stringify({ token: jwt }));
  const { hostname, port } = new URL(serverUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: hostname, port, method: 'POST', path: '/api/oidc/mint_token',
      headers: { 'content-type': 'application/json', accept: '*/*', 'user-agent': 'rattler-build/0.40.0', 'content-length': body.length },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const CONDA_PREDICATE = 'https://schemas.conda.org/attestations-publish-1.schema.json';

export interface StatementOptions {
  subject: Array<{ name: string; sha256: string }>;
  targetChannel: string;
  predicateType?: string;
}

// A throwaway signer standing in for the Fulcio certificate's key.
const attestationSigner = generateKeyPairSync('ec', { namedCurve: 'P-256' });

/**
 * A sigstore bundle (v0.3) as rattler-build --generate-attestation or
 * actions/attest write it: a DSSE envelope whose payload is an in-toto
 * statement about the package, signed over DSSE's pre-authentication
 * encoding, with a certificate and a transparency-log entry.
 */
export function sigstoreBundle(opts: StatementOptions, envelope: { payloadType?: string } = {}): Record<string, unknown> {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: opts.subject.map((s) => ({ name: s.name, digest: { sha256: s.sha256 } })),
    predicateType: opts.predicateType ?? CONDA_PREDICATE,
    predicate: { targetChannel: opts.targetChannel },
  };
  const payloadType = envelope.payloadType ?? 'application/vnd.in-toto+json';
  const payload = Buffer.from(JSON.stringify(statement));
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${payloadType.length} ${payloadType} ${payload.length} `), payload]);
  const sig = createSign('sha256').update(pae).sign(attestationSigner.privateKey);
  const b64 = (b: Buffer) => b.toString('base64');
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: {
      certificate: { rawBytes: b64(attestationSigner.publicKey.export({ type: 'spki', format: 'der' })) },
      tlogEntries: [{
        logIndex: '456061810',
        logId: { keyId: b64(createHash('sha256').update('rekor').digest()) },
        kindVersion: { kind: 'dsse', version: '0.0.1' },
        integratedTime: String(now()),
        inclusionPromise: { signedEntryTimestamp: b64(randomBytes(70)) },
        canonicalizedBody: b64(Buffer.from(JSON.stringify({ apiVersion: '0.0.1', kind: 'dsse' }))),
      }],
    },
    dsseEnvelope: { payload: b64(payload), payloadType, signatures: [{ sig: b64(sig), keyid: '' }] },
  };
}

/** rattler_upload's multipart body: `file` (the package) and, when given, the `attestation` text part. */
export async function uploadWith(
  serverUrl: string, channel: string, pkg: { file: string; filename: string }, token: string | null,
  attestation?: string, query = '',
): Promise<{ status: number; body: string }> {
  const r = await rattlerUpload(serverUrl, channel, pkg, token, { attestation, query });
  return { status: r.status, body: await r.text() };
}

export const ADD_GITHUB = `mutation ($channel: String!, $owner: String!, $repo: String!, $workflow: String!, $environment: String, $accessMode: ChannelAccessMode) {
  addGithubOidcPublisher(channelName: $channel, repositoryOwner: $owner, repositoryName: $repo, workflowFilename: $workflow, environment: $environment, accessMode: $accessMode) {
    __typename id createdAt updatedAt repositoryOwner repositoryName workflowFilename environment accessMode
  }
}`;

export const ADD_GITLAB = `mutation ($channel: String!, $namespace: String!, $project: String!, $path: String!, $environment: String, $accessMode: ChannelAccessMode) {
  addGitlabOidcPublisher(channelName: $channel, namespace: $namespace, project: $project, workflowFilepath: $path, environment: $environment, accessMode: $accessMode) {
    __typename id createdAt updatedAt namespace project workflowFilepath environment accessMode
  }
}`;

export const DELETE_PUBLISHER = `mutation ($channel: String!, $id: String!) {
  deleteOidcPublisher(channelName: $channel, id: $id) { __typename id createdAt updatedAt }
}`;

export const LIST_PUBLISHERS = `query ($channel: String!) {
  channel(name: $channel) {
    oidcPublishers {
      __typename id createdAt updatedAt accessMode
      ... on GithubPublisher { repositoryOwner repositoryName workflowFilename environment }
      ... on GitlabPublisher { namespace project workflowFilepath environment }
    }
  }
}`;
