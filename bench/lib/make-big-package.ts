// Makes real `.conda` packages for the benchmarks. The archive itself is made
// by conda-package-handling (Debian's python3-conda-package-handling 2.0.1,
// `conda_package_handling.api.create`, run by /usr/bin/python3), the same
// code conda-build uses, so the server ingests what a real client sends. We
// only lay out the folder it packs: info/index.json and a pkg/ payload of
// random (incompressible) bytes.
//
// cph 2.0.1 compresses both inner tarballs with zstd level 21 by default,
// which would take many minutes for 1 GB. Its create() passes **kw on to
// CondaFormat_v2.create(), which takes `compressor=` (a factory returning a
// zstandard.ZstdCompressor), so we hand it a fast level. Random data does not
// compress at any level, so the level changes only how long making takes.
import { spawn } from 'node:child_process';
import { createHash, randomFill } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const randomFillAsync = promisify(randomFill) as unknown as (buf: Buffer) => Promise<Buffer>;

export interface PackageSpec {
  name: string;
  version: string;
  build: string;
  /** Bytes of random payload under pkg/ (split into files of at most 64 MiB). */
  payloadBytes: number;
}

export interface MadePackage {
  file: string;
  filename: string;
  sizeBytes: number;
  sha256: string;
  name: string;
  version: string;
  build: string;
}

const PYTHON = '/usr/bin/python3';
const PAYLOAD_FILE_BYTES = 64 * 1024 * 1024;

// Reads a JSON list of {prefix, outFolder, filename} on stdin and makes each
// package with one interpreter (starting Python per package costs ~0.3 s).
const PY_MAKER = `
import json, sys, zstandard
from conda_package_handling import api
level = int(sys.argv[1])
for job in json.load(sys.stdin):
    api.create(job["prefix"], None, job["filename"], out_folder=job["outFolder"],
               compressor=lambda: zstandard.ZstdCompressor(level=level))
`;

async function writeRandomFile(file: string, bytes: number): Promise<void> {
  const handle = await fsp.open(file, 'w');
  try {
    const buf = Buffer.allocUnsafe(Math.min(bytes, 16 * 1024 * 1024));
    let left = bytes;
    while (left > 0) {
      const n = Math.min(left, buf.length);
      await randomFillAsync(buf);
      await handle.write(buf, 0, n);
      left -= n;
    }
  } finally {
    await handle.close();
  }
}

async function layOut(prefix: string, spec: PackageSpec): Promise<void> {
  await fsp.mkdir(path.join(prefix, 'info'), { recursive: true });
  const payloadDir = path.join(prefix, 'share', spec.name);
  await fsp.mkdir(payloadDir, { recursive: true });
  const files: string[] = [];
  let left = spec.payloadBytes;
  for (let i = 0; left > 0; i++) {
    const n = Math.min(left, PAYLOAD_FILE_BYTES);
    const rel = `share/${spec.name}/blob-${String(i).padStart(3, '0')}.bin`;
    await writeRandomFile(path.join(prefix, rel), n);
    files.push(rel);
    left -= n;
  }
  const index = {
    build: spec.build,
    build_number: 0,
    depends: [],
    license: 'BSD-3-Clause',
    name: spec.name,
    noarch: 'generic',
    subdir: 'noarch',
    timestamp: Date.now(),
    version: spec.version,
  };
  await fsp.writeFile(path.join(prefix, 'info/index.json'), JSON.stringify(index, null, 2) + '\n');
  await fsp.writeFile(path.join(prefix, 'info/files'), files.join('\n') + '\n');
}

export async function sha256OfFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

function runPython(args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', PY_MAKER, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`cph failed (${code}):\n${stderr}`))));
    child.stdin.end(input);
  });
}

/**
 * Makes one `.conda` per spec in `outFolder` with cph (zstd `level`, default
 * 1), and hashes each result. Work folders are removed as soon as cph is done.
 */
export async function makePackages(outFolder: string, specs: PackageSpec[], level = 1): Promise<MadePackage[]> {
  await fsp.mkdir(outFolder, { recursive: true });
  const work = await fsp.mkdtemp(path.join(outFolder, '.prefix-'));
  try {
    const jobs = [];
    for (const [i, spec] of specs.entries()) {
      const prefix = path.join(work, String(i));
      await layOut(prefix, spec);
      jobs.push({ prefix, outFolder, filename: `${spec.name}-${spec.version}-${spec.build}.conda` });
    }
    await runPython([String(level)], JSON.stringify(jobs));
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
  const made: MadePackage[] = [];
  for (const spec of specs) {
    const filename = `${spec.name}-${spec.version}-${spec.build}.conda`;
    const file = path.join(outFolder, filename);
    made.push({
      file, filename, sizeBytes: (await fsp.stat(file)).size, sha256: await sha256OfFile(file),
      name: spec.name, version: spec.version, build: spec.build,
    });
  }
  return made;
}

/** One big package: `payloadMiB` MiB of random bytes, made by cph. */
export async function makeBigPackage(outFolder: string, name: string, payloadMiB: number): Promise<MadePackage> {
  const [made] = await makePackages(outFolder, [{ name, version: '1.0.0', build: '0', payloadBytes: payloadMiB * 1024 * 1024 }]);
  return made!;
}
