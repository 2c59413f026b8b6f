// Reads info/index.json (+ about.json, run_exports.json) out of an uploaded package without unpacking
// it. Anything wrong with the archive is INVALID_PACKAGE (400); only I/O faults on our own disk pass
// through unchanged, because those are ours, not the uploader's.
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { Decompress } from 'fzstd';
import { extract as tarExtract, type ExtractEvents, type Header } from 'tar-stream';
import { Errors, isAppError } from '../errors.js';

export type PackageFormat = 'conda' | 'tar.bz2';

export interface PackageMetadata {
  indexJson: Record<string, unknown>;
  aboutJson: Record<string, unknown> | null;
  runExportsJson: unknown | null;
  /** info/paths.json's `paths` (for channeldata's install-script flags), or null. */
  paths: Array<Record<string, unknown>> | null;
}

const MiB = 1024 * 1024;
const MAX_MEMBER_BYTES = 16 * MiB;
// Caps the tar bytes decoded while looking for info/: far beyond any real info/ folder (and
// index.json comes first in practice), but it bounds the CPU a decompression bomb can burn.
const MAX_SCAN_BYTES = 256 * MiB;
// fzstd allocates whatever window a frame header asks for (up to 2 GiB) before decoding a byte;
// 128 MiB is zstd's own default decoder limit (windowLog 27), which rattler also applies.
const MAX_ZSTD_WINDOW_BYTES = 128 * MiB;
const STOP = Symbol('stop decoding');
type EntryStream = ExtractEvents['entry'][1];
const WANTED = ['info/index.json', 'info/about.json', 'info/run_exports.json', 'info/paths.json'];

function invalid(message: string, cause?: unknown): Error {
  const err = new Errors.INVALID_PACKAGE(message);
  if (cause !== undefined) err.cause = cause; // for the server log; only `message` is sent
  return err;
}

function isIoError(err: unknown): boolean {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

/** Receives tar bytes, keeps the wanted info/ members, and settles `done` as soon as it has enough. */
class InfoCollector {
  // v7 tars (no ustar magic) still carry checksummed headers, and Python's tarfile reads them.
  private readonly extract = tarExtract({ allowUnknownFormat: true } as Parameters<typeof tarExtract>[0]);
  private readonly files = new Map<string, Buffer>();
  private scannedBytes = 0;
  settled = false;
  readonly done: Promise<Map<string, Buffer>>;
  private resolveDone!: (files: Map<string, Buffer>) => void;
  private rejectDone!: (err: unknown) => void;

  constructor(private readonly label: string) {
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // The feeder may fail before anyone awaits `done`; that must not count as an unhandled rejection.
    this.done.catch(() => {});
    this.extract.on('entry', (header, stream, next) => this.onEntry(header, stream, next));
    this.extract.on('finish', () => this.finish());
    this.extract.on('error', (err) => this.fail(invalid(`${label} is not a valid tar archive (corrupt or truncated)`, err)));
  }

  write(chunk: Uint8Array): boolean {
    if (this.settled) return true;
    this.scannedBytes += chunk.byteLength;
    if (this.scannedBytes > MAX_SCAN_BYTES) {
      if (this.files.has('info/index.json')) this.finish(); // what is missing past here is optional
      else this.fail(invalid(`${this.label}: no info/index.json within the first ${MAX_SCAN_BYTES / MiB} MiB`));
      return true;
    }
    return this.extract.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }

  /** Resolves on the extractor's next 'drain', or at once if it has settled (so no feeder waits forever). */
  drained(): Promise<void> {
    return Promise.race([new Promise<void>((resolve) => this.extract.once('drain', resolve)), this.done.then(() => {}, () => {})]);
  }

  end(): void {
    if (!this.settled) this.extract.end(null); // streamx's typings insist on an argument
  }

  fail(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.rejectDone(err);
  }

  destroy(): void {
    this.extract.destroy();
  }

  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveDone(this.files);
  }

  private onEntry(header: Header, stream: EntryStream, next: () => void): void {
    // tar-stream destroys the current entry with the extractor's error; that one is handled above.
    stream.on('error', () => {});
    const name = header.name.replace(/^(\.\/)+/, '');
    // With index.json in hand, a member outside info/ means info/ is over: the rest is payload.
    if (this.files.has('info/index.json') && !name.startsWith('info/')) return this.finish();
    // Two index.json members make the package mean different things to different tools; refuse.
    if (name === 'info/index.json' && this.files.has(name)) return this.fail(invalid(`${name} appears more than once`));
    const wanted = WANTED.includes(name) && !this.files.has(name);
    if (!wanted || (header.type !== 'file' && header.type !== 'contiguous-file')) {
      stream.on('end', () => next());
      stream.resume();
      return;
    }
    if (header.size > MAX_MEMBER_BYTES) return this.fail(invalid(`${name} is larger than ${MAX_MEMBER_BYTES / MiB} MiB`));
    const chunks: Buffer[] = [];
    stream.on('data', (chunk) => void chunks.push(chunk as Buffer));
    stream.on('end', () => {
      this.files.set(name, Buffer.concat(chunks));
      if (WANTED.every((wanted) => this.files.has(wanted))) this.finish();
      else next();
    });
  }
}

