// Failed authentications are counted with @fastify/rate-limit's store, in
// two key spaces over the same window: per client address, and per subject
// (an API key id or a user signing in). Past the limit an address is refused
// what it cannot prove, and a subject's wrong secrets are answered 429, until
// the window ends (auth/authenticate.ts decides what that means). Successful
// requests never count.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FailureLimiter } from '../auth/authenticate.js';

export interface AuthLimitOptions {
  maxFailures: number;
  windowMs: number;
}

/** Entries kept per map before it is cleared (bounded under address spraying). */
const MAX_TRACKED = 100_000;

export async function createAuthLimiter(app: FastifyInstance, opts: AuthLimitOptions): Promise<FailureLimiter> {
  await app.register(rateLimit, { global: false });
  // The limiter allows `max` hits and reports the next one as exceeded; the
  // failure that reaches maxFailures is the one that trips the limit.
  const count = app.createRateLimit({
    max: Math.max(0, opts.maxFailures - 1),
    timeWindow: opts.windowMs,
    keyGenerator: (req: FastifyRequest) => req.ip,
  });
  const limitedUntil = new Map<string, number>();

  const secondsLeft = (name: string): number | null => {
    const until = limitedUntil.get(name);
    if (until === undefined) return null;
    const left = until - Date.now();
    if (left > 0) return Math.ceil(left / 1000);
    limitedUntil.delete(name);
    return null;
  };
  const countFailure = async (name: string): Promise<void> => {
    // The limiter reads only the key (from ip) and route config (none here).
    const result = await count({ ip: name, routeOptions: { config: {} } } as unknown as FastifyRequest);
    if (!result.isAllowed && result.isExceeded) {
      if (limitedUntil.size >= MAX_TRACKED) limitedUntil.clear();
      limitedUntil.set(name, Date.now() + result.ttl);
    }
  };

  return {
    blockedFor: (address) => secondsLeft(`address:${address}`),
    subjectBlockedFor: (subject) => secondsLeft(`subject:${subject}`),
    async recordFailure(address, subject) {
      await countFailure(`address:${address}`);
      if (subject !== undefined) await countFailure(`subject:${subject}`);
    },
  };
}
