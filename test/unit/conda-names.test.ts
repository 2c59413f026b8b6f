import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESERVED_CHANNEL_NAMES, validateChannelName } from '../../src/conda/channel-names.js';
import { checkIndexMatchesFilename, parsePackageFilename } from '../../src/conda/package-filename.js';
import { subdirOf, validateSubdir } from '../../src/conda/subdirs.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.resolve(repoRoot, '../shared/fixtures');

interface ManifestRow {
  path: string;
  name: string;
  version: string;
  build: string;
  subdir: string;
}

function readManifest(): ManifestRow[] {
  const [header, ...lines] = readFileSync(path.join(fixtures, 'MANIFEST.tsv'), 'utf8').split('\n').filter(Boolean);
  const cols = header!.split('\t');
  return lines.map((line) => {
    const cells = line.split('\t');
    const get = (c: string): string => cells[cols.indexOf(c)] ?? '';
    return { path: get('path'), name: get('name'), version: get('version'), build: get('build'), subdir: get('subdir') };
  });
}

function readIndexes(): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const line of readFileSync(path.join(fixtures, 'expected-index.jsonl'), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const { path: p, index } = JSON.parse(line) as { path: string; index: Record<string, unknown> };
    out.set(p, index);
  }
  return out;
}

function assertCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.equal((err as { code?: string }).code, code, `expected ${code}, got ${String((err as { code?: string }).code)}: ${err.message}`);
    assert.equal((err as { statusCode?: number }).statusCode, 400);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('fixtures', () => {
  const rows = readManifest();
  const indexes = readIndexes();

  it('has the 61 public fixtures', () => {
    assert.equal(rows.length, 61);
    assert.equal(indexes.size, 61);
  });

  for (const row of rows) {
    const filename = path.basename(row.path);
    const folder = path.basename(path.dirname(row.path));
    it(`${folder}/${filename}`, () => {
      const parsed = parsePackageFilename(filename);
      assert.equal(parsed.filename, filename);
      assert.equal(parsed.name, row.name);
      assert.equal(parsed.version, row.version);
      assert.equal(parsed.build, row.build);
      assert.equal(parsed.format, filename.endsWith('.conda') ? 'conda' : 'tar.bz2');
      assert.equal(parsed.stem, filename.replace(/\.(conda|tar\.bz2)$/, ''));
      const index = indexes.get(row.path);
      assert.ok(index, `no expected-index entry for ${row.path}`);
      checkIndexMatchesFilename(index, parsed);
      assert.equal(subdirOf(index), folder);
      if (row.subdir) assert.equal(validateSubdir(row.subdir), row.subdir);
    });
  }
});