// ---- .tar.bz2 ---------------------------------------------------------------------------------

// unbzip2-stream's stream wrapper gathers each block's output in a JS array of numbers and cannot
// stop inside a block, so one 40-byte bzip2 block (45 MB of zeros) cost ~700 MB of RSS and seconds
// of CPU; and it decodes everything its input allows in one synchronous call, ahead of tar-stream.
// Its decoder core takes a per-byte callback, so we drive that ourselves: output goes into 64 KiB
// buffers, one block at a time, yielding to the tar parser in between, and can stop mid-block.
type BitReader = ((bitCount: number | null) => number) & { bytesRead: number };
interface Bzip2Core {
  header(bits: BitReader): number;
  decompress(bits: BitReader, out: (byte: number) => void, buf: Int32Array, bufSize: number, crc: number): number | null;
}
const requireCjs = createRequire(import.meta.url);
const bzip2Core = requireCjs('unbzip2-stream/lib/bzip2') as Bzip2Core;
const bitIterator = requireCjs('unbzip2-stream/lib/bit_iterator') as (next: () => Buffer | undefined) => BitReader;
const BZ2_OUT_CHUNK_BYTES = 64 * 1024;
// A block holds at most 100k*level symbols of at most 20 bits, plus tables: never decode a block
// before this much input is buffered (or the file has ended), as the core cannot wait for more.
const bz2BlockInputBound = (level: number): number => (level ? level * 250_000 + 25_000 : 4);

async function readTarBz2(filePath: string): Promise<Map<string, Buffer>> {
  const collector = new InfoCollector('the .tar.bz2');
  const input: Buffer[] = [];
  let inputBytes = 0;
  let bits: BitReader | null = null;
  let level = 0; // block size of the current bzip2 stream in 100 kB; 0 before a stream header
  let crc = 0;
  let work = new Int32Array(0);
  let out = Buffer.allocUnsafe(BZ2_OUT_CHUNK_BYTES);
  let outLength = 0;
  let backlogged = false;
  const flush = (): void => {
    if (outLength === 0) return;
    if (!collector.write(out.subarray(0, outLength))) backlogged = true;
    out = Buffer.allocUnsafe(BZ2_OUT_CHUNK_BYTES);
    outLength = 0;
  };
  const emit = (byte: number): void => {
    out[outLength++] = byte;
    if (outLength < BZ2_OUT_CHUNK_BYTES) return;
    flush();
    if (collector.settled) throw STOP;
  };
  const decodeBlock = async (reader: BitReader): Promise<void> => {
    if (level === 0) {
      level = bzip2Core.header(reader);
      crc = 0;
      if (work.length !== level * 100_000) work = new Int32Array(level * 100_000);
      return;
    }
    const next = bzip2Core.decompress(reader, emit, work, work.length, crc);
    if (next === null) level = 0; // end-of-stream marker; another stream may follow
    else crc = next;
    flush();
    // Let tar-stream parse what this block produced, so early exit happens between blocks.
    if (backlogged) await collector.drained();
    else await new Promise((resolve) => setImmediate(resolve));
    backlogged = false;
  };
  const decode = async (): Promise<void> => {
    for await (const chunk of createReadStream(filePath, { highWaterMark: 256 * 1024 })) {
      input.push(chunk as Buffer);
      inputBytes += (chunk as Buffer).length;
      bits ??= bitIterator(() => input.shift());
      while (!collector.settled && inputBytes - bits.bytesRead >= bz2BlockInputBound(level)) await decodeBlock(bits);
      if (collector.settled) return;
    }
    if (bits === null) throw new Error('empty file');
    while (!collector.settled && bits.bytesRead < inputBytes) await decodeBlock(bits);
    if (level !== 0) throw new Error('bzip2 stream ended prematurely');
    collector.end();
  };
  const decoding = decode().catch((err: unknown) => {
    collector.fail(err === STOP || isIoError(err) ? err : invalid('not a valid bzip2 stream (corrupt or truncated)', err));
  });
  try {
    return await collector.done;
  } finally {
    collector.destroy();
    await decoding; // returns within a block once settled, closing the file
  }
}

