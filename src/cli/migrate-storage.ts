// `channeld migrate-storage`: copies a single-node install (the SQLite file
// and the object folder of a data folder) into PostgreSQL + an S3 bucket.
//
// Safe beside a live server: SQLite is opened read-only and every row comes
// from one read transaction (one consistent snapshot under WAL); objects are
// read through the ObjectStore port. What the server accepts after the
// snapshot is not carried over: the cut-over is a final run (--resume) with
// the server stopped.
//
// Order: rows first (src/db/copy-to-postgres.ts), in one PostgreSQL
// transaction (the target holds the whole snapshot or nothing), then objects. An interrupted run is re-run
// with --resume: the rows are replaced by a fresh snapshot (cheap) and
// objects already in the bucket are kept when they provably match.
import fsp from 'node:fs/promises';
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Config } from '../config.js';
import { hashStream } from '../core/hash-file.js';
import { openRowCopy, RowCopyRefused, sqliteFile, type ListedPackage, type RowCopy } from '../db/index.js';
import { createObjectStore, folderStoreOf } from '../storage/create-store.js';
import { FULL_GENERATION_FILES, SHARD_INDEX_FILE, indexKey, packageKey } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';

/** A refusal or a failed check: the message is for the operator, exit code 1. */
export class MigrateError extends Error {}

export interface MigrateOptions {
  /** The source data folder (its SQLite file and its channels/ folder). */
  dataDir: string;
  /** The target: databaseUrl and storage must both name new backends. */
  target: Config;
  /** The target already holds an earlier run's copy: replace its rows, keep matching objects. */
  resume: boolean;
  /** Progress and summary go here (stderr for progress, stdout for the summary). */
  progress: NodeJS.WriteStream;
  /** Objects copied at once (each S3 upload holds up to 4 parts of 8 MiB). */
  concurrency?: number;
}

export interface MigrateSummary {
  rows: Array<{ table: string; rows: number }>;
  objectsCopied: number;
  objectsSkipped: number;
  bytesCopied: number;
  /** Subdirs whose snapshot pointed at index files the live source had replaced by the time they were copied. */
  reindexAtStart: number;
  seconds: number;
}

interface Expected {
  sha256: string;
  sizeBytes: number;
  file: string;
}

export async function migrateStorage(opts: MigrateOptions): Promise<MigrateSummary> {
  const started = Date.now();
  const { target } = opts;
  const dataDir = path.resolve(opts.dataDir);
  if (target.databaseUrl === null) {
    throw new MigrateError('the target database is the source itself (the SQLite file in the data folder): give --to-database postgres://… or set CHANNELD_DATABASE_URL');
  }
  if (target.storage.kind !== 's3') {
    throw new MigrateError('the target storage is the source itself (the data folder): give --to-storage s3://bucket/prefix or set CHANNELD_STORAGE_URL');
  }
  const ui = new Progress(opts.progress);
  let copy: RowCopy | null = null;
  try {
    copy = await openRowCopy(sqliteFile(dataDir), target.databaseUrl, opts.resume);
    const expected = expectedPackages(copy.packages(), dataDir);
    ui.start('rows', copy.rowCount, 'rows');
    const rows = await copy.copyRows((n) => ui.add(n));
    ui.stop();

    const source = folderStoreOf(dataDir);
    const targetStore = createObjectStore(target);
    const objects = await copyObjects(source, targetStore, expected, opts, ui);
    const reindexAtStart = await markReplacedGenerations(copy, targetStore);
    const summary: MigrateSummary = { rows, ...objects, reindexAtStart, seconds: (Date.now() - started) / 1000 };
    return summary;
  } catch (err) {
    if (err instanceof RowCopyRefused) throw new MigrateError(err.message);
    throw err;
  } finally {
    ui.abort();
    await copy?.close();
  }
}

function expectedPackages(listed: Iterable<ListedPackage>, dataDir: string): Map<string, Expected> {
  const expected = new Map<string, Expected>();
  for (const r of listed) {
    const key = packageKey(r.channel, r.subdir, r.filename);
    expected.set(key, { sha256: r.sha256, sizeBytes: r.sizeBytes, file: path.join(dataDir, 'channels', key) });
  }
  return expected;
}