describe('parsePackageFilename', () => {
  it('splits on the last two dashes', () => {
    assert.deepEqual(parsePackageFilename('ros-jazzy-rosidl-runtime-rs-0.6.0-hb0f4dca_0.conda'), {
      filename: 'ros-jazzy-rosidl-runtime-rs-0.6.0-hb0f4dca_0.conda',
      name: 'ros-jazzy-rosidl-runtime-rs',
      version: '0.6.0',
      build: 'hb0f4dca_0',
      format: 'conda',
      stem: 'ros-jazzy-rosidl-runtime-rs-0.6.0-hb0f4dca_0',
    });
    const p = parsePackageFilename('_r-mutex-1.0.1-anacondar_1.tar.bz2');
    assert.deepEqual([p.name, p.version, p.build, p.format], ['_r-mutex', '1.0.1', 'anacondar_1', 'tar.bz2']);
  });

  it('accepts CEP 26 corner cases', () => {
    for (const ok of [
      'a-1-0.conda',
      'py.test-1!2.0+local_1-py_0.conda',
      'x-1.0rc1-h1234_0.tar.bz2',
      '_openmp_mutex-4.5-2_gnu.conda',
      'foo-1-AbC.+_9.conda',
      `${'a'.repeat(64)}-${'1'.repeat(64)}-${'b'.repeat(64)}.tar.bz2`,
    ]) {
      assert.doesNotThrow(() => parsePackageFilename(ok), ok);
    }
  });

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['../x-1-0.conda', /"\/"/],
    ['..\\x-1-0.conda', /backslash/],
    ['a/b-1-0.conda', /"\/"/],
    ['a\\b-1-0.conda', /backslash/],
    ['.hidden-1-0.conda', /start with "\."/],
    ['foo-1-0.conda\0', /NUL/],
    ['foo\0-1-0.conda', /NUL/],
    ['foo-1.0.conda', /<name>-<version>-<build>/],
    ['foo.conda', /<name>-<version>-<build>/],
    ['-1-0.conda', /<name>-<version>-<build>/],
    ['.conda', /start with "\."/],
    ['foo-1-.conda', /build string is empty/],
    ['foo--0.conda', /version is empty/],
    ['Foo-1-0.conda', /uppercase/],
    ['foo-1-0.zip', /\.conda.*\.tar\.bz2/],
    ['foo-1-0.CONDA', /\.conda.*\.tar\.bz2/],
    ['foo-1-0.tar.gz', /\.conda.*\.tar\.bz2/],
    ['foo-1-0', /\.conda.*\.tar\.bz2/],
    ['foo-1 0-0.conda', /version/],
    ['foo bar-1-0.conda', /name/],
    ['foo-1-0 1.conda', /build/],
    ['__virtual-1-0.conda', /virtual/],
    ['__glibc-2.17-0.tar.bz2', /virtual/],
    ['_-x-1-0.conda', /two separators/],
    ['foo..bar-1-0.conda', /two separators/],
    ['foo_-bar-1-0.conda', /two separators/],
    ['.foo-1-0.conda', /start with "\."/],
    ['foo-1-0:evil.conda', /build/],
    ['foo-1-0;rm.conda', /build/],
    ['foo-1.0$-0.conda', /version/],
    ['foo-1.0A-0.conda', /version/],
    ['foo-.1-0.conda', /version/],
    ['foo-..-0.conda', /version/],
    ['foo-1-é.conda', /build/],
    ['fôo-1-0.conda', /name/],
    ['foo-1-0\n.conda', /build/],
    ['foo-1-0.conda ', /\.conda.*\.tar\.bz2/],
    [`${'a'.repeat(65)}-1-0.conda`, /longer than 64/],
    [`a-${'1'.repeat(65)}-0.conda`, /longer than 64/],
    [`a-1-${'b'.repeat(65)}.conda`, /longer than 64/],
    [`${'a'.repeat(212 - '-1-0.conda'.length)}-1-0.conda`, /longer than 211/],
    [`${'a'.repeat(5000)}.conda`, /longer than 211/],
  ];
  for (const [input, message] of bad) {
    it(`rejects ${JSON.stringify(input.length > 40 ? `${input.slice(0, 20)}…(${input.length} chars)` : input)}`, () => {
      assertCode(() => parsePackageFilename(input), 'INVALID_FILENAME', message);
    });
  }

  it('212-char name is rejected, 211 is only rejected for other reasons', () => {
    const f212 = `${'a'.repeat(60)}-${'1'.repeat(60)}-${'b'.repeat(84)}.conda`;
    assert.equal(f212.length, 212);
    assertCode(() => parsePackageFilename(f212), 'INVALID_FILENAME', /longer than 211/);
    const f211 = f212.slice(1);
    assert.equal(f211.length, 211);
    assertCode(() => parsePackageFilename(f211), 'INVALID_FILENAME', /build string is longer than 64/);
  });
});

describe('validateSubdir', () => {
  for (const ok of ['noarch', 'linux-64', 'linux-fake', 'osx-arm64', 'win-32', 'emscripten-wasm32', 'iossimulator-arm64', 'zos-z']) {
    it(`accepts ${ok}`, () => assert.equal(validateSubdir(ok), ok));
  }
  for (const badSubdir of ['', 'linux', 'Linux-64', 'linux_64', 'linux-64-x', '-64', 'linux-', '../linux-64', 'linux-64/', 'noarch ', 'a'.repeat(20) + '-' + 'b'.repeat(12), 'linux-é']) {
    it(`rejects ${JSON.stringify(badSubdir)}`, () => assertCode(() => validateSubdir(badSubdir), 'INVALID_SUBDIR'));
  }
  it('accepts exactly 32 characters', () => {
    const s = 'a'.repeat(20) + '-' + 'b'.repeat(11);
    assert.equal(s.length, 32);
    assert.equal(validateSubdir(s), s);
  });
});

