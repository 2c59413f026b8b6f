// POST /api/v1/upload/:channel — what clients send (docs/prefix-api.md §1):
//
//   rattler-build / pixi upload prefix (rattler_upload, current):
//     POST /api/v1/upload/<channel>[?force=true]
//     Authorization: Bearer pfx_…
//     Content-Type: multipart/form-data; boundary=…
//       part "file"; filename="<pkg>.conda"   (the package, streamed)
//       part "attestation"                    (optional sigstore bundle JSON, text)
//   legacy rattler-build, old pixi, the prefix.dev docs' Python/curl scripts:
//     POST /api/v1/upload/<channel>
//     X-File-Name: <pkg>   X-File-SHA256: <hex>   Content-Length: <n>
//     Content-Type: application/octet-stream  (raw body = the package)
//
// Answers: 200 + small JSON on success (old pixi accepts only 200); 401 bad
// key (client says "check your API key"); 403 not allowed; 404 no channel;
// 409 already there (rattler's --skip-existing turns this into a skip); 413
// too large; 400 for anything wrong with the package or the multipart body
// (INVALID_MULTIPART for framing busboy cannot read). 4xx are not retried by
// clients, 5xx are — so 5xx only for our own faults: 507 when storage is out
// of space, 503 when it fails otherwise (src/storage/faults.ts).
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import type { Core } from '../core/core.js';
import type { IngestedFile } from '../core/ingest.js';
import { Errors, isAppError, isStorageFault } from '../errors.js';
import { principalOf } from './principal.js';

const MAX_ATTESTATION_BYTES = 1 << 20;
const MAX_FIELDS = 4;
const MAX_PARTS = 6;
const MAX_BOUNDARY = 200;

interface UploadRoute {
  Params: { channel: string };
  Querystring: { force?: string };
}

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export async function uploadRoutes(app: FastifyInstance, opts: { core: Core }): Promise<void> {
  const { core } = opts;
  // This scope reads bodies itself: multipart through @fastify/multipart,
  // everything else (octet-stream, or curl's default form type) as a raw stream.
  app.removeAllContentTypeParsers();
  await app.register(multipart, {
    limits: { fileSize: core.config.maxUploadBytes, files: 1, fields: MAX_FIELDS, parts: MAX_PARTS, fieldSize: MAX_ATTESTATION_BYTES },
    throwFileSizeLimit: true,
  });
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

  app.post<UploadRoute>('/api/v1/upload/:channel', {
    config: { uploadBody: true },
    schema: {
      params: { type: 'object', properties: { channel: { type: 'string', maxLength: 128 } }, required: ['channel'] },
      querystring: { type: 'object', properties: { force: { type: 'string' } } },
    },
  }, async (request, reply) => {
    const principal = await principalOf(request);
    const force = request.query.force === 'true' || request.query.force === '1';
    const channelName = request.params.channel;
    const expectedSha256 = header(request, 'x-file-sha256');

    let channel;
    let ingested: IngestedFile | null = null;
    let filename: string | undefined;
    let declaredSizeBytes: number | undefined;
    let attestation: string | undefined;
    try {
      if (request.isMultipart()) {
        channel = await core.packages.channelForUpload(principal, channelName, force);
        requireBoundary(header(request, 'content-type') ?? '');
        const parts = request.parts();
        try {
          for (;;) {
            const next = await parts.next().catch((err: unknown) => { throw multipartError(err, request); });
            if (next.done === true) break;
            const part = next.value;
            if (part.type === 'file') {
              if (part.fieldname !== 'file') {
                part.file.resume();
                throw new Errors.BAD_REQUEST(`unexpected file part '${part.fieldname}' (send the package in part 'file')`);
              }
              filename = part.filename || header(request, 'x-file-name');
              if (!filename) throw new Errors.BAD_REQUEST("the 'file' part has no filename");
              core.packages.checkUploadRequest(filename);
              ingested = await core.packages.receive(part.file).catch((err: unknown) => { throw multipartError(err, request); });
              if (part.file.truncated) throw new Errors.PAYLOAD_TOO_LARGE();
            } else if (part.fieldname === 'file') {
              // busboy makes a part without a filename (and not octet-stream) a field.
              throw new Errors.BAD_REQUEST("the 'file' part has no filename (send it with Content-Disposition: form-data; name=\"file\"; filename=\"<package>\")");
            } else if (part.fieldname === 'attestation') {
              attestation = String(part.value);
            }
          }
        } finally {
          await parts.return?.(undefined);
        }
        if (ingested === null || filename === undefined) throw new Errors.BAD_REQUEST("the multipart body has no 'file' part");
      } else {
        filename = header(request, 'x-file-name');
        if (!filename) throw new Errors.BAD_REQUEST('X-File-Name is required (or send multipart/form-data with a "file" part)');
        const length = header(request, 'content-length');
        declaredSizeBytes = length === undefined ? undefined : Number(length);
        channel = await core.packages.channelForUpload(principal, channelName, force);
        core.packages.checkUploadRequest(filename, declaredSizeBytes);
        ingested = await core.packages.receive(request.body as Readable);
      }
      const result = await core.packages.accept(principal, channel, ingested, {
        filename, expectedSha256, declaredSizeBytes, force, attestation,
      });
      ingested = null; // accept() owns the temp file now
      request.log.info({ channel: result.channel, subdir: result.subdir, filename: result.filename, sizeBytes: result.sizeBytes, replaced: result.replaced }, 'package uploaded');
      return reply.code(200).send({ ok: true, ...result, size: result.sizeBytes });
    } catch (err) {
      // The error handler logs it at error level; this says what was being uploaded.
      if (isStorageFault(err)) Object.assign(err.context, { channel: channelName, filename: filename ?? null });
      throw err;
    } finally {
      if (ingested !== null) await core.packages.discard(ingested);
    }
  });
}

