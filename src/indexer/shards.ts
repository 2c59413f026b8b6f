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

/**
 * The shard index's entries (name → 32-byte sha256), kept sorted with each
 * entry already in its msgpack form. The index is rewritten on every upload
 * and lists every name of the subdir (18.6k at conda-forge size): encoding
 * the whole map again with @msgpack/msgpack (sortKeys) took 16-85 ms per
 * upload, sorting and re-encoding 18.6k unchanged entries, and even joining
 * 18.6k cached entries took 10 ms here. So the sorted names are cut into
 * chunks that each keep their entries joined: a pass re-encodes the names it
 * changed and re-joins their chunks, and writing the index joins ~100 chunks.
 * The bytes are what @msgpack/msgpack writes for the same map with sortKeys
 * (test/unit/shard-index.test.ts checks it); only the map of entries is
 * written by hand, the rest of the document goes through the library.
 */
export class ShardIndexEntries {
  /** Sorted as sortKeys sorts (UTF-16 code units), in chunks; `joined` is null when a chunk changed. */
  private chunks: Array<{ names: string[]; joined: Buffer | null }> = [];
  private readonly entries = new Map<string, Buffer>();

  static from(shards: Iterable<readonly [string, string | Uint8Array]>): ShardIndexEntries {
    const out = new ShardIndexEntries();
    for (const [name, hash] of shards) out.entries.set(name, entry(name, hash));
    const names = [...out.entries.keys()].sort();
    for (let i = 0; i < names.length; i += CHUNK) out.chunks.push({ names: names.slice(i, i + CHUNK), joined: null });
    return out;
  }

  get size(): number {
    return this.entries.size;
  }

  /** `hash`: the sha256 of the name's compressed shard, as hex or its 32 bytes. */
  set(name: string, hash: string | Uint8Array): void {
    const known = this.entries.has(name);
    this.entries.set(name, entry(name, hash));
    if (this.chunks.length === 0) this.chunks.push({ names: [], joined: null });
    const at = this.chunkOf(name);
    const chunk = this.chunks[at]!;
    chunk.joined = null;
    if (known) return;
    chunk.names.splice(position(chunk.names, name), 0, name);
    if (chunk.names.length >= 2 * CHUNK) {
      this.chunks.splice(at + 1, 0, { names: chunk.names.splice(CHUNK), joined: null });
    }
  }

  delete(name: string): void {
    if (!this.entries.delete(name)) return;
    const at = this.chunkOf(name);
    const chunk = this.chunks[at]!;
    chunk.names.splice(position(chunk.names, name), 1);
    chunk.joined = null;
    if (chunk.names.length === 0) this.chunks.splice(at, 1);
  }

  /** The 32 bytes recorded for a name. */
  get(name: string): Uint8Array | undefined {
    return this.entries.get(name)?.subarray(-32);
  }

  /** msgpack of the whole index. */
  encode(info: ShardIndexInfo): Buffer {
    const head = encode({
      info: {
        subdir: info.subdir,
        // Relative to the index URL: packages sit beside it, shards below it.
        base_url: './',
        shards_base_url: './shards/',
        created_at: info.createdAt.toISOString(),
      },
    }, { sortKeys: true });
    // {info, shards}: the library's {info} with its map header raised to two
    // entries (fixmap 0x81 → 0x82), then "shards" and the map of entries.
    const parts: Uint8Array[] = [Buffer.from([0x82]), head.subarray(1), encode('shards'), mapHeader(this.entries.size)];
    for (const chunk of this.chunks) {
      chunk.joined ??= Buffer.concat(chunk.names.map((n) => this.entries.get(n)!));
      parts.push(chunk.joined);
    }
    return Buffer.concat(parts);
  }

  /** The chunk a name is in, or would go in: the first whose last name is not below it (else the last). */
  private chunkOf(name: string): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.chunks[mid]!.names.at(-1)! < name) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Names per chunk of the shard index's entries (a chunk splits at twice this). */
const CHUNK = 128;

/** Where a name is, or would be inserted, in a sorted list. */
function position(names: readonly string[], name: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid]! < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One entry of the shards map: the name as msgpack str, the hash as bin 8. */
function entry(name: string, hash: string | Uint8Array): Buffer {
  const sha = typeof hash === 'string' ? Buffer.from(hash, 'hex') : hash;
  if (sha.length !== 32) throw new Error(`shard hash of ${JSON.stringify(name)} is ${sha.length} bytes, not 32`);
  const utf8 = Buffer.from(name, 'utf8');
  const n = utf8.length;
  // str: fixstr below 32 bytes, then str 8 / 16 / 32, as the library picks.
  const head = n < 32 ? [0xa0 | n] : n < 0x100 ? [0xd9, n] : n < 0x10000 ? [0xda, n >> 8, n & 0xff] : [0xdb, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  const out = Buffer.allocUnsafe(head.length + n + 34);
  out.set(head, 0);
  out.set(utf8, head.length);
  out[head.length + n] = 0xc4;
  out[head.length + n + 1] = 32;
  out.set(sha, head.length + n + 2);
  return out;
}

/** msgpack map header for n entries, in the smallest form (as the library writes it). */
function mapHeader(n: number): Buffer {
  if (n < 16) return Buffer.from([0x80 | n]);
  if (n < 0x10000) return Buffer.from([0xde, n >> 8, n & 0xff]);
  const b = Buffer.allocUnsafe(5);
  b[0] = 0xdf;
  b.writeUInt32BE(n, 1);
  return b;
}
