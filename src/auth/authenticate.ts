// Identity: turns request credentials into a Principal. Policy (what that
// principal may do) lives in policy.ts. A request with no credentials is
// anonymous; a request with credentials that do not verify is refused by the
// caller (REST: 401 with a Bearer challenge; GraphQL: viewer null).
import { ANONYMOUS, type Principal } from '../core/types.js';
import type { ApiKeyVerifier } from './api-keys.js';

export type Credentials = { kind: 'none' } | { kind: 'token'; token: string } | { kind: 'malformed' };

/** Reads `Authorization: Bearer <key>` or `Basic base64(any:key)` (conda's user:key@host, .netrc). */
export function credentialsFrom(authorization: string | undefined): Credentials {
  if (authorization === undefined || authorization.trim() === '') return { kind: 'none' };
  const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(authorization);
  if (!m) return { kind: 'malformed' };
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'bearer' || scheme === 'token') return { kind: 'token', token: m[2]! };
  if (scheme === 'basic') {
    const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { kind: 'malformed' };
    return { kind: 'token', token: decoded.slice(colon + 1) };
  }
  return { kind: 'malformed' };
}

/** The principal for credentials, or null when credentials were given and are not valid. */
export async function principalFor(creds: Credentials, verifier: ApiKeyVerifier): Promise<Principal | null> {
  if (creds.kind === 'none') return ANONYMOUS;
  if (creds.kind === 'malformed') return null;
  const verified = await verifier.verify(creds.token);
  if (!verified) return null;
  const { key, user } = verified;
  return { kind: 'user', user, key: { id: key.id, accessMode: key.accessMode, channelId: key.channelId } };
}
