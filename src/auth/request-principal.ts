// The request's principal as a request decoration that REST and GraphQL both
// read (`await request.authOutcome`). It is resolved on the first read and
// kept for the rest of the request; routes that never read it cost nothing
// (file serving asks only for private channels, so anonymous reads of public
// ones never authenticate).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Errors } from '../errors.js';
import { requestCredentials, type AuthOutcome, type Authenticator } from './authenticate.js';
import { CSRF_HEADER, SESSION_COOKIE } from './sessions.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Who sent the request. A refusal (credentials that do not verify, too
     * many failures) is the transport's to answer: REST with 401/429
     * (rest/principal.ts), GraphQL with viewer null or 429.
     */
    readonly authOutcome: Promise<AuthOutcome>;
  }
}

/**
 * conda's /t/<key>/<path> URLs: the key as sent (still percent-encoded) and
 * the path routing sees; null for any other URL.
 */
export function splitUrlToken(url: string): { encodedKey: string; path: string } | null {
  if (!url.startsWith('/t/')) return null;
  const m = /^\/t\/([^/]+)(\/.*)$/.exec(url);
  return m ? { encodedKey: m[1]!, path: m[2]! } : null;
}

const outcomeSlot = Symbol('channeld.authOutcome');
const urlKeySlot = Symbol('channeld.urlKey');
type WithSlots = FastifyRequest & { [outcomeSlot]: Promise<AuthOutcome> | null; [urlKeySlot]: string | null };

export interface RequestPrincipalOptions {
  auth: Authenticator;
}

async function requestPrincipalPlugin(app: FastifyInstance, opts: RequestPrincipalOptions): Promise<void> {
  // Declared up front as null, so every request keeps one shape, and filled per request.
  app.decorateRequest(outcomeSlot, null);
  app.decorateRequest(urlKeySlot, null);
  app.decorateRequest('authOutcome', {
    getter(this: FastifyRequest): Promise<AuthOutcome> {
      const request = this as WithSlots;
      if (request[outcomeSlot] === null) {
        const csrf = request.headers[CSRF_HEADER];
        request[outcomeSlot] = opts.auth.authenticate(requestCredentials({
          authorization: request.headers.authorization,
          urlToken: request[urlKeySlot],
          sessionCookie: request.cookies?.[SESSION_COOKIE],
          method: request.method,
          csrfHeader: Array.isArray(csrf) ? csrf[0] : csrf,
        }), request.ip);
      }
      return request[outcomeSlot];
    },
  });
  // app.ts's rewriteUrl takes the /t/<key>/ prefix off before routing; the key
  // is read back from the URL as sent. One that is not valid percent-encoding
  // is refused on every route, including those that never authenticate.
  app.addHook('onRequest', async (request) => {
    const prefix = splitUrlToken(request.originalUrl);
    if (prefix === null) return;
    try {
      (request as WithSlots)[urlKeySlot] = decodeURIComponent(prefix.encodedKey);
    } catch {
      throw new Errors.BAD_REQUEST('the key in the /t/<key>/ URL prefix is not valid percent-encoding');
    }
  });
}

export const requestPrincipal = fp(requestPrincipalPlugin, { name: 'channeld-request-principal', fastify: '5.x' });
