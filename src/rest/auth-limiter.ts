// Failed authentications are rate-limited per client address with
// @fastify/rate-limit: each failure counts against a window; once a client
// is over the limit it is refused (429) before any key is checked, until
// the window ends. Successful requests never count.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FailureLimiter } from '../auth/authenticate.js';

export interface AuthLimitOptions {
  maxFailures: number;
  windowMs: number;
}

export async function createAuthLimiter(app: FastifyInstance, opts: AuthLimitOptions): Promise<FailureLimiter> {
  await app.register(rateLimit, { global: false });
  // The limiter allows `max` hits and reports the next one as exceeded; the
  // failure that reaches maxFailures is the one that must lock the client out.
  const count = app.createRateLimit({
    max: Math.max(0, opts.maxFailures - 1),
    timeWindow: opts.windowMs,
    keyGenerator: (req: FastifyRequest) => `auth-failure:${req.ip}`,
  });
  const blockedUntil = new Map<string, number>();
  return {
    blockedFor(client) {
      const until = blockedUntil.get(client);
      if (until === undefined) return null;
      const left = until - Date.now();
      if (left > 0) return Math.ceil(left / 1000);
      blockedUntil.delete(client);
      return null;
    },
    async recordFailure(client) {
      // The limiter reads only the key (from ip) and route config (none here).
      const result = await count({ ip: client, routeOptions: { config: {} } } as unknown as FastifyRequest);
      if (!result.isAllowed && result.isExceeded) {
        blockedUntil.set(client, Date.now() + result.ttl);
        if (blockedUntil.size > 100_000) blockedUntil.clear(); // bounded under address-spraying
      }
    },
  };
}
