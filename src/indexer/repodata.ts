// repodata.json, byte for byte as conda-index 0.12 writes it (docs/formats.md
// §A1.2; checked against fixtures/conda-index/*/repodata.json in
// test/unit/repodata.test.ts). Pure: no I/O, no database.
//
// Record: info/index.json minus DROPPED_INDEX_FIELDS, plus md5/sha256/size of
// the whole archive file. Nothing else is added (a package whose index.json has
// no `subdir` gets no `subdir` key), and every other key passes through.
//
// Serialisation: Python's json.dumps(sort_keys=True, separators=(",", ":"))
// with the default ensure_ascii=True, see canonicalJson(). Top level:
//   {"info":{"subdir":S},"packages":{…},"packages.conda":{…},"removed":[…],"repodata_version":1}
//
// STREAMING CONTRACT (repodataChunks)
// A subdir may hold hundreds of thousands of records, so the document is
// produced as a sequence of string chunks (~64 Ki chars each) from two lazily
// consumed, already-sorted iterables, one per map:
//   - sources.tarBz2: the `.tar.bz2` entries  → "packages"
//   - sources.conda:  the `.conda` entries    → "packages.conda"
// Each must yield its entries in strictly ascending filename order (no
// duplicates); repodataChunks checks this as it goes and throws if not. It
// holds at most one entry plus one chunk in memory, iterates `tarBz2` to the
// end before it first calls `conda[Symbol.iterator]()`, and pulls entries only
// as chunks are consumed. So the database layer can hand over two cursors,
//   SELECT filename, record_json FROM … WHERE … AND format = 'tar.bz2' ORDER BY filename
//   SELECT filename, record_json FROM … WHERE … AND format = 'conda'   ORDER BY filename
// wrapped in generator functions (`(function* () { yield* stmt.iterate(…) })()`)
// so the second query does not start before the first has finished.
//
// ORDER: conda-index sorts keys with Python's str ordering, i.e. by Unicode
// code point. SQLite's default BINARY collation compares the UTF-8 bytes,
// which is the same order, so `ORDER BY filename` must use BINARY (the
// default; not NOCASE, not a locale collation). JS's `<` compares UTF-16 code
// units, which differs from code-point order only for characters above
// U+FFFF versus U+E000..U+FFFF; compareCodePoints() below gets that right too.
// Valid package file names are ASCII (conda/package-filename.ts), where all three
// orders agree.
//
// better-sqlite3 note: while a `.iterate()` cursor is open, that connection
// refuses every write ("This database connection is busy executing a
// query"). Stream from a separate read-only connection (in WAL mode it also
// reads one consistent snapshot), or do not interleave writes with the stream.
//
// Output is pure ASCII (ensure_ascii), so the number of UTF-8 bytes equals the
// number of string characters.

/** index.json keys conda-index leaves out of repodata records (conda_index/index/cache.py filter_fields). */
export const DROPPED_INDEX_FIELDS: readonly string[] = Object.freeze([
  'arch',
  'has_prefix',
  'mtime',
  'platform',
  'ucs',
  'requires_features',
  'binstar',
  'target-triplet',
  'machine',
  'operatingsystem',
]);
const DROPPED = new Set(DROPPED_INDEX_FIELDS);

const MD5_RE = /^[0-9a-f]{32}$/;
const SHA256_RE = /^[0-9a-f]{64}$/;

function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty, so a `__proto__` key in index.json stays a plain key.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Record for repodata = info/index.json minus DROPPED_INDEX_FIELDS, plus
 * md5/sha256 (lowercase hex of the whole archive) and size (bytes). The
 * computed md5/sha256/size win over any same-named keys in index.json.
 * Shallow: nested values are shared with `indexJson`.
 * @throws TypeError if md5/sha256/size are malformed (a programming error).
 */
export function buildRecord(
  indexJson: Record<string, unknown>,
  file: { md5: string; sha256: string; size: number },
): Record<string, unknown> {
  if (!MD5_RE.test(file.md5)) throw new TypeError(`buildRecord: md5 must be 32 lowercase hex digits, got ${JSON.stringify(file.md5)}`);
  if (!SHA256_RE.test(file.sha256)) {
    throw new TypeError(`buildRecord: sha256 must be 64 lowercase hex digits, got ${JSON.stringify(file.sha256)}`);
  }
  if (!Number.isSafeInteger(file.size) || file.size < 0) {
    throw new TypeError(`buildRecord: size must be a non-negative integer, got ${String(file.size)}`);
  }
  const record: Record<string, unknown> = {};
  for (const key of Object.keys(indexJson)) {
    if (!DROPPED.has(key)) setOwn(record, key, indexJson[key]);
  }
  setOwn(record, 'md5', file.md5);
  setOwn(record, 'sha256', file.sha256);
  setOwn(record, 'size', file.size);
  return record;
}

// ---------------------------------------------------------------------------
// canonicalJson