/**
 * A live source keeps indexing while objects are copied, and keeps only its
 * latest two generations of index files: the generation a subdir row of the
 * snapshot points at may be gone by the time the folder is listed. Such a
 * subdir gets its revision bumped in the target, so the first server that
 * starts on it rewrites its index from the copied rows (servers index dirty
 * subdirs before they listen). Returns how many subdirs that was.
 */
async function markReplacedGenerations(copy: RowCopy, store: ObjectStore): Promise<number> {
  let marked = 0;
  for (const s of await copy.copiedSubdirs()) {
    const wanted = [
      ...(s.indexedRevision > 0 ? FULL_GENERATION_FILES.map((v) => indexKey(s.channel, s.subdir, s.indexedRevision, v)) : []),
      ...(s.shardsRevision > 0 ? [indexKey(s.channel, s.subdir, s.shardsRevision, SHARD_INDEX_FILE)] : []),
    ];
    const present = await Promise.all(wanted.map(async (key) => (await store.stat(key)) !== null));
    if (present.every(Boolean)) continue;
    await copy.markForReindex(s);
    marked++;
  }
  return marked;
}

/** Every object key under the folder store's root; temp files ('.'-names) are not objects. */
async function listKeys(root: string): Promise<Array<{ key: string; size: number }>> {
  const keys: Array<{ key: string; size: number }> = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(dir, e.name);
      if (e.isDirectory()) await walk(full, `${prefix}${e.name}/`);
      else if (e.isFile()) {
        const st = await fsp.stat(full).catch(() => null);
        if (st) keys.push({ key: `${prefix}${e.name}`, size: st.size });
      }
    }
  };
  await walk(root, '');
  return keys;
}

/**
 * Objects whose name fixes their content: index generations (numbered,
 * written once) and shards (named by their sha256). A package is skipped
 * only after the target's bytes hash to the row's sha256. Anything else
 * (channeldata.json, signatures) is small and copied again.
 */
const immutable = (key: string): boolean => /\/_index\/[^/]+$/.test(key) || /\/shards\/[0-9a-f]{64}\.msgpack\.zst$/.test(key);

async function copyObjects(
  source: ObjectStore & { readonly root: string }, target: ObjectStore, expected: Map<string, Expected>, opts: MigrateOptions, ui: Progress,
): Promise<Pick<MigrateSummary, 'objectsCopied' | 'objectsSkipped' | 'bytesCopied'>> {
  const keys = await listKeys(source.root);
  const problems: string[] = [];
  const verified = new Set<string>();
  let objectsCopied = 0;
  let objectsSkipped = 0;
  let bytesCopied = 0;
  ui.start('objects', keys.reduce((a, k) => a + k.size, 0), 'bytes');

  const copyOne = async ({ key, size }: { key: string; size: number }): Promise<void> => {
    const want = expected.get(key);
    const existing = opts.resume ? await target.stat(key) : null;
    if (existing && existing.sizeBytes === size) {
      if (want) {
        const there = await target.read(key);
        const got = there ? await hashStream(there.stream) : null;
        if (got && got.sha256 === want.sha256 && got.sizeBytes === want.sizeBytes) {
          verified.add(key);
          objectsSkipped++;
          ui.add(size);
          return;
        }
      } else if (immutable(key)) {
        objectsSkipped++;
        ui.add(size);
        return;
      }
    }
    const read = await source.read(key);
    if (read === null) {
      // Removed by a live server since the listing; a package of the
      // snapshot that vanished is caught below, as never verified.
      ui.add(size);
      return;
    }
    let counted = 0;
    const counting = async function* (stream: AsyncIterable<Buffer>) {
      for await (const chunk of stream) {
        counted += chunk.length;
        ui.add(chunk.length);
        yield chunk;
      }
    };
    const written = await target.putStream(key, counting(read.stream));
    ui.add(size - counted);
    objectsCopied++;
    bytesCopied += written.sizeBytes;
    if (want) {
      if (written.sha256 !== want.sha256 || written.sizeBytes !== want.sizeBytes) {
        problems.push(`${want.file}: sha256 ${written.sha256} (${written.sizeBytes} bytes) but the database says ${want.sha256} (${want.sizeBytes} bytes)`);
        // Not left in the bucket for a later --resume to take for good.
        await target.delete(key);
      } else {
        verified.add(key);
      }
    }
  };

  const queue = keys[Symbol.iterator]();
  const worker = async (): Promise<void> => {
    for (let next = queue.next(); !next.done; next = queue.next()) await copyOne(next.value);
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));
  ui.stop();

  for (const [key, want] of expected) {
    if (!verified.has(key) && !problems.some((p) => p.startsWith(`${want.file}:`))) problems.push(`${want.file}: missing (the database lists ${key})`);
  }
  if (problems.length > 0) {
    throw new MigrateError(`${problems.length} package file(s) failed verification; the target is not usable until they are fixed:\n  ${problems.join('\n  ')}`);
  }
  return { objectsCopied, objectsSkipped, bytesCopied };
}

