// API keys: `pfx_` + 12 base62 characters of lookup id + 40 of secret.
// Only the lookup id is stored in clear (so verification is one indexed row,
// not a scan of salted hashes); the whole token is stored as an argon2id
// hash. argon2 costs ~250 ms here (docs/perf-notes.md), so a verified token
// is remembered for a while; the key row is still read on every request, so
// revocation and expiry take effect at once, in every process.
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import argon2 from 'argon2';
import type { ApiKeyRepository, UserRepository } from '../db/repositories.js';
import type { ApiKey, User } from '../types.js';

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const LOOKUP_CHARS = 12;
const SECRET_CHARS = 40;
// `pfx-` is the conda-safe spelling (conda's /t/<token>/ allows only [A-Za-z0-9-]).
const TOKEN_RE = new RegExp(`^pfx[_-]([A-Za-z0-9]{${LOOKUP_CHARS}})[A-Za-z0-9]{${SECRET_CHARS}}$`);
const TOUCH_EVERY_MS = 60_000;

export function randomBase62(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[randomInt(BASE62.length)];
  return out;
}

export interface MintedKey {
  token: string;
  lookupId: string;
  secretHash: string;
}

export async function mintKey(): Promise<MintedKey> {
  const lookupId = randomBase62(LOOKUP_CHARS);
  const token = `pfx_${lookupId}${randomBase62(SECRET_CHARS)}`;
  return { token, lookupId, secretHash: await argon2.hash(token, { type: argon2.argon2id }) };
}

/** Canonical form of a presented token (pfx-… → pfx_…), or null if it is not key-shaped. */
export function parseToken(presented: string): { canonical: string; lookupId: string } | null {
  const m = TOKEN_RE.exec(presented);
  if (!m) return null;
  return { canonical: `pfx_${presented.slice(4)}`, lookupId: m[1]! };
}

interface CacheEntry {
  digest: Buffer;
  secretHash: string;
  untilMs: number;
}

export interface VerifiedKey {
  key: ApiKey;
  user: User;
}

/** Why a presented key did not verify; `lookupId` when it named a stored key. */
export type KeyRefusal =
  | { why: 'not-a-key' | 'unknown-id'; lookupId?: undefined }
  | { why: 'wrong-secret' | 'inactive' | 'busy'; lookupId: string };

export type KeyCheck = ({ ok: true } & VerifiedKey) | ({ ok: false } & KeyRefusal);

/**
 * How the caller wants the expensive part run (see auth/authenticate.ts):
 * the dummy argon2 an unknown key id pays (so timing does not tell it is
 * unknown; the caller may skip it), and the argon2 check of a known key,
 * which may decline with 'busy'.
 */
export interface SecretCheckPolicy {
  runDummy(check: () => Promise<unknown>): Promise<void>;
  runCheck(lookupId: string, check: () => Promise<boolean>): Promise<boolean | 'busy'>;
}

export const DIRECT_CHECKS: SecretCheckPolicy = {
  runDummy: async (check) => void (await check()),
  runCheck: (_id, check) => check(),
};

export class ApiKeyVerifier {
  private readonly cache = new Map<string, CacheEntry>();
  private dummyHash: Promise<string> | null = null;
  private readonly inFlight = new Map<string, Promise<boolean | 'busy'>>();

  constructor(
    private readonly keys: ApiKeyRepository,
    private readonly users: UserRepository,
    private readonly cacheTtlMs: number,
  ) {}

  async verify(presented: string): Promise<VerifiedKey | null> {
    const checked = await this.check(presented);
    return checked.ok ? { key: checked.key, user: checked.user } : null;
  }

  /**
   * Verifies a presented key. A key verified in the last cacheTtlMs is
   * matched by its sha256 alone and never goes through `policy`.
   */
  async check(presented: string, policy: SecretCheckPolicy = DIRECT_CHECKS): Promise<KeyCheck> {
    const parsed = parseToken(presented);
    if (!parsed) return { ok: false, why: 'not-a-key' };
    const now = Date.now();
    const digest = createHash('sha256').update(parsed.canonical).digest();
    const key = await this.keys.byLookupId(parsed.lookupId);
    const cached = this.cache.get(parsed.lookupId);
    const cacheHit =
      key !== null && cached !== undefined && cached.untilMs > now && cached.secretHash === key.secretHash &&
      timingSafeEqual(cached.digest, digest);
    if (!cacheHit) {
      if (!key) {
        await policy.runDummy(() => this.checkSecret(parsed.canonical, digest, null, (check) => check()));
        return { ok: false, why: 'unknown-id' };
      }
      const verdict = await this.checkSecret(parsed.canonical, digest, key, (check) => policy.runCheck(parsed.lookupId, check));
      if (verdict === 'busy') return { ok: false, why: 'busy', lookupId: parsed.lookupId };
      if (!verdict) return { ok: false, why: 'wrong-secret', lookupId: parsed.lookupId };
      this.cache.set(parsed.lookupId, { digest, secretHash: key.secretHash, untilMs: now + this.cacheTtlMs });
    }
    if (key.revokedAt !== null || (key.expiresAt !== null && key.expiresAt <= now)) {
      this.cache.delete(parsed.lookupId);
      return { ok: false, why: 'inactive', lookupId: parsed.lookupId };
    }
    const user = await this.users.byId(key.userId);
    if (!user) return { ok: false, why: 'inactive', lookupId: parsed.lookupId };
    if (key.lastUsedAt === null || now - key.lastUsedAt > TOUCH_EVERY_MS) await this.keys.touch(key.id, now);
    return { ok: true, key, user };
  }

  /**
   * One argon2 verify per distinct token at a time: 50 parallel first
   * requests with a new key share one check (and one place in its lane)
   * instead of queueing 50. Unknown lookup ids still pay for a verify
   * (when the policy has room for it), so timing does not tell whether a
   * key exists.
   */
  private checkSecret(
    canonical: string, digest: Buffer, key: ApiKey | null,
    run: (check: () => Promise<boolean>) => Promise<boolean | 'busy'>,
  ): Promise<boolean | 'busy'> {
    const id = `${digest.toString('hex')}:${key?.secretHash ?? ''}`;
    let pending = this.inFlight.get(id);
    if (!pending) {
      pending = run(async () => {
        const hash = key?.secretHash ?? (await this.getDummyHash());
        return argon2.verify(hash, canonical).catch(() => false);
      }).finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, pending);
    }
    return pending;
  }

  forget(lookupId: string): void {
    this.cache.delete(lookupId);
  }

  private getDummyHash(): Promise<string> {
    this.dummyHash ??= argon2.hash(`pfx_${randomBase62(LOOKUP_CHARS + SECRET_CHARS)}`, { type: argon2.argon2id });
    return this.dummyHash;
  }
}
