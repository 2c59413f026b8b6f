// GraphQL over real HTTP, the way prefix.dev's clients talk to /api/graphql:
// a JSON POST with an optional `Authorization: Bearer` key. Plus the few REST
// calls the GraphQL tests need around it (uploads, repodata, downloads).
import assert from 'node:assert/strict';
import type { User } from '../../src/types.js';
import { rattlerUpload } from './clients.js';
import type { TestServer } from './server.js';

export interface GqlError {
  message: string;
  path?: Array<string | number>;
  extensions?: { code?: string; reason?: string; [k: string]: unknown };
}

export interface GqlResponse<T> {
  status: number;
  body: { data?: T | null; errors?: GqlError[] };
}

// Answers are walked by tests with optional chaining; an index type keeps that terse.
export type AnyData = any;

/** POSTs one operation to /api/graphql. `key` null/undefined = anonymous. */
export async function gql<T = AnyData>(
  server: Pick<TestServer, 'url'>, query: string, variables?: Record<string, unknown>, key?: string | null,
): Promise<GqlResponse<T>> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const r = await fetch(`${server.url}/api/graphql`, {
    method: 'POST', headers, body: JSON.stringify(variables ? { query, variables } : { query }),
  });
  const text = await r.text();
  let body: GqlResponse<T>['body'];
  try {
    body = JSON.parse(text) as GqlResponse<T>['body'];
  } catch {
    throw new Error(`/api/graphql answered ${r.status} with a body that is not JSON: ${text.slice(0, 500)}`);
  }
  return { status: r.status, body };
}

/** The data of an answer that must have succeeded (HTTP 200, no errors). */
export async function gqlData<T = AnyData>(
  server: Pick<TestServer, 'url'>, query: string, variables?: Record<string, unknown>, key?: string | null,
): Promise<T> {
  const res = await gql<T>(server, query, variables, key);
  assert.equal(res.status, 200, `HTTP ${res.status}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.errors, undefined, `unexpected errors: ${JSON.stringify(res.body.errors)}`);
  assert.ok(res.body.data, 'no data');
  return res.body.data;
}

/** extensions.code of every error, in order. */
export const errorCodes = (res: GqlResponse<unknown>): string[] => (res.body.errors ?? []).map((e) => e.extensions?.code ?? '(none)');

/** Asserts an answer failed with exactly this code on every error (HTTP 200, as GraphQL field errors are). */
export function assertGqlError(res: GqlResponse<unknown>, code: string, what = ''): void {
  assert.equal(res.status, 200, `${what} HTTP ${res.status}: ${JSON.stringify(res.body)}`);
  assert.ok((res.body.errors ?? []).length > 0, `${what} expected an error ${code}, got ${JSON.stringify(res.body)}`);
  assert.deepEqual([...new Set(errorCodes(res))], [code], `${what} ${JSON.stringify(res.body.errors)}`);
}

/** A new user and an API key for it, made through the core (as the CLI does). */
export async function userWithKey(server: TestServer, login: string, isAdmin = false): Promise<{ user: User; key: string }> {
  const user = await server.core.users.create(login, isAdmin);
  const { token } = await server.core.users.createKey(user, { name: 'tests', expiresAt: null });
  return { user, key: token };
}

/** What rattler_upload sends: one multipart part `file` named after the package. */
export function uploadMultipart(
  server: Pick<TestServer, 'url'>, channel: string, file: string, filename: string, key: string | null, query = '',
): Promise<Response> {
  return rattlerUpload(server.url, channel, { file, filename }, key, { query });
}

export interface Repodata {
  info: { subdir: string };
  packages: Record<string, { sha256: string }>;
  'packages.conda': Record<string, { sha256: string }>;
  removed: string[];
}

export async function repodata(server: Pick<TestServer, 'url'>, channel: string, subdir: string): Promise<{ status: number; json: Repodata | null }> {
  const r = await fetch(`${server.url}/${channel}/${subdir}/repodata.json`);
  const text = await r.text();
  return { status: r.status, json: r.status === 200 ? (JSON.parse(text) as Repodata) : null };
}

export const listedIn = (doc: Repodata | null, filename: string): boolean =>
  !!doc && (filename in doc.packages || filename in doc['packages.conda']);

/** Uploads files one after the other (multipart, as rattler does); every one must answer 200. */
export async function uploadAll(
  server: Pick<TestServer, 'url'>, channel: string, files: Array<{ file: string; filename: string }>, key: string,
): Promise<void> {
  for (const f of files) {
    const r = await uploadMultipart(server, channel, f.file, f.filename, key);
    if (r.status !== 200) throw new Error(`upload of ${f.filename} to ${channel}: HTTP ${r.status} ${await r.text()}`);
    await r.arrayBuffer().catch(() => undefined);
  }
}
