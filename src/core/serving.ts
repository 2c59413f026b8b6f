// What a channel's files are, decided once for every transport: which
// channel the caller may read (the policy, through ChannelService), which
// generation of a subdir is live, the key, strong ETag and cache policy of
// each file, and the gzip variant of repodata.json made on first demand.
// The transport is told what to send and streams it from `source`; it never
// sees the store, the read cache or the repositories.
import { createGzip } from 'node:zlib';
import type { Config } from '../config.js';
import type { IndexStateRepository } from '../db/repositories.js';
import { Errors } from '../errors.js';
import type { ObjectRead, ObjectStat, ObjectStore } from '../storage/object-store.js';
import type { LocalReadCache } from '../storage/read-cache.js';
import { attestationKey, channeldataKey, gzipKey, indexKey, packageKey, shardKey } from '../storage/keys.js';
import type { ChannelService, PrincipalSource } from './channels.js';
import { parsePackageFilename } from '../conda/package-filename.js';
import { validateSubdir } from '../conda/subdirs.js';
import type { PackageService } from './packages.js';
import type { Channel } from '../types.js';

export type { ObjectRead, ObjectStat };

/** A stored object to answer with, and the headers that describe it. */
export interface StoredFile {
  key: string;
  etag: string;
  contentType: string;
  cacheControl: string;
  contentEncoding?: string;
  vary?: string;
  /** The key names fixed content (an index generation, a shard): a remote store's object may be served from a local copy. */
  immutable?: boolean;
}

/** Where served bytes come from. */
export interface FileSource {
  /** A local path for zero-copy serving: the folder store's own file, or the read cache's copy of an immutable object; else null. */
  localPath(file: StoredFile): Promise<string | null>;
  stat(key: string): Promise<ObjectStat | null>;
  read(key: string, range?: { start: number; end: number }): Promise<ObjectRead | null>;
}

export type Served =
  | { kind: 'file'; file: StoredFile }
  /** The client fetches the bytes from storage itself (a presigned URL). */
  | { kind: 'redirect'; location: string; cacheControl: string };

const SIGS_SUFFIX = '.v0.sigs';
/** Lifetime of a presigned package URL: long enough to start the download (S3 checks it only then). */
const PRESIGNED_TTL_SECONDS = 300;

// Index files of a subdir's live generation. Their ETags derive from the
// content hash the database keeps, so they are strong and the same on
// every replica.
const GENERATION_FILES: Record<string, { contentType: string; etagSuffix: string }> = {
  'repodata.json': { contentType: 'application/json', etagSuffix: '' },
  'repodata.json.zst': { contentType: 'application/zstd', etagSuffix: '-zst' },
  'run_exports.json': { contentType: 'application/json', etagSuffix: '-run-exports' },
  'run_exports.json.zst': { contentType: 'application/zstd', etagSuffix: '-run-exports-zst' },
};

// Private channels must not be kept by shared caches.
const cacheScope = (c: Channel) => (c.isPublic ? 'public' : 'private');

export class ServingService {
  /** One compression per file however many requests arrive together. */
  private readonly compressing = new Map<string, Promise<string>>();
  readonly source: FileSource;

  constructor(
    private readonly channels: ChannelService,
    private readonly packages: PackageService,
    private readonly indexState: IndexStateRepository,
    private readonly store: ObjectStore,
    /** The read cache, once the server has opened one (remote storage only). */
    private readonly readCache: () => LocalReadCache | null,
    private readonly config: Pick<Config, 'repodataMaxAgeSeconds' | 'downloadRedirect'>,
  ) {
    this.source = {
      localPath: async (file) => {
        if (this.store.localFile) return this.store.localFile(file.key);
        const cache = this.readCache();
        return cache && file.immutable ? cache.localCopy(file.key) : null;
      },
      stat: (key) => this.store.stat(key),
      read: (key, range) => this.store.read(key, range),
    };
  }