/**
 * Orders strings by Unicode code point, like Python's str comparison and
 * SQLite's BINARY collation over UTF-8. (Plain `<` orders by UTF-16 code unit,
 * which puts U+10000.. before U+E000..U+FFFF.)
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      // Move surrogates (D800..DFFF) above E000..FFFF; the first differing
      // unit then decides in code-point order.
      if (x >= 0xd800 && y >= 0xd800) {
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

// Printable ASCII other than `"` and `\` is written as is (Python's
// ESCAPE_ASCII is `([\\"]|[^\ -~])`).
const PLAIN_RE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const HEX = '0123456789abcdef';

function escapeString(s: string): string {
  if (PLAIN_RE.test(s)) return `"${s}"`;
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) continue;
    if (i > start) out += s.slice(start, i);
    start = i + 1;
    switch (c) {
      case 0x22: out += '\\"'; break;
      case 0x5c: out += '\\\\'; break;
      case 0x0a: out += '\\n'; break;
      case 0x0d: out += '\\r'; break;
      case 0x09: out += '\\t'; break;
      case 0x08: out += '\\b'; break;
      case 0x0c: out += '\\f'; break;
      default:
        // Control characters, DEL and everything non-ASCII, one UTF-16 code
        // unit at a time: characters above U+FFFF come out as their surrogate
        // pair (\ud83d\ude00), exactly as Python does, lowercase hex.
        out += '\\u' + HEX[(c >> 12) & 15] + HEX[(c >> 8) & 15] + HEX[(c >> 4) & 15] + HEX[c & 15];
    }
  }
  if (start < s.length) out += s.slice(start);
  return out + '"';
}

/** A finite number the way Python's json.dumps prints the value JSON.parse gives. */
function formatNumber(x: number): string {
  if (!Number.isFinite(x)) {
    // Python would write NaN / Infinity, which is not JSON; refuse instead.
    throw new TypeError(`canonicalJson: cannot serialise ${String(x)}`);
  }
  if (Number.isInteger(x)) {
    // Treated as a Python int (JSON.parse cannot tell 1 from 1.0): all digits,
    // never an exponent; -0 is 0.
    if (x === 0) return '0';
    return Math.abs(x) < 1e21 ? String(x) : BigInt(x).toString();
  }
  // A Python float, repr(): the same shortest round-trip digits as JS, but
  // scientific notation when the decimal exponent is < -4 (JS: < -6) and a
  // two-digit minimum exponent (1e-05). Non-integers never reach >= 1e16,
  // where Python would also switch.
  const [mantissa = '', exp = '0'] = x.toExponential().split('e');
  const e = Number(exp);
  if (e >= -4) return String(x);
  const digits = Math.abs(e) < 10 ? `0${Math.abs(e)}` : String(Math.abs(e));
  return `${mantissa}e${e < 0 ? '-' : '+'}${digits}`;
}

function serialise(value: unknown, where: string): string {
  switch (typeof value) {
    case 'string':
      return escapeString(value);
    case 'number':
      return formatNumber(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += serialise(value[i], `${where}[${i}]`);
        }
        return out + ']';
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(`canonicalJson: cannot serialise a ${(value as object).constructor?.name ?? 'non-plain object'} at ${where}`);
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort(compareCodePoints);
      let out = '{';
      let first = true;
      for (const key of keys) {
        const v = obj[key];
        if (v === undefined) continue; // like JSON.stringify: an absent key
        if (!first) out += ',';
        first = false;
        out += escapeString(key) + ':' + serialise(v, `${where}.${key}`);
      }
      return out + '}';
    }
    default:
      throw new TypeError(`canonicalJson: cannot serialise ${typeof value} at ${where}`);
  }
}

/**
 * Canonical JSON, identical to Python's
 * `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`
 * for anything JSON.parse can produce:
 * - object keys sorted at every level by code point (Python's str order);
 *   arrays keep their order;
 * - strings: `"` `\` and \b \f \n \r \t get short escapes; other control
 *   characters, DEL and all non-ASCII become \uXXXX (lowercase; characters
 *   above U+FFFF as two surrogate escapes); `/` is not escaped;
 * - no whitespace, no trailing newline.
 *
 * Where it cannot match Python, because JS numbers lose information at
 * JSON.parse time: integral numbers are printed as Python ints (`1.0`, `1e16`
 * in the source come out as `1`, `10000000000000000`; Python keeps them
 * floats: `1.0`, `1e+16`), integers beyond 2^53 are already rounded, and
 * `-0.0` prints as `0` (Python: `-0.0`). Non-integral numbers print as
 * Python's float repr (`0.1`, `1e-05`, `1.5e-07`).
 *
 * Also unlike Python: NaN/±Infinity throw (Python writes non-JSON `NaN`);
 * object keys whose value is `undefined` are left out (as JSON.stringify
 * does); `undefined`, functions, symbols, and objects that are not plain
 * (Date, Map, class instances) throw a TypeError. bigint prints as an integer.
 */
export function canonicalJson(value: unknown): string {
  return serialise(value, '$');
}

// ---------------------------------------------------------------------------
// repodata.json

export interface RepodataEntry {
  /** The package file name; its extension picks the map it goes in. */
  filename: string;
  /** canonicalJson(record), computed once when the package is indexed and stored with it. */
  recordJson: string;
}

