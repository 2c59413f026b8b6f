// Identity: turns request credentials into a Principal (a user with or
// without a key, or a CI job holding a trusted-publishing token). Policy (what that
// principal may do) lives in policy.ts. A request with no credentials is
// anonymous; credentials that do not verify are refused by the caller (REST:
// 401 with a Bearer challenge; GraphQL: viewer null). Repeated failures are
// limited without ever locking out a valid credential (see Authenticator).
import type { ApiKeyVerifier, SecretCheckPolicy } from './api-keys.js';
import { CheckLanes } from './check-lane.js';
import { csrfMatches, type SessionManager } from './sessions.js';
import { isPublisherToken, type PublisherTokenVerifier } from './publisher-tokens.js';
import { ANONYMOUS, type ChannelRole, type Principal, type User } from '../types.js';
import type { WindowCounter } from './window-counter.js';

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

/** A refusal: 'rate-limited' says how long to wait and why, for the 429 body. */
export type Refusal =
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'rate-limited'; retryAfterSeconds: number; message: string };

export type AuthOutcome = { ok: true; principal: Principal } | Refusal;

export type SignInOutcome = { ok: true; token: string; user: User } | Refusal;

/** The last few addresses each subject (key id, user) was verified from. */
class VerifiedAddresses {
  private readonly bySubject = new Map<string, string[]>();

  has(subject: string, address: string): boolean {
    return this.bySubject.get(subject)?.includes(address) ?? false;
  }

  add(subject: string, address: string): void {
    const list = this.bySubject.get(subject) ?? [];
    if (list.includes(address)) return;
    if (this.bySubject.size >= 100_000) this.bySubject.clear(); // bounded however many keys are used
    this.bySubject.set(subject, [address, ...list].slice(0, 8));
  }
}

/** What a caller asked to retry because a subject's lane was full waits for. */
const BUSY_RETRY_SECONDS = 1;
const BUSY: Refusal = {
  ok: false, reason: 'rate-limited', retryAfterSeconds: BUSY_RETRY_SECONDS,
  message: `too many requests are checking this credential at once; try again in ${BUSY_RETRY_SECONDS} s`,
};

/**
 * The failure rules, for API keys and sign-ins alike. A valid credential is
 * never locked out:
 * - keys verified lately (cached), sessions and publisher tokens (a sha256
 *   lookup) are checked as usual whatever the address did;
 * - an address over its failure limit gets 429 for anything that does not
 *   name a real subject (no key id, an unknown key id or login), without any
 *   argon2 — and a correct key or password from it still works;
 * - a subject (key id, user) is argon2-checked one request at a time
 *   (auth/check-lane.ts; one key has one secret, and identical tokens share
 *   one check), in a pool of at most half the cores for all subjects, callers from addresses it was verified from before first,
 *   then clean addresses, then failing ones; past a bounded queue the caller
 *   is asked to retry in 1 s;
 * - wrong secrets are counted per subject too: past the limit they are 429,
 *   from any address.
 */
export class Authenticator {
  private readonly lanes = new CheckLanes();
  private readonly verifiedFrom = new VerifiedAddresses();

  constructor(
    private readonly verifier: ApiKeyVerifier,
    private readonly sessions: SessionManager,
    private readonly publisherTokens: PublisherTokenVerifier,
    private readonly rolesOf: (userId: number) => Promise<ReadonlyMap<number, ChannelRole>>,
    /**
     * Failed authentications per client address and per subject (an API key
     * id, a user signing in), in one counter: both key spaces share its
     * window and its memory bound. Successes never count.
     */
    private readonly failures: WindowCounter,
  ) {}

  async authenticate(creds: Credentials, client: string): Promise<AuthOutcome> {
    if (creds.kind === 'none') return { ok: true, principal: ANONYMOUS };
    if (creds.kind === 'session') {
      // A stale cookie is no credential at all: the visitor is simply signed out.
      const user = await this.sessions.userFor(creds.token);
      if (!user) return { ok: true, principal: ANONYMOUS };
      return { ok: true, principal: { kind: 'user', user, roles: await this.rolesOf(user.id), key: null } };
    }
    const blocked = this.failures.blockedFor(`address:${client}`);
    if (creds.kind === 'malformed') return this.refuse(client, blocked);
    if (isPublisherToken(creds.token)) {
      const principal = await this.publisherTokens.verify(creds.token);
      if (principal) return { ok: true, principal };
      return this.refuse(client, blocked);
    }
    const checked = await this.verifier.check(creds.token, this.policyFor(client, blocked, 'key'));
    if (!checked.ok) {
      if (checked.why === 'busy') return BUSY;
      return this.refuse(client, blocked, checked.lookupId === undefined ? undefined : `key:${checked.lookupId}`);
    }
    const { key, user } = checked;
    return {
      ok: true,
      principal: {
        kind: 'user', user, roles: await this.rolesOf(user.id),
        key: { id: key.id, accessMode: key.accessMode, channelId: key.channelId },
      },
    };
  }

  /** The UI's password sign-in, under the same rules as API keys. */
  async signIn(login: string, password: string, client: string): Promise<SignInOutcome> {
    const blocked = this.failures.blockedFor(`address:${client}`);
    const result = await this.sessions.signIn(login, password, this.policyFor(client, blocked, 'user'));
    if (result.ok) return result;
    if (result.why === 'busy') return BUSY;
    return this.refuse(client, blocked, result.userId === undefined ? undefined : `user:${result.userId}`);
  }

  private policyFor(client: string, blocked: number | null, kind: 'key' | 'user'): SecretCheckPolicy {
    return {
      // An address over its limit gets no dummy verify: its 429 comes at once.
      runDummy: (check) => (blocked === null ? this.lanes.spare(check) : Promise.resolve()),
      runCheck: async (id, check) => {
        const subject = `${kind}:${id}`;
        const tier = this.verifiedFrom.has(subject, client) ? 'known' : blocked === null ? 'clean' : 'failing';
        const verdict = await this.lanes.run(subject, tier, check);
        if (verdict === true) this.verifiedFrom.add(subject, client);
        return verdict;
      },
    };
  }

  /**
   * Counts a failure. The answer is 429 when the address, or the subject
   * the credential named, was already over its limit; otherwise 401.
   */
  private refuse(client: string, blocked: number | null, subject?: string): Refusal {
    const subjectBlocked = subject === undefined ? null : this.failures.blockedFor(`subject:${subject}`);
    this.failures.count(`address:${client}`);
    if (subject !== undefined) this.failures.count(`subject:${subject}`);
    if (blocked !== null) {
      return { ok: false, reason: 'rate-limited', retryAfterSeconds: blocked, message: `too many failed authentications from this address; try again in ${blocked} s` };
    }
    if (subjectBlocked !== null) {
      return { ok: false, reason: 'rate-limited', retryAfterSeconds: subjectBlocked, message: `too many failed attempts for this key or login; try again in ${subjectBlocked} s` };
    }
    return { ok: false, reason: 'invalid' };
  }
}
