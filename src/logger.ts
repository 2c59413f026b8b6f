// pino options shared by the server and the CLI. Keys and Authorization
// headers never reach a log line: request headers are not serialised except
// a short allow-list, and anything key-shaped is redacted as a second guard.
import type { FastifyServerOptions } from 'fastify';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'token',
  'key',
  'apiKey',
];

export function loggerOptions(level: string): NonNullable<FastifyServerOptions['logger']> {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      req(request: { method: string; url: string; ip?: string; headers?: Record<string, unknown> }) {
        return {
          method: request.method,
          // conda's /t/<token>/ URLs carry a key in the path: never log it.
          url: request.url.replace(/^\/t\/[^/]+/, '/t/[redacted]'),
          remoteAddress: request.ip,
          userAgent: request.headers?.['user-agent'],
        };
      },
    },
  };
}
