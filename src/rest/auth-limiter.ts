// Failed authentications are counted in two key spaces over the same window:
// per client address, and per subject (an API key id or a user signing in).
// Past the limit an address is refused what it cannot prove, and a subject's
// wrong secrets are answered 429, until the window ends (auth/authenticate.ts
// decides what that means). Successful requests never count.
import type { FastifyInstance } from 'fastify';
import type { FailureLimiter } from '../auth/authenticate.js';
import { createWindowLimit } from './window-limit.js';

export interface AuthLimitOptions {
  maxFailures: number;
  windowMs: number;
}

export async function createAuthLimiter(app: FastifyInstance, opts: AuthLimitOptions): Promise<FailureLimiter> {
  const failures = await createWindowLimit(app, { max: opts.maxFailures, windowMs: opts.windowMs });
  return {
    blockedFor: (address) => failures.blockedFor(`address:${address}`),
    subjectBlockedFor: (subject) => failures.blockedFor(`subject:${subject}`),
    async recordFailure(address, subject) {
      await failures.count(`address:${address}`);
      if (subject !== undefined) await failures.count(`subject:${subject}`);
    },
  };
}
