// Request → Principal, memoised per request. File serving only asks when a
// channel is private, so anonymous reads of public channels cost nothing.
import type { FastifyRequest } from 'fastify';
import { credentialsFrom, principalFor } from '../auth/authenticate.js';
import type { Core } from '../core/core.js';
import type { Principal } from '../core/types.js';
import { Errors } from '../errors.js';

const memo = new WeakMap<FastifyRequest, Promise<Principal | null>>();

/** The caller, or a 401 when credentials were sent but do not verify. */
export async function principalOf(request: FastifyRequest, core: Core): Promise<Principal> {
  let pending = memo.get(request);
  if (!pending) {
    pending = principalFor(credentialsFrom(request.headers.authorization), core.verifier);
    memo.set(request, pending);
  }
  const principal = await pending;
  if (principal === null) throw new Errors.UNAUTHENTICATED('the API key is invalid, expired or revoked');
  return principal;
}
