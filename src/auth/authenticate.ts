// Identity: turns request credentials into a Principal (a user with or
// without a key, or a CI job holding a trusted-publishing token). Policy (what that
// principal may do) lives in policy.ts. A request with no credentials is
// anonymous; credentials that do not verify are refused by the caller (REST:
// 401 with a Bearer challenge; GraphQL: viewer null). Repeated failures from
// one client address are cut off before any key is checked.
import type { ApiKeyVerifier } from './api-keys.js';
import { csrfMatches, type SessionManager } from './sessions.js';
import { isPublisherToken, type PublisherTokenVerifier } from './publisher-tokens.js';
import { ANONYMOUS, type ChannelRole, type Principal } from '../core/types.js';

export type Credentials =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  | { kind: 'session'; token: string }
  | { kind: 'malformed' };

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * What a request presents, in order: an Authorization header, conda's
 * /t/<key>/ prefix, then the UI's session cookie — which counts for a
 * request that changes something only with the matching CSRF header.
 */
export function requestCredentials(req: {
  authorization: string | undefined; urlToken?: string | null; sessionCookie?: string | undefined;
  method: string; csrfHeader?: string | undefined;
}): Credentials {
  const fromHeader = credentialsFrom(req.authorization, req.urlToken);
  if (fromHeader.kind !== 'none' || !req.sessionCookie) return fromHeader;
  if (!SAFE_METHODS.has(req.method) && !csrfMatches(req.sessionCookie, req.csrfHeader)) return { kind: 'none' };
  return { kind: 'session', token: req.sessionCookie };
}

/**
 * Reads `Authorization: Bearer <key>` (pixi, rattler, micromamba),
 * `Basic base64(any:key)` (conda's user:key@host, .netrc), or else a key
 * from conda's `/t/<key>/…` URL prefix.
 */
export function credentialsFrom(authorization: string | undefined, urlToken?: string | null): Credentials {
  if (authorization === undefined || authorization.trim() === '') {
    return urlToken ? { kind: 'token', token: urlToken } : { kind: 'none' };
  }
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

/** Counts failed authentications per client; see rest/auth-limiter.ts. */
export interface FailureLimiter {
  /** Seconds until the client may try again, or null when it may try now. */
  blockedFor(client: string): number | null;
  recordFailure(client: string): Promise<void>;
}

export type AuthOutcome =
  | { ok: true; principal: Principal }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'rate-limited'; retryAfterSeconds: number };

export class Authenticator {
  private limiter: FailureLimiter | null = null;

  constructor(
    private readonly verifier: ApiKeyVerifier,
    private readonly sessions: SessionManager,
    private readonly publisherTokens: PublisherTokenVerifier,
    private readonly rolesOf: (userId: number) => Promise<ReadonlyMap<number, ChannelRole>>,
  ) {}

  useLimiter(limiter: FailureLimiter): void {
    this.limiter = limiter;
  }

  /** Seconds the client must wait before trying credentials again (sign-in shares the limit), or null. */
  blockedFor(client: string): number | null {
    return this.limiter?.blockedFor(client) ?? null;
  }

  async recordFailure(client: string): Promise<void> {
    await this.limiter?.recordFailure(client);
  }

  async authenticate(creds: Credentials, client: string): Promise<AuthOutcome> {
    if (creds.kind === 'none') return { ok: true, principal: ANONYMOUS };
    if (creds.kind === 'session') {
      // A stale cookie is no credential at all: the visitor is simply signed out.
      const user = await this.sessions.userFor(creds.token);
      if (!user) return { ok: true, principal: ANONYMOUS };
      return { ok: true, principal: { kind: 'user', user, roles: await this.rolesOf(user.id), key: null } };
    }
    const blocked = this.limiter?.blockedFor(client) ?? null;
    if (blocked !== null) return { ok: false, reason: 'rate-limited', retryAfterSeconds: blocked };
    if (creds.kind === 'token' && isPublisherToken(creds.token)) {
      const principal = await this.publisherTokens.verify(creds.token);
      if (principal) return { ok: true, principal };
      await this.limiter?.recordFailure(client);
      return { ok: false, reason: 'invalid' };
    }
    const verified = creds.kind === 'token' ? await this.verifier.verify(creds.token) : null;
    if (!verified) {
      await this.limiter?.recordFailure(client);
      return { ok: false, reason: 'invalid' };
    }
    const { key, user } = verified;
    return {
      ok: true,
      principal: {
        kind: 'user', user, roles: await this.rolesOf(user.id),
        key: { id: key.id, accessMode: key.accessMode, channelId: key.channelId },
      },
    };
  }
}
