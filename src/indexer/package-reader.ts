// Reads info/index.json (+ about.json, run_exports.json) out of an uploaded package without unpacking
// it. Anything wrong with the archive is INVALID_PACKAGE (400); only I/O faults on our own disk pass
// through unchanged, because those are ours, not the uploader's.
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import yauzl from 'yauzl';
import { Decompress } from 'fzstd';
import { extract as tarExtract, type ExtractEvents, type Header } from 'tar-stream';
import { Errors, isAppError } from '../errors.js';
import { indexJsonProblem } from '../conda/index-json.js';
import { jsonTooDeep } from '../conda/json-depth.js';
import { boundZstdWindows, ZstdFrameError } from '../conda/zstd-frames.js';

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
// A .conda's info archive holds info/ alone: decoded, at most this much is read (and the zstd
// decoder never holds a larger window: see zstd-frames.ts), compressed at most half of it.
const MAX_INFO_TAR_BYTES = 64 * MiB;
const MAX_INFO_ZST_BYTES = 32 * MiB;
// A frame header may ask for up to 2 GiB, which fzstd would allocate before decoding a byte.
// 128 MiB is zstd's own default decoder limit (windowLog 27) and what conda-package-handling's
// streaming writer declares; larger is refused, and the window actually granted is lowered below.
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
  /** Every member path seen, normalised (and lower-cased under info/): a repeat is refused. */
  private readonly seen = new Set<string>();
  private scannedBytes = 0;
  settled = false;
  readonly done: Promise<Map<string, Buffer>>;
  private resolveDone!: (files: Map<string, Buffer>) => void;
  private rejectDone!: (err: unknown) => void;

  constructor(private readonly label: string, private readonly maxScanBytes = MAX_SCAN_BYTES) {
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
    if (this.scannedBytes > this.maxScanBytes) {
      this.limitReached();
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

  /** No more bytes will be read: what is missing past here is optional, unless it is index.json. */
  limitReached(): void {
    if (this.files.has('info/index.json')) this.finish();
    else this.fail(invalid(`${this.label}: no info/index.json within the first ${this.maxScanBytes / MiB} MiB`));
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
    const name = normalMemberPath(header.name);
    if (name === null) return this.fail(invalid(`${this.label} has a member whose path leaves the package: ${JSON.stringify(header.name.slice(0, 200))}`));
    // With index.json in hand, a member outside info/ means info/ is over: the rest is payload.
    const inInfo = name === 'info' || name.startsWith('info/');
    if (this.files.has('info/index.json') && !inInfo) return this.finish();
    // Two members of one path make the package mean different things to different tools (our
    // reader keeps the first, an extractor ends with the last; under info/ a case-insensitive
    // file system merges case variants too): refuse.
    if (header.type !== 'directory') {
      const key = inInfo ? name.toLowerCase() : name;
      if (this.seen.has(key)) return this.fail(invalid(`${this.label}: ${name} appears more than once`));
      this.seen.add(key);
    }
    const wanted = WANTED.includes(name) && !this.files.has(name);
    if (!wanted || (header.type !== 'file' && header.type !== 'contiguous-file')) {
      stream.on('end', () => next());
      stream.resume();
      return;
    }
    if (header.size > MAX_MEMBER_BYTES) return this.fail(invalid(`${name} is larger than ${MAX_MEMBER_BYTES / MiB} MiB`));
    const chunks: Buffer[] = [];
    stream.on('data', (chunk) => void chunks.push(chunk as Buffer));
    // Read on past the wanted members to the end of info/, so a later duplicate is seen.
    stream.on('end', () => {
      this.files.set(name, Buffer.concat(chunks));
      next();
    });
  }
}

/** A tar member's path as an extractor resolves it (`./`, `//` and `.` segments gone); null if it climbs out. */
function normalMemberPath(raw: string): string | null {
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return null;
  return parts.join('/');
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
      const names = new Set<string>();
      zip.on('entry', (entry: yauzl.Entry) => {
        // yauzl reads the first of two same-named entries, Python's zipfile (conda) the last.
        if (names.has(entry.fileName)) {
          reject(invalid(`the .conda has two entries named ${JSON.stringify(entry.fileName.slice(0, 200))}`));
          return;
        }
        names.add(entry.fileName);
        if (entry.fileName.includes('/')) nested.push(entry.fileName);
        else topLevel.set(entry.fileName, entry);
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
    if (info.compressedSize > MAX_INFO_ZST_BYTES) {
      throw invalid(`${infoName} is larger than ${MAX_INFO_ZST_BYTES / MiB} MiB; it should hold info/ alone`);
    }
    const compressed = await readEntry(zip, info, infoName);
    try {
      return await readZstdTar(compressed, infoName, SMALL_WINDOW_BYTES);
    } catch (err) {
      if (err !== NEEDS_FULL_WINDOW) throw err;
      return await readZstdTar(compressed, infoName, MAX_INFO_TAR_BYTES);
    }
  } finally {
    zip.close(); // the descriptor closes once the entry streams have been destroyed as well
  }
}

/** A stored zip entry's bytes (bounded by the caller through the entry's size). */
function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, label: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => {
      if (err) return reject(isIoError(err) ? err : invalid(`cannot read ${label}: ${err.message}`, err));
      const chunks: Buffer[] = [];
      let length = 0;
      stream.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length > MAX_INFO_ZST_BYTES) stream.destroy(invalid(`${label} is larger than ${MAX_INFO_ZST_BYTES / MiB} MiB`));
        else chunks.push(chunk);
      });
      stream.on('error', (e) => reject(isAppError(e) || isIoError(e) ? e : invalid(`cannot read ${label}: ${e.message}`, e)));
      stream.on('end', () => resolve(Buffer.concat(chunks)));
    });
  });
}

