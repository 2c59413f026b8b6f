// Channel serving: GET/HEAD /<channel>/<subdir>/repodata.json and
// /<channel>/<subdir>/<package file>.
//
//   conda:   GET …/repodata.json (If-None-Match / If-Modified-Since), then packages
//   rattler: GET …/repodata.json with Accept-Encoding: gzip; packages by
//            suffix Range (bytes=-65536) + If-Range with the ETag
//   mamba:   HEAD probes; 200 means "use it"
//
// Only committed packages are served (a file on storage without its row —
// an upload in flight, a crash leftover — is 404), and repodata comes from
// the subdir's live index generation, so every variant a client sees is
// whole and agrees with the others.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { assertCan } from '../auth/policy.js';
import type { Core } from '../core/core.js';
import { parsePackageFilename, RESERVED_CHANNEL_NAMES, validateSubdir } from '../core/conda-names.js';
import type { Channel } from '../core/types.js';
import { Errors } from '../errors.js';
import { indexKey, packageKey } from '../storage/keys.js';
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
  const { core } = opts;
  // Private channels must not be kept by shared caches.
  const cacheScope = (c: Channel) => (c.isPublic ? 'public' : 'private');

  async function readableChannel(request: FastifyRequest, name: string): Promise<Channel> {
    const channel = RESERVED_CHANNEL_NAMES.has(name) ? null : await core.channels.byName(name);
    if (!channel) throw new Errors.CHANNEL_NOT_FOUND(`channel '${name}' not found`);
    if (!channel.isPublic) assertCan(await principalOf(request, core), 'read', channel);
    return channel;
  }

  app.get<FileRoute>('/:channel/:subdir/:filename', async (request, reply) => {
    const { subdir, filename } = request.params;
    const channel = await readableChannel(request, request.params.channel);
    try {
      validateSubdir(subdir);
    } catch {
      throw new Errors.NOT_FOUND(`no subdir '${subdir}' in channel '${channel.name}'`);
    }

    if (filename === 'repodata.json') {
      const state = await core.repos.indexState.get(channel.id, subdir);
      if (!state || state.indexedRevision === 0 || state.repodataSha256 === null) {
        throw new Errors.NOT_FOUND(`no subdir '${subdir}' in channel '${channel.name}'`);
      }
      const gzip = acceptsGzip(request);
      const variant = gzip ? 'repodata.json.gz' : 'repodata.json';
      return sendStoredFile(request, reply, {
        path: core.store.localPath(indexKey(channel.name, subdir, state.indexedRevision, variant)),
        etag: `"${state.repodataSha256}${gzip ? '-gzip' : ''}"`,
        contentType: 'application/json',
        cacheControl: `${cacheScope(channel)}, max-age=${core.config.repodataMaxAgeSeconds}`,
        vary: 'Accept-Encoding',
        ...(gzip ? { contentEncoding: 'gzip' } : {}),
      });
    }

    try {
      parsePackageFilename(filename);
    } catch {
      throw new Errors.NOT_FOUND(`no file '${subdir}/${filename}' in channel '${channel.name}'`);
    }
    const row = await core.packages.find(channel, subdir, filename);
    if (!row) throw new Errors.PACKAGE_NOT_FOUND(`no file '${subdir}/${filename}' in channel '${channel.name}'`);
    return sendStoredFile(request, reply, {
      path: core.store.localPath(packageKey(channel.name, subdir, filename)),
      etag: `"${row.sha256}"`,
      contentType: 'application/octet-stream',
      // Not immutable: an owner may replace a file with ?force=true.
      cacheControl: `${cacheScope(channel)}, max-age=3600`,
    });
  });
}
