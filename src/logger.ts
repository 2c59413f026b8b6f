// pino options shared by the server and the CLI. Keys and Authorization
// headers never reach a log line: request headers are not serialised except
// a short allow-list, named fields are redacted, and, as the guard that
// holds wherever a key turns up (a URL, a User-Agent, an X-File-Name, an
// error message echoing input), every line is scrubbed of anything
// key-shaped just before it is written.
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

/**
 * Anything that starts like a key or a publisher token: `pfx_…`, conda's
 * `pfx-…`, and their percent-encoded spellings (`pfx%5F…` in a URL, `\u005f`
 * would not occur: JSON keeps `_` and `-` as they are). What follows the
 * prefix is taken up to the first character a key cannot hold, so a
 * truncated or mistyped key is redacted too.
 */
const KEY_SHAPED = /pfx(?:[_-]|%5f|%2d)[A-Za-z0-9_%-]*/gi;

export function redactKeys(line: string): string {
  return line.replace(KEY_SHAPED, 'pfx_[redacted]');
}

export function loggerOptions(level: string): NonNullable<FastifyServerOptions['logger']> {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    hooks: { streamWrite: redactKeys },
    serializers: {
      req(request: { method: string; url: string; ip?: string; headers?: Record<string, unknown> }) {
        return {
          method: request.method,
          // conda's /t/<token>/ URLs carry a key in the path: never log it
          // (one spelled as something other than a key included).
          url: request.url.replace(/^\/+t\/[^/]+/, '/t/[redacted]').replace(/([?&](?:token|key|api_key)=)[^&#]*/gi, '$1[redacted]'),
          remoteAddress: request.ip,
          userAgent: request.headers?.['user-agent'],
        };
      },
    },
  };
}
