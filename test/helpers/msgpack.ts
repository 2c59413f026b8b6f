// A small msgpack reader of the tests' own, so the index files are checked
// by a decoder that shares nothing with the writer (@msgpack/msgpack):
// a bug in how the server's library encodes would otherwise cancel out.
//
// str → string, bin → Buffer (so a test sees which of the two the writer
// chose), map → plain object (string keys only, as CEP-16 requires),
// array → array, ints → number (bigint past 2^53), ext → error.

export interface DecodeOptions {
  /** Receives the keys of every map in the order they were written. */
  onMap?: (keys: string[]) => void;
}

export function decodeMsgpack(bytes: Uint8Array, opts: DecodeOptions = {}): unknown {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;

  const need = (n: number) => {
    if (pos + n > buf.length) throw new Error(`msgpack: truncated at byte ${pos} (need ${n} more)`);
  };
  const uint = (n: 1 | 2 | 4 | 8): number | bigint => {
    need(n);
    const v = n === 1 ? buf.readUInt8(pos) : n === 2 ? buf.readUInt16BE(pos) : n === 4 ? buf.readUInt32BE(pos) : buf.readBigUInt64BE(pos);
    pos += n;
    return typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const int = (n: 1 | 2 | 4 | 8): number | bigint => {
    need(n);
    const v = n === 1 ? buf.readInt8(pos) : n === 2 ? buf.readInt16BE(pos) : n === 4 ? buf.readInt32BE(pos) : buf.readBigInt64BE(pos);
    pos += n;
    return typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const len = (n: 1 | 2 | 4) => uint(n) as number;
  const str = (n: number) => {
    need(n);
    const s = buf.toString('utf8', pos, pos + n);
    pos += n;
    return s;
  };
  const bin = (n: number) => {
    need(n);
    const b = Buffer.from(buf.subarray(pos, pos + n));
    pos += n;
    return b;
  };
  const array = (n: number): unknown[] => Array.from({ length: n }, () => value());
  const map = (n: number): Record<string, unknown> => {
    const out: Record<string, unknown> = Object.create(null);
    const keys: string[] = [];
    for (let i = 0; i < n; i++) {
      const k = value();
      if (typeof k !== 'string') throw new Error(`msgpack: map key of type ${typeof k} at byte ${pos}`);
      if (k in out) throw new Error(`msgpack: duplicate map key ${JSON.stringify(k)}`);
      keys.push(k);
      out[k] = value();
    }
    opts.onMap?.(keys);
    return { ...out };
  };

  function value(): unknown {
    need(1);
    const b = buf[pos++]!;
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if ((b & 0xf0) === 0x80) return map(b & 0x0f);
    if ((b & 0xf0) === 0x90) return array(b & 0x0f);
    if ((b & 0xe0) === 0xa0) return str(b & 0x1f);
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bin(len(1));
      case 0xc5: return bin(len(2));
      case 0xc6: return bin(len(4));
      case 0xca: { need(4); const v = buf.readFloatBE(pos); pos += 4; return v; }
      case 0xcb: { need(8); const v = buf.readDoubleBE(pos); pos += 8; return v; }
      case 0xcc: return uint(1);
      case 0xcd: return uint(2);
      case 0xce: return uint(4);
      case 0xcf: return uint(8);
      case 0xd0: return int(1);
      case 0xd1: return int(2);
      case 0xd2: return int(4);
      case 0xd3: return int(8);
      case 0xd9: return str(len(1));
      case 0xda: return str(len(2));
      case 0xdb: return str(len(4));
      case 0xdc: return array(len(2));
      case 0xdd: return array(len(4));
      case 0xde: return map(len(2));
      case 0xdf: return map(len(4));
      default: throw new Error(`msgpack: unsupported type byte 0x${b.toString(16)} at byte ${pos - 1}`);
    }
  }

  const result = value();
  if (pos !== buf.length) throw new Error(`msgpack: ${buf.length - pos} trailing bytes`);
  return result;
}
