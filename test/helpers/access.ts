// What the access-control tests send: keys in each form clients use, the
// REST calls (downloads, uploads, deletes, reindex) and the GraphQL
// operations of prefix.dev's clients that need rights.
import { bearer, deletePackage, rattlerUpload, reindexSubdir } from './clients.js';
import { gql, type GqlResponse } from './graphql.js';

export { basic, bearer, condaSafe } from './clients.js';

export const CHALLENGE = 'Bearer realm="channeld"';

export interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
  /** The JSON error code of a 4xx/5xx body, when there is one. */
  error: string | null;
  message: string;
}

async function answer(r: Response): Promise<Answer> {
  const body = Buffer.from(await r.arrayBuffer());
  let error: string | null = null;
  let message = '';
  if (r.status >= 400) {
    try {
      const json = JSON.parse(body.toString('utf8')) as { error?: string; message?: string };
      error = json.error ?? null;
      message = json.message ?? '';
    } catch {
      message = body.toString('utf8').slice(0, 200);
    }
  }
  return { status: r.status, headers: r.headers, body, error, message };
}

/** GET with an optional Authorization header value (not just a key: Basic and Bearer both). */
export async function get(url: string, authorization?: string | null, headers: Record<string, string> = {}): Promise<Answer> {
  return answer(await fetch(url, { headers: authorization ? { ...headers, authorization } : headers }));
}

/** rattler_upload's multipart POST; `force` adds ?force=true. */
export async function upload(baseUrl: string, channel: string, pkg: { file: string; filename: string }, key: string | null, force = false): Promise<Answer> {
  return answer(await rattlerUpload(baseUrl, channel, pkg, key, { force }));
}

export async function deleteFile(baseUrl: string, channel: string, subdir: string, filename: string, key: string | null): Promise<Answer> {
  return answer(await deletePackage(baseUrl, channel, subdir, filename, key));
}

export async function reindex(baseUrl: string, channel: string, subdir: string, key: string | null): Promise<Answer> {
  return answer(await reindexSubdir(baseUrl, channel, subdir, key));
}

// The operations, as pixi-pfx and the prefix.dev web app send them.
export const Q = {
  createChannel: 'mutation ($name: String!, $isPublic: Boolean) { createChannel(name: $name, isPublic: $isPublic) { channel { name isPublic } } }',
  updateChannel: 'mutation ($name: String!, $description: String, $isPublic: Boolean) { updateChannel(name: $name, description: $description, isPublic: $isPublic) { channel { name isPublic } } }',
  deleteChannel: 'mutation ($name: String!) { deleteChannel(name: $name) { channel { name } } }',
  addMember: 'mutation ($user: String!, $channel: String!, $role: ChannelMemberRole!) { addChannelMember(userName: $user, channelName: $channel, role: $role) { username role } }',
  deleteMember: 'mutation ($user: String!, $channel: String!) { deleteChannelMember(userName: $user, channelName: $channel) { username } }',
  createKey: 'mutation ($name: String!, $expiresAt: DateTime, $accessMode: ChannelAccessMode, $channelName: String) { createApiKey(name: $name, expiresAt: $expiresAt, accessMode: $accessMode, channelName: $channelName) { key name accessMode channel { name } } }',
  revokeKey: 'mutation ($name: String!) { revokeApiKey(name: $name) }',
  yank: 'mutation ($channel: String!, $subdir: String!, $filename: String!) { batchYankPackageVariants(channelName: $channel, entries: [{subdir: $subdir, filename: $filename}], reason: "broken") }',
  unyank: 'mutation ($channel: String!, $subdir: String!, $filename: String!) { batchUnyankPackageVariants(channelName: $channel, entries: [{subdir: $subdir, filename: $filename}]) }',
  addGithubPublisher: 'mutation ($channel: String!, $owner: String!, $repo: String!, $workflow: String!) { addGithubOidcPublisher(channelName: $channel, repositoryOwner: $owner, repositoryName: $repo, workflowFilename: $workflow) { id } }',
  /** Everything a client could learn about one channel and one package name in it. */
  visibility: `query ($channel: String!, $package: String!) {
    channel(name: $channel) { name }
    channels(filters: {name: {eq: $channel}}, limit: 100) { page { name } }
    package(channelName: $channel, name: $package) { name }
    packages(filters: {name: {eq: $package}}, limit: 100) { page { name channel { name } } }
  }`,
};

/** The GraphQL refusal as the REST status it stands for (UNAUTHENTICATED → 401, …), 'ok', or what else came back. */
export function gqlOutcome(res: GqlResponse<unknown>): string {
  const errors = res.body.errors ?? [];
  if (res.status === 200 && errors.length === 0 && res.body.data) return 'ok';
  const codes = [...new Set(errors.map((e) => e.extensions?.code ?? '(no code)'))];
  const byCode: Record<string, string> = { UNAUTHENTICATED: '401', FORBIDDEN: '403', NOT_FOUND: '404' };
  if (res.status === 200 && codes.length === 1 && byCode[codes[0]!]) return byCode[codes[0]!]!;
  return `HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`;
}

export interface Visibility {
  /** channel(name) answered the channel. */
  channel: boolean;
  /** channels(filters) listed it. */
  listed: boolean;
  /** package(channelName, name) answered the package. */
  package: boolean;
  /** packages(filters) listed the package in this channel. */
  packageListed: boolean;
}

/** What GraphQL shows the caller of `channel` and package `pkg` in it. */
export async function gqlVisibility(server: { url: string }, channel: string, pkg: string, key: string | null): Promise<Visibility> {
  const res = await gql(server, Q.visibility, { channel, package: pkg }, key);
  if (res.status !== 200 || res.body.errors) throw new Error(`visibility query failed: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  const d = res.body.data;
  return {
    channel: d.channel?.name === channel,
    listed: d.channels.page.some((c: { name: string }) => c.name === channel),
    package: d.package?.name === pkg,
    packageListed: d.packages.page.some((p: { channel: { name: string } }) => p.channel.name === channel),
  };
}

export { gql };
