// GraphQL errors from the same catalogue REST uses: extensions.code is the
// GraphQL-conventional class (UNAUTHENTICATED, FORBIDDEN, NOT_FOUND,
// BAD_USER_INPUT), extensions.reason the catalogue code (e.g. PACKAGE_EXISTS).
// Unknown errors are logged and masked.
import type { FastifyBaseLogger } from 'fastify';
import { GraphQLError, type ExecutionResult } from 'graphql';
import { isAppError } from '../errors.js';

export function graphqlCode(status: number): string {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status >= 400 && status < 500) return 'BAD_USER_INPUT';
  return 'INTERNAL_SERVER_ERROR';
}

export function formatErrors(execution: ExecutionResult, log: FastifyBaseLogger): { statusCode: number; response: ExecutionResult } {
  let statusCode = 200;
  // mercurius wraps the validation errors of a refused query in one error;
  // the client needs each of them (cost, depth, unknown field, bad literal).
  const flat = (execution.errors ?? []).flatMap((err) => {
    const inner = (err.originalError as { errors?: unknown } | undefined)?.errors;
    if (Array.isArray(inner) && inner.every((e) => e instanceof GraphQLError)) {
      statusCode = 400;
      return inner as GraphQLError[];
    }
    return [err];
  });
  const errors = flat.map((err) => {
    const original = err.originalError;
    if (original && isAppError(original)) {
      return new GraphQLError(original.message, {
        nodes: err.nodes, source: err.source, positions: err.positions, path: err.path,
        extensions: { code: graphqlCode(original.statusCode), reason: original.code },
      });
    }
    if (original && !(original instanceof GraphQLError) && (original as { code?: string }).code !== 'MER_ERR_GQL_VALIDATION') {
      if ((original as { statusCode?: number }).statusCode === 400 || (original as { code?: string }).code?.startsWith('MER_ERR_')) {
        statusCode = 400;
        return new GraphQLError(original.message, { extensions: { code: 'BAD_USER_INPUT' } });
      }
      log.error({ err: original, path: err.path }, 'graphql resolver failed');
      return new GraphQLError('internal server error', { path: err.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    }
    // Syntax and validation errors: the query itself is wrong.
    if (!err.path) statusCode = 400;
    return new GraphQLError(err.message, {
      nodes: err.nodes, source: err.source, positions: err.positions, path: err.path,
      extensions: { code: (err.extensions?.code as string | undefined) ?? (err.path ? 'INTERNAL_SERVER_ERROR' : 'GRAPHQL_VALIDATION_FAILED'), ...err.extensions },
    });
  });
  return { statusCode, response: { data: execution.data ?? null, errors } };
}
