import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PackageFormat } from '../../src/conda/package-filename.js';
import { readPackageMetadata } from '../../src/conda/package-reader.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.resolve(repoRoot, '../shared/fixtures');

// Any stray 'error' event or throw from inside the decoders would land here rather than in a test.
const stray: unknown[] = [];
const onStray = (err: unknown): void => void stray.push(err);
process.on('uncaughtException', onStray);
process.on('unhandledRejection', onStray);

const openFds = (): number | null => {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return null; // not Linux
  }
};
const fdsAtStart = openFds();

function split(filename: string): { format: PackageFormat; stem: string } {
  const format: PackageFormat = filename.endsWith('.conda') ? 'conda' : 'tar.bz2';
  return { format, stem: filename.slice(0, -(format === 'conda' ? '.conda' : '.tar.bz2').length) };
}

async function read(file: string, stem?: string) {
  const parts = split(path.basename(file));
  return readPackageMetadata(file, parts.format, stem ?? parts.stem);
}

async function rejectsInvalid(promise: Promise<unknown>, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: Error & { code?: string; statusCode?: number }) => {
    assert.equal(err.code, 'INVALID_PACKAGE', `expected INVALID_PACKAGE, got ${err.code}: ${err.message}`);
    assert.equal(err.statusCode, 400);
    if (message) assert.match(err.message, message);
    return true;
  });
}

const has = (cmd: string, arg = '--version'): boolean => spawnSync(cmd, [arg]).status === 0;
const PY = '/usr/bin/python3';
const canPython = has(PY);
const canZstd = has('zstd');
const canCli = canZstd && has('tar') && has('unzip', '-v') && has('bash');

/** What the stock CLI tools say a member holds (null: no such member), to compare against. */
function cliMember(file: string, member: string): Buffer | null {
  const { format, stem } = split(path.basename(file));
  for (const name of [member, `./${member}`]) {
    const script =
      format === 'conda' ? 'set -o pipefail; unzip -p "$1" "$2" | zstd -dcq | tar -xOf - "$3"' : 'tar -xjOf "$1" "$3"';
    const out = spawnSync('bash', ['-c', script, '_', file, `info-${stem}.tar.zst`, name]);
    if (out.status === 0) return out.stdout;
  }
  return null;
}