describe('subdirOf', () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ subdir: 'linux-64', platform: 'osx', arch: 'x86_64' }, 'linux-64'],
    [{ subdir: 'noarch', noarch: 'python' }, 'noarch'],
    [{ subdir: 'linux-fake' }, 'linux-fake'],
    [{ platform: 'osx', arch: 'x86_64' }, 'osx-64'],
    [{ platform: 'linux', arch: 'x86' }, 'linux-32'],
    [{ platform: 'win', arch: 'x86' }, 'win-32'],
    [{ platform: 'win', arch: 'x86_64' }, 'win-64'],
    [{ platform: 'linux', arch: 'aarch64' }, 'linux-aarch64'],
    [{ platform: 'osx', arch: 'arm64' }, 'osx-arm64'],
    [{ platform: 'linux', arch: 'ppc64le' }, 'linux-ppc64le'],
    [{ platform: 'linux', arch: 'armv7l' }, 'linux-armv7l'],
    [{ platform: 'linux', arch: 's390x' }, 'linux-s390x'],
    [{ platform: 'zos', arch: 'z' }, 'zos-z'],
    [{ platform: 'linux', arch: 'x86_64', noarch: 'generic' }, 'noarch'],
    [{ platform: 'linux', arch: 'x86_64', noarch: true }, 'noarch'],
    [{ platform: 'linux', arch: 'x86_64', noarch: false }, 'linux-64'],
    [{ platform: null, arch: null }, 'noarch'],
    [{ platform: 'linux' }, 'noarch'],
    [{ subdir: null, platform: 'osx', arch: 'x86_64' }, 'osx-64'],
    [{}, 'noarch'],
  ];
  for (const [index, expected] of cases) {
    it(`${JSON.stringify(index)} → ${expected}`, () => assert.equal(subdirOf(index), expected));
  }
  it('rejects a malformed subdir or platform/arch', () => {
    assertCode(() => subdirOf({ subdir: '../etc' }), 'INVALID_SUBDIR');
    assertCode(() => subdirOf({ subdir: '' }), 'INVALID_SUBDIR');
    assertCode(() => subdirOf({ platform: 'linux/..', arch: 'x86_64' }), 'INVALID_SUBDIR');
    assertCode(() => subdirOf({ platform: 'Linux', arch: 'x86_64' }), 'INVALID_SUBDIR');
  });
});

describe('checkIndexMatchesFilename', () => {
  const parsed = parsePackageFilename('foo-1.0-py_0.conda');
  it('passes when equal', () => {
    checkIndexMatchesFilename({ name: 'foo', version: '1.0', build: 'py_0', build_number: 0 }, parsed);
  });
  it('reports a mismatch', () => {
    assertCode(
      () => checkIndexMatchesFilename({ name: 'bar', version: '2.0', build: 'py_0' }, parsed),
      'METADATA_MISMATCH',
      /^file name says foo 1\.0 py_0 but info\/index\.json says bar 2\.0 py_0$/,
    );
    assertCode(() => checkIndexMatchesFilename({ name: 'foo', version: '1.0', build: 'py_1' }, parsed), 'METADATA_MISMATCH');
    assertCode(() => checkIndexMatchesFilename({ name: 'Foo', version: '1.0', build: 'py_0' }, parsed), 'METADATA_MISMATCH');
  });
  it('requires string name/version/build', () => {
    assertCode(() => checkIndexMatchesFilename({ version: '1.0', build: 'py_0' }, parsed), 'INVALID_PACKAGE', /no "name"/);
    assertCode(() => checkIndexMatchesFilename({ name: 'foo', version: 1, build: 'py_0' }, parsed), 'INVALID_PACKAGE', /non-string "version"/);
    assertCode(() => checkIndexMatchesFilename({ name: 'foo', version: '1.0', build: null }, parsed), 'INVALID_PACKAGE', /"build"/);
  });
  it('checks CEP 26 rules on index.json values', () => {
    const forged = { filename: 'x', name: 'Bad Name', version: '1.0', build: 'py_0', format: 'conda' as const, stem: 'x' };
    assertCode(() => checkIndexMatchesFilename({ name: 'Bad Name', version: '1.0', build: 'py_0' }, forged), 'INVALID_PACKAGE');
  });
  it('malformed fixtures whose names disagree with index.json', () => {
    // malformed/MANIFEST.tsv: zip64-extra-field-test.conda is zip64-test-pkg 1.0 test_0
    assertCode(
      () =>
        checkIndexMatchesFilename(
          { name: 'zip64-test-pkg', version: '1.0', build: 'test_0' },
          parsePackageFilename('zip64-extra-field-test.conda'),
        ),
      'METADATA_MISMATCH',
      /file name says zip64-extra field test but info\/index\.json says zip64-test-pkg 1\.0 test_0/,
    );
    assertCode(
      () =>
        checkIndexMatchesFilename(
          { name: 'ablog', version: '0.9.2', build: 'py_0' },
          parsePackageFilename('sample_package-1.2.0-py_0.tar.bz2'),
        ),
      'METADATA_MISMATCH',
    );
    // no subdir/platform/arch → noarch
    assert.equal(subdirOf({ name: 'info-only', version: '1.0.0', build: '0' }), 'noarch');
  });
});

