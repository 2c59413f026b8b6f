// GraphQL at /api/graphql (POST, and GET for queries), on mercurius.
// GraphiQL is served at /graphiql when CHANNELD_GRAPHIQL is on.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GraphQLError, validate, type DocumentNode } from 'graphql';
import mercurius from 'mercurius';
import type { Core } from '../core/core.js';
import { WindowCounter } from '../auth/window-counter.js';
import { errorBody, Errors } from '../errors.js';
import { buildContext } from './context.js';
import { queryLimitsRule } from './cost.js';
import { MAX_DOCUMENT_TOKENS, parseBounded } from './document-limits.js';
import { formatErrors } from './errors.js';
import { inputLimitsRule } from './input-limits.js';
import { loaders } from './loaders.js';
import { Mutation } from './mutation.js';
import { Query } from './query.js';
import { schema } from './schema.js';
import { typeResolvers } from './types.js';

/** POST bodies (query, variables and all): room for 1,000 batch entries, not for a flood. */
export const GRAPHQL_BODY_LIMIT_BYTES = 256 * 1024;
/** GET query strings: documents larger than this are POSTed. */
export const GRAPHQL_GET_QUERY_LIMIT_BYTES = 8 * 1024;

/** The request's variables when they can be read here (mercurius reports the rest); null otherwise. */
function queryVariables(request: FastifyRequest): Record<string, unknown> | null {
  const from = (request.method === 'GET' ? request.query : request.body) as { variables?: unknown } | null | undefined;
  let variables = from?.variables;
  if (variables === undefined || variables === null) return {};
  if (typeof variables === 'string') {
    try {
      variables = JSON.parse(variables) as unknown;
    } catch {
      return null;
    }
  }
  return typeof variables === 'object' && variables !== null && !Array.isArray(variables) ? (variables as Record<string, unknown>) : null;
}

function querySource(request: FastifyRequest): string | null {
  const from = request.method === 'GET' ? request.query : request.body;
  const query = (from as { query?: unknown } | null | undefined)?.query;
  return typeof query === 'string' ? query : null;
}

const isGraphqlRequest = (request: FastifyRequest): boolean => request.url === '/api/graphql' || request.url.startsWith('/api/graphql?');

export async function graphqlRoutes(app: FastifyInstance, opts: { core: Core; graphiql: boolean }): Promise<void> {
  // Each refused document costs a parse and a walk (0.1–1 ms, more with its
  // body); an address that keeps sending them is answered 429 for the rest
  // of its minute, before its body is read or parsed. Well-formed queries
  // never count, nor do answers that are not 400/413.
  const refusals = new WindowCounter({ max: opts.core.config.graphqlRefusalsPerMinute, windowMs: 60_000 });
  app.addHook('onRequest', async (request, reply) => {
    if (!isGraphqlRequest(request)) return;
    const seconds = refusals.blockedFor(request.ip);
    if (seconds === null) return;
    return reply.code(429).header('retry-after', String(seconds)).send(errorBody(new Errors.TOO_MANY_REQUESTS(
      `this address sent more than ${opts.core.config.graphqlRefusalsPerMinute} GraphQL requests a minute that were refused; retry in ${seconds} s`,
    )));
  });
  app.addHook('onResponse', async (request, reply) => {
    if (isGraphqlRequest(request) && (reply.statusCode === 400 || reply.statusCode === 413)) refusals.count(request.ip);
  });
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
    if (!isGraphqlRequest(request)) return;
    const outcome = await request.authOutcome;
    if (!outcome.ok && outcome.reason === 'rate-limited') {
      return reply.code(429).header('retry-after', String(outcome.retryAfterSeconds)).send(errorBody(new Errors.TOO_MANY_REQUESTS(outcome.message)));
    }
    // The document is parsed under its bounds before mercurius sees it
    // (see document-limits.ts), so graphql-js validation stays cheap.
    const source = querySource(request);
    if (source === null) return;
    if (request.method === 'GET' && Buffer.byteLength(source) > GRAPHQL_GET_QUERY_LIMIT_BYTES) {
      const message = `a GET query may be at most ${GRAPHQL_GET_QUERY_LIMIT_BYTES} bytes; POST larger documents`;
      return reply.code(413).send(errorBody(new Errors.PAYLOAD_TOO_LARGE(message)));
    }
    let document: DocumentNode;
    try {
      document = parseBounded(source);
    } catch (err) {
      if (!(err instanceof GraphQLError)) throw err;
      const { statusCode, response } = formatErrors({ errors: [err] }, request.log);
      return reply.code(statusCode).send(response);
    }
    // Our limits first, alone (one walk each): a document over them is
    // refused before graphql-js runs its ~25 validation rules over it, which
    // cost 13 ms for 64 aliased searches (mercurius runs ours again with them).
    const variables = queryVariables(request);
    if (variables === null) return;
    const errors = validate(app.graphql.schema, document, [queryLimitsRule(variables), inputLimitsRule(variables)]);
    if (errors.length > 0) {
      const { statusCode, response } = formatErrors({ errors }, request.log);
      return reply.code(statusCode).send(response);
    }
  });
  // Transport errors keep the REST body: a body over the limit is a 413 with
  // {"error": "PAYLOAD_TOO_LARGE"}, not a GraphQL 200 with an internal error.
  const restErrorHandler = app.errorHandler;
  const errorHandler = (error: Error & { statusCode?: number }, request: FastifyRequest, reply: FastifyReply): void => {
    if (!(error instanceof GraphQLError) && error.statusCode === 413) {
      restErrorHandler.call(app, error as FastifyError, request, reply);
      return;
    }
    const gqlError = error instanceof GraphQLError ? error : new GraphQLError(error.message, { originalError: error });
    const { statusCode, response } = formatErrors({ errors: [gqlError] }, request.log);
    void reply.code(statusCode).send(response);
  };
  await app.register(mercurius, {
    schema,
    resolvers: { Query, Mutation, ...typeResolvers } as never,
    loaders: loaders as never,
    path: '/api/graphql',
    graphiql: opts.graphiql,
    validationRules: ({ variables }) => [
      queryLimitsRule((variables ?? {}) as Record<string, unknown>), inputLimitsRule((variables ?? {}) as Record<string, unknown>),
    ],
    graphql: { parseOptions: { maxTokens: MAX_DOCUMENT_TOKENS } },
    additionalRouteOptions: { bodyLimit: GRAPHQL_BODY_LIMIT_BYTES },
    errorHandler,
    allowBatchedQueries: false,
    // The cost rule reads each request's variables (limit: $n), so validated
    // documents cannot be cached across requests.
    cache: false,
    context: (request) => buildContext(opts.core, request),
    errorFormatter: (execution, ctx) => formatErrors(execution, (ctx as unknown as { reply: { log: FastifyInstance['log'] } }).reply.log),
  });
}
