// The tar side of both formats: takes decoded tar bytes, keeps the info/
// members the reader wants, refuses tars that mean different things to
// different tools, and settles as soon as info/ is over.
import { extract as tarExtract, type ExtractEvents, type Header } from 'tar-stream';
import { invalid } from './archive-faults.js';

const MiB = 1024 * 1024;
const MAX_MEMBER_BYTES = 16 * MiB;
// Caps the tar bytes decoded while looking for info/: far beyond any real info/ folder (and
// index.json comes first in practice), but it bounds the CPU a decompression bomb can burn.
const MAX_SCAN_BYTES = 256 * MiB;
type EntryStream = ExtractEvents['entry'][1];
const WANTED = ['info/index.json', 'info/about.json', 'info/run_exports.json', 'info/paths.json'];

/** Receives tar bytes, keeps the wanted info/ members, and settles `done` as soon as it has enough. */
export class InfoCollector {
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