// conda-package-handling's streaming writer declares a 128 MiB window and no content size (6 of the
// fixture .conda files, andes from conda-forge among them). fzstd then allocates 128 MiB and shifts
// all of it after every block: ~150 ms and 128 MiB of RSS for a 30 KiB info tar. Every frame's
// window is lowered before decoding (zstd-frames.ts): first to SMALL_WINDOW_BYTES, exact for that
// much output; an info tar that turns out larger is decoded again with MAX_INFO_TAR_BYTES, and no
// more than that is ever read.
const SMALL_WINDOW_BYTES = 2 * MiB;
const NEEDS_FULL_WINDOW = Symbol('needs a larger zstd window');
// fzstd decodes one push synchronously, so small pushes keep a single push's output bounded.
const ZSTD_PUSH_BYTES = 1024;
// zstd caps blocks at 128 KiB; fzstd does not, and a 4-byte RLE block could expand to 2 MiB.
const MAX_ZSTD_BLOCK_BYTES = 128 * 1024;

async function readZstdTar(compressed: Buffer, label: string, windowBytes: number): Promise<Map<string, Buffer>> {
  const data = Buffer.from(compressed); // lowered in place: a copy per attempt
  let lowered: boolean;
  try {
    lowered = boundZstdWindows(data, {
      lowerToBytes: windowBytes, maxDeclaredWindowBytes: MAX_ZSTD_WINDOW_BYTES, maxFrameContentBytes: MAX_INFO_TAR_BYTES,
    }).lowered;
  } catch (err) {
    if (err instanceof ZstdFrameError) throw invalid(`${label}: ${err.message}`);
    throw err;
  }
  // With a lowered window, output past the window may be wrong: stop there and try again larger.
  const outputCap = lowered ? windowBytes : MAX_INFO_TAR_BYTES;
  const collector = new InfoCollector(label, MAX_INFO_TAR_BYTES);
  let backlogged = false;
  let producedBytes = 0;
  const zstd = new Decompress((block) => {
    producedBytes += block.length;
    if (block.length > MAX_ZSTD_BLOCK_BYTES) collector.fail(invalid(`${label} has a zstd block over 128 KiB`));
    if (producedBytes > outputCap) {
      if (outputCap < MAX_INFO_TAR_BYTES) collector.fail(NEEDS_FULL_WINDOW);
      else collector.limitReached();
    }
    if (collector.settled) throw STOP; // abandons the rest of this push
    if (!collector.write(block)) backlogged = true;
  });
  const push = (chunk: Uint8Array, final: boolean): void => {
    try {
      zstd.push(chunk, final);
    } catch (err) {
      if (err !== STOP) throw invalid(`${label} is not valid zstd data (corrupt or truncated)`, err);
    }
  };
  const feed = async (): Promise<void> => {
    for (let at = 0; at < data.length; at += ZSTD_PUSH_BYTES) {
      push(data.subarray(at, at + ZSTD_PUSH_BYTES), false);
      if (backlogged) {
        backlogged = false;
        await collector.drained();
      } else if ((at / ZSTD_PUSH_BYTES) % 64 === 63) {
        await new Promise((resolve) => setImmediate(resolve)); // other requests run between pieces
      }
      if (collector.settled) return;
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
    collector.destroy();
    await feeding;
  }
}

// ---- index.json and friends -------------------------------------------------------------------

function parseJsonOrNull(data: Buffer | undefined): unknown {
  try {
    return data === undefined || jsonTooDeep(data) ? null : (JSON.parse(data.toString('utf8')) as unknown);
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
  if (jsonTooDeep(index)) throw new Errors.INVALID_METADATA('info/index.json nests arrays or objects too deeply');
  let indexJson: unknown;
  try {
    indexJson = JSON.parse(index.toString('utf8'));
  } catch (err) {
    throw invalid(`info/index.json is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(indexJson)) throw invalid('info/index.json is not a JSON object');
  const problem = indexJsonProblem(indexJson);
  if (problem) throw new Errors.INVALID_METADATA(problem.message);
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