export interface RepodataSources {
  /** `.tar.bz2` entries ("packages"), strictly ascending by filename in code-point order. */
  tarBz2: Iterable<RepodataEntry>;
  /** `.conda` entries ("packages.conda"), likewise; not touched until `tarBz2` is exhausted. */
  conda: Iterable<RepodataEntry>;
}

/** Approximate size of each chunk repodataChunks yields, in characters (= bytes: output is ASCII). */
export const REPODATA_CHUNK_CHARS = 64 * 1024;

/**
 * repodata.json built entry by entry, for a writer that takes the text in
 * pieces as it grows (take()): add() every `.tar.bz2` entry, then
 * startConda(), add() every `.conda` entry, then finish(removed). Each map's
 * entries must come in strictly ascending filename order; add() checks.
 * The concatenation of every take() is exactly what conda-index writes.
 */
export class RepodataText {
  private text: string;
  private previous: string | null = null;
  private suffix: '.tar.bz2' | '.conda' = '.tar.bz2';
  private mapName = 'packages';

  constructor(subdir: string) {
    this.text = `{"info":{"subdir":${escapeString(subdir)}},"packages":{`;
  }

  /** Characters not yet taken. */
  get length(): number {
    return this.text.length;
  }

  /** @throws Error if the entry is out of order, a duplicate, or belongs in the other map. */
  add(filename: string, recordJson: string): void {
    const { previous, suffix, mapName } = this;
    if (typeof filename !== 'string' || !filename.endsWith(suffix)) {
      throw new Error(`repodataChunks: ${JSON.stringify(filename)} does not belong in "${mapName}" (expected *${suffix})`);
    }
    if (previous !== null && compareCodePoints(previous, filename) >= 0) {
      throw new Error(
        `repodataChunks: "${mapName}" entries must be strictly ascending by filename (code-point / SQLite BINARY order), ` +
          `got ${JSON.stringify(filename)} after ${JSON.stringify(previous)}`,
      );
    }
    if (typeof recordJson !== 'string' || recordJson.charCodeAt(0) !== 0x7b /* { */) {
      throw new Error(`repodataChunks: the record of ${JSON.stringify(filename)} is not a JSON object`);
    }
    this.text += (previous === null ? '' : ',') + escapeString(filename) + ':' + recordJson;
    this.previous = filename;
  }

  /** Ends "packages"; add() now takes `.conda` entries. */
  startConda(): void {
    this.text += '},"packages.conda":{';
    this.previous = null;
    this.suffix = '.conda';
    this.mapName = 'packages.conda';
  }

  /** Ends the document; `removed` (filenames) is copied, de-duplicated and sorted. */
  finish(removed: readonly string[]): void {
    this.text += '},"removed":[' + [...new Set(removed)].sort(compareCodePoints).map((f) => escapeString(f)).join(',') + '],"repodata_version":1}';
  }

  /** The text added since the last take(). */
  take(): string {
    const t = this.text;
    this.text = '';
    return t;
  }
}

/**
 * Streams repodata.json for one subdir as string chunks whose concatenation is
 * exactly what conda-index writes; see the streaming contract at the top of
 * this file. `removed` (filenames) is copied, de-duplicated and sorted.
 * The caller is responsible for `subdir` being valid (conda/subdirs.ts).
 * @throws Error if an entry is out of order, duplicated, or in the wrong map.
 */
export function* repodataChunks(
  subdir: string,
  sources: RepodataSources,
  removed: readonly string[] = [],
): Generator<string, void, undefined> {
  const doc = new RepodataText(subdir);
  for (const [i, entries] of [sources.tarBz2, sources.conda].entries()) {
    if (i === 1) doc.startConda();
    for (const { filename, recordJson } of entries) {
      doc.add(filename, recordJson);
      if (doc.length >= REPODATA_CHUNK_CHARS) yield doc.take();
    }
  }
  doc.finish(removed);
  yield doc.take();
}

/**
 * The whole repodata.json as one string, for small cases and tests. Unlike
 * repodataChunks, `entries` may mix both formats in any order: they are
 * split by extension and sorted here (so all are held in memory).
 * @throws Error on a filename that is neither .tar.bz2 nor .conda, or a duplicate.
 */
export function buildRepodataJson(
  subdir: string,
  entries: Iterable<RepodataEntry>,
  removed: readonly string[] = [],
): string {
  const tarBz2: RepodataEntry[] = [];
  const conda: RepodataEntry[] = [];
  for (const entry of entries) {
    if (entry.filename.endsWith('.tar.bz2')) tarBz2.push(entry);
    else if (entry.filename.endsWith('.conda')) conda.push(entry);
    else throw new Error(`buildRepodataJson: ${JSON.stringify(entry.filename)} is neither .tar.bz2 nor .conda`);
  }
  const byName = (a: RepodataEntry, b: RepodataEntry): number => compareCodePoints(a.filename, b.filename);
  tarBz2.sort(byName);
  conda.sort(byName);
  let out = '';
  for (const chunk of repodataChunks(subdir, { tarBz2, conda }, removed)) out += chunk;
  return out;
}
