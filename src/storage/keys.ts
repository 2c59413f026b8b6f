// Storage keys. Every part of a key passes the same validator the door uses
// (src/conda/): a name storage would refuse is one the API refused
// with 400 before, and a name the API accepted always has a key. A part that
// fails here throws that validator's 400 error; in the indexer (a record
// stored before a rule was tightened) it fails the pass, which backs off.
import { Errors } from '../errors.js';
import { validateChannelName } from '../conda/channel-names.js';
import { parsePackageFilename } from '../conda/package-filename.js';
import { validateSubdir } from '../conda/subdirs.js';

// The server's own index file names (repodata.json, repodata_shards.msgpack.zst, …).
const INDEX_FILE_RE = /^[a-z][a-z0-9_]*(?:\.[a-z0-9]+)+$/;

function channelPart(channel: string): string {
  return validateChannelName(channel);
}

function subdirPart(subdir: string): string {
  return validateSubdir(subdir);
}

function filePart(filename: string): string {
  return parsePackageFilename(filename).filename;
}

const isIndexFileName = (variant: string): boolean => typeof variant === 'string' && variant.length <= 64 && INDEX_FILE_RE.test(variant);

function indexFilePart(variant: string): string {
  if (!isIndexFileName(variant)) {
    throw new Errors.BAD_REQUEST(`not an index file name: ${JSON.stringify(String(variant).slice(0, 80))}`);
  }
  return variant;
}

export const channelKey = (channel: string): string => channelPart(channel);
export const subdirKey = (channel: string, subdir: string): string => `${channelPart(channel)}/${subdirPart(subdir)}`;
export const packageKey = (channel: string, subdir: string, filename: string): string =>
  `${subdirKey(channel, subdir)}/${filePart(filename)}`;
/** Sigstore bundles sent with an upload, served beside the package (issue: attestations). */
export const attestationKey = (channel: string, subdir: string, filename: string): string =>
  `${packageKey(channel, subdir, filename)}.v0.sigs`;
/** Generated index files live in one folder per generation (= subdir revision). */
export const indexFolderKey = (channel: string, subdir: string): string => `${subdirKey(channel, subdir)}/_index`;
export const indexKey = (channel: string, subdir: string, generation: number, variant: string): string => {
  if (!Number.isSafeInteger(generation) || generation < 0) throw new Errors.BAD_REQUEST(`not an index generation: ${String(generation)}`);
  return `${indexFolderKey(channel, subdir)}/${generation}-${indexFilePart(variant)}`;
};
const GZIP_SUFFIX = '.gz';
/** The gzip copy of an index file, made beside it on first demand (core/serving.ts). */
export const gzipKey = (key: string): string => `${key}${GZIP_SUFFIX}`;
/**
 * Reads back a file name listed in an index folder: the generation and
 * variant indexKey made it from; a gzipKey copy reads as its variant, with
 * `gzip`. Null for a name indexKey never makes.
 */
export function parseIndexFileName(name: string): { generation: number; variant: string; gzip: boolean } | null {
  const m = /^(\d+)-(.+)$/.exec(name);
  if (!m) return null;
  const generation = Number(m[1]);
  const gzip = m[2]!.endsWith(GZIP_SUFFIX);
  const variant = gzip ? m[2]!.slice(0, -GZIP_SUFFIX.length) : m[2]!;
  if (!Number.isSafeInteger(generation) || !isIndexFileName(variant)) return null;
  return { generation, variant, gzip };
}
/** The files of one full index generation under _index/ (written together by the indexer's full pass). */
export const FULL_GENERATION_FILES: readonly string[] = ['repodata.json', 'repodata.json.zst', 'run_exports.json', 'run_exports.json.zst'];
/** The one file of a shard index generation under _index/. */
export const SHARD_INDEX_FILE = 'repodata_shards.msgpack.zst';
/** Content-addressed shard files (CEP-16): <subdir>/shards/<sha256>.msgpack.zst. */
export const shardFolderKey = (channel: string, subdir: string): string => `${subdirKey(channel, subdir)}/shards`;
export const shardKey = (channel: string, subdir: string, sha256: string): string => {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${JSON.stringify(sha256)}`);
  return `${shardFolderKey(channel, subdir)}/${sha256}.msgpack.zst`;
};
/** channeldata.json (CEP-38) at the channel root. */
export const channeldataKey = (channel: string): string => `${channelPart(channel)}/channeldata.json`;
