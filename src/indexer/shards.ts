// Sharded repodata (CEP-16), pure: one shard per package name and the shard
// index, as msgpack bytes (the caller compresses with zstd and hashes the
// compressed bytes: a shard's name is the sha256 of its .msgpack.zst).
//
// Layouts (docs/prefix-api.md §5, formats.md §A2):
//   shard  {packages: {fn: record}, "packages.conda": {fn: record}, removed: [fn]}
//          record = the repodata.json record + run_exports ({} when none),
//          with md5/sha256 as msgpack bin (raw bytes), not hex
//   index  {info: {subdir, base_url, shards_base_url, created_at}, shards: {name: bin32}}
//          info values are msgpack str (mamba reads them as str)
// Map keys are sorted so identical content gives identical bytes (and hash).
import { encode } from '@msgpack/msgpack';

export interface ShardRecord {
  filename: string;
  recordJson: string;
  runExportsJson: string | null;
}

function hexToBytes(hex: unknown): unknown {
  return typeof hex === 'string' && /^[0-9a-f]+$/i.test(hex) && hex.length % 2 === 0 ? Buffer.from(hex, 'hex') : hex;
}

/** The record as a shard carries it. */
export function shardRecord(r: ShardRecord): Record<string, unknown> {
  const record = JSON.parse(r.recordJson) as Record<string, unknown>;
  record.md5 = hexToBytes(record.md5);
  record.sha256 = hexToBytes(record.sha256);
  let runExports: unknown = {};
  if (r.runExportsJson !== null) {
    try {
      runExports = JSON.parse(r.runExportsJson);
    } catch {
      runExports = {};
    }
  }
  // CEP-21: run_exports per record; an old list form means "weak".
  record.run_exports = Array.isArray(runExports) ? { weak: runExports } : (runExports ?? {});
  return record;
}

/** msgpack of one name's shard; `removed` are its yanked filenames. */
export function encodeShard(records: readonly ShardRecord[], removed: readonly string[]): Uint8Array {
  const packages: Record<string, unknown> = {};
  const conda: Record<string, unknown> = {};
  for (const r of records) {
    if (r.filename.endsWith('.conda')) conda[r.filename] = shardRecord(r);
    else packages[r.filename] = shardRecord(r);
  }
  return encode({ packages, 'packages.conda': conda, removed: [...removed].sort() }, { sortKeys: true });
}

export interface ShardIndexInfo {
  subdir: string;
  createdAt: Date;
}

/** msgpack of the shard index. `shards` maps names to the sha256 (hex, or its 32 bytes) of their compressed shard. */
export function encodeShardIndex(info: ShardIndexInfo, shards: Iterable<readonly [string, string | Uint8Array]>): Uint8Array {
  const map: Record<string, Uint8Array> = {};
  for (const [name, hash] of shards) map[name] = typeof hash === 'string' ? Buffer.from(hash, 'hex') : hash;
  return encode({
    info: {
      subdir: info.subdir,
      // Relative to the index URL: packages sit beside it, shards below it.
      base_url: './',
      shards_base_url: './shards/',
      created_at: info.createdAt.toISOString(),
    },
    shards: map,
  }, { sortKeys: true });
}
