// The UI's only ways to the server: GraphQL at /api/graphql, and the session
// REST endpoints (sign in/out have no GraphQL equivalent).
//
// The session cookie is HttpOnly; what the page keeps is the CSRF token the
// server derives from it. It lives in localStorage so a fresh page load can
// send its first GraphQL request with it straight away (no round trip to
// /api/session first). Without a matching token the server treats a cookie
// request as anonymous, so a stale token only ever makes the page look
// signed out, never lets anything through.

const TOKEN_KEY = 'channeld.csrf';

export interface GqlError {
  message: string;
  extensions?: { code?: string; reason?: string };
}

export class ApiError extends Error {
  constructor(message: string, readonly code: string, readonly status: number) {
    super(message);
  }
}

export interface Session {
  login: string;
  isAdmin: boolean;
  csrfToken: string;
}

export function csrfToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the session then lasts for this page only.
  }
}

/** The page believed it was signed in but the server answered as anonymous: the session is gone. */
export function forgetSession(): void {
  storeToken(null);
}

async function send(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { credentials: 'same-origin', cache: 'no-store', ...init });
  } catch {
    throw new ApiError('The server could not be reached. Check your connection and try again.', 'NETWORK', 0);
  }
}

async function jsonOf(r: Response): Promise<Record<string, unknown> | null> {
  try {
    return (await r.json()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function retryAfter(r: Response): string {
  const s = Number(r.headers.get('retry-after'));
  return Number.isFinite(s) && s > 0 ? ` Try again in ${s} s.` : ' Try again in a minute.';
}

/**
 * One GraphQL operation. Resolves with data (and any field errors) when the
 * server executed it; throws ApiError when it did not (network, HTTP error,
 * or an error with no data at all).
 */
export async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<{ data: T; errors: GqlError[] }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const token = csrfToken();
  if (token) headers['X-CSRF-Token'] = token;
  const r = await send('/api/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await jsonOf(r);
  if (r.status === 429) throw new ApiError(`Too many requests.${retryAfter(r)}`, 'TOO_MANY_REQUESTS', 429);
  const errors = (Array.isArray(body?.errors) ? body!.errors : []) as GqlError[];
  const data = body?.data as T | null | undefined;
  if (!body || data === null || data === undefined) {
    const first = errors[0];
    const message = first?.message ?? (typeof body?.message === 'string' ? body.message : `The server answered ${r.status}.`);
    throw new ApiError(message, first?.extensions?.code ?? String(body?.error ?? 'HTTP_ERROR'), r.status);
  }
  return { data, errors };
}

/** A mutation: any error is thrown (with its code) for the form to show. */
export async function mutate<T>(query: string, variables: Record<string, unknown>): Promise<T> {
  const { data, errors } = await gql<T>(query, variables);
  const first = errors[0];
  if (first) throw new ApiError(first.message, first.extensions?.code ?? 'ERROR', 200);
  return data;
}

export async function signIn(login: string, password: string): Promise<Session> {
  const r = await send('/api/session', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ login, password }),
  });
  const body = await jsonOf(r);
  if (r.status === 429) throw new ApiError(`Too many sign-in attempts.${retryAfter(r)}`, 'TOO_MANY_REQUESTS', 429);
  if (r.status === 401) throw new ApiError('Wrong username or password.', 'UNAUTHENTICATED', 401);
  if (!r.ok || !body || typeof body.csrfToken !== 'string') {
    throw new ApiError(typeof body?.message === 'string' ? body.message : `Sign-in failed (HTTP ${r.status}).`, String(body?.error ?? 'HTTP_ERROR'), r.status);
  }
  storeToken(body.csrfToken);
  return body as unknown as Session;
}

/** The current session (and its CSRF token, stored), or null when signed out. */
export async function currentSession(): Promise<Session | null> {
  const r = await send('/api/session', { headers: { Accept: 'application/json' } });
  const body = await jsonOf(r);
  if (r.ok && body && typeof body.csrfToken === 'string') {
    storeToken(body.csrfToken);
    return body as unknown as Session;
  }
  storeToken(null);
  return null;
}

export async function signOut(): Promise<void> {
  const attempt = (token: string | null) => send('/api/session', {
    method: 'DELETE', headers: token ? { 'X-CSRF-Token': token, Accept: 'application/json' } : { Accept: 'application/json' },
  });
  let r = await attempt(csrfToken());
  // A stale token (signed in again elsewhere): fetch the current one and retry once.
  if (r.status === 403) {
    const session = await currentSession();
    if (!session) return; // already signed out
    r = await attempt(session.csrfToken);
  }
  storeToken(null);
  if (!r.ok && r.status !== 401) {
    const body = await jsonOf(r);
    throw new ApiError(typeof body?.message === 'string' ? body.message : `Sign-out failed (HTTP ${r.status}).`, String(body?.error ?? 'HTTP_ERROR'), r.status);
  }
}

export const TOKEN_STORAGE_KEY = TOKEN_KEY;
