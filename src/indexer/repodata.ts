// repodata.json, byte for byte as conda-index 0.12 writes it (docs/formats.md
// §A1.2; checked against fixtures/conda-index/*/repodata.json in
// test/unit/repodata.test.ts). Pure: no I/O, no database.
//
// Records are built once, at upload (conda/repodata-record.ts); all JSON text
// is conda/canonical-json.ts's, i.e. Python's json.dumps(sort_keys=True,
// separators=(",", ":")) with the default ensure_ascii=True. Top level:
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
// U+FFFF versus U+E000..U+FFFF; compareCodePoints() gets that right too.
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
import { compareCodePoints, escapeString } from '../conda/canonical-json.js';

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
