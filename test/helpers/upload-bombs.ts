// Upload bombs (test/hostile/upload-bombs, bench/hostile's upload-bombs class): small package files that would
// cost the server far more than their size if it believed them. Built once
// per run into a folder (the attacker process reads them from there):
// - a .conda whose info archive's second zstd frame declares a ~1.9 GiB window;
// - a .conda whose info archive inflates to 96 MiB of zeros (over the cap);
// - a .tar.bz2 with 96 MiB of zeros under info/ (bzip2 makes it ~100 bytes per MiB);
// - index.json nested 100,000 deep (a .conda made by Debian's cph).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pack } from 'tar-stream';
import { compress } from 'zstd-napi';
import { makePackages } from './make-packages.js';

const MiB = 1024 * 1024;

/** A tar of the given members (tar-stream). */
export async function tarOf(members: Array<[string, string | Buffer]>): Promise<Buffer> {
  const p = pack();
  for (const [name, data] of members) p.entry({ name }, typeof data === 'string' ? Buffer.from(data) : data);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of p) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const index = (name: string) =>
  Buffer.from(JSON.stringify({ name, version: '1.0', build: '0', build_number: 0, depends: [], subdir: 'noarch', noarch: 'generic' }));

/** A .conda (a zip of stored members) written by Python's zipfile. */
function writeConda(file: string, stem: string, info: Buffer, work: string): void {
  const pkg = path.join(work, `${stem}-pkg.tar.zst`);
  const inf = path.join(work, `${stem}-info.tar.zst`);
  fs.writeFileSync(pkg, compress(Buffer.alloc(1024)));
  fs.writeFileSync(inf, info);
  execFileSync('/usr/bin/python3', ['-c', `import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_STORED) as z:
    z.writestr('metadata.json', '{"conda_pkg_format_version": 2}')
    z.write(sys.argv[2], 'pkg-' + sys.argv[4] + '.tar.zst')
    z.write(sys.argv[3], 'info-' + sys.argv[4] + '.tar.zst')`, file, pkg, inf, stem]);
}

/**
 * A zstd frame with no content size whose window descriptor asks for
 * 2^30 + 7/8·2^30 bytes (~1.9 GiB: what a naive decoder would allocate),
 * holding one raw block of 512 zero bytes.
 */
export function wideWindowFrame(): Buffer {
  const payload = Buffer.alloc(512);
  const blockHeader = Buffer.alloc(3);
  blockHeader.writeUIntLE((payload.length << 3) | 1, 0, 3);
  return Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (20 << 3) | 7]), blockHeader, payload]);
}

export interface Bomb { filename: string; file: string }

export async function buildUploadBombs(dir: string): Promise<Bomb[]> {
  fs.mkdirSync(dir, { recursive: true });
  const work = path.join(dir, 'work');
  fs.mkdirSync(work, { recursive: true });
  const bombs: Bomb[] = [];

  const wideStem = 'bomb-wide-1.0-0';
  const first = compress(await tarOf([['info/index.json', index('bomb-wide')]]));
  writeConda(path.join(dir, `${wideStem}.conda`), wideStem, Buffer.concat([first, wideWindowFrame()]), work);
  bombs.push({ filename: `${wideStem}.conda`, file: path.join(dir, `${wideStem}.conda`) });

  const zerosStem = 'bomb-zeros-1.0-0';
  const zerosTar = await tarOf([['info/index.json', index('bomb-zeros')], ['info/zeros', Buffer.alloc(96 * MiB)]]);
  writeConda(path.join(dir, `${zerosStem}.conda`), zerosStem, compress(zerosTar, { compressionLevel: 19 }), work);
  bombs.push({ filename: `${zerosStem}.conda`, file: path.join(dir, `${zerosStem}.conda`) });

  const bz2Name = 'bomb-bz2-1.0-0.tar.bz2';
  const bz2Tar = await tarOf([['info/zeros', Buffer.alloc(96 * MiB)], ['info/index.json', index('bomb-bz2')]]);
  fs.writeFileSync(path.join(dir, bz2Name), execFileSync('bzip2', ['-9', '-c'], { input: bz2Tar, maxBuffer: 64 * MiB }));
  bombs.push({ filename: bz2Name, file: path.join(dir, bz2Name) });

  const raw = `{"name": "bomb-deep", "version": "1.0", "build": "0", "build_number": 0, "x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
  const [deep] = await makePackages(path.join(dir, 'deep'), [{ name: 'bomb-deep', version: '1.0', build: '0', subdir: 'noarch', format: 'conda', indexRaw: raw }]);
  bombs.push({ filename: deep!.filename, file: deep!.file });

  fs.rmSync(work, { recursive: true, force: true });
  return bombs;
}
