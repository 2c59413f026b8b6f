// info/ out of a .conda: a zip whose stored info-<stem>.tar.zst member holds
// info/ alone, decoded with the zstd decoder's memory bounded up front.
import yauzl from 'yauzl';
import { Decompress } from 'fzstd';
import { isAppError } from '../errors.js';
import { invalid, isIoError, STOP } from './archive-faults.js';
import { InfoCollector } from './info-collector.js';
import { boundZstdWindows, ZstdFrameError } from './zstd-frames.js';

const MiB = 1024 * 1024;
// A .conda's info archive holds info/ alone: decoded, at most this much is read (and the zstd
// decoder never holds a larger window: see zstd-frames.ts), compressed at most half of it.
const MAX_INFO_TAR_BYTES = 64 * MiB;
const MAX_INFO_ZST_BYTES = 32 * MiB;
// A frame header may ask for up to 2 GiB, which fzstd would allocate before decoding a byte.
// 128 MiB is zstd's own default decoder limit (windowLog 27) and what conda-package-handling's
// streaming writer declares; larger is refused, and the window actually granted is lowered below.
const MAX_ZSTD_WINDOW_BYTES = 128 * MiB;

export async function readConda(filePath: string, stem: string): Promise<Map<string, Buffer>> {
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
