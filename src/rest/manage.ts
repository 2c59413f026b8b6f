// DELETE /api/v1/delete/:channel/:subdir/:filename and
// POST /api/v1/reindex/:channel/:subdir (docs/prefix-api.md §7).
//
//   curl -X DELETE -H "Authorization: Bearer pfx_…" \
//        https://host/api/v1/delete/<channel>/<subdir>/<file>      → 200 | 404
//   curl -X POST -H "Authorization: Bearer pfx_…" \
//        https://host/api/v1/reindex/<channel>/<subdir>            → 202
//
// Reindex is rarely needed (uploads and deletes reindex by themselves); it
// exists for files placed on storage by hand. It answers 202 at once and
// rescans in the background.
import type { FastifyInstance } from 'fastify';
import type { Core } from '../core/core.js';
import { principalOf } from './principal.js';

export async function manageRoutes(app: FastifyInstance, opts: { core: Core }): Promise<void> {
  const { core } = opts;

  app.delete<{ Params: { channel: string; subdir: string; filename: string } }>(
    '/api/v1/delete/:channel/:subdir/:filename',
    async (request, reply) => {
      const principal = await principalOf(request);
      const { channel, subdir, filename } = request.params;
      await core.packages.delete(principal, channel, subdir, filename);
      request.log.info({ channel, subdir, filename }, 'package deleted');
      return reply.code(200).send({ ok: true, channel, subdir, filename });
    },
  );

  app.post<{ Params: { channel: string; subdir: string } }>(
    '/api/v1/reindex/:channel/:subdir',
    async (request, reply) => {
      const principal = await principalOf(request);
      const channel = await core.channels.resolve(principal, request.params.channel, 'reindex');
      const subdir = request.params.subdir;
      const log = request.log;
      void core.packages.rescan(channel, subdir).then(
        (r) => log.info({ channel: channel.name, subdir, added: r.added, dropped: r.dropped, refused: r.refused }, 'reindex finished'),
        (err: unknown) => log.error({ err, channel: channel.name, subdir }, 'reindex failed'),
      );
      return reply.code(202).send({ ok: true, channel: channel.name, subdir, status: 'reindex started' });
    },
  );
}
