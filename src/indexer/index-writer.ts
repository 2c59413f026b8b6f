// The two kinds of index write, each a function of one read snapshot:
//
// - shards: rebuild the shard of every package name changed since the last
//   pass (content-addressed files under shards/), then a new shard index.
//   Cost follows what changed, not the subdir's size.
// - full: repodata.json (+ .zst) and run_exports.json (+ .zst) from the
//   records serialised at upload, streamed; each .zst is compressed from
//   the very buffers its file is written from, so both hold the same bytes.
//
// Every file of a generation is written before the database points at it.
import { createHash } from 'node:crypto';
import { PassThrough, type Writable } from 'node:stream';
import { compress as zstdCompress, Compressor, CompressStream } from 'zstd-napi';
import type { IndexSnapshot, NameRow, ShardRow } from '../db/repositories.js';
import type { SubdirRef } from '../types.js';
import type { ObjectStore, WriteResult } from '../storage/object-store.js';
import { SHARD_INDEX_FILE, indexKey, shardKey } from '../storage/keys.js';
import { RepodataText } from './repodata.js';
import { RunExportsText } from './run-exports.js';
import { encodeShard, type ShardIndexEntries } from './shards.js';

/** zstd level of repodata.json.zst / run_exports.json.zst: fast enough for a 243 MB repodata in well under 3 s. */
export const REPODATA_ZSTD_LEVEL = 3;
/** Shards are kilobytes; a first pass over a conda-forge-sized subdir compresses ~20k of them. */
export const SHARD_ZSTD_LEVEL = 9;
/**
 * The shard index is mostly sha256 bytes, which do not compress: at 18.6k
 * names (1000 kB of msgpack) level 1 wrote 700 kB in 3.1 ms, level 3 704 kB
 * in 4.9 ms, level 9 691 kB in 21-28 ms, on the path of every upload's
 * visibility.
 */
export const SHARD_INDEX_ZSTD_LEVEL = 1;

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

/** Text handed to the files at a time during a full pass, in characters (= bytes: the documents are ASCII). */
const FULL_PIECE_CHARS = 256 * 1024;

/** Writes repodata.json, run_exports.json and their .zst for one generation; returns repodata.json's hash and size. */
export async function writeFull(store: ObjectStore, ref: SubdirRef, snap: IndexSnapshot, onRecord: () => void): Promise<WriteResult> {
  const gen = (variant: string) => indexKey(ref.channel, ref.subdir, snap.revision, variant);
  const repodata = new FileWithZst(store, gen('repodata.json'), gen('repodata.json.zst'));
  const runExports = new FileWithZst(store, gen('run_exports.json'), gen('run_exports.json.zst'));
  const rd = new RepodataText(ref.subdir);
  const re = new RunExportsText(ref.subdir);
  try {
    // One walk over the records feeds both documents (they list the same
    // files in the same order): stepping over the rows is most of a pass.
    for (const format of ['tar.bz2', 'conda'] as const) {
      if (format === 'conda') {
        rd.startConda();
        re.startConda();
      }
      for await (const rows of snap.records(format)) {
        for (const row of rows) {
          rd.add(row.filename, row.recordJson);
          re.add(row.filename, row.runExportsJson);
          onRecord();
        }
        if (rd.length >= FULL_PIECE_CHARS) await repodata.write(rd.take());
        if (re.length >= FULL_PIECE_CHARS) await runExports.write(re.take());
      }
    }
    rd.finish(await snap.removed());
    re.finish();
    await Promise.all([repodata.write(rd.take()), runExports.write(re.take())]);
  } catch (err) {
    await Promise.all([repodata.abort(err), runExports.abort(err)]);
    throw err;
  }
  const [written] = await Promise.all([repodata.end(), runExports.end()]);
  return written;
}

/**
 * A file and its .zst, written from the same buffers, so the two hold
 * exactly the same bytes. zstd runs on a thread of its own (nbWorkers: 1;
 * its streaming call only hands input over, and waits when that thread is a
 * few jobs behind): at 465k records, compressing the 193 MB repodata.json
 * after writing it was 0.54 s of a 2.4 s pass, all on the pass's thread.
 */
class FileWithZst {
  private readonly plain = new PassThrough({ highWaterMark: 1 << 20 });
  private readonly zstd = new CompressStream({ compressionLevel: REPODATA_ZSTD_LEVEL, nbWorkers: 1 });
  private readonly written: Promise<WriteResult>;

  constructor(store: ObjectStore, key: string, zstKey: string) {
    const streams = [this.plain, this.zstd];
    // Failures are reported by the writes below and by write(): a stream
    // destroyed with an error must not also raise it as an uncaught 'error'.
    for (const s of streams) s.on('error', () => {});
    const writes = [store.putStream(key, this.plain), store.putStream(zstKey, this.zstd)];
    // A write that fails stops reading its stream: end both, so the pass
    // fails instead of waiting for a 'drain' that would never come.
    for (const w of writes) w.catch((err: unknown) => streams.forEach((s) => s.destroy(asError(err))));
    // Settled only when both are (a failed write has removed its temporary file).
    this.written = Promise.allSettled(writes).then(([plain, zst]) => {
      if (plain!.status === 'rejected') throw plain!.reason;
      if (zst!.status === 'rejected') throw zst!.reason;
      return plain!.value;
    });
    // Awaited by end(), abort() or write(); until then a failure is not "unhandled".
    this.written.catch(() => {});
  }

  async write(text: string): Promise<void> {
    const buf = Buffer.from(text, 'utf8');
    const waits: Array<Promise<void>> = [];
    for (const s of [this.plain, this.zstd]) if (!s.write(buf)) waits.push(drained(s));
    try {
      await Promise.all(waits);
    } catch (err) {
      // A stream closes before its write's failure is seen: report the failure.
      await this.written;
      throw err;
    }
  }

  /** Ends both files; the plain file's hash and size. */
  end(): Promise<WriteResult> {
    this.plain.end();
    this.zstd.end();
    return this.written;
  }

  /** Gives both files up (neither is left behind); resolves when both writes have stopped. */
  async abort(err: unknown): Promise<void> {
    this.plain.destroy(asError(err));
    this.zstd.destroy(asError(err));
    await this.written.catch(() => {});
  }
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/** Resolves on 'drain'; rejects if the stream is destroyed first. */
function drained(s: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const closed = () => {
      s.off('drain', drain);
      reject(s.errored ?? new Error('stream closed before its data was written'));
    };
    const drain = () => {
      s.off('close', closed);
      resolve();
    };
    if (s.destroyed) return closed();
    s.once('drain', drain);
    s.once('close', closed);
  });
}
