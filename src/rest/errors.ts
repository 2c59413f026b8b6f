// Renders every error as `{"error": CODE, "message": …}` with the right
// status. Clients print the body verbatim (rattler: first 512 characters).
// 5xx details are logged, never sent.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody, Errors, faultLogFields, isAppError, isStorageFault, type ErrorCode } from '../errors.js';
import { slowBodies } from './body-deadlines.js';

// Fastify and plugin errors that are the client's fault, mapped to our codes.
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_REQ_FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_FILES_LIMIT: 'BAD_REQUEST',
  FST_PARTS_LIMIT: 'BAD_REQUEST',
  FST_FIELDS_LIMIT: 'BAD_REQUEST',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_VALIDATION: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
};

export const WWW_AUTHENTICATE = 'Bearer realm="channeld"';

export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    let status: number;
    let code: ErrorCode;
    let message: string;
    if (isAppError(err)) {
      status = err.statusCode;
      code = err.code as ErrorCode;
      message = err.message;
      // Disk full, EIO, the bucket down: our fault, for an operator to see.
      if (isStorageFault(err)) request.log.error(faultLogFields(err), `storage failure: ${err.message}`);
    } else if (err.validation || (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)) {
      status = err.statusCode ?? 400;
      code = FASTIFY_CODES[err.code] ?? (status === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST');
      message = err.message;
    } else if (isClientGone(err, request)) {
      // The client hung up mid-upload (or was cut for sending too slowly,
      // logged where it was cut); nobody is there to read an answer.
      if (!slowBodies.has(request.raw)) request.log.info({ err: { message: err.message, code: err.code } }, 'client went away during the request');
      status = 400;
      code = 'BAD_REQUEST';
      message = 'the request body ended early (connection closed before Content-Length bytes arrived)';
    } else {
      request.log.error({ err }, 'request failed');
      status = 500;
      code = 'INTERNAL';
      message = new Errors.INTERNAL().message;
    }
    if (status >= 400 && status < 500) request.log.info({ code, status, message }, 'request refused');
    if (status === 401) reply.header('www-authenticate', WWW_AUTHENTICATE);
    const retryAfter = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    if (status === 429 && typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
    // If we answer before reading the whole body (413, 401 on upload), don't
    // let the connection drain gigabytes we will throw away.
    if (!request.raw.complete) reply.header('connection', 'close');
    void reply.code(status).send({ error: code, message });
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody(new Errors.NOT_FOUND(`no route for ${request.method} ${request.url.split('?')[0]}`)));
  });
}

function isClientGone(err: FastifyError, request: FastifyRequest): boolean {
  return (
    err.code === 'ECONNRESET' || err.code === 'ERR_STREAM_PREMATURE_CLOSE' || err.message === 'aborted' ||
    // A body read to its end is not a hang-up: the failure came after it (e.g. storage).
    (request.raw.destroyed && !request.raw.complete)
  );
}
