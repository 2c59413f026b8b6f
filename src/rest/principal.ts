// Request → Principal, memoised per request. File serving only asks when a
// channel is private, so anonymous reads of public channels cost nothing.
import type { FastifyRequest } from 'fastify';
import { requestCredentials, type AuthOutcome } from '../auth/authenticate.js';
import { CSRF_HEADER, SESSION_COOKIE } from '../auth/sessions.js';
import type { Core } from '../core/core.js';
import type { Principal } from '../core/types.js';
import { Errors } from '../errors.js';

const memo = new WeakMap<FastifyRequest, Promise<AuthOutcome>>();
/** Keys that arrived in conda's /t/<key>/ URL prefix (see app.ts rewriteUrl). */
export const urlTokens = new WeakMap<object, string>();

export function authenticate(request: FastifyRequest, core: Core): Promise<AuthOutcome> {
  let pending = memo.get(request);
  if (!pending) {
    const csrf = request.headers[CSRF_HEADER];
    pending = core.auth.authenticate(requestCredentials({
      authorization: request.headers.authorization,
      urlToken: urlTokens.get(request.raw),
      sessionCookie: request.cookies?.[SESSION_COOKIE],
      method: request.method,
      csrfHeader: Array.isArray(csrf) ? csrf[0] : csrf,
    }), request.ip);
    memo.set(request, pending);
  }
  return pending;
}

/** The caller; 401 when credentials were sent but do not verify, 429 after too many failures. */
export async function principalOf(request: FastifyRequest, core: Core): Promise<Principal> {
  const outcome = await authenticate(request, core);
  if (outcome.ok) return outcome.principal;
  if (outcome.reason === 'rate-limited') {
    const err = new Errors.TOO_MANY_REQUESTS(outcome.message);
    throw Object.assign(err, { retryAfterSeconds: outcome.retryAfterSeconds });
  }
  throw new Errors.UNAUTHENTICATED('the API key is invalid, expired or revoked');
}