/**
 * A cli-progress bar on a terminal; plain lines every few seconds otherwise
 * (CI logs, `| tee`), where a redrawn bar would be noise.
 */
class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private label = '';
  private unit = '';
  private total = 0;
  private done = 0;
  private lastLine = 0;

  constructor(private readonly out: NodeJS.WriteStream) {}

  start(label: string, total: number, unit: 'rows' | 'bytes'): void {
    this.stop();
    Object.assign(this, { label, unit, total, done: 0, lastLine: Date.now() });
    if (this.out.isTTY) {
      this.bar = new cliProgress.SingleBar({
        stream: this.out,
        format: `${label.padEnd(7)} [{bar}] {percentage}% | {shown} | ETA {eta_formatted}`,
        hideCursor: true,
      }, cliProgress.Presets.shades_classic);
      this.bar.start(Math.max(total, 1), 0, { shown: this.shown() });
    } else {
      this.out.write(`${label}: 0 / ${this.fmt(total)}\n`);
    }
  }

  add(n: number): void {
    if (n === 0) return;
    this.done += n;
    if (this.bar) {
      this.bar.update(this.done, { shown: this.shown() });
    } else if (Date.now() - this.lastLine >= 5000) {
      this.lastLine = Date.now();
      this.out.write(`${this.label}: ${this.shown()}\n`);
    }
  }

  stop(): void {
    if (this.label === '') return;
    if (this.bar) {
      this.bar.update(this.done, { shown: this.shown() });
      this.bar.stop();
      this.bar = null;
    } else {
      this.out.write(`${this.label}: ${this.shown()} done\n`);
    }
    this.label = '';
  }

  /** Ends a bar cut short by an error, without calling it done. */
  abort(): void {
    this.bar?.stop();
    this.bar = null;
    if (this.label !== '' && !this.out.isTTY) this.out.write(`${this.label}: stopped at ${this.shown()}\n`);
    this.label = '';
  }

  private shown(): string {
    return this.unit === 'bytes' ? `${formatBytes(this.done)} / ${formatBytes(this.total)}` : `${this.done} / ${this.total} rows`;
  }

  private fmt(n: number): string {
    return this.unit === 'bytes' ? formatBytes(n) : `${n} rows`;
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function formatSummary(s: MigrateSummary): string {
  const width = Math.max(...s.rows.map((r) => r.table.length));
  const lines = s.rows.map((r) => `  ${r.table.padEnd(width)}  ${r.rows}`);
  return [
    'rows copied:',
    ...lines,
    `objects: ${s.objectsCopied} copied, ${s.objectsSkipped} already in place; ${formatBytes(s.bytesCopied)} written`,
    ...(s.reindexAtStart > 0
      ? [`${s.reindexAtStart} subdir(s) were re-indexed by the running source while copying: the first server on the target rewrites their index files before it listens`]
      : []),
    `every package's sha256 verified; done in ${s.seconds.toFixed(1)} s`,
  ].join('\n');
}
