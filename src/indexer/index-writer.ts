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
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compress as zstdCompress, Compressor, CompressStream } from 'zstd-napi';
import type { IndexSnapshot, NameRow, ShardRow, SnapshotRecord } from '../db/repositories.js';
import type { SubdirRef } from '../core/types.js';
import type { ObjectStore, WriteResult } from '../storage/object-store.js';
import { SHARD_INDEX_FILE, indexKey, shardKey } from '../storage/keys.js';
import { repodataChunksFromBatches } from './repodata.js';
import { runExportsChunksFromBatches } from './run-exports.js';
import { encodeShard, type ShardIndexEntries } from './shards.js';

/** zstd level of repodata.json.zst / run_exports.json.zst: fast enough for a 243 MB repodata in well under 3 s. */
export const REPODATA_ZSTD_LEVEL = 3;
/** Shards are kilobytes; a first pass over a conda-forge-sized subdir compresses ~20k of them. */
export const SHARD_ZSTD_LEVEL = 9;
/**
 * The shard index is mostly sha256 bytes, which do not compress: at 18.6k
 * names level 3 wrote 678 kB in 7 ms, level 9 691 kB in 21-28 ms, on the
 * path of every upload's visibility.
 */
export const SHARD_INDEX_ZSTD_LEVEL = 3;

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

let compressor: Compressor | null = null;

/**
 * One zstd context for every shard index this thread writes: a fresh one per
 * call (zstd-napi's compress()) allocated its tables anew each time, and here
 * that cost as much as the compression (10-20 ms against 5-10 ms at 18.6k names).
 */
function shardIndexCompressor(): Compressor {
  if (!compressor) {
    compressor = new Compressor();
    compressor.setParameters({ compressionLevel: SHARD_INDEX_ZSTD_LEVEL });
  }
  return compressor;
}

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
export async function writeShardIndex(store: ObjectStore, ref: SubdirRef, revision: number, live: ShardIndexEntries): Promise<string> {
  const bytes = shardIndexCompressor().compress(live.encode({ subdir: ref.subdir, createdAt: new Date() }));
  const written = await store.putStream(indexKey(ref.channel, ref.subdir, revision, SHARD_INDEX_FILE), [bytes]);
  return written.sha256;
}

/** Writes repodata.json, run_exports.json and their .zst for one generation; returns repodata.json's hash and size. */
export async function writeFull(store: ObjectStore, ref: SubdirRef, snap: IndexSnapshot, onRecord: () => void): Promise<WriteResult> {
  const gen = (variant: string) => indexKey(ref.channel, ref.subdir, snap.revision, variant);
  // One scan of the subdir feeds both documents (they list the same files
  // in the same order): stepping over the rows is most of a rewrite's cost.
  const [forRepodata, forRunExports] = tee(scan(snap, onRecord));
  const [repodata] = await Promise.all([
    store.putStream(gen('repodata.json'), repodataChunksFromBatches(ref.subdir, byFormat(forRepodata), () => snap.removed())),
    store.putStream(gen('run_exports.json'), runExportsChunksFromBatches(ref.subdir, byFormat(forRunExports))),
  ]);
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

interface ScanBatch {
  format: 'tar.bz2' | 'conda';
  rows: SnapshotRecord[];
}

/** Every live record: the .tar.bz2 map's, then the .conda map's, each in filename order. */
async function* scan(snap: IndexSnapshot, onRecord: () => void): AsyncGenerator<ScanBatch> {
  for (const format of ['tar.bz2', 'conda'] as const) {
    for await (const rows of snap.records(format)) {
      for (let i = 0; i < rows.length; i++) onRecord();
      yield { format, rows };
    }
  }
}

/**
 * Two readers of one source, each at its own pace: Readable#pipe to two
 * PassThroughs holds the source while either is more than a few batches
 * behind. A source error ends both readers with it.
 */
function tee<T>(source: AsyncIterable<T>): [AsyncIterable<T>, AsyncIterable<T>] {
  const from = Readable.from(source, { objectMode: true, highWaterMark: 4 });
  const branches = [0, 1].map(() => new PassThrough({ objectMode: true, highWaterMark: 4 }));
  from.on('error', (err) => branches.forEach((b) => b.destroy(err)));
  for (const b of branches) {
    // A reader that gives up must not leave the source paused for the other;
    // once both are gone the source is closed (its database cursor with it).
    b.on('close', () => {
      from.unpipe(b);
      if (branches.every((x) => x.destroyed)) from.destroy();
    });
    from.pipe(b);
  }
  return [branches[0]!, branches[1]!];
}

/**
 * Splits a scan back into the two maps' batches, read in order (tarBz2 to
 * its end, then conda). A reader that stops early (its write failed) closes
 * the scan branch, so the tee can close the source.
 */
function byFormat(source: AsyncIterable<ScanBatch>): { tarBz2: AsyncIterable<SnapshotRecord[]>; conda: AsyncIterable<SnapshotRecord[]> } {
  const it = source[Symbol.asyncIterator]();
  let firstConda: SnapshotRecord[] | null = null;
  let ended = false;
  let handedOver = false;
  const giveUp = async () => {
    if (!ended) await it.return?.();
  };
  async function* tarBz2(): AsyncGenerator<SnapshotRecord[]> {
    try {
      for (;;) {
        const next = await it.next();
        if (next.done) {
          ended = true;
          handedOver = true;
          return;
        }
        if (next.value.format === 'conda') {
          firstConda = next.value.rows;
          handedOver = true;
          return;
        }
        yield next.value.rows;
      }
    } finally {
      if (!handedOver) await giveUp();
    }
  }
  async function* conda(): AsyncGenerator<SnapshotRecord[]> {
    let done = false;
    try {
      if (firstConda) yield firstConda;
      while (!ended) {
        const next = await it.next();
        if (next.done) break;
        yield next.value.rows;
      }
      done = true;
    } finally {
      if (!done) await giveUp();
    }
  }
  return { tarBz2: tarBz2(), conda: conda() };
}
