// Tokens minted by trusted publishing: `pfx_oidc_` + 43 base62 characters
// (256 bits), `pfx-oidc-…` being the spelling conda's /t/<token>/ allows.
// The `_oidc_` keeps them apart from API keys, whose parser wants 52
// letters and digits straight after `pfx_`.
//
// Only a sha256 of the token is stored. API keys use argon2 because they
// live for months and a stolen database must not yield them; these live 15
// minutes and carry 256 random bits, so a fast hash is already out of reach
// of guessing, and it lets every request check the database (expiry,
// deleted publisher) at the cost of one indexed read instead of ~250 ms.
import { createHash } from 'node:crypto';
import type { OidcRepository } from '../db/repositories.js';
import type { Principal } from '../types.js';
import { randomBase62 } from './api-keys.js';

export const PUBLISHER_TOKEN_TTL_MS = 15 * 60_000;
const SECRET_CHARS = 43;
const TOKEN_RE = new RegExp(`^pfx[_-]oidc[_-]([A-Za-z0-9]{${SECRET_CHARS}})$`);

export function newPublisherToken(): { token: string; tokenHash: string } {
  const token = `pfx_oidc_${randomBase62(SECRET_CHARS)}`;
  return { token, tokenHash: hashOf(token) };
}

/** Whether a presented credential has the shape of a minted token (either spelling). */
export function isPublisherToken(presented: string): boolean {
  return TOKEN_RE.test(presented);
}

function hashOf(canonical: string): string {
  return createHash('sha256').update(canonical).digest('hex');
}

export class PublisherTokenVerifier {
  constructor(private readonly repo: OidcRepository) {}

  /** The principal a live token stands for, or null (unknown, expired, or its publishers deleted). */
  async verify(presented: string): Promise<Extract<Principal, { kind: 'publisher' }> | null> {
    const m = TOKEN_RE.exec(presented);
    if (!m) return null;
    const found = await this.repo.tokenGrants(hashOf(`pfx_oidc_${m[1]}`), Date.now());
    if (!found) return null;
    return { kind: 'publisher', grants: found.grants, claims: found.claims };
  }
}
