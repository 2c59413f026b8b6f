// info/ out of a .tar.bz2, decoding no more of the bzip2 stream than it takes.
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { invalid, isIoError, STOP } from './archive-faults.js';
import { InfoCollector } from './info-collector.js';

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

export async function readTarBz2(filePath: string): Promise<Map<string, Buffer>> {
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
