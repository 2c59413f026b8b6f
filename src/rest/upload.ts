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
// too large; 400 for anything wrong with the package. 4xx are not retried by
// clients, 5xx are — so 5xx only for our own faults.
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import type { Core } from '../core/core.js';
import type { IngestedFile } from '../core/ingest.js';
import { Errors } from '../errors.js';
import { isStorageFault } from '../storage/faults.js';
import { principalOf } from './principal.js';

const MAX_ATTESTATION_BYTES = 1 << 20;

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
    limits: { fileSize: core.config.maxUploadBytes, files: 1, fields: 4, parts: 6, fieldSize: MAX_ATTESTATION_BYTES },
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
    const principal = await principalOf(request, core);
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
        for await (const part of request.parts()) {
          if (part.type === 'file') {
            if (part.fieldname !== 'file') {
              part.file.resume();
              throw new Errors.BAD_REQUEST(`unexpected file part '${part.fieldname}' (send the package in part 'file')`);
            }
            filename = part.filename || header(request, 'x-file-name');
            if (!filename) throw new Errors.BAD_REQUEST("the 'file' part has no filename");
            core.packages.checkUploadRequest(filename);
            ingested = await core.packages.receive(part.file);
            if (part.file.truncated) throw new Errors.PAYLOAD_TOO_LARGE();
          } else if (part.fieldname === 'attestation') {
            attestation = String(part.value);
          }
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
