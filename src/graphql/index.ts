// GraphQL at /api/graphql (POST, and GET for queries), on mercurius.
// GraphiQL is served at /graphiql when CHANNELD_GRAPHIQL is on.
import type { FastifyInstance } from 'fastify';
import mercurius from 'mercurius';
import type { Core } from '../core/core.js';
import { authenticate } from '../rest/principal.js';
import { buildContext } from './context.js';
import { queryLimitsRule } from './cost.js';
import { formatErrors } from './errors.js';
import { loaders } from './loaders.js';
import { Mutation } from './mutation.js';
import { Query } from './query.js';
import { schema } from './schema.js';
import { typeResolvers } from './types.js';

export async function graphqlRoutes(app: FastifyInstance, opts: { core: Core; graphiql: boolean }): Promise<void> {
  // The prefix.dev docs' curl example posts JSON without a Content-Type, so
  // curl labels it application/x-www-form-urlencoded: read it as JSON.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      const err = new Error('the request body is not JSON') as Error & { statusCode: number };
      err.statusCode = 400;
      done(err, undefined);
    }
  });
  // A client over the failed-authentication limit is refused outright (as on
  // REST): answering as anonymous would tell rattler its valid key is bad.
  // (Answered here: mercurius' own error handler would wrap a thrown error in a 200.)
  app.addHook('preHandler', async (request, reply) => {
    if (!request.url.startsWith('/api/graphql')) return;
    const outcome = await authenticate(request, opts.core);
    if (!outcome.ok && outcome.reason === 'rate-limited') {
      const message = `too many failed authentications from this address; try again in ${outcome.retryAfterSeconds} s`;
      return reply.code(429).header('retry-after', String(outcome.retryAfterSeconds)).send({ error: 'TOO_MANY_REQUESTS', message });
    }
  });
  await app.register(mercurius, {
    schema,
    resolvers: { Query, Mutation, ...typeResolvers } as never,
    loaders: loaders as never,
    path: '/api/graphql',
    graphiql: opts.graphiql,
    validationRules: ({ variables }) => [queryLimitsRule((variables ?? {}) as Record<string, unknown>)],
    allowBatchedQueries: false,
    // The cost rule reads each request's variables (limit: $n), so validated
    // documents cannot be cached across requests.
    cache: false,
    context: (request) => buildContext(opts.core, request),
    errorFormatter: (execution, ctx) => formatErrors(execution, (ctx as unknown as { reply: { log: FastifyInstance['log'] } }).reply.log),
  });
}
