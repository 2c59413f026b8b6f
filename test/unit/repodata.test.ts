import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalJson, compareCodePoints } from '../../src/conda/canonical-json.js';
import { DROPPED_INDEX_FIELDS, buildRecord } from '../../src/conda/repodata-record.js';
import {
  REPODATA_CHUNK_CHARS,
  buildRepodataJson,
  repodataChunks,
  type RepodataEntry,
} from '../../src/indexer/repodata.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.resolve(repoRoot, '../shared/fixtures');

interface Fixture {
  path: string;
  folder: string;
  filename: string;
  md5: string;
  sha256: string;
  size: number;
  index: Record<string, unknown>;
}

function loadFixtures(): Fixture[] {
  const indexes = new Map<string, Record<string, unknown>>();
  for (const line of readFileSync(path.join(fixtures, 'expected-index.jsonl'), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const { path: p, index } = JSON.parse(line) as { path: string; index: Record<string, unknown> };
    indexes.set(p, index);
  }
  const [header, ...lines] = readFileSync(path.join(fixtures, 'MANIFEST.tsv'), 'utf8').split('\n').filter(Boolean);
  const cols = header!.split('\t');
  return lines.map((line) => {
    const cells = line.split('\t');
    const get = (c: string): string => cells[cols.indexOf(c)] ?? '';
    const p = get('path');
    const index = indexes.get(p);
    assert.ok(index, `no expected-index entry for ${p}`);
    return {
      path: p,
      folder: path.basename(path.dirname(p)),
      filename: path.basename(p),
      md5: get('md5'),
      sha256: get('sha256'),
      size: Number(get('size')),
      index,
    };
  });
}

function entryOf(f: Fixture): RepodataEntry {
  return { filename: f.filename, recordJson: canonicalJson(buildRecord(f.index, f)) };
}

describe('repodata.json golden (byte-identical to conda-index 0.12.1)', () => {
  const all = loadFixtures();
  const subdirs = readdirSync(path.join(fixtures, 'conda-index'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();

  it('covers the seven fixture subdirs', () => {
    assert.deepEqual(subdirs, ['linux-32', 'linux-64', 'linux-fake', 'noarch', 'osx-64', 'osx-arm64', 'win-64']);
  });

  for (const subdir of subdirs) {
    it(subdir, () => {
      const expected = readFileSync(path.join(fixtures, 'conda-index', subdir, 'repodata.json'), 'utf8');
      const entries = all.filter((f) => f.folder === subdir).map(entryOf);
      assert.ok(entries.length > 0);
      // Shuffle-ish: reverse, so buildRepodataJson has to sort.
      const got = buildRepodataJson(subdir, [...entries].reverse());
      assert.equal(got, expected);

      // The streaming path with pre-sorted sources gives the same bytes.
      const sorted = [...entries].sort((a, b) => (a.filename < b.filename ? -1 : 1));
      const chunks = [
        ...repodataChunks(subdir, {
          tarBz2: sorted.filter((e) => e.filename.endsWith('.tar.bz2')),
          conda: sorted.filter((e) => e.filename.endsWith('.conda')),
        }),
      ];
      assert.equal(chunks.join(''), expected);
    });
  }

  it('nano (no subdir in index.json) gets no subdir key; arch/platform dropped', () => {
    const nano = all.find((f) => f.filename === 'nano-2.4.1-0.tar.bz2')!;
    assert.equal(nano.index.subdir, undefined);
    assert.equal(nano.index.platform, 'osx');
    const record = buildRecord(nano.index, nano);
    assert.equal('subdir' in record, false);
    assert.equal('arch' in record, false);
    assert.equal('platform' in record, false);
    assert.deepEqual(record.requires, ['ncurses 5.9', 'zlib 1.2.8']);
    assert.equal(record.preferred_env, '_nano_');
  });

  it('linux-32/c-1-0.tar.bz2: unsorted index.json keys come out sorted', () => {
    const c = all.find((f) => f.filename === 'c-1-0.tar.bz2')!;
    const keys = Object.keys(c.index);
    assert.notDeepEqual(keys, [...keys].sort());
    const out = Object.keys(JSON.parse(canonicalJson(buildRecord(c.index, c))) as object);
    assert.deepEqual(out, [...out].sort());
  });
});

describe('buildRecord', () => {
  const file = { md5: 'a'.repeat(32), sha256: 'b'.repeat(64), size: 42 };

  it('drops exactly the conda-index filter fields', () => {
    assert.deepEqual([...DROPPED_INDEX_FIELDS].sort(), [
      'arch', 'binstar', 'has_prefix', 'machine', 'mtime', 'operatingsystem', 'platform', 'requires_features', 'target-triplet', 'ucs',
    ]);
    const index: Record<string, unknown> = { name: 'x', version: '1', build: '0', noarch: true, license_family: 'MIT', app: { a: 1 } };
    for (const k of DROPPED_INDEX_FIELDS) index[k] = 'drop me';
    const record = buildRecord(index, file);
    assert.deepEqual(record, { name: 'x', version: '1', build: '0', noarch: true, license_family: 'MIT', app: { a: 1 }, ...file });
    // the input is not modified
    assert.equal(index.arch, 'drop me');
  });

  it('computed md5/sha256/size win over index.json', () => {
    const record = buildRecord({ name: 'x', md5: 'old', sha256: null, size: 1 }, file);
    assert.equal(record.md5, file.md5);
    assert.equal(record.sha256, file.sha256);
    assert.equal(record.size, 42);
  });

  it('keeps a __proto__ key as data', () => {
    const index = JSON.parse('{"name":"x","__proto__":{"polluted":true}}') as Record<string, unknown>;
    const record = buildRecord(index, file);
    assert.equal(Object.getPrototypeOf(record), Object.prototype);
    assert.equal((record as { polluted?: unknown }).polluted, undefined);
    assert.equal(
      canonicalJson(record),
      `{"__proto__":{"polluted":true},"md5":"${file.md5}","name":"x","sha256":"${file.sha256}","size":42}`,
    );
  });

  it('rejects malformed checksums and sizes', () => {
    assert.throws(() => buildRecord({}, { ...file, md5: 'A'.repeat(32) }), TypeError);
    assert.throws(() => buildRecord({}, { ...file, sha256: 'b'.repeat(63) }), TypeError);
    assert.throws(() => buildRecord({}, { ...file, size: -1 }), TypeError);
    assert.throws(() => buildRecord({}, { ...file, size: 1.5 }), TypeError);
  });
});

describe('canonicalJson', () => {
  // Expected strings come from CPython 3.11:
  // json.dumps(json.loads(src), sort_keys=True, separators=(",", ":"))
  const strings: [string, string][] = [
    ['plain', '"plain"'],
    ['é', '"\\u00e9"'],
    ['😀', '"\\ud83d\\ude00"'],
    ['\u0000\u0001\u001f\u007f', '"\\u0000\\u0001\\u001f\\u007f"'],
    ['"\\/', '"\\"\\\\/"'],
    ['\t\n\r\b\f', '"\\t\\n\\r\\b\\f"'],
    ['\u2028\u2029\ufeff', '"\\u2028\\u2029\\ufeff"'],
    [' ~', '" ~"'],
    ['\ud800x', '"\\ud800x"'], // lone surrogate, as Python escapes it
    ['aé"b', '"a\\u00e9\\"b"'],
  ];
  for (const [input, expected] of strings) {
    it(`string ${JSON.stringify(input)}`, () => assert.equal(canonicalJson(input), expected));
  }
  it('the full escape table in one go matches CPython', () => {
    assert.equal(
      canonicalJson({ s: 'é😀\u0000\u0001\u001f\u007f"\\/\t\n\r\b\f\u2028 ~' }),
      '{"s":"\\u00e9\\ud83d\\ude00\\u0000\\u0001\\u001f\\u007f\\"\\\\/\\t\\n\\r\\b\\f\\u2028 ~"}',
    );
  });

  // [JSON source text, what we print, what CPython prints]
  const numbers: [string, string, string][] = [
    ['0', '0', '0'],
    ['-0', '0', '0'],
    ['1542814864621', '1542814864621', '1542814864621'],
    ['1000000000000000000000', '1000000000000000000000', '1000000000000000000000'],
    ['0.1', '0.1', '0.1'],
    ['123.456', '123.456', '123.456'],
    ['0.0001', '0.0001', '0.0001'],
    ['1e-5', '1e-05', '1e-05'],
    ['1.5e-7', '1.5e-07', '1.5e-07'],
    ['-2.5e-10', '-2.5e-10', '-2.5e-10'],
    ['5e-324', '5e-324', '5e-324'],
    ['0.30000000000000004', '0.30000000000000004', '0.30000000000000004'],
    // Known divergences: JSON.parse forgets int vs float and rounds big ints.
    ['1e21', '1000000000000000000000', '1e+21'],
    ['1e16', '10000000000000000', '1e+16'],
    ['1.0', '1', '1.0'],
    ['-0.0', '0', '-0.0'],
    ['9007199254740993', '9007199254740992', '9007199254740993'],
  ];
  for (const [src, ours, python] of numbers) {
    it(`number ${src} → ${ours}${ours === python ? '' : ` (Python: ${python})`}`, () => {
      assert.equal(canonicalJson(JSON.parse(src)), ours);
    });
  }

  it('sorts keys at every level, keeps list order', () => {
    const value = JSON.parse('{"b":1,"a":{"z":[3,{"y":1,"x":2},1],"B":3,"_":4,"":5,"aa":0,"a":0}}') as unknown;
    assert.equal(canonicalJson(value), '{"a":{"":5,"B":3,"_":4,"a":0,"aa":0,"z":[3,{"x":2,"y":1},1]},"b":1}');
  });

  it('orders keys by code point like Python (U+E000 before U+1F600)', () => {
    // UTF-16 order would put the emoji (\ud83d…) before \ue000.
    assert.equal(canonicalJson({ '😀': 2, '\ue000': 1, z: 0 }), '{"z":0,"\\ue000":1,"\\ud83d\\ude00":2}');
    assert.ok(compareCodePoints('\ue000', '😀') < 0);
    assert.ok('\ue000' > '😀'); // what plain JS comparison says
    assert.ok(compareCodePoints('a', 'b') < 0);
    assert.ok(compareCodePoints('ab', 'a') > 0);
    assert.equal(compareCodePoints('x', 'x'), 0);
  });

  it('null, booleans, empty containers, no whitespace, no trailing newline', () => {
    assert.equal(canonicalJson({ t: true, f: false, n: null, o: {}, l: [] }), '{"f":false,"l":[],"n":null,"o":{},"t":true}');
    assert.equal(canonicalJson([]), '[]');
    assert.equal(canonicalJson(null), 'null');
  });

  it('round-trips every fixture index.json to the same value', () => {
    for (const f of loadFixtures()) {
      assert.deepEqual(JSON.parse(canonicalJson(f.index)), f.index);
    }
  });

  it('skips undefined members, refuses what JSON cannot say', () => {
    assert.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}');
    assert.throws(() => canonicalJson(undefined), TypeError);
    assert.throws(() => canonicalJson([undefined]), TypeError);
    assert.throws(() => canonicalJson(NaN), TypeError);
    assert.throws(() => canonicalJson({ x: Infinity }), TypeError);
    assert.throws(() => canonicalJson(new Date(0)), TypeError);
    assert.throws(() => canonicalJson(new Map()), TypeError);
    assert.throws(() => canonicalJson(() => 1), TypeError);
    assert.equal(canonicalJson(12345678901234567890123n), '12345678901234567890123');
    assert.equal(canonicalJson(Object.assign(Object.create(null) as object, { b: 1, a: 2 })), '{"a":2,"b":1}');
  });
});

describe('repodataChunks', () => {
  const rec = (n: number): string => `{"build":"0","n":${n}}`;

  it('empty subdir', () => {
    assert.equal(
      [...repodataChunks('noarch', { tarBz2: [], conda: [] })].join(''),
      '{"info":{"subdir":"noarch"},"packages":{},"packages.conda":{},"removed":[],"repodata_version":1}',
    );
  });

  it('removed is de-duplicated and sorted', () => {
    assert.equal(
      buildRepodataJson('linux-64', [], ['b-1-0.conda', 'a-1-0.tar.bz2', 'b-1-0.conda']),
      '{"info":{"subdir":"linux-64"},"packages":{},"packages.conda":{},"removed":["a-1-0.tar.bz2","b-1-0.conda"],"repodata_version":1}',
    );
  });

  it('streams lazily: pulls entries only as chunks are consumed, conda only after tar.bz2', () => {
    const total = 20_000;
    let pulledTar = 0;
    let pulledConda = 0;
    let condaStarted = false;
    const name = (i: number): string => `pkg-1.0-${String(i).padStart(6, '0')}`;
    function* tarBz2(): Generator<RepodataEntry> {
      for (let i = 0; i < total; i++) {
        pulledTar++;
        yield { filename: `${name(i)}.tar.bz2`, recordJson: rec(i) };
      }
    }
    function* conda(): Generator<RepodataEntry> {
      condaStarted = true;
      assert.equal(pulledTar, total, 'conda iterated before tar.bz2 was exhausted');
      for (let i = 0; i < total; i++) {
        pulledConda++;
        yield { filename: `${name(i)}.conda`, recordJson: rec(i) };
      }
    }
    const gen = repodataChunks('linux-64', { tarBz2: tarBz2(), conda: conda() });
    const first = gen.next();
    assert.equal(first.done, false);
    assert.ok((first.value as string).length >= REPODATA_CHUNK_CHARS);
    assert.ok(pulledTar < total / 4, `pulled ${pulledTar} entries for the first chunk`);
    assert.equal(condaStarted, false);
    const chunks = [first.value as string];
    for (const c of { [Symbol.iterator]: () => gen }) chunks.push(c);
    assert.ok(chunks.length > 10);
    for (const c of chunks.slice(0, -1)) assert.ok(c.length >= REPODATA_CHUNK_CHARS && c.length < 2 * REPODATA_CHUNK_CHARS);
    assert.equal(pulledConda, total);
    const doc = JSON.parse(chunks.join('')) as { packages: Record<string, unknown>; 'packages.conda': Record<string, unknown> };
    assert.equal(Object.keys(doc.packages).length, total);
    assert.equal(Object.keys(doc['packages.conda']).length, total);
    assert.deepEqual(doc.packages[`${name(7)}.tar.bz2`], { build: '0', n: 7 });
  });

  it('the result equals buildRepodataJson and JSON.parse agrees with the records', () => {
    const entries: RepodataEntry[] = [
      { filename: 'b-1-0.conda', recordJson: canonicalJson({ z: 1, a: 'é' }) },
      { filename: 'a-1-0.tar.bz2', recordJson: canonicalJson({ name: 'a' }) },
      { filename: 'a-1-0.conda', recordJson: canonicalJson({ name: 'a' }) },
    ];
    const s = buildRepodataJson('osx-arm64', entries);
    assert.equal(
      s,
      '{"info":{"subdir":"osx-arm64"},"packages":{"a-1-0.tar.bz2":{"name":"a"}},' +
        '"packages.conda":{"a-1-0.conda":{"name":"a"},"b-1-0.conda":{"a":"\\u00e9","z":1}},"removed":[],"repodata_version":1}',
    );
    assert.match(s, /^[\x20-\x7e]*$/); // ASCII only
  });

  it('refuses unsorted, duplicate or misplaced entries', () => {
    const e = (filename: string): RepodataEntry => ({ filename, recordJson: '{}' });
    const run = (tarBz2: RepodataEntry[], conda: RepodataEntry[]): string => [...repodataChunks('noarch', { tarBz2, conda })].join('');
    assert.throws(() => run([e('b-1-0.tar.bz2'), e('a-1-0.tar.bz2')], []), /strictly ascending/);
    assert.throws(() => run([], [e('a-1-0.conda'), e('a-1-0.conda')]), /strictly ascending/);
    assert.throws(() => run([e('a-1-0.conda')], []), /does not belong in "packages"/);
    assert.throws(() => run([], [e('a-1-0.tar.bz2')]), /does not belong in "packages.conda"/);
    assert.throws(() => run([], [{ filename: 'a-1-0.conda', recordJson: 'null' }]), /not a JSON object/);
    assert.throws(() => buildRepodataJson('noarch', [e('a-1-0.zip')]), /neither/);
    assert.throws(() => buildRepodataJson('noarch', [e('a-1-0.conda'), e('a-1-0.conda')]), /strictly ascending/);
    // "A" (0x41) < "_" (0x5f) < "a" (0x61): BINARY order, not case-insensitive
    assert.doesNotThrow(() => run([e('A-1-0.tar.bz2'), e('_a-1-0.tar.bz2'), e('a-1-0.tar.bz2')], []));
  });
});