  /** A file under /<channel>/<subdir>/: an index file of the live generation, a package, or its attestation. */
  async subdirFile(who: PrincipalSource, channelName: string, subdir: string, filename: string, opts: { acceptsGzip: boolean }): Promise<Served> {
    const channel = await this.channels.resolve(who, channelName, 'read');
    const state = await this.liveState(channel, subdir);
    const maxAge = `${cacheScope(channel)}, max-age=${this.config.repodataMaxAgeSeconds}`;

    const generationFile = GENERATION_FILES[filename];
    if (generationFile) {
      if (state.indexedRevision === 0 || state.repodataSha256 === null) {
        throw new Errors.NOT_FOUND(`no ${filename} yet in '${channel.name}/${subdir}'`);
      }
      const gzip = filename === 'repodata.json' && opts.acceptsGzip;
      const key = indexKey(channel.name, subdir, state.indexedRevision, filename);
      return {
        kind: 'file',
        file: {
          key: gzip ? await this.gzipped(key) : key,
          etag: `"${state.repodataSha256}${generationFile.etagSuffix}${gzip ? '-gzip' : ''}"`,
          contentType: generationFile.contentType,
          cacheControl: maxAge,
          ...(filename === 'repodata.json' ? { vary: 'Accept-Encoding' } : {}),
          ...(gzip ? { contentEncoding: 'gzip' } : {}),
          immutable: true,
        },
      };
    }

    if (filename === 'repodata_shards.msgpack.zst') {
      if (state.shardsRevision === 0 || state.shardIndexSha256 === null) {
        throw new Errors.NOT_FOUND(`no shard index yet in '${channel.name}/${subdir}'`);
      }
      return {
        kind: 'file',
        file: {
          key: indexKey(channel.name, subdir, state.shardsRevision, filename),
          etag: `"${state.shardIndexSha256}"`,
          contentType: 'application/zstd',
          cacheControl: maxAge,
          immutable: true,
        },
      };
    }

    const sigs = filename.endsWith(SIGS_SUFFIX);
    const packageFile = sigs ? filename.slice(0, -SIGS_SUFFIX.length) : filename;
    try {
      parsePackageFilename(packageFile);
    } catch {
      throw new Errors.NOT_FOUND(`no file '${subdir}/${filename}' in channel '${channel.name}'`);
    }
    // Only committed packages are served: a file on storage without its row
    // (an upload in flight, a crash leftover) is not there.
    const row = await this.packages.find(channel, subdir, packageFile);
    if (!row) throw new Errors.PACKAGE_NOT_FOUND(`no file '${subdir}/${packageFile}' in channel '${channel.name}'`);

    if (sigs) {
      const key = attestationKey(channel.name, subdir, packageFile);
      const stat = row.hasAttestation ? await this.store.stat(key) : null;
      if (stat === null) throw new Errors.NOT_FOUND(`'${subdir}/${packageFile}' was uploaded without an attestation`);
      return { kind: 'file', file: { key, etag: stat.etag, contentType: 'application/json', cacheControl: `${cacheScope(channel)}, max-age=3600` } };
    }
    const key = packageKey(channel.name, subdir, filename);
    if (this.config.downloadRedirect === 'presigned' && this.store.presignGet) {
      // As prefix.dev does: the client fetches the bytes from storage itself.
      // The access check above has passed; the URL expires soon after.
      return { kind: 'redirect', location: await this.store.presignGet(key, PRESIGNED_TTL_SECONDS), cacheControl: 'private, no-store' };
    }
    return {
      kind: 'file',
      file: {
        key,
        etag: `"${row.sha256}"`,
        contentType: 'application/octet-stream',
        // Not immutable: an owner may replace a file with ?force=true.
        cacheControl: `${cacheScope(channel)}, max-age=3600`,
      },
    };
  }

  /** A CEP-16 shard: content-addressed, so cacheable forever. */
  async shard(who: PrincipalSource, channelName: string, subdir: string, file: string): Promise<StoredFile> {
    const channel = await this.channels.resolve(who, channelName, 'read');
    await this.liveState(channel, subdir);
    const m = /^([0-9a-f]{64})\.msgpack\.zst$/.exec(file);
    if (!m) throw new Errors.NOT_FOUND(`no shard '${file}'`);
    const key = shardKey(channel.name, subdir, m[1]!);
    const cache = this.readCache();
    const cached = cache ? await cache.localCopy(key) : null;
    if (cached === null && (await this.store.stat(key)) === null) throw new Errors.NOT_FOUND(`no shard '${file}'`);
    return {
      key,
      etag: `"${m[1]}"`,
      contentType: 'application/zstd',
      cacheControl: `${cacheScope(channel)}, max-age=31536000, immutable`,
      immutable: true,
    };
  }

  /**
   * CEP-38 channeldata.json at the channel root, opened: it is replaced in
   * place, so its ETag and its bytes come from one read of one version. The
   * caller destroys the stream when done.
   */
  async channeldata(who: PrincipalSource, channelName: string): Promise<{ stored: ObjectRead; cacheControl: string }> {
    const channel = await this.channels.resolve(who, channelName, 'read');
    const stored = await this.store.read(channeldataKey(channel.name));
    if (stored === null) throw new Errors.NOT_FOUND(`no channeldata.json yet in '${channel.name}'`);
    return { stored, cacheControl: `${cacheScope(channel)}, max-age=${this.config.repodataMaxAgeSeconds}` };
  }

  private async liveState(channel: Channel, subdir: string) {
    try {
      validateSubdir(subdir);
    } catch {
      throw new Errors.NOT_FOUND(`no subdir '${subdir}' in channel '${channel.name}'`);
    }
    const state = await this.indexState.get(channel.id, subdir);
    if (!state) throw new Errors.NOT_FOUND(`no subdir '${subdir}' in channel '${channel.name}'`);
    return state;
  }

  // gzip of a generation's repodata.json, made on the first request that
  // wants it (modern clients fetch .zst or shards; compressing every
  // generation up front would cost seconds on a large subdir).
  private gzipped(key: string): Promise<string> {
    const gzKey = gzipKey(key);
    let pending = this.compressing.get(gzKey);
    if (!pending) {
      pending = (async () => {
        const cache = this.readCache();
        const exists = cache ? (await cache.localCopy(gzKey)) !== null : (await this.store.stat(gzKey)) !== null;
        if (!exists) {
          const source = await this.store.read(key);
          if (source === null) throw new Errors.NOT_FOUND('file not found');
          const gzip = createGzip({ level: 6 });
          // pipe() does not pass a source error on: without this a failed read would end the .gz short.
          source.stream.once('error', (err) => gzip.destroy(err));
          await this.store.putStream(gzKey, source.stream.pipe(gzip));
        }
        return gzKey;
      })().finally(() => this.compressing.delete(gzKey));
      this.compressing.set(gzKey, pending);
    }
    return pending;
  }
}
