// Deadlines for request bodies. Node's own requestTimeout is one deadline for
// every request, which a 2 GB upload over a slow link cannot meet and which
// a trickling GraphQL POST (one byte every 10 s) should not get anywhere near.
// So Node enforces only headersTimeout, and bodies get their deadline here:
//   - uploads (routes with config.uploadBody): a minimum rate, at least
//     uploadMinBytesPerWindow bytes in each window of uploadRateWindowMs;
//   - every other body: bodyTimeoutMs from the end of the headers.
// A request that misses it is answered 408 (if nothing was sent yet) and its
// connection closed; the handler reading the body sees the stream end and
// cleans up (an upload's temp file is discarded).
import type { IncomingMessage } from 'node:http';
import { Errors, rawErrorResponse } from '../errors.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The body is a package upload: held to a minimum rate, not a fixed deadline. */
    uploadBody?: boolean;
  }
}

export interface BodyDeadlines {
  bodyTimeoutMs: number;
  uploadMinBytesPerWindow: number;
  uploadRateWindowMs: number;
}

const TIMEOUT_RESPONSE = rawErrorResponse(new Errors.REQUEST_TIMEOUT('the request body did not arrive in time'));

/** Requests cut for a slow body: the error handler's "client went away" is our doing. */
export const slowBodies = new WeakSet<IncomingMessage>();

function hasBody(raw: IncomingMessage): boolean {
  const length = raw.headers['content-length'];
  return raw.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export function installBodyDeadlines(app: FastifyInstance, limits: BodyDeadlines): void {
  app.addHook('onRequest', (request, reply, done) => {
    const raw = request.raw;
    if (raw.complete || !hasBody(raw)) return done();
    const timer = request.routeOptions.config?.uploadBody === true
      ? watchRate(request, reply, limits)
      : setTimeout(() => cut(request, reply, `no whole body within ${limits.bodyTimeoutMs} ms`), limits.bodyTimeoutMs);
    const stop = () => clearTimeout(timer);
    raw.once('end', stop);
    raw.once('close', stop);
    reply.raw.once('close', stop);
    done();
  });
}

function watchRate(request: FastifyRequest, reply: FastifyReply, limits: BodyDeadlines): NodeJS.Timeout {
  const socket = request.raw.socket;
  let seen = socket.bytesRead;
  return setInterval(() => {
    const read = socket.bytesRead - seen;
    seen = socket.bytesRead;
    // Bytes waiting in our own buffers mean we are the slow side (disk,
    // object storage): that window does not count against the client.
    if (request.raw.readableLength > 0 || socket.isPaused()) return;
    if (read < limits.uploadMinBytesPerWindow) {
      cut(request, reply, `${read} bytes in the last ${limits.uploadRateWindowMs} ms (at least ${limits.uploadMinBytesPerWindow} required)`);
    }
  }, limits.uploadRateWindowMs);
}

function cut(request: FastifyRequest, reply: FastifyReply, why: string): void {
  const raw = request.raw;
  if (raw.complete || reply.raw.writableEnded) return;
  slowBodies.add(raw);
  request.log.info({ code: 'REQUEST_TIMEOUT', status: 408, why }, 'request body too slow; closing the connection');
  const socket = raw.socket;
  if (!reply.raw.headersSent && socket.writable) socket.end(TIMEOUT_RESPONSE);
  // A client that does not read the answer either does not hold the socket.
  setTimeout(() => socket.destroy(), 1000).unref();
}