// ---- .conda -----------------------------------------------------------------------------------

async function readConda(filePath: string, stem: string): Promise<Map<string, Buffer>> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => {
    yauzl.open(filePath, { lazyEntries: true, autoClose: false }, (err, zipFile) => {
      if (err) reject(isIoError(err) ? err : invalid('not a valid .conda file: not a zip archive', err));
      else resolve(zipFile);
    });
  });
  try {
    const topLevel = new Map<string, yauzl.Entry>();
    const nested: string[] = [];
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName.includes('/')) nested.push(entry.fileName);
        else if (!topLevel.has(entry.fileName)) topLevel.set(entry.fileName, entry);
        zip.readEntry();
      });
      zip.on('end', () => resolve());
      zip.on('error', (err) => reject(isIoError(err) ? err : invalid(`not a valid .conda file: ${err.message}`, err)));
      zip.readEntry();
    });

    const infoName = `info-${stem}.tar.zst`;
    const isInfo = (name: string): boolean => /^info-.*\.tar\.zst$/.test(name);
    if (!topLevel.has(infoName)) {
      const other = [...topLevel.keys()].find(isInfo);
      if (other) throw invalid(`the .conda contains ${other}, which does not match the file name ${stem}`);
      const buried = nested.find((name) => isInfo(name.slice(name.lastIndexOf('/') + 1)));
      const hint = buried ? ` (${buried} sits inside a folder; zip the members without it)` : '';
      throw invalid(`the .conda has no top-level ${infoName} entry${hint}`);
    }
    for (const name of ['metadata.json', `pkg-${stem}.tar.zst`, infoName]) {
      const entry = topLevel.get(name);
      if (!entry) throw invalid(`the .conda has no top-level ${name} entry`);
      if (entry.compressionMethod !== 0) {
        throw invalid(`${name} in the .conda is compressed (ZIP method ${entry.compressionMethod}); .conda members must be stored`);
      }
    }

    const info = topLevel.get(infoName)!;
    const openInfo = (): Promise<Readable> =>
      new Promise((resolve, reject) => {
        zip.openReadStream(info, (err, stream) => {
          if (err) reject(isIoError(err) ? err : invalid(`cannot read ${infoName}: ${err.message}`, err));
          else resolve(stream);
        });
      });
    try {
      return await readZstdTar(await openInfo(), infoName, true);
    } catch (err) {
      if (err !== NEEDS_FULL_WINDOW) throw err;
      return await readZstdTar(await openInfo(), infoName, false);
    }
  } finally {
    zip.close(); // the descriptor closes once the entry streams have been destroyed as well
  }
}

/** The window a zstd frame header asks for, and where its window descriptor byte sits (null: single-segment). */
function zstdFrameWindow(h: Uint8Array): { bytes: number; descriptorAt: number | null } | null {
  if (h.length < 6 || h[0] !== 0x28 || h[1] !== 0xb5 || h[2] !== 0x2f || h[3] !== 0xfd) return null;
  const flags = h[4]!;
  if ((flags & 0x20) === 0) {
    const base = 2 ** (10 + (h[5]! >> 3));
    return { bytes: base + (base / 8) * (h[5]! & 7), descriptorAt: 5 };
  }
  // Single-segment frame: the window is the declared content size.
  const sizeBytes = [1, 2, 4, 8][flags >> 6]!;
  const at = 5 + [0, 1, 2, 4][flags & 3]!;
  if (h.length < at + sizeBytes) return null;
  let size = 0;
  for (let i = sizeBytes - 1; i >= 0; i--) size = size * 256 + h[at + i]!;
  return { bytes: sizeBytes === 2 ? size + 256 : size, descriptorAt: null };
}

