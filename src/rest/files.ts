// Channel serving, every index format modern clients read:
//   /<channel>/<subdir>/repodata_shards.msgpack.zst, …/shards/<sha256>.msgpack.zst (CEP-16)
//   /<channel>/<subdir>/repodata.json (+ gzip), repodata.json.zst, run_exports.json(.zst)
//   /<channel>/<subdir>/<package file>, /<channel>/channeldata.json
//   /<channel>/<subdir>/<package file>.v0.sigs (the sigstore bundles sent with
//            it, a JSON array; GraphQL's PackageVariant.attestationsUrl)
//
//   rattler/pixi: GET repodata_shards.msgpack.zst first (404 → falls back, and
//            caches that 404: so it exists from a channel's first moment), then
//            shards by hash; else HEAD repodata.json.zst, then repodata.json
//            with Accept-Encoding: gzip; packages by suffix Range (bytes=-65536)
//            + If-Range with the ETag
//   conda:   GET repodata.json.zst (If-None-Match), then repodata.json
//   mamba:   HEAD probes; 200 means "use it"; a variant we don't write is 404
//
// Only committed packages are served (a file on storage without its row —
// an upload in flight, a crash leftover — is 404), and index files come from
// the subdir's live generation, so every variant a client sees is whole and
// agrees with the others.
import { buffer } from 'node:stream/consumers';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Core } from '../core/core.js';
import { principalOf } from './principal.js';
import { sendStoredFile } from './send-file.js';

interface FileRoute {
  Params: { channel: string; subdir: string; filename: string };
}

function acceptsGzip(request: FastifyRequest): boolean {
  const ae = request.headers['accept-encoding'];
  return typeof ae === 'string' && /(^|,)\s*(gzip|\*)\s*(;\s*q=(?!0(\.0*)?\s*(,|$))[\d.]+)?\s*(,|$)/i.test(ae);
}

export async function fileRoutes(app: FastifyInstance, opts: { core: Core }): Promise<void> {
  const { serving } = opts.core;
  // Who asks is learnt only when the answer depends on it (a private channel).
  const who = (request: FastifyRequest) => () => principalOf(request);

  app.get<FileRoute>('/:channel/:subdir/:filename', async (request, reply) => {
    const { channel, subdir, filename } = request.params;
    const served = await serving.subdirFile(who(request), channel, subdir, filename, { acceptsGzip: acceptsGzip(request) });
    if (served.kind === 'redirect') return reply.code(302).header('location', served.location).header('cache-control', served.cacheControl).send();
    return sendStoredFile(request, reply, serving.source, served.file);
  });

  app.get<{ Params: { channel: string; subdir: string; file: string } }>('/:channel/:subdir/shards/:file', async (request, reply) => {
    const { channel, subdir, file } = request.params;
    return sendStoredFile(request, reply, serving.source, await serving.shard(who(request), channel, subdir, file));
  });

  app.get<{ Params: { channel: string } }>('/:channel/channeldata.json', async (request, reply) => {
    const { stored, cacheControl } = await serving.channeldata(who(request), request.params.channel);
    try {
      const etag = stored.etag;
      const modified = new Date(Math.floor(stored.mtimeMs / 1000) * 1000);
      reply.header('etag', etag).header('last-modified', modified.toUTCString()).header('cache-control', cacheControl);
      const inm = request.headers['if-none-match'];
      const ims = request.headers['if-modified-since'];
      const fresh = typeof inm === 'string'
        ? inm.split(',').map((t) => t.trim().replace(/^W\//, '')).includes(etag)
        : typeof ims === 'string' && !Number.isNaN(Date.parse(ims)) && modified.getTime() <= Date.parse(ims);
      if (fresh) return reply.code(304).send();
      return reply.type('application/json').send(await buffer(stored.stream));
    } finally {
      stored.stream.destroy();
    }
  });
}
