// Walks every frame of a zstd stream held in memory (a .conda's info archive)
// before any of it is decoded: refuses frames whose header asks for more
// memory than we grant, and lowers each frame's window so the decoder
// allocates at most `windowBytes`.
//
// Lowering is exact as long as the caller stops decoding after `windowBytes`
// of output: a match can never reach back past the start of its frame, and no
// frame's output can exceed the total output.
// Format: RFC 8878 §3.1 (frames, window descriptor, block headers).

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const MAX_BLOCK_BYTES = 128 * 1024;

export class ZstdFrameError extends Error {}

/** The window a descriptor byte gives: 2^(10+exponent) + mantissa eighths of it. */
const windowOf = (descriptor: number): number => {
  const base = 2 ** (10 + (descriptor >> 3));
  return base + (base / 8) * (descriptor & 7);
};

/** The largest descriptor byte whose window is at most `bytes` (bytes ≥ 1 KiB). */
function descriptorFor(bytes: number): number {
  let best = 0;
  for (let d = 0; d < 256; d++) if (windowOf(d) <= bytes) best = d;
  return best;
}

export interface FrameWalk {
  frames: number;
  /** The largest window any frame declared (before lowering). */
  largestDeclaredWindowBytes: number;
  /** Whether any window descriptor was lowered. */
  lowered: boolean;
}

export interface WindowBounds {
  /** Windows declared larger than this are lowered to it (in place). */
  lowerToBytes: number;
  /** A frame declaring a larger window is refused. */
  maxDeclaredWindowBytes: number;
  /** A single-segment frame (its window is its content) declaring more content is refused. */
  maxFrameContentBytes: number;
}

/**
 * Checks every frame of `data` and rewrites, in place, each window descriptor
 * that asks for more than `lowerToBytes`. Throws ZstdFrameError when a frame
 * declares more than the bounds allow or the frame structure is broken or
 * truncated.
 */
export function boundZstdWindows(data: Buffer, bounds: WindowBounds): FrameWalk {
  const { lowerToBytes: windowBytes, maxDeclaredWindowBytes, maxFrameContentBytes } = bounds;
  const lowered = descriptorFor(windowBytes);
  let at = 0;
  let frames = 0;
  let largest = 0;
  let loweredAny = false;
  const need = (n: number): void => {
    if (at + n > data.length) throw new ZstdFrameError('zstd data ends inside a frame');
  };
  while (at < data.length) {
    need(4);
    const magic = data.readUInt32LE(at);
    if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      need(8);
      at += 8 + data.readUInt32LE(at + 4);
      if (at > data.length) throw new ZstdFrameError('zstd data ends inside a skippable frame');
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw new ZstdFrameError(`frame ${frames + 1} does not start with the zstd magic number`);
    frames++;
    need(2);
    const flags = data[at + 4]!;
    if (flags & 0x08) throw new ZstdFrameError(`frame ${frames} sets a reserved header bit`);
    const singleSegment = (flags & 0x20) !== 0;
    const sizeFlag = flags >> 6;
    const contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][sizeFlag]!;
    const dictionaryIdBytes = [0, 1, 2, 4][flags & 3]!;
    const headerBytes = 1 + (singleSegment ? 0 : 1) + dictionaryIdBytes + contentSizeBytes;
    need(4 + headerBytes);
    let window: number;
    if (singleSegment) {
      const sizeAt = at + 5 + dictionaryIdBytes;
      let size = 0;
      for (let i = contentSizeBytes - 1; i >= 0; i--) size = size * 256 + data[sizeAt + i]!;
      window = contentSizeBytes === 2 ? size + 256 : size;
      if (window > maxFrameContentBytes) {
        throw new ZstdFrameError(`frame ${frames} holds ${Math.ceil(window / 2 ** 20)} MiB (at most ${maxFrameContentBytes / 2 ** 20} MiB)`);
      }
    } else {
      const descriptorAt = at + 5;
      window = windowOf(data[descriptorAt]!);
      if (window > maxDeclaredWindowBytes) {
        throw new ZstdFrameError(`frame ${frames} needs a ${Math.ceil(window / 2 ** 20)} MiB window (at most ${maxDeclaredWindowBytes / 2 ** 20} MiB)`);
      }
      if (window > windowBytes) {
        data[descriptorAt] = lowered;
        loweredAny = true;
      }
    }
    largest = Math.max(largest, window);
    const checksum = (flags & 0x04) !== 0;
    at += 4 + headerBytes;
    for (;;) {
      need(3);
      const header = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16);
      const last = (header & 1) === 1;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      if (type === 3) throw new ZstdFrameError(`frame ${frames} has a block of the reserved type`);
      if (size > MAX_BLOCK_BYTES) throw new ZstdFrameError(`frame ${frames} has a block over 128 KiB`);
      at += 3 + (type === 1 ? 1 : size);
      if (last) break;
    }
    if (checksum) at += 4;
    if (at > data.length) throw new ZstdFrameError('zstd data ends inside a frame');
  }
  if (frames === 0) throw new ZstdFrameError('no zstd frame');
  return { frames, largestDeclaredWindowBytes: largest, lowered: loweredAny };
}
