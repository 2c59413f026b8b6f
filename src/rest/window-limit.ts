// Counting what a name (a client address, a key id) did in a fixed window,
// on @fastify/rate-limit's store (its LRU-bounded local store: a sprayed
// address space cannot grow it without bound). Past `max` the name is blocked
// until its window ends; the limits of auth-limiter.ts and of refused GraphQL
// documents (graphql/refusal-limit.ts) are both made of these.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface WindowLimit {
  /** Seconds until `name` may try again, or null when it is not blocked. */
  blockedFor(name: string): number | null;
  /** Counts one event for `name`; the one that reaches `max` blocks it. */
  count(name: string): Promise<void>;
}

/** Blocked names kept before the map is cleared (bounded under address spraying). */
const MAX_TRACKED = 100_000;

export async function createWindowLimit(app: FastifyInstance, opts: { max: number; windowMs: number }): Promise<WindowLimit> {
  if (!app.hasDecorator('createRateLimit')) await app.register(rateLimit, { global: false });
  // The limiter allows `max` hits and reports the next one as exceeded; the
  // event that reaches max is the one that blocks.
  const hit = app.createRateLimit({
    max: Math.max(0, opts.max - 1),
    timeWindow: opts.windowMs,
    keyGenerator: (req: FastifyRequest) => req.ip,
  });
  const blockedUntil = new Map<string, number>();
  return {
    blockedFor(name) {
      const until = blockedUntil.get(name);
      if (until === undefined) return null;
      const left = until - Date.now();
      if (left > 0) return Math.ceil(left / 1000);
      blockedUntil.delete(name);
      return null;
    },
    async count(name) {
      // The limiter reads only the key (from ip) and route config (none here).
      const result = await hit({ ip: name, routeOptions: { config: {} } } as unknown as FastifyRequest);
      if (!result.isAllowed && result.isExceeded) {
        if (blockedUntil.size >= MAX_TRACKED) blockedUntil.clear();
        blockedUntil.set(name, Date.now() + result.ttl);
      }
    },
  };
}