// conda-package-handling's streaming writer declares a 128 MiB window and no content size (6 of the
// fixture .conda files, andes from conda-forge among them). fzstd then allocates 128 MiB and shifts
// all of it after every block: ~150 ms and 128 MiB of RSS for a 30 KiB info tar. A match can never reach back past the start of
// the frame, so with the window lowered to SMALL_WINDOW_BYTES the first SMALL_WINDOW_BYTES of output
// are still exact; only info tars larger than that are decoded again with the declared window.
const SMALL_WINDOW_BYTES = 2 * MiB;
const SMALL_WINDOW_DESCRIPTOR = (21 - 10) << 3; // 2^21 bytes, mantissa 0
const NEEDS_FULL_WINDOW = Symbol('needs the declared zstd window');
// fzstd decodes one push synchronously, so small pushes keep a single push's output bounded.
const ZSTD_PUSH_BYTES = 1024;
// zstd caps blocks at 128 KiB; fzstd does not, and a 4-byte RLE block could expand to 2 MiB.
const MAX_ZSTD_BLOCK_BYTES = 128 * 1024;

async function readZstdTar(source: Readable, label: string, tryLowerWindow: boolean): Promise<Map<string, Buffer>> {
  const collector = new InfoCollector(label);
  let backlogged = false;
  let lowered = false;
  let producedBytes = 0;
  const zstd = new Decompress((block) => {
    producedBytes += block.length;
    if (block.length > MAX_ZSTD_BLOCK_BYTES) collector.fail(invalid(`${label} has a zstd block over 128 KiB`));
    if (lowered && producedBytes > SMALL_WINDOW_BYTES) collector.fail(NEEDS_FULL_WINDOW);
    if (collector.settled) throw STOP; // abandons the rest of this push
    if (!collector.write(block)) backlogged = true;
  });
  const push = (data: Uint8Array, final: boolean): void => {
    try {
      zstd.push(data, final);
    } catch (err) {
      if (err !== STOP) throw invalid(`${label} is not valid zstd data (corrupt or truncated)`, err);
    }
  };
  const feed = async (): Promise<void> => {
    let first = true;
    for await (const chunk of source as AsyncIterable<Buffer>) {
      const window = first ? zstdFrameWindow(chunk) : null;
      first = false;
      if (window && window.bytes > MAX_ZSTD_WINDOW_BYTES) {
        throw invalid(`${label} needs a ${Math.ceil(window.bytes / MiB)} MiB zstd window (at most ${MAX_ZSTD_WINDOW_BYTES / MiB} MiB)`);
      }
      if (tryLowerWindow && window?.descriptorAt != null && window.bytes > SMALL_WINDOW_BYTES) {
        chunk[window.descriptorAt] = SMALL_WINDOW_DESCRIPTOR; // our read buffer, not the file
        lowered = true;
      }
      for (let at = 0; at < chunk.length; at += ZSTD_PUSH_BYTES) {
        push(chunk.subarray(at, at + ZSTD_PUSH_BYTES), false);
        if (backlogged) {
          backlogged = false;
          await collector.drained();
        }
        if (collector.settled) return;
      }
    }
    push(new Uint8Array(0), true);
    collector.end();
  };
  const feeding = feed().catch((err: unknown) => {
    collector.fail(isAppError(err) || isIoError(err) ? err : invalid(`cannot read ${label} from the .conda`, err));
  });
  try {
    return await collector.done;
  } finally {
    source.destroy();
    collector.destroy();
    await feeding;
  }
}

// ---- index.json and friends -------------------------------------------------------------------

function parseJsonOrNull(data: Buffer | undefined): unknown {
  try {
    return data === undefined ? null : (JSON.parse(data.toString('utf8')) as unknown);
  } catch {
    return null;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Reads metadata from a package file on disk. `stem` is the filename without extension (name-version-build). */
export async function readPackageMetadata(filePath: string, format: PackageFormat, stem: string): Promise<PackageMetadata> {
  const files = format === 'conda' ? await readConda(filePath, stem) : await readTarBz2(filePath);
  const index = files.get('info/index.json');
  if (index === undefined) throw invalid('info/index.json is missing');
  let indexJson: unknown;
  try {
    indexJson = JSON.parse(index.toString('utf8'));
  } catch (err) {
    throw invalid(`info/index.json is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(indexJson)) throw invalid('info/index.json is not a JSON object');
  // A broken about.json or run_exports.json costs the package its extra metadata, not its upload.
  const about = parseJsonOrNull(files.get('info/about.json'));
  const runExports = parseJsonOrNull(files.get('info/run_exports.json'));
  const paths = parseJsonOrNull(files.get('info/paths.json'));
  const pathList = isObject(paths) && Array.isArray(paths.paths) ? (paths.paths as unknown[]).filter(isObject) : null;
  return {
    indexJson,
    aboutJson: isObject(about) ? about : null,
    runExportsJson: typeof runExports === 'object' ? runExports : null,
    paths: pathList,
  };
}
