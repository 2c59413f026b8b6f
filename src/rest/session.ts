// The web UI's sign-in: POST /api/session {login, password} → an HttpOnly,
// SameSite=Lax session cookie (Secure over https) and the CSRF token the UI
// echoes in X-CSRF-Token; GET /api/session tells who is signed in; DELETE
// signs out. Failed sign-ins count against the same limits as failed API
// keys (per address and per user; auth/authenticate.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { csrfMatches, csrfTokenFor, CSRF_HEADER, SESSION_COOKIE, SESSION_TTL_MS } from '../auth/sessions.js';
import type { Core } from '../core/core.js';
import { Errors } from '../errors.js';

// Secure when the request came over https, and whenever the configured
// public URL is https: behind a TLS-terminating proxy that is not trusted
// (no CHANNELD_TRUST_PROXY) the request looks like plain http, but the
// browser is on https and the cookie must never travel without it.
function cookieOptions(request: FastifyRequest, core: Core) {
  return {
    path: '/', httpOnly: true, sameSite: 'lax' as const,
    secure: request.protocol === 'https' || core.config.publicUrl?.startsWith('https:') === true,
    maxAge: Math.floor(SESSION_TTL_MS / 1000),
  };
}

export async function sessionRoutes(app: FastifyInstance, opts: { core: Core }): Promise<void> {
  const { core } = opts;

  app.post<{ Body: { login: string; password: string } }>('/api/session', {
    schema: {
      body: {
        type: 'object', required: ['login', 'password'], additionalProperties: false,
        properties: { login: { type: 'string', minLength: 1, maxLength: 100 }, password: { type: 'string', minLength: 1, maxLength: 1024 } },
      },
    },
  }, async (request, reply) => {
    const session = await core.auth.signIn(request.body.login, request.body.password, request.ip);
    if (!session.ok && session.reason === 'rate-limited') {
      throw Object.assign(new Errors.TOO_MANY_REQUESTS(session.message), { retryAfterSeconds: session.retryAfterSeconds });
    }
    if (!session.ok) throw new Errors.UNAUTHENTICATED('wrong login or password');
    reply.setCookie(SESSION_COOKIE, session.token, cookieOptions(request, core));
    return { login: session.user.login, isAdmin: session.user.isAdmin, csrfToken: csrfTokenFor(session.token) };
  });

  app.get('/api/session', async (request) => {
    const token = request.cookies[SESSION_COOKIE];
    const user = token ? await core.sessions.userFor(token) : null;
    if (!token || !user) throw new Errors.UNAUTHENTICATED('not signed in');
    return { login: user.login, isAdmin: user.isAdmin, csrfToken: csrfTokenFor(token) };
  });

  app.delete('/api/session', async (request, reply: FastifyReply) => {
    const token = request.cookies[SESSION_COOKIE];
    if (token) {
      const csrf = request.headers[CSRF_HEADER];
      if (!csrfMatches(token, Array.isArray(csrf) ? csrf[0] : csrf)) throw new Errors.FORBIDDEN('missing or wrong X-CSRF-Token');
      await core.sessions.signOut(token);
    }
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { ok: true };
  });
}