/** busboy needs a boundary= parameter; without one nothing in the body can be found. */
function requireBoundary(contentType: string): void {
  let boundary: string | null = null;
  for (const param of contentType.split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq > 0 && param.slice(0, eq).trim().toLowerCase() === 'boundary') boundary = param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  if (!boundary) throw new Errors.INVALID_MULTIPART('Content-Type multipart/form-data has no boundary parameter, so the parts cannot be found');
  // RFC 2046 §5.1.1 allows 70 characters; clients keep well under that
  // (reqwest 67). Leniency stops where busboy cannot search for one at all.
  if (boundary.length > MAX_BOUNDARY) {
    throw new Errors.INVALID_MULTIPART(`the multipart boundary is ${boundary.length} characters long; RFC 2046 allows 70 (this server reads up to ${MAX_BOUNDARY})`);
  }
}

/**
 * What an error out of the multipart parser (the parts iterator, or a file
 * part's stream) means. Told apart by where it came from and its code, never
 * its text: our own errors and storage faults pass through; the plugin's
 * limits (coded FST_*) are the client's form being wrong; busboy's own errors
 * carry no code and are about the body (no closing delimiter, framing it
 * cannot read) — unless the request was torn down before its end: then the
 * client went away, and the error handler treats it so.
 */
function multipartError(err: unknown, request: FastifyRequest): unknown {
  if (isAppError(err) || isStorageFault(err) || !(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  switch (code) {
    case 'FST_FILES_LIMIT':
      return new Errors.BAD_REQUEST("a multipart upload carries one 'file' part (the package); this one has more");
    case 'FST_PARTS_LIMIT':
      return new Errors.BAD_REQUEST(`a multipart upload has at most ${MAX_PARTS} parts`);
    case 'FST_FIELDS_LIMIT':
      return new Errors.BAD_REQUEST(`a multipart upload has at most ${MAX_FIELDS} fields besides the file`);
    case undefined:
      // The request torn down before its end: a client that hung up, not a bad body.
      if (request.raw.destroyed && !request.raw.complete) return err;
      return new Errors.INVALID_MULTIPART(`the multipart/form-data body could not be parsed: ${err.message}`);
    default:
      return err;
  }
}
