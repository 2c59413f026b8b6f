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
import { createGzip } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { assertCan } from '../auth/policy.js';
import type { Core } from '../core/core.js';
import { RESERVED_CHANNEL_NAMES } from '../conda/channel-names.js';
import { parsePackageFilename } from '../conda/package-filename.js';
import { validateSubdir } from '../conda/subdirs.js';
import type { Channel } from '../core/types.js';
import { Errors } from '../errors.js';
import { attestationKey, channeldataKey, indexKey, packageKey, shardKey } from '../storage/keys.js';
import { principalOf } from './principal.js';
import { sendStoredFile } from './send-file.js';

const SIGS_SUFFIX = '.v0.sigs';
/** Lifetime of a presigned package URL: long enough to start the download (S3 checks it only then). */
const PRESIGNED_TTL_SECONDS = 300;

interface FileRoute {
  Params: { channel: string; subdir: string; filename: string };
}

function acceptsGzip(request: FastifyRequest): boolean {
  const ae = request.headers['accept-encoding'];
  return typeof ae === 'string' && /(^|,)\s*(gzip|\*)\s*(;\s*q=(?!0(\.0*)?\s*(,|$))[\d.]+)?\s*(,|$)/i.test(ae);
}

export async function fileRoutes(app: FastifyInstance, opts: { core: Core }): Promise<void> {
  const { core } = opts;
  const presign = core.config.downloadRedirect === 'presigned' && core.store.presignGet ? core.store.presignGet.bind(core.store) : null;
  // Private channels must not be kept by shared caches.
  const cacheScope = (c: Channel) => (c.isPublic ? 'public' : 'private');

  async function readableChannel(request: FastifyRequest, name: string): Promise<Channel> {
    const channel = RESERVED_CHANNEL_NAMES.has(name) ? null : await core.channels.byName(name);
    if (!channel) throw new Errors.CHANNEL_NOT_FOUND(`channel '${name}' not found`);
    if (!channel.isPublic) assertCan(await principalOf(request, core), 'read', channel);
    return channel;
  }

  // Index files of a subdir's live generation. Their ETags derive from the
  // content hash the database keeps, so they are strong and the same on
  // every replica.
  const GENERATION_FILES: Record<string, { contentType: string; etagSuffix: string }> = {
    'repodata.json': { contentType: 'application/json', etagSuffix: '' },
    'repodata.json.zst': { contentType: 'application/zstd', etagSuffix: '-zst' },
    'run_exports.json': { contentType: 'application/json', etagSuffix: '-run-exports' },
    'run_exports.json.zst': { contentType: 'application/zstd', etagSuffix: '-run-exports-zst' },
  };

  async function liveState(channel: Channel, subdir: string) {
    try {
      validateSubdir(subdir);
    } catch {
      throw new Errors.NOT_FOUND(`no subdir '${subdir}' in channel '${channel.name}'`);
    }
    const state = await core.repos.indexState.get(channel.id, subdir);
    if (!state) throw new Errors.NOT_FOUND(`no subdir '${subdir}' in channel '${channel.name}'`);
    return state;
  }

  app.get<FileRoute>('/:channel/:subdir/:filename', async (request, reply) => {
    const { subdir, filename } = request.params;
    const channel = await readableChannel(request, request.params.channel);
    const state = await liveState(channel, subdir);
    const maxAge = `${cacheScope(channel)}, max-age=${core.config.repodataMaxAgeSeconds}`;

    const generationFile = GENERATION_FILES[filename];
    if (generationFile) {
      if (state.indexedRevision === 0 || state.repodataSha256 === null) {
        throw new Errors.NOT_FOUND(`no ${filename} yet in '${channel.name}/${subdir}'`);
      }
      const gzip = filename === 'repodata.json' && acceptsGzip(request);
      const key = indexKey(channel.name, subdir, state.indexedRevision, filename);
      return sendStoredFile(request, reply, core.store, {
        key: gzip ? await gzipped(key) : key,
        etag: `"${state.repodataSha256}${generationFile.etagSuffix}${gzip ? '-gzip' : ''}"`,
        contentType: generationFile.contentType,
        cacheControl: maxAge,
        ...(filename === 'repodata.json' ? { vary: 'Accept-Encoding' } : {}),
        ...(gzip ? { contentEncoding: 'gzip' } : {}),
        immutable: true,
      }, core.readCache);
    }

    if (filename === 'repodata_shards.msgpack.zst') {
      if (state.shardsRevision === 0 || state.shardIndexSha256 === null) {
        throw new Errors.NOT_FOUND(`no shard index yet in '${channel.name}/${subdir}'`);
      }
      return sendStoredFile(request, reply, core.store, {
        key: indexKey(channel.name, subdir, state.shardsRevision, filename),
        etag: `"${state.shardIndexSha256}"`,
        contentType: 'application/zstd',
        cacheControl: maxAge,
        immutable: true,
      }, core.readCache);
    }

    const sigs = filename.endsWith(SIGS_SUFFIX);
    const packageFile = sigs ? filename.slice(0, -SIGS_SUFFIX.length) : filename;
    try {
      parsePackageFilename(packageFile);
    } catch {
      throw new Errors.NOT_FOUND(`no file '${subdir}/${filename}' in channel '${channel.name}'`);
    }
    const row = await core.packages.find(channel, subdir, packageFile);
    if (!row) throw new Errors.PACKAGE_NOT_FOUND(`no file '${subdir}/${packageFile}' in channel '${channel.name}'`);

    if (sigs) {
      const key = attestationKey(channel.name, subdir, packageFile);
      const stat = row.hasAttestation ? await core.store.stat(key) : null;
      if (stat === null) throw new Errors.NOT_FOUND(`'${subdir}/${packageFile}' was uploaded without an attestation`);
      return sendStoredFile(request, reply, core.store, {
        key,
        etag: stat.etag,
        contentType: 'application/json',
        cacheControl: `${cacheScope(channel)}, max-age=3600`,
      });
    }
    const key = packageKey(channel.name, subdir, filename);
    if (presign) {
      // As prefix.dev does: the client fetches the bytes from storage itself.
      // The access check above has passed; the URL expires soon after.
      const location = await presign(key, PRESIGNED_TTL_SECONDS);
      return reply.code(302).header('location', location).header('cache-control', 'private, no-store').send();
    }
    return sendStoredFile(request, reply, core.store, {
      key,
      etag: `"${row.sha256}"`,
      contentType: 'application/octet-stream',
      // Not immutable: an owner may replace a file with ?force=true.
      cacheControl: `${cacheScope(channel)}, max-age=3600`,
    });
  });

  // CEP-16 shards: content-addressed, so cacheable forever.
  app.get<{ Params: { channel: string; subdir: string; file: string } }>('/:channel/:subdir/shards/:file', async (request, reply) => {
    const { subdir, file } = request.params;
    const channel = await readableChannel(request, request.params.channel);
    await liveState(channel, subdir);
    const m = /^([0-9a-f]{64})\.msgpack\.zst$/.exec(file);
    if (!m) throw new Errors.NOT_FOUND(`no shard '${file}'`);
    const key = shardKey(channel.name, subdir, m[1]!);
    const cached = core.readCache ? await core.readCache.localCopy(key) : null;
    if (cached === null && (await core.store.stat(key)) === null) throw new Errors.NOT_FOUND(`no shard '${file}'`);
    return sendStoredFile(request, reply, core.store, {
      key,
      etag: `"${m[1]}"`,
      contentType: 'application/zstd',
      cacheControl: `${cacheScope(channel)}, max-age=31536000, immutable`,
      immutable: true,
    }, core.readCache);
  });

  // CEP-38 channeldata.json at the channel root. It is replaced in place, so
  // it is read in one store read: the ETag and the bytes always belong to
  // the same version of the file.
  app.get<{ Params: { channel: string } }>('/:channel/channeldata.json', async (request, reply) => {
    const channel = await readableChannel(request, request.params.channel);
    const stored = await core.store.read(channeldataKey(channel.name));
    if (stored === null) throw new Errors.NOT_FOUND(`no channeldata.json yet in '${channel.name}'`);
    try {
      const etag = stored.etag;
      const modified = new Date(Math.floor(stored.mtimeMs / 1000) * 1000);
      reply.header('etag', etag).header('last-modified', modified.toUTCString())
        .header('cache-control', `${cacheScope(channel)}, max-age=${core.config.repodataMaxAgeSeconds}`);
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

  // gzip of a generation's repodata.json, made on the first request that
  // wants it (modern clients fetch .zst or shards; compressing every
  // generation up front would cost seconds on a large subdir). One
  // compression per file however many requests arrive together.
  const compressing = new Map<string, Promise<string>>();
  function gzipped(key: string): Promise<string> {
    const gzKey = `${key}.gz`;
    let pending = compressing.get(gzKey);
    if (!pending) {
      pending = (async () => {
        const exists = core.readCache ? (await core.readCache.localCopy(gzKey)) !== null : (await core.store.stat(gzKey)) !== null;
        if (!exists) {
          const source = await core.store.read(key);
          if (source === null) throw new Errors.NOT_FOUND('file not found');
          const gzip = createGzip({ level: 6 });
          // pipe() does not pass a source error on: without this a failed read would end the .gz short.
          source.stream.once('error', (err) => gzip.destroy(err));
          await core.store.putStream(gzKey, source.stream.pipe(gzip));
        }
        return gzKey;
      })().finally(() => compressing.delete(gzKey));
      compressing.set(gzKey, pending);
    }
    return pending;
  }
}
