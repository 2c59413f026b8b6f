// POST /api/oidc/mint_token — trusted publishing (docs/prefix-api.md §1.4).
//
//   rattler-build / pixi upload prefix, in GitHub Actions or GitLab CI,
//   without --api-key: they get an identity token from the CI for audience
//   = this server's host name, then
//     POST /api/oidc/mint_token
//     Content-Type: application/json
//     {"token": "<CI OIDC JWT>"}
//   and use the whole response body, as text, as `Authorization: Bearer …`
//   on the upload. Any non-2xx: the client prints "Server returned error
//   code {status} from the mint endpoint, is trusted publishing correctly
//   configured?" with our body, and falls back to stored credentials.
//
// Answers: 200 text/plain token; 400 not a JWT; 401 the token does not
// verify (issuer, signature, audience, times, replay); 403 it verifies but
// no publisher trusts that workflow; 502 the issuer's keys are unreachable.
import type { FastifyInstance } from 'fastify';
import type { Core } from '../core/core.js';

export async function oidcRoutes(app: FastifyInstance, opts: { core: Core }): Promise<void> {
  const { core } = opts;

  app.post<{ Body: { token: string } }>('/api/oidc/mint_token', {
    schema: {
      body: {
        type: 'object',
        required: ['token'],
        properties: { token: { type: 'string', minLength: 1, maxLength: 16_384 } },
      },
    },
  }, async (request, reply) => {
    const audience = core.publishers.audienceFor(request.hostname);
    const minted = await core.publishers.mint(request.body.token, audience);
    request.log.info({ channels: minted.channels, expiresAt: new Date(minted.expiresAt).toISOString() }, 'trusted-publishing token minted');
    return reply
      .code(200)
      .header('cache-control', 'no-store')
      .type('text/plain; charset=utf-8')
      .send(minted.token);
  });
}
