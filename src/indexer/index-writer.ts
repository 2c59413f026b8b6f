// The two kinds of index write, each a function of one read snapshot:
//
// - shards: rebuild the shard of every package name changed since the last
//   pass (content-addressed files under shards/), then a new shard index.
//   Cost follows what changed, not the subdir's size.
// - full: repodata.json (+ .zst) and run_exports.json (+ .zst) from the
//   records serialised at upload, streamed; the .zst variants are written
//   from the file just written, so they hold exactly the same bytes.
//
// Every file of a generation is written before the database points at it.
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { compress as zstdCompress, CompressStream } from 'zstd-napi';
import type { IndexSnapshot, NameRow, ShardRow, SnapshotRecord } from '../db/repositories.js';
import type { SubdirRef } from '../core/types.js';
import type { ObjectStore, WriteResult } from '../storage/object-store.js';
import { indexKey, shardKey } from '../storage/keys.js';
import { repodataChunksFromBatches } from './repodata.js';
import { runExportsChunksFromBatches } from './run-exports.js';
import { encodeShard, encodeShardIndex } from './shards.js';

/** zstd level of repodata.json.zst / run_exports.json.zst: fast enough for a 243 MB repodata in well under 3 s. */
export const REPODATA_ZSTD_LEVEL = 3;
/** Shards are kilobytes; a first pass over a conda-forge-sized subdir compresses ~20k of them. */
export const SHARD_ZSTD_LEVEL = 9;

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Shard files written at once: each write syncs its file, and parallel syncs share journal commits. */
const SHARD_WRITES_IN_FLIGHT = 16;
const NAMES_PER_READ = 256;

/** Writes the stale shards of a snapshot; returns what changed (null = the name has no files left). */
export async function writeShards(store: ObjectStore, ref: SubdirRef, snap: IndexSnapshot): Promise<ShardRow[]> {
  const out: ShardRow[] = [];
  const inFlight = new Set<Promise<void>>();
  const failures: unknown[] = [];
  const names = await snap.dirtyNames();
  // Rows are read a slice of names at a time: one round trip per slice on a
  // networked database, bounded memory on a first pass over every name.
  for (let i = 0; i < names.length; i += NAMES_PER_READ) {
    const slice = names.slice(i, i + NAMES_PER_READ);
    const rowsByName = await snap.nameRows(slice);
    for (const name of slice) await writeOne(name, rowsByName.get(name) ?? []);
  }
  await Promise.all(inFlight);
  if (failures.length > 0) throw failures[0];
  return out;

  async function writeOne(name: string, rows: NameRow[]): Promise<void> {
    if (rows.length === 0) {
      out.push({ name, sha256: null });
      return;
    }
    const live = rows.filter((r) => !r.yanked);
    const removed = rows.filter((r) => r.yanked).map((r) => r.filename);
    const bytes = zstdCompress(Buffer.from(encodeShard(live, removed)), { compressionLevel: SHARD_ZSTD_LEVEL });
    const sha256 = sha256Hex(bytes);
    const key = shardKey(ref.channel, ref.subdir, sha256);
    // Content-addressed: an existing file already holds exactly these bytes.
    // Nothing refers to a new shard until the index is published after all
    // writes finished, so they can go in parallel.
    const write: Promise<void> = (async () => {
      if ((await store.stat(key)) === null) await store.putStream(key, [bytes]);
    })()
      .catch((err: unknown) => void failures.push(err))
      .finally(() => inFlight.delete(write));
    inFlight.add(write);
    if (inFlight.size >= SHARD_WRITES_IN_FLIGHT) await Promise.race(inFlight);
    out.push({ name, sha256 });
  }
}

/** Writes a shard index generation; returns the sha256 of its bytes. */
export async function writeShardIndex(store: ObjectStore, ref: SubdirRef, revision: number, live: Array<[string, string]>): Promise<string> {
  const bytes = zstdCompress(Buffer.from(encodeShardIndex({ subdir: ref.subdir, createdAt: new Date() }, live)), { compressionLevel: SHARD_ZSTD_LEVEL });
  const written = await store.putStream(indexKey(ref.channel, ref.subdir, revision, 'repodata_shards.msgpack.zst'), [bytes]);
  return written.sha256;
}

/** Writes repodata.json, run_exports.json and their .zst for one generation; returns repodata.json's hash and size. */
export async function writeFull(store: ObjectStore, ref: SubdirRef, snap: IndexSnapshot, onRecord: () => void): Promise<WriteResult> {
  const gen = (variant: string) => indexKey(ref.channel, ref.subdir, snap.revision, variant);
  const counted = {
    tarBz2: counting(snap.records('tar.bz2'), onRecord),
    conda: counting(snap.records('conda'), onRecord),
  };
  const repodata = await store.putStream(gen('repodata.json'), repodataChunksFromBatches(ref.subdir, counted, () => snap.removed()));
  await store.putStream(gen('run_exports.json'), runExportsChunksFromBatches(ref.subdir, { tarBz2: snap.records('tar.bz2'), conda: snap.records('conda') }));
  await compressFile(store, gen('repodata.json'), gen('repodata.json.zst'));
  await compressFile(store, gen('run_exports.json'), gen('run_exports.json.zst'));
  return repodata;
}

async function compressFile(store: ObjectStore, from: string, to: string): Promise<void> {
  const got = await store.read(from);
  if (got === null) throw new Error(`${from} vanished before it was compressed`);
  const source = got.stream;
  const zstd = new CompressStream({ compressionLevel: REPODATA_ZSTD_LEVEL });
  const written = store.putStream(to, zstd);
  await Promise.all([pipeline(source, zstd).catch((err: unknown) => { zstd.destroy(err as Error); throw err; }), written]);
}

async function* counting(source: AsyncIterable<SnapshotRecord[]>, onItem: () => void): AsyncGenerator<SnapshotRecord[]> {
  for await (const batch of source) {
    for (let i = 0; i < batch.length; i++) onItem();
    yield batch;
  }
}