function python(code: string, ...args: string[]): void {
  const out = spawnSync(PY, ['-c', code, ...args], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
}

/** Builds a .conda from an info tar.zst; `compressInfo` deflates the info entry (CEP 35 forbids it). */
function makeConda(file: string, stem: string, infoZst: string, compressInfo = false): void {
  python(
    `import sys, zipfile
out, stem, info, deflate = sys.argv[1:]
with zipfile.ZipFile(out, 'w') as z:
    z.writestr('metadata.json', '{"conda_pkg_format_version": 2}')
    z.writestr('pkg-%s.tar.zst' % stem, b'')
    z.write(info, 'info-%s.tar.zst' % stem, zipfile.ZIP_DEFLATED if deflate == '1' else zipfile.ZIP_STORED)`,
    file, stem, infoZst, compressInfo ? '1' : '0',
  );
}

/** Builds a tar from (name, size, kind) members: kind 'index' | 'zeros' | 'random' | 'repeat' (repeats the last random). */
function makeTar(file: string, members: [string, number, string][], index: object, bz2Level = 0): void {
  python(
    `import sys, json, tarfile, io, os, bz2
out, spec, index, level = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3].encode(), int(sys.argv[4])
buf = io.BytesIO(); last = b''
with tarfile.open(fileobj=buf, mode='w', format=tarfile.USTAR_FORMAT) as t:
    for name, size, kind in spec:
        if kind == 'random': last = os.urandom(size)
        data = index if kind == 'index' else b' ' * size if kind == 'zeros' else last
        info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
data = buf.getvalue()
open(out, 'wb').write(bz2.compress(data, level) if level else data)`,
    file, JSON.stringify(members), JSON.stringify(index), String(bz2Level),
  );
}

function zstd(input: string, output: string, ...flags: string[]): void {
  // Reading from stdin leaves the content size out of the frame header, as conda-package-handling does.
  const out = spawnSync('bash', ['-c', 'zstd -q -c "${@:3}" < "$1" > "$2"', '_', input, output, ...flags]);
  assert.equal(out.status, 0, out.stderr.toString());
}

interface Fixture {
  file: string;
  index: Record<string, unknown>;
}

function loadFixtures(): Fixture[] {
  const expected = new Map<string, Record<string, unknown>>();
  for (const line of readFileSync(path.join(fixtures, 'expected-index.jsonl'), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const row = JSON.parse(line) as { path: string; index: Record<string, unknown> };
    expected.set(row.path, row.index);
  }
  const rows = readFileSync(path.join(fixtures, 'MANIFEST.tsv'), 'utf8').split('\n').filter(Boolean).slice(1);
  return rows.map((row) => {
    const rel = row.split('\t')[0]!;
    const index = expected.get(rel);
    assert.ok(index, `no expected index for ${rel}`);
    return { file: path.join(fixtures, rel), index };
  });
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'package-reader-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('readPackageMetadata on the real fixtures', () => {
  const all = loadFixtures();

  it('reads index.json of every package exactly, key order included', async () => {
    assert.equal(all.length, 61);
    for (const pass of ['cold', 'warm']) {
      const started = performance.now();
      for (const { file, index } of all) {
        const meta = await read(file);
        assert.deepEqual(meta.indexJson, index, file);
        assert.deepEqual(Object.keys(meta.indexJson), Object.keys(index), file);
      }
      const ms = performance.now() - started;
      console.log(`# ${pass}: read ${all.length} fixtures sequentially in ${ms.toFixed(0)} ms (${(ms / all.length).toFixed(1)} ms each)`);
    }
  });

  it('gives the same answers when reading all of them at once', async () => {
    // unbzip2-stream's decoder core keeps its tables on the module object; interleaved blocks must not mix.
    const metas = await Promise.all(all.map(({ file }) => read(file)));
    metas.forEach((meta, i) => assert.deepEqual(meta.indexJson, all[i]!.index, all[i]!.file));
  });

  it('reads about.json and run_exports.json as the stock CLI tools see them', { skip: !canCli && 'needs tar, unzip, zstd' }, async () => {
    let abouts = 0;
    let runExports = 0;
    for (const { file } of all) {
      const meta = await read(file);
      const about = cliMember(file, 'info/about.json');
      assert.deepEqual(meta.aboutJson, about && JSON.parse(about.toString('utf8')), `${file} about.json`);
      const exportsJson = cliMember(file, 'info/run_exports.json');
      assert.deepEqual(meta.runExportsJson, exportsJson && JSON.parse(exportsJson.toString('utf8')), `${file} run_exports.json`);
      if (about) abouts++;
      if (exportsJson) runExports++;
    }
    assert.ok(abouts > 40 && runExports >= 5, `${abouts} about.json, ${runExports} run_exports.json`);
  });

  it('reads run_exports.json of zlib in both formats', async () => {
    const zlib = path.join(fixtures, 'packages/linux-64/zlib-1.2.11-h7b6447c_3');
    for (const ext of ['.conda', '.tar.bz2']) {
      const meta = await read(zlib + ext);
      assert.deepEqual(meta.runExportsJson, { weak: ['zlib >=1.2.11,<1.3.0a0'] });
      assert.equal(meta.aboutJson?.['home'], 'http://zlib.net/');
    }
  });

  it('reads ./info/index.json members', async () => {
    const meta = await read(path.join(fixtures, 'packages/linux-fake/virtualdep-package-1.0-0.tar.bz2'));
    assert.equal(meta.indexJson['name'], 'virtualdep-package');
  });
});

describe('readPackageMetadata on fixtures/malformed', () => {
  const dir = path.join(fixtures, 'malformed');
  const expected: Record<string, RegExp> = {
    'a.tar.bz2': /info\/index\.json is missing/,
    'another_bad_package.conda': /not a valid \.conda file: not a zip archive/,
    'bad_package.tar.bz2': /not a valid bzip2 stream/,
    'ca-certificates-2024.7.4-hbcca054_0.conda': /no top-level info-ca-certificates-2024\.7\.4-hbcca054_0\.tar\.zst.*inside a folder/,
    'info-only-1.0.0-0.conda': /no top-level metadata\.json/,
    'testfile-0.0.1-py36_0.tar.bz2': /info\/files appears more than once/,
  };
  const files = readdirSync(dir).filter((f) => f !== 'MANIFEST.tsv');

  it('covers every file in the folder', () => {
    assert.deepEqual(
      files.filter((f) => !(f in expected)).sort(),
      ['sample_package-1.2.0-py_0.tar.bz2', 'zip64-extra-field-test.conda'],
    );
  });

  for (const [file, message] of Object.entries(expected)) {
    it(`refuses ${file}`, () => rejectsInvalid(read(path.join(dir, file)), message));
  }

  it('opens the zip64 .conda under its real stem, and names the mismatch under its file name', async () => {
    const file = path.join(dir, 'zip64-extra-field-test.conda');
    const meta = await read(file, 'zip64-test-pkg-1.0-test_0');
    assert.deepEqual([meta.indexJson['name'], meta.indexJson['version'], meta.indexJson['build']], ['zip64-test-pkg', '1.0', 'test_0']);
    await rejectsInvalid(read(file), /contains info-zip64-test-pkg-1\.0-test_0\.tar\.zst, which does not match the file name zip64-extra-field-test/);
  });

  it('reads the misnamed .tar.bz2 (it has no stem-bearing member; the caller compares names)', async () => {
    const meta = await read(path.join(dir, 'sample_package-1.2.0-py_0.tar.bz2'));
    assert.deepEqual([meta.indexJson['name'], meta.indexJson['version'], meta.indexJson['build']], ['ablog', '0.9.2', 'py_0']);
  });
});

describe('readPackageMetadata on damaged and hostile archives', () => {
  const zlibConda = path.join(fixtures, 'packages/linux-64/zlib-1.2.11-h7b6447c_3.conda');
  const zlibBz2 = path.join(fixtures, 'packages/linux-64/zlib-1.2.11-h7b6447c_3.tar.bz2');
  const stem = 'zlib-1.2.11-h7b6447c_3';

  function writeTruncated(source: string, keep: number, ext: string): string {
    const out = path.join(tmp, `${stem}-cut${keep}${ext}`);
    writeFileSync(out, readFileSync(source).subarray(0, keep));
    return out;
  }

  it('refuses truncated copies of a real .conda', async () => {
    const size = readFileSync(zlibConda).length;
    for (const keep of [0, 10, 1000, Math.floor(size / 2), size - 300, size - 1]) {
      await rejectsInvalid(readPackageMetadata(writeTruncated(zlibConda, keep, '.conda'), 'conda', stem));
    }
  });

  it('refuses truncated copies of a real .tar.bz2', async () => {
    const size = readFileSync(zlibBz2).length; // one bzip2 block
    for (const keep of [0, 3, 100, Math.floor(size / 2), size - 20]) {
      await rejectsInvalid(readPackageMetadata(writeTruncated(zlibBz2, keep, '.tar.bz2'), 'tar.bz2', stem));
    }
    // Losing only the end-of-stream trailer goes unnoticed: the reader stops once info/ is read and
    // never decodes further (a transfer cut short is caught by the upload's size and sha256 checks).
    assert.equal((await readPackageMetadata(writeTruncated(zlibBz2, size - 1, '.tar.bz2'), 'tar.bz2', stem)).indexJson['name'], 'zlib');
  });

  it('refuses a .conda whose info entry has corrupt zstd data', async () => {
    // Damage the first block of the info entry: damage further on in a frame without checksum may
    // leave everything this reader needs intact (yauzl does not check CRC-32s either).
    const bytes = Buffer.from(readFileSync(zlibConda));
    const localHeader = bytes.indexOf(`info-${stem}.tar.zst`);
    const frame = bytes.indexOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), localHeader);
    bytes.fill(0x55, frame + 6, frame + 300);
    const out = path.join(tmp, `${stem}.conda`);
    writeFileSync(out, bytes);
    await rejectsInvalid(readPackageMetadata(out, 'conda', stem));
  });

  // Python's zipfile builds the repacked archive; without /usr/bin/python3 this case is skipped.
  it('refuses a .conda whose info entry is DEFLATE-compressed', { skip: !canPython && 'needs python3' }, async () => {
    const infoZst = path.join(tmp, `info-${stem}.tar.zst`);
    python(`import sys, zipfile\nopen(sys.argv[2], 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[3]))`, zlibConda, infoZst, path.basename(infoZst));
    const file = path.join(tmp, `${stem}.conda`);
    makeConda(file, stem, infoZst, true);
    await rejectsInvalid(read(file), /info-zlib-1\.2\.11-h7b6447c_3\.tar\.zst in the \.conda is compressed \(ZIP method 8\)/);
    makeConda(file, stem, infoZst, false); // the same bytes stored are fine
    assert.equal((await read(file)).indexJson['name'], 'zlib');
  });

  it('refuses index.json that is not a JSON object', { skip: !canPython && 'needs python3' }, async () => {
    for (const [body, message] of [['[1, 2]', /not a JSON object/], ['null', /not a JSON object/], ['{"a": ', /not valid JSON/]] as const) {
      const file = path.join(tmp, 'notobject-1-0.tar.bz2');
      python(
        `import sys, io, tarfile
with tarfile.open(sys.argv[1], 'w:bz2') as t:
    data = sys.argv[2].encode(); info = tarfile.TarInfo('info/index.json'); info.size = len(data); t.addfile(info, io.BytesIO(data))`,
        file, body,
      );
      await rejectsInvalid(read(file), message);
    }
  });

  it('ignores a broken about.json', { skip: !canPython && 'needs python3' }, async () => {
    const file = path.join(tmp, 'badabout-1-0.tar.bz2');
    python(
      `import sys, io, tarfile
with tarfile.open(sys.argv[1], 'w:bz2') as t:
    for name, data in [('info/index.json', b'{"name": "badabout", "version": "1", "build": "0", "build_number": 0}'), ('info/about.json', b'{oops'), ('info/run_exports.json', b'"str"')]:
        info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))`,
      file,
    );
    assert.deepEqual(await read(file), { indexJson: { name: 'badabout', version: '1', build: '0', build_number: 0 }, aboutJson: null, runExportsJson: null, paths: null });
  });

  it('refuses a 17 MiB index.json without inflating it (.conda and .tar.bz2)', { skip: !(canPython && canZstd) && 'needs python3, zstd' }, async () => {
    const tar = path.join(tmp, 'big.tar');
    makeTar(tar, [['info/index.json', 17 * 1024 * 1024, 'zeros']], {});
    zstd(tar, `${tar}.zst`, '-3');
    const conda = path.join(tmp, 'big-1-0.conda');
    makeConda(conda, 'big-1-0', `${tar}.zst`);
    await rejectsInvalid(read(conda), /info\/index\.json is larger than 16 MiB/);
    const bz2 = path.join(tmp, 'big-1-0.tar.bz2');
    makeTar(bz2, [['info/index.json', 17 * 1024 * 1024, 'zeros']], {}, 9);
    await rejectsInvalid(read(bz2), /info\/index\.json is larger than 16 MiB/);
  });

  it('refuses a zstd frame that asks for more than a 128 MiB window', { skip: !(canPython && canZstd) && 'needs python3, zstd' }, async () => {
    const tar = path.join(tmp, 'wide.tar');
    makeTar(tar, [['info/index.json', 0, 'index']], { name: 'wide' });
    zstd(tar, `${tar}.zst`, '--long=30');
    const file = path.join(tmp, 'wide-1-0.conda');
    makeConda(file, 'wide-1-0', `${tar}.zst`);
    await rejectsInvalid(read(file), /frame 1 needs a 1024 MiB window \(at most 128 MiB\)/);
  });

  it('decodes an info tar bigger than the lowered window with matches reaching far back', { skip: !(canPython && canZstd) && 'needs python3, zstd' }, async () => {
    // 3 MiB of noise twice: only a decoder using the declared 128 MiB window gets the second copy
    // (and so the tar headers after it) right, which forces the full-window retry.
    const tar = path.join(tmp, 'long.tar');
    const index = { name: 'long', version: '1', build: '0', build_number: 0, depends: ['a', 'b'] };
    makeTar(tar, [['info/a.bin', 3 << 20, 'random'], ['info/b.bin', 3 << 20, 'repeat'], ['info/index.json', 0, 'index']], index);
    zstd(tar, `${tar}.zst`, '--long=27', '-3');
    assert.ok(readFileSync(`${tar}.zst`).length < (4 << 20), 'zstd should have matched the repeat');
    const file = path.join(tmp, 'long-1-0.conda');
    makeConda(file, 'long-1-0', `${tar}.zst`);
    assert.deepEqual((await read(file)).indexJson, index);
  });

  it('gives up on a .tar.bz2 bomb after 256 MiB of output, in bounded memory', { skip: !canPython && 'needs python3' }, async () => {
    const file = path.join(tmp, 'bomb-1-0.tar.bz2');
    python(
      `import sys, bz2, tarfile
c = bz2.BZ2Compressor(9); info = tarfile.TarInfo('lib/zeros'); info.size = 300 << 20
with open(sys.argv[1], 'wb') as out:
    out.write(c.compress(info.tobuf(format=tarfile.USTAR_FORMAT)))
    for _ in range(300): out.write(c.compress(bytes(1 << 20)))
    out.write(c.flush())`,
      file,
    );
    let rssPeak = process.memoryUsage().rss;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 10);
    const started = performance.now();
    try {
      await rejectsInvalid(read(file), /no info\/index\.json within the first 256 MiB/);
    } finally {
      clearInterval(sampler);
    }
    const size = readFileSync(file).length;
    console.log(`# bz2 bomb: ${size} bytes refused in ${(performance.now() - started).toFixed(0)} ms; process RSS peaked at ${(rssPeak / 2 ** 20).toFixed(0)} MiB`);
  });

  it('stops a .tar.bz2 at the first payload member once info/ has been read', { skip: !canPython && 'needs python3' }, async () => {
    // 100 kB bzip2 blocks over 6 MB of noise whose tail is then cut off: reading must stop long before.
    const index = { name: 'early', version: '1', build: '0', build_number: 0 };
    const full = path.join(tmp, 'early-1-0-full.tar.bz2');
    makeTar(full, [['info/index.json', 0, 'index'], ['info/paths.json', 1000, 'zeros'], ['lib/noise.bin', 6 << 20, 'random']], index, 1);
    const cut = path.join(tmp, 'early-1-0.tar.bz2');
    const bytes = readFileSync(full);
    writeFileSync(cut, bytes.subarray(0, bytes.length - (1 << 20)));
    const started = performance.now();
    assert.deepEqual((await read(cut)).indexJson, index);
    console.log(`# early exit: index.json from a ${(bytes.length / 2 ** 20).toFixed(1)} MiB .tar.bz2 in ${(performance.now() - started).toFixed(0)} ms`);
  });

  it('passes I/O errors through unchanged (they are the server\'s, not the package\'s)', async () => {
    for (const format of ['conda', 'tar.bz2'] as const) {
      await assert.rejects(readPackageMetadata(path.join(tmp, 'no-such-file'), format, 'x-1-0'), { code: 'ENOENT' });
    }
  });
});

describe('readPackageMetadata hygiene', () => {
  before(() => new Promise((resolve) => setTimeout(resolve, 100)));

  it('raised no uncaught exception or unhandled rejection', () => {
    process.off('uncaughtException', onStray);
    process.off('unhandledRejection', onStray);
    assert.deepEqual(stray, []);
  });

  it('left no file descriptor open', { skip: fdsAtStart === null && 'needs /proc/self/fd' }, () => {
    assert.equal(openFds(), fdsAtStart);
  });
});