describe('validateChannelName', () => {
  for (const ok of ['abc', 'conda-forge', 'my_channel', '_private', 'v1.2', '123', 'a'.repeat(64)]) {
    it(`accepts ${ok.length > 20 ? `${ok.length} chars` : ok}`, () => assert.equal(validateChannelName(ok), ok));
  }
  it('rejects short names with prefix.dev\'s wording', () => {
    assertCode(() => validateChannelName('ab'), 'INVALID_CHANNEL_NAME', /names must be at least 3 characters long/);
    assertCode(() => validateChannelName(''), 'INVALID_CHANNEL_NAME', /at least 3/);
  });
  for (const badName of ['ab..c', 'abc..', 'a'.repeat(65), 'Conda-Forge', '-abc', '.abc', '..', '...', 'a/b', 'ab c', 'abc/', 'abc\\', 'chän', 'a%2f', 'abc\n']) {
    it(`rejects ${JSON.stringify(badName.length > 20 ? `${badName.length} chars` : badName)}`, () =>
      assertCode(() => validateChannelName(badName), 'INVALID_CHANNEL_NAME'));
  }
  it('rejects every reserved name', () => {
    for (const r of ['api', 'healthz', 't', 'static', 'assets', 'ui', 'login', 'logout', 'settings', 'channels', 'graphql', 'metrics', 'favicon.ico', 'robots.txt', '_', 'admin', 'auth', 'oidc', '.well-known']) {
      assert.ok(RESERVED_CHANNEL_NAMES.has(r), r);
      assertCode(() => validateChannelName(r), 'INVALID_CHANNEL_NAME');
    }
    assertCode(() => validateChannelName('graphql'), 'INVALID_CHANNEL_NAME', /reserved/);
  });
});

// A name part storage/keys.ts would refuse (an empty component, `..`) must be
// refused here: `x-1-..conda` (build ".") once reached storage and gave a 500.
describe('versions and builds with empty components', () => {
  for (const ok of ['1.0.1_', '1!2.0', '2.0+local.1', '1.0rc1', '0.3.0.dev0', '2024.7.4']) {
    it(`accepts version ${ok}`, () => assert.equal(parsePackageFilename(`x-${ok}-0.conda`).version, ok));
  }
  for (const bad of ['1..2', '1.', '1_.2', '1+', '1+a+b', 'a!1', '1!2!3', '1!']) {
    it(`refuses version ${bad}`, () => assertCode(() => parsePackageFilename(`x-${bad}-0.conda`), 'INVALID_FILENAME', /version/));
  }
  for (const ok of ['py_0', 'h7b6447c_3', '0', '_0', 'py.3+cuda']) {
    it(`accepts build ${ok}`, () => assert.equal(parsePackageFilename(`x-1-${ok}.conda`).build, ok));
  }
  for (const bad of ['.', '..', '.0', '0.', 'a..b']) {
    it(`refuses build ${bad}`, () => assertCode(() => parsePackageFilename(`x-1-${bad}.conda`), 'INVALID_FILENAME', /build string/));
  }
});
