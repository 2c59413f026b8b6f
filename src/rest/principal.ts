// REST's answer to a refused credential: 401 (rest/errors.ts adds the Bearer
// challenge) or 429 with Retry-After. Which principal sent the request is the
// request's own (auth/request-principal.ts).
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../types.js';
import { Errors } from '../errors.js';

/** The caller; 401 when credentials were sent but do not verify, 429 after too many failures. */
export async function principalOf(request: FastifyRequest): Promise<Principal> {
  const outcome = await request.authOutcome;
  if (outcome.ok) return outcome.principal;
  if (outcome.reason === 'rate-limited') {
    const err = new Errors.TOO_MANY_REQUESTS(outcome.message);
    throw Object.assign(err, { retryAfterSeconds: outcome.retryAfterSeconds });
  }
  throw new Errors.UNAUTHENTICATED('the API key is invalid, expired or revoked');
}
