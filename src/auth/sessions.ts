// Web sessions for the UI. The cookie holds a random token; the database
// keeps only its sha256. The CSRF token is derived from the session token
// (so nothing else is stored): cookie-authenticated requests that change
// something must echo it in X-CSRF-Token, which a cross-site form cannot.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import argon2 from 'argon2';
import type { Repositories } from '../db/repositories.js';
import type { User } from '../types.js';
import { DIRECT_CHECKS, type SecretCheckPolicy } from './api-keys.js';

export type SignInResult =
  | { ok: true; token: string; user: User }
  | { ok: false; why: 'unknown-id'; userId?: undefined }
  | { ok: false; why: 'wrong-secret' | 'busy'; userId: number };

export const SESSION_COOKIE = 'channeld_session';
export const SESSION_TTL_MS = 14 * 86_400_000;
export const CSRF_HEADER = 'x-csrf-token';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export function csrfTokenFor(sessionToken: string): string {
  return sha256(`csrf:${sessionToken}`);
}

export function csrfMatches(sessionToken: string, presented: string | undefined): boolean {
  if (typeof presented !== 'string') return false;
  const expected = Buffer.from(csrfTokenFor(sessionToken));
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export class SessionManager {
  private dummyHash: Promise<string> | null = null;

  constructor(private readonly repos: Repositories) {}

  /**
   * A new session for the user if the password is right; otherwise why not
   * (with the user id when the login exists). The policy works as for API
   * keys (auth/api-keys.ts SecretCheckPolicy), keyed by the user's id.
   */
  async signIn(login: string, password: string, policy: SecretCheckPolicy = DIRECT_CHECKS): Promise<SignInResult> {
    const user = await this.repos.users.byLogin(login);
    const hash = user ? await this.repos.users.passwordHash(user.id) : null;
    if (!user || !hash) {
      // Unknown logins (or users without a password) still pay one verify.
      this.dummyHash ??= argon2.hash(randomBytes(16).toString('hex'), { type: argon2.argon2id });
      const dummy = this.dummyHash;
      await policy.runDummy(async () => argon2.verify(await dummy, password).catch(() => false));
      return { ok: false, why: 'unknown-id' };
    }
    const verdict = await policy.runCheck(String(user.id), () => argon2.verify(hash, password).catch(() => false));
    if (verdict === 'busy') return { ok: false, why: 'busy', userId: user.id };
    if (!verdict) return { ok: false, why: 'wrong-secret', userId: user.id };
    const token = randomBytes(32).toString('base64url');
    await this.repos.sessions.create(sha256(token), user.id, Date.now() + SESSION_TTL_MS);
    return { ok: true, token, user };
  }

  async userFor(token: string): Promise<User | null> {
    const userId = await this.repos.sessions.userOf(sha256(token), Date.now());
    return userId === null ? null : this.repos.users.byId(userId);
  }

  async signOut(token: string): Promise<void> {
    await this.repos.sessions.delete(sha256(token));
  }
}
